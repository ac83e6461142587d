package xlsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The xenstore wire protocol (xen/include/public/io/xs_wire.h): a message
// is a header of four little-endian uint32, type, req_id, tx_id and len,
// then len bytes of payload.
const (
	xsOpControl            = 0
	xsOpDirectory          = 1
	xsOpRead               = 2
	xsOpGetPerms           = 3
	xsOpWatch              = 4
	xsOpUnwatch            = 5
	xsOpTransactionStart   = 6
	xsOpTransactionEnd     = 7
	xsOpIntroduce          = 8
	xsOpRelease            = 9
	xsOpGetDomainPath      = 10
	xsOpWrite              = 11
	xsOpMkdir              = 12
	xsOpRm                 = 13
	xsOpSetPerms           = 14
	xsOpWatchEvent         = 15
	xsOpError              = 16
	xsOpIsDomainIntroduced = 17
	xsOpResume             = 18
	xsOpSetTarget          = 19
	xsOpResetWatches       = 21
	xsOpDirectoryPart      = 22

	xsHeaderLen  = 16
	xsPayloadMax = 4096 // XENSTORE_PAYLOAD_MAX
)

// The special watch paths: xenstored fires them when a domain is released
// (shut down, crashed or gone) and when one is introduced.
const (
	xsReleaseDomain   = "@releaseDomain"
	xsIntroduceDomain = "@introduceDomain"
)

// xenstored is `xenstored [-N|--no-fork]`: a simulated xenstore daemon that
// speaks the wire protocol on the unix socket $XENSTORED_PATH (default
// $XLSIM_DIR/xenstored/socket), in the foreground, until SIGTERM or
// SIGINT. It serves reads of the simulated xenstore (XS_DIRECTORY,
// XS_READ, XS_GET_DOMAIN_PATH) and watches; see xsServer.
func (e *Env) xenstored(args []string) int {
	for _, a := range args {
		if a != "-N" && a != "--no-fork" {
			fmt.Fprintf(e.Stderr, "Usage: xenstored [-N|--no-fork]\n\n"+
				"  -N, --no-fork  do not fork (the simulated xenstored never does)\n"+
				"The socket is $XENSTORED_PATH, else $XLSIM_DIR/xenstored/socket.\n")
			return 1
		}
	}
	path := os.Getenv("XENSTORED_PATH")
	if path == "" {
		path = filepath.Join(e.Dir, "xenstored", "socket")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintf(e.Stderr, "xenstored: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := e.listenXenstored(path)
	if err != nil {
		fmt.Fprintf(e.Stderr, "xenstored: %v\n", err)
		return 1
	}
	srv.serve(ctx)
	return 0
}

// xsServer is the simulated xenstored: a listener, its connections and
// one poller goroutine that looks at the simulated host for the special
// watches.
//
// Time is lazy in the simulator: the state moves only when a command looks
// at it. While a connection watches @releaseDomain or @introduceDomain,
// the poller looks (a view) every watchPoll for what other commands did,
// and at the moment the next thing is due (+1ms), like xenstore-watch, so
// that a guest's scheduled death is seen within about a millisecond. It
// fires @releaseDomain when a listed domain enters the shut-down state
// (powered off, crashed, rebooting or suspended, and still listed) and when
// a domain is gone, as C xenstored's domain_cleanup does; @introduceDomain
// when a new domid appears. What happens at one look is one event. Reads
// take a fresh view each; nothing here changes the state (a view writes
// only what has come due).
type xsServer struct {
	e    *Env
	path string
	ln   *net.UnixListener

	viewMu sync.Mutex // one view of the state at a time in this process

	mu      sync.Mutex
	conns   map[*xsConn]bool
	closed  bool
	special int // watches on xsReleaseDomain and xsIntroduceDomain

	arm  chan chan struct{} // a special watch comes: the poller has a baseline when it answers
	done chan struct{}      // closed when the server stops
	wg   sync.WaitGroup
}

// listenXenstored listens on the unix socket path, first removing a stale
// socket there.
func (e *Env) listenXenstored(path string) (*xsServer, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	return &xsServer{
		e: e, path: path, ln: ln,
		conns: map[*xsConn]bool{},
		arm:   make(chan chan struct{}),
		done:  make(chan struct{}),
	}, nil
}

// serve serves until ctx is done, then closes the listener and the
// connections and removes the socket.
func (srv *xsServer) serve(ctx context.Context) {
	srv.wg.Add(2)
	go srv.poller()
	go srv.accept()
	<-ctx.Done()
	close(srv.done)
	srv.ln.Close()
	srv.mu.Lock()
	srv.closed = true
	for c := range srv.conns {
		c.close()
	}
	srv.mu.Unlock()
	srv.wg.Wait()
	os.Remove(srv.path)
}

func (srv *xsServer) accept() {
	defer srv.wg.Done()
	for {
		nc, err := srv.ln.AcceptUnix()
		if err != nil {
			select {
			case <-srv.done:
				return
			default:
			}
			fmt.Fprintf(srv.e.Stderr, "xenstored: %v\n", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c := &xsConn{srv: srv, c: nc, watches: map[xsWatch]bool{}, queued: map[xsWatch]bool{}}
		c.cond = sync.NewCond(&c.mu)
		srv.mu.Lock()
		if srv.closed {
			srv.mu.Unlock()
			nc.Close()
			return
		}
		srv.conns[c] = true
		srv.wg.Add(2)
		srv.mu.Unlock()
		go c.read()
		go c.write()
	}
}

// withView runs f on a fresh view of the state.
func (srv *xsServer) withView(f func(s *session)) error {
	srv.viewMu.Lock()
	defer srv.viewMu.Unlock()
	s, err := srv.e.view()
	if err != nil {
		return err
	}
	f(s)
	return s.commit()
}

// xsSnap is what the special watches look at: the listed domids, whether
// each is shut down, and the next domid to be given.
type xsSnap struct {
	down map[int]bool
	next int
}

// look takes a snapshot of the host and says when to look next: watchPoll
// from now, or just after the next thing due if sooner.
func (srv *xsServer) look() (xsSnap, time.Time, error) {
	var snap xsSnap
	var wake time.Time
	err := srv.withView(func(s *session) {
		snap = xsSnap{down: make(map[int]bool, len(s.st.Domains)), next: s.st.NextDomid}
		for _, d := range s.st.Domains {
			snap.down[d.ID] = d.Phase == phaseShutdown || d.Phase == phaseSuspended
		}
		wake = s.now.Add(watchPoll)
		if d, _, at := s.earliestDue(wake); d != nil {
			wake = s.now.Add(max(at.Sub(s.now), 0) + time.Millisecond)
		}
	})
	return snap, wake, err
}

// changes tells what happened between two snapshots: whether a domain was
// released (newly shut down, or gone, even one that came and went in
// between) and whether one was introduced.
func (prev xsSnap) changes(now xsSnap) (released, introduced bool) {
	for id := range prev.down {
		if _, ok := now.down[id]; !ok {
			released = true
		}
	}
	for id, down := range now.down {
		was, ok := prev.down[id]
		if !ok {
			introduced = true
		}
		if down && !was {
			released = true
		}
	}
	for id := prev.next; id < now.next; id++ {
		introduced = true
		if _, ok := now.down[id]; !ok {
			released = true
		}
	}
	return released, introduced
}

// poller is the one goroutine that looks at the host for the special
// watches, while there are any.
func (srv *xsServer) poller() {
	defer srv.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		active bool   // looking: there are special watches
		known  bool   // prev is a baseline
		prev   xsSnap // what the last look saw
	)
	for {
		select {
		case <-srv.done:
			return
		case ack := <-srv.arm:
			if !active {
				active = true
				snap, wake, err := srv.look()
				if err != nil {
					fmt.Fprintf(srv.e.Stderr, "xenstored: %v\n", err)
					known = false
					timer.Reset(watchPoll)
				} else {
					prev, known = snap, true
					timer.Reset(time.Until(wake))
				}
			}
			close(ack)
			continue
		case <-timer.C:
		}
		srv.mu.Lock()
		n := srv.special
		srv.mu.Unlock()
		if n == 0 {
			active, known = false, false
			continue
		}
		snap, wake, err := srv.look()
		if err != nil {
			fmt.Fprintf(srv.e.Stderr, "xenstored: %v\n", err)
			timer.Reset(watchPoll)
			continue
		}
		released, introduced := true, true // no baseline: tell them to look
		if known {
			released, introduced = prev.changes(snap)
		}
		prev, known = snap, true
		timer.Reset(time.Until(wake))
		if released {
			srv.fire(xsReleaseDomain)
		}
		if introduced {
			srv.fire(xsIntroduceDomain)
		}
	}
}

// armPoller makes sure the poller looks, with a baseline taken now; false
// when the server stops.
func (srv *xsServer) armPoller() bool {
	ack := make(chan struct{})
	select {
	case srv.arm <- ack:
	case <-srv.done:
		return false
	}
	select {
	case <-ack:
		return true
	case <-srv.done:
		return false
	}
}

func (srv *xsServer) addSpecial(n int) {
	srv.mu.Lock()
	srv.special += n
	srv.mu.Unlock()
}

// fire sends an event to every watch on the special path.
func (srv *xsServer) fire(path string) {
	srv.mu.Lock()
	conns := make([]*xsConn, 0, len(srv.conns))
	for c := range srv.conns {
		conns = append(conns, c)
	}
	srv.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		for w := range c.watches {
			if w.path == path {
				c.queueEvent(w)
			}
		}
		c.mu.Unlock()
	}
}

func isSpecial(path string) bool { return path == xsReleaseDomain || path == xsIntroduceDomain }

type xsWatch struct{ path, token string }

// xsConn is one client connection. Its requests are answered in order, one
// at a time, by read; everything it is sent (replies and watch events)
// goes through one queue that write alone writes, a message at a time.
type xsConn struct {
	srv *xsServer
	c   *net.UnixConn

	mu      sync.Mutex
	cond    *sync.Cond
	out     [][]byte         // messages to write
	queued  map[xsWatch]bool // watches with an event in out: another is the same news
	watches map[xsWatch]bool
	closed  bool
}

func xsMessage(typ, reqID, txID uint32, payload []byte) []byte {
	b := make([]byte, xsHeaderLen+len(payload))
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint32(b[4:], reqID)
	binary.LittleEndian.PutUint32(b[8:], txID)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(payload)))
	copy(b[xsHeaderLen:], payload)
	return b
}

// queueEvent queues a watch event for w; c.mu is held.
func (c *xsConn) queueEvent(w xsWatch) {
	if c.closed || c.queued[w] {
		return
	}
	c.queued[w] = true
	c.out = append(c.out, xsMessage(xsOpWatchEvent, 0, 0, []byte(w.path+"\x00"+w.token+"\x00")))
	c.cond.Signal()
}

// send queues messages; c.mu is held.
func (c *xsConn) send(msgs ...[]byte) {
	if c.closed {
		return
	}
	c.out = append(c.out, msgs...)
	c.cond.Signal()
}

func (c *xsConn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.c.Close()
}

func (c *xsConn) write() {
	defer c.srv.wg.Done()
	for {
		c.mu.Lock()
		for len(c.out) == 0 && !c.closed {
			c.cond.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		out := c.out
		c.out = nil
		clear(c.queued)
		c.mu.Unlock()
		for _, m := range out {
			if _, err := c.c.Write(m); err != nil {
				c.close()
				return
			}
		}
	}
}

// read reads and answers the requests until the connection closes or
// sends a payload longer than XENSTORE_PAYLOAD_MAX.
func (c *xsConn) read() {
	defer c.srv.wg.Done()
	defer c.drop()
	var hdr [xsHeaderLen]byte
	for {
		if _, err := io.ReadFull(c.c, hdr[:]); err != nil {
			return
		}
		typ := binary.LittleEndian.Uint32(hdr[0:])
		reqID := binary.LittleEndian.Uint32(hdr[4:])
		txID := binary.LittleEndian.Uint32(hdr[8:])
		n := binary.LittleEndian.Uint32(hdr[12:])
		if n > xsPayloadMax {
			return
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.c, payload); err != nil {
			return
		}
		c.handle(typ, reqID, txID, payload)
	}
}

// forgetWatches drops the connection's watches and returns how many were
// on special paths.
func (c *xsConn) forgetWatches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for w := range c.watches {
		if isSpecial(w.path) {
			n++
		}
	}
	clear(c.watches)
	return n
}

// drop closes the connection and forgets its watches.
func (c *xsConn) drop() {
	c.close()
	n := c.forgetWatches()
	c.srv.mu.Lock()
	delete(c.srv.conns, c)
	c.srv.special -= n
	c.srv.mu.Unlock()
}

// xsStrings splits a payload of NUL-terminated strings; false when it does
// not end with a NUL or has not n strings.
func xsStrings(p []byte, n int) ([]string, bool) {
	if len(p) == 0 || p[len(p)-1] != 0 {
		return nil, false
	}
	args := strings.Split(string(p[:len(p)-1]), "\x00")
	return args, len(args) == n
}

// handle answers one request.
func (c *xsConn) handle(typ, reqID, txID uint32, p []byte) {
	reply := func(payload []byte) {
		msg := xsMessage(typ, reqID, txID, payload)
		if len(payload) > xsPayloadMax {
			msg = xsMessage(xsOpError, reqID, txID, []byte("E2BIG\x00"))
		}
		c.mu.Lock()
		c.send(msg)
		c.mu.Unlock()
	}
	fail := func(errno string) {
		c.mu.Lock()
		c.send(xsMessage(xsOpError, reqID, txID, []byte(errno+"\x00")))
		c.mu.Unlock()
	}
	ok := []byte("OK\x00")
	switch typ {
	case xsOpRead, xsOpDirectory, xsOpDirectoryPart:
		nargs := 1
		if typ == xsOpDirectoryPart {
			nargs = 2
		}
		args, good := xsStrings(p, nargs)
		if !good {
			fail("EINVAL")
			return
		}
		var val string
		var kids []string
		found := false
		err := c.srv.withView(func(s *session) {
			if typ == xsOpRead {
				val, found = s.xsRead(args[0])
			} else {
				kids, found = s.xsDirectory(args[0])
			}
		})
		switch {
		case err != nil:
			fmt.Fprintf(c.srv.e.Stderr, "xenstored: %v\n", err)
			fail("EIO")
		case !found:
			fail("ENOENT")
		case typ == xsOpRead:
			reply([]byte(val))
		case typ == xsOpDirectory:
			reply(xsList(kids))
		default:
			off, _ := strconv.Atoi(args[1]) // atoi, as C xenstored
			reply(xsDirectoryPart(kids, off))
		}
	case xsOpGetDomainPath:
		args, good := xsStrings(p, 1)
		if !good {
			fail("EINVAL")
			return
		}
		id, err := strconv.ParseUint(args[0], 10, 16)
		if err != nil {
			fail("EINVAL")
			return
		}
		reply([]byte(fmt.Sprintf("/local/domain/%d\x00", id)))
	case xsOpWatch:
		args, good := xsStrings(p, 2)
		if !good || args[0] == "" {
			fail("EINVAL")
			return
		}
		w := xsWatch{args[0], args[1]}
		c.mu.Lock()
		dup := c.watches[w]
		c.mu.Unlock()
		if dup {
			fail("EEXIST")
			return
		}
		if isSpecial(w.path) {
			c.srv.addSpecial(1)
			if !c.srv.armPoller() {
				c.srv.addSpecial(-1)
				return
			}
		}
		// The watch, its OK and its first event (xenstored fires every
		// new watch once) in one step: no event comes before the OK.
		c.mu.Lock()
		c.watches[w] = true
		c.send(xsMessage(typ, reqID, txID, ok))
		delete(c.queued, w) // an event of a watch it replaces went before the OK
		c.queueEvent(w)
		c.mu.Unlock()
	case xsOpUnwatch:
		args, good := xsStrings(p, 2)
		if !good {
			fail("EINVAL")
			return
		}
		w := xsWatch{args[0], args[1]}
		c.mu.Lock()
		had := c.watches[w]
		delete(c.watches, w)
		c.mu.Unlock()
		if !had {
			fail("ENOENT")
			return
		}
		if isSpecial(w.path) {
			c.srv.addSpecial(-1)
		}
		reply(ok)
	case xsOpResetWatches:
		c.srv.addSpecial(-c.forgetWatches())
		reply(ok)
	case xsOpWrite, xsOpMkdir, xsOpRm, xsOpSetPerms, xsOpTransactionStart, xsOpTransactionEnd:
		fail("EACCES") // the simulated xenstore is read-only
	default:
		fail("ENOSYS")
	}
}

// xsList is the payload of a directory: each name NUL-terminated.
func xsList(names []string) []byte {
	var b []byte
	for _, n := range names {
		b = append(b, n...)
		b = append(b, 0)
	}
	return b
}

// xsDirectoryPart is the reply to XS_DIRECTORY_PART from the byte offset
// off of the child list, as C xenstored's send_directory_part: the
// generation of the node, NUL-terminated, then as many whole children as
// fit, and an empty string after the last child. The generation is a hash
// of the list, which changes when the list does.
func xsDirectoryPart(kids []string, off int) []byte {
	list := xsList(kids)
	h := fnv.New64a()
	h.Write(list)
	out := []byte(strconv.FormatUint(h.Sum64()>>1, 10))
	out = append(out, 0)
	if off < 0 || off >= len(list) {
		return append(out, 0)
	}
	maxlen := xsPayloadMax - len(out) - 1
	n := 0
	for off+n < len(list) {
		l := bytes.IndexByte(list[off+n:], 0)
		if l < 0 || n+l >= maxlen {
			break
		}
		n += l + 1
	}
	out = append(out, list[off:off+n]...)
	if off+n == len(list) {
		out = append(out, 0)
	}
	return out
}
