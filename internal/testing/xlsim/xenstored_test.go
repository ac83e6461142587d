package xlsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// xsTestMsg is a message the test client got, and when.
type xsTestMsg struct {
	typ, reqID, txID uint32
	payload          string
	at               time.Time
}

// xsTestClient is a tiny xenstore client: requests one at a time, watch
// events on their own channel.
type xsTestClient struct {
	t       *testing.T
	c       net.Conn
	req     uint32
	replies chan xsTestMsg
	events  chan xsTestMsg
	eof     chan struct{} // closed when the daemon closes the connection
}

func dialXS(t *testing.T, sock string) *xsTestClient {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := &xsTestClient{t: t, c: nc, replies: make(chan xsTestMsg, 16), events: make(chan xsTestMsg, 64), eof: make(chan struct{})}
	t.Cleanup(func() { nc.Close() })
	go func() {
		defer close(c.eof)
		var hdr [16]byte
		for {
			if _, err := io.ReadFull(nc, hdr[:]); err != nil {
				return
			}
			m := xsTestMsg{
				typ:   binary.LittleEndian.Uint32(hdr[0:]),
				reqID: binary.LittleEndian.Uint32(hdr[4:]),
				txID:  binary.LittleEndian.Uint32(hdr[8:]),
			}
			p := make([]byte, binary.LittleEndian.Uint32(hdr[12:]))
			if _, err := io.ReadFull(nc, p); err != nil {
				return
			}
			m.payload, m.at = string(p), time.Now()
			if m.typ == xsOpWatchEvent {
				c.events <- m
			} else {
				c.replies <- m
			}
		}
	}()
	return c
}

func (c *xsTestClient) sendRaw(typ, reqID, txID uint32, payload string) {
	c.t.Helper()
	if _, err := c.c.Write(xsMessage(typ, reqID, txID, []byte(payload))); err != nil {
		c.t.Fatal(err)
	}
}

// do sends a request and returns the reply's type and payload.
func (c *xsTestClient) do(typ uint32, payload string) (uint32, string) {
	c.t.Helper()
	c.req++
	c.sendRaw(typ, c.req, 7, payload)
	select {
	case m := <-c.replies:
		if m.reqID != c.req || m.txID != 7 {
			c.t.Fatalf("reply to request %d tx 7 has req_id %d tx_id %d", c.req, m.reqID, m.txID)
		}
		return m.typ, m.payload
	case <-time.After(2 * time.Second):
		c.t.Fatalf("no reply to request type %d %q", typ, payload)
	}
	return 0, ""
}

// event waits up to d for a watch event.
func (c *xsTestClient) event(d time.Duration) (xsTestMsg, bool) {
	select {
	case m := <-c.events:
		return m, true
	case <-time.After(d):
		return xsTestMsg{}, false
	}
}

func (c *xsTestClient) watch(path, token string) {
	c.t.Helper()
	if typ, p := c.do(xsOpWatch, path+"\x00"+token+"\x00"); typ != xsOpWatch || p != "OK\x00" {
		c.t.Fatalf("watch %s: %d %q", path, typ, p)
	}
	m, ok := c.event(time.Second)
	if !ok || m.payload != path+"\x00"+token+"\x00" || m.reqID != 0 || m.txID != 0 {
		c.t.Fatalf("watch %s: first event %v %+v", path, ok, m)
	}
}

// xsHost is a simulated host with the daemon serving it in-process.
type xsHost struct {
	t    *testing.T
	dir  string
	sock string
	stop func() // cancels the daemon and waits for it
}

func newXSHost(t *testing.T, env ...string) *xsHost {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	var errb bytes.Buffer
	e, err := EnvFromOS(io.Discard, &errb)
	if err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "xsd") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	h := &xsHost{t: t, dir: dir, sock: filepath.Join(sockDir, "socket")}
	srv, err := e.listenXenstored(h.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		srv.serve(ctx)
		close(done)
	}()
	h.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("the daemon did not stop")
		}
		if errb.Len() > 0 {
			t.Errorf("daemon's stderr: %s", errb.String())
		}
	}
	t.Cleanup(h.stop)
	return h
}

// guest writes the config of a guest, with extra lines.
func (h *xsHost) guest(name string, extra ...string) string {
	cfg := filepath.Join(h.dir, name+".cfg")
	src := "name = '" + name + "'\nmemory = 64\nxlsim_create_time = '1ms'\n" + strings.Join(extra, "\n") + "\n"
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

func (h *xsHost) xl(args ...string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	if rc := Main(append([]string{"xl"}, args...), &out, &errb); rc != 0 {
		h.t.Fatalf("xl %v: rc %d: %s", args, rc, errb.String())
	}
}

// eventAt is when events.log says ev happened to the domain.
func (h *xsHost) eventAt(domain, ev string) time.Time {
	h.t.Helper()
	evs, err := ReadEvents(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range evs {
		if e.Domain == domain && e.Ev == ev {
			return e.T
		}
	}
	h.t.Fatalf("no %s event of %s in %+v", ev, domain, evs)
	return time.Time{}
}

func TestXenstoredReads(t *testing.T) {
	h := newXSHost(t)
	a, b := dialXS(t, h.sock), dialXS(t, h.sock)
	dirOf := func(c *xsTestClient, path string) string {
		t.Helper()
		typ, p := c.do(xsOpDirectory, path+"\x00")
		if typ == xsOpError {
			return "error " + p
		}
		if typ != xsOpDirectory {
			t.Fatalf("directory %s: reply type %d", path, typ)
		}
		return p
	}
	if got := dirOf(a, "/local/domain"); got != "0\x00" {
		t.Errorf("before create: %q", got)
	}
	h.xl("create", h.guest("web", "xlsim_xenstore = ['data/ready=1']"))
	h.xl("create", h.guest("db"))
	time.Sleep(5 * time.Millisecond) // both built
	for _, c := range []*xsTestClient{a, b} {
		if got := dirOf(c, "/local/domain"); got != "0\x001\x002\x00" {
			t.Errorf("after create: %q", got)
		}
	}
	tests := []struct {
		typ      uint32
		payload  string
		wantType uint32
		want     string
	}{
		{xsOpRead, "/local/domain/1/name\x00", xsOpRead, "web"},
		{xsOpRead, "/local/domain/2/name\x00", xsOpRead, "db"},
		{xsOpRead, "/local/domain/1/data/ready\x00", xsOpRead, "1"},
		{xsOpRead, "/local/domain/1/data\x00", xsOpRead, ""},
		{xsOpRead, "/local/domain/1/nosuch\x00", xsOpError, "ENOENT\x00"},
		{xsOpRead, "/local/domain/9/name\x00", xsOpError, "ENOENT\x00"},
		{xsOpRead, "/tool/xenstored/domid\x00", xsOpError, "ENOENT\x00"}, // as xenstore-read: no stub domain
		{xsOpRead, "/local/domain/1/name", xsOpError, "EINVAL\x00"},      // not NUL-terminated
		{xsOpDirectory, "/local/domain/1/data\x00", xsOpDirectory, "ready\x00"},
		{xsOpDirectory, "/local/domain/1/name\x00", xsOpDirectory, ""},
		{xsOpDirectory, "/local/domain/7\x00", xsOpError, "ENOENT\x00"},
		{xsOpDirectory, "/nosuch\x00", xsOpError, "ENOENT\x00"},
		{xsOpDirectory, "/local\x00", xsOpDirectory, "domain\x00"},
		{xsOpDirectoryPart, "/local/domain\x000\x00", xsOpDirectoryPart, "\x000\x001\x002\x00\x00"},
		{xsOpGetDomainPath, "3\x00", xsOpGetDomainPath, "/local/domain/3\x00"},
		{xsOpGetDomainPath, "x\x00", xsOpError, "EINVAL\x00"},
		{xsOpWrite, "/local/domain/1/data/x\x00v", xsOpError, "EACCES\x00"},
		{xsOpMkdir, "/local/domain/1/y\x00", xsOpError, "EACCES\x00"},
		{xsOpRm, "/local/domain/1/name\x00", xsOpError, "EACCES\x00"},
		{xsOpSetPerms, "/local/domain/1/name\x00b0\x00", xsOpError, "EACCES\x00"},
		{xsOpTransactionStart, "\x00", xsOpError, "EACCES\x00"},
		{xsOpTransactionEnd, "T\x00", xsOpError, "EACCES\x00"},
		{xsOpControl, "log\x00", xsOpError, "ENOSYS\x00"},
		{xsOpIntroduce, "", xsOpError, "ENOSYS\x00"},
		{99, "", xsOpError, "ENOSYS\x00"},
	}
	for _, tc := range tests {
		for i, c := range []*xsTestClient{a, b} {
			typ, p := c.do(tc.typ, tc.payload)
			if tc.typ == xsOpDirectoryPart && typ == xsOpDirectoryPart {
				_, p, _ = strings.Cut(p, "\x00") // the generation
				p = "\x00" + p
			}
			if typ != tc.wantType || p != tc.want {
				t.Errorf("connection %d: type %d %q: got %d %q, want %d %q", i, tc.typ, tc.payload, typ, p, tc.wantType, tc.want)
			}
		}
	}
	typ, p := a.do(xsOpDirectory, "/local/domain/1\x00")
	kids := strings.Split(strings.TrimSuffix(p, "\x00"), "\x00")
	if typ != xsOpDirectory || !slices.IsSorted(kids) || !slices.Contains(kids, "name") || !slices.Contains(kids, "memory") ||
		!slices.Contains(kids, "data") || slices.Contains(kids, "memory/target") || len(slices.Compact(slices.Clone(kids))) != len(kids) {
		t.Errorf("directory /local/domain/1: %d %q", typ, p)
	}
	h.xl("destroy", "web")
	for _, c := range []*xsTestClient{a, b} {
		if got := dirOf(c, "/local/domain"); got != "0\x002\x00" {
			t.Errorf("after destroy: %q", got)
		}
	}
	// A payload longer than XENSTORE_PAYLOAD_MAX: the connection is
	// closed; the other one is served on.
	var hdr [16]byte
	binary.LittleEndian.PutUint32(hdr[0:], xsOpRead)
	binary.LittleEndian.PutUint32(hdr[12:], xsPayloadMax+1)
	a.c.Write(hdr[:])
	select {
	case <-a.eof:
	case <-time.After(time.Second):
		t.Error("a too long payload did not close the connection")
	}
	if got := dirOf(b, "/local/domain"); got != "0\x002\x00" {
		t.Errorf("the other connection: %q", got)
	}
}

func TestXSDirectoryPart(t *testing.T) {
	var kids []string
	for i := range 1200 { // 4 or 5 bytes each: more than a payload
		kids = append(kids, strings.Repeat("x", i%2)+"abc")
	}
	if len(xsList(kids)) <= xsPayloadMax {
		t.Fatal("the list fits")
	}
	var got []string
	gen := ""
	for off, parts := 0, 0; ; parts++ {
		p := xsDirectoryPart(kids, off)
		if len(p) > xsPayloadMax || parts > 10 {
			t.Fatalf("part at %d: %d bytes", off, len(p))
		}
		g, rest, _ := strings.Cut(string(p), "\x00")
		if gen != "" && g != gen {
			t.Fatalf("generation %s then %s", gen, g)
		}
		gen = g
		if rest == "\x00" || rest == "" {
			break
		}
		last := strings.HasSuffix(rest, "\x00\x00")
		rest = strings.TrimSuffix(rest, "\x00")
		if last {
			rest = strings.TrimSuffix(rest, "\x00")
		}
		got = append(got, strings.Split(rest, "\x00")...)
		off += len(rest) + 1
		if last {
			break
		}
	}
	if !slices.Equal(got, kids) {
		t.Errorf("parts gave %d names, want %d", len(got), len(kids))
	}
}

// TestXenstoredReleaseDomain: a watch on @releaseDomain fires once when
// set, and again, within a few milliseconds, when a domain shuts down
// (and stays listed) and when it is gone, at the moment the simulator
// says it happened (events.log) though no command looked at the host
// then.
func TestXenstoredReleaseDomain(t *testing.T) {
	const slack = 50 * time.Millisecond
	tests := []struct {
		name  string
		env   []string
		extra string
		// the events.log events that must each be followed by a watch
		// event within slack, and whether the guest is listed after the
		// last
		evs    []string
		listed bool
	}{
		{"scheduled death", nil, "", []string{"gone"}, false},
		{"on_poweroff preserve", nil, "on_poweroff = 'preserve'", []string{"shutdown"}, true},
		{"listed until the monitor reaps", []string{"XLSIM_MONITOR_DELAY", "200ms"}, "", []string{"shutdown", "gone"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newXSHost(t, tc.env...)
			h.xl("create", h.guest("v", "xlsim_shutdown_time = '150ms'", tc.extra))
			time.Sleep(5 * time.Millisecond) // booted
			c := dialXS(t, h.sock)
			c.watch(xsReleaseDomain, "tok")
			if m, ok := c.event(30 * time.Millisecond); ok {
				t.Fatalf("an event though nothing happened: %+v", m)
			}
			h.xl("shutdown", "v")
			for _, ev := range tc.evs {
				m, ok := c.event(time.Second)
				if !ok {
					t.Fatalf("no event for %s", ev)
				}
				if m.payload != xsReleaseDomain+"\x00tok\x00" {
					t.Errorf("payload %q", m.payload)
				}
				at := h.eventAt("v", ev)
				if late := m.at.Sub(at); late < 0 || late > slack {
					t.Errorf("event for %s %v after it happened, want within [0, %v]", ev, late, slack)
				} else {
					t.Logf("event for %s %v after it happened", ev, late)
				}
			}
			if m, ok := c.event(30 * time.Millisecond); ok {
				t.Errorf("an extra event: %+v", m)
			}
			_, p := c.do(xsOpDirectory, "/local/domain\x00")
			if listed := strings.Contains(p, "\x001\x00"); listed != tc.listed {
				t.Errorf("listed %v after the events: %q", listed, p)
			}
			if tc.listed {
				h.xl("destroy", "v")
				began := time.Now()
				if _, ok := c.event(time.Second); !ok {
					t.Error("no event when the preserved domain is destroyed")
				} else if d := time.Since(began); d > watchPoll+slack {
					t.Errorf("the event of xl destroy came after %v", d)
				}
			}
		})
	}
}

func TestXenstoredWatches(t *testing.T) {
	h := newXSHost(t)
	c := dialXS(t, h.sock)
	c.watch(xsReleaseDomain, "r")
	c.watch(xsIntroduceDomain, "i")
	c.watch("/local/domain/0/data", "d") // fires once, when set
	if typ, p := c.do(xsOpWatch, xsReleaseDomain+"\x00r\x00"); typ != xsOpError || p != "EEXIST\x00" {
		t.Errorf("the same watch again: %d %q", typ, p)
	}
	c.watch(xsReleaseDomain, "r2") // another token is another watch
	h.xl("create", h.guest("v"))
	if m, ok := c.event(time.Second); !ok || m.payload != xsIntroduceDomain+"\x00i\x00" {
		t.Errorf("xl create: %v %q", ok, m.payload)
	}
	if m, ok := c.event(50 * time.Millisecond); ok {
		t.Errorf("xl create: another event %q", m.payload)
	}
	for _, tc := range []struct {
		typ     uint32
		payload string
		want    string
	}{
		{xsOpUnwatch, xsReleaseDomain + "\x00r2\x00", "OK\x00"},
		{xsOpUnwatch, xsReleaseDomain + "\x00r2\x00", "ENOENT\x00"},
		{xsOpUnwatch, "/nosuch\x00x\x00", "ENOENT\x00"},
		{xsOpWatch, "only-a-path\x00", "EINVAL\x00"},
	} {
		if _, p := c.do(tc.typ, tc.payload); p != tc.want {
			t.Errorf("%d %q: %q, want %q", tc.typ, tc.payload, p, tc.want)
		}
	}
	h.xl("destroy", "v")
	if m, ok := c.event(time.Second); !ok || m.payload != xsReleaseDomain+"\x00r\x00" {
		t.Errorf("xl destroy: %v %q", ok, m.payload)
	}
	if m, ok := c.event(50 * time.Millisecond); ok {
		t.Errorf("xl destroy: another event %q", m.payload)
	}
	if typ, p := c.do(xsOpResetWatches, ""); typ != xsOpResetWatches || p != "OK\x00" {
		t.Errorf("reset watches: %d %q", typ, p)
	}
	h.xl("create", h.guest("w"))
	h.xl("destroy", "w")
	if m, ok := c.event(100 * time.Millisecond); ok {
		t.Errorf("an event after the watches were reset: %q", m.payload)
	}
	// A domain that came and went between two looks is released too.
	c.watch(xsReleaseDomain, "r")
	h.xl("create", h.guest("x"))
	h.xl("destroy", "x")
	if _, ok := c.event(time.Second); !ok {
		t.Error("no event for a domain that came and went")
	}
}

// TestXenstoredMain: the program: its arguments, its socket, calls.log,
// and SIGTERM.
func TestXenstoredMain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	var out, errb bytes.Buffer
	if rc := Main([]string{"/usr/sbin/xenstored", "--pid-file=/x"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "Usage: xenstored") {
		t.Errorf("a bad argument: rc %d, %q", rc, errb.String())
	}
	sockDir, err := os.MkdirTemp("", "xsd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "sock")
	// A stale socket, as a killed daemon leaves.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	t.Setenv("XENSTORED_PATH", sock)
	rc := make(chan int, 1)
	go func() { rc <- Main([]string{"xlsim", "xenstored", "-N"}, io.Discard, io.Discard) }()
	var c *xsTestClient
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if nc, err := net.Dial("unix", sock); err == nil {
			nc.Close()
			c = dialXS(t, sock)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon does not accept")
		}
	}
	if _, p := c.do(xsOpDirectory, "/local/domain\x00"); p != "0\x00" {
		t.Errorf("directory: %q", p)
	}
	c.watch(xsReleaseDomain, "t")
	syscall.Kill(os.Getpid(), syscall.SIGTERM) // the daemon catches it
	select {
	case r := <-rc:
		if r != 0 {
			t.Errorf("rc %d after SIGTERM", r)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SIGTERM did not stop the daemon")
	}
	select {
	case <-c.eof:
	case <-time.After(time.Second):
		t.Error("the connection is still open")
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left: %v", err)
	}
	calls, err := ReadCalls(dir)
	if err != nil {
		t.Fatal(err)
	}
	last := calls[len(calls)-1]
	if last.Prog != "xenstored" || !slices.Equal(last.Args, []string{"-N"}) || !last.Ended || last.RC != 0 {
		t.Errorf("calls.log: %+v", last)
	}
}

// TestXenstoredDefaultSocket: without $XENSTORED_PATH the socket is
// $XLSIM_DIR/xenstored/socket; stopping the daemon removes it.
func TestXenstoredDefaultSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "xsd") // short
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	t.Setenv("XLSIM_DIR", dir)
	t.Setenv("XENSTORED_PATH", "")
	rc := make(chan int, 1)
	go func() { rc <- Main([]string{"xenstored"}, io.Discard, io.Discard) }()
	sock := filepath.Join(dir, "xenstored", "socket")
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if nc, err := net.Dial("unix", sock); err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no socket at", sock)
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case r := <-rc:
		if r != 0 {
			t.Errorf("rc %d", r)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SIGINT did not stop the daemon")
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left: %v", err)
	}
}

// TestXenstoredStopClosesAll: cancelling the daemon closes its
// connections and removes the socket.
func TestXenstoredStopClosesAll(t *testing.T) {
	h := newXSHost(t)
	c := dialXS(t, h.sock)
	c.watch(xsReleaseDomain, "t")
	h.stop()
	select {
	case <-c.eof:
	case <-time.After(time.Second):
		t.Error("the connection is still open")
	}
	if _, err := os.Lstat(h.sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left: %v", err)
	}
}
