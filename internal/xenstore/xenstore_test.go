package xenstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is a scripted xenstored: answer gets each request and returns the
// messages to send back (answers and events, in that order).
type server struct {
	t      *testing.T
	ln     net.Listener
	answer func(m message) []message
	mu     sync.Mutex
	conns  []net.Conn
}

func newServer(t *testing.T, answer func(m message) []message) (*server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "socket")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, ln: ln, answer: answer}
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s, path
}

func (s *server) serve(c net.Conn) {
	var hdr [16]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		m := message{typ: binary.LittleEndian.Uint32(hdr[0:]), id: binary.LittleEndian.Uint32(hdr[4:])}
		m.payload = make([]byte, binary.LittleEndian.Uint32(hdr[12:]))
		if _, err := io.ReadFull(c, m.payload); err != nil {
			return
		}
		for _, a := range s.answer(m) {
			write(c, a)
		}
	}
}

func write(c net.Conn, m message) {
	b := make([]byte, 16+len(m.payload))
	binary.LittleEndian.PutUint32(b[0:], m.typ)
	binary.LittleEndian.PutUint32(b[4:], m.id)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(m.payload)))
	copy(b[16:], m.payload)
	c.Write(b)
}

// store answers like xenstored over a fixed tree.
func store(tree map[string]string) func(m message) []message {
	return func(m message) []message {
		f := fields(m.payload)
		reply := func(p string) []message { return []message{{typ: m.typ, id: m.id, payload: []byte(p)}} }
		errno := func(e string) []message { return []message{{typ: typeError, id: m.id, payload: []byte(e + "\x00")}} }
		switch m.typ {
		case typeRead:
			if f[0] == "/denied" {
				return errno("EACCES")
			}
			v, ok := tree[f[0]]
			if !ok {
				return errno("ENOENT")
			}
			return reply(v)
		case typeDirectory:
			var kids []string
			for k := range tree {
				if rest, ok := strings.CutPrefix(k, f[0]+"/"); ok {
					kid, _, _ := strings.Cut(rest, "/")
					if !slices.Contains(kids, kid) {
						kids = append(kids, kid)
					}
				}
			}
			if len(kids) == 0 {
				return errno("ENOENT")
			}
			slices.Sort(kids)
			return reply(strings.Join(kids, "\x00") + "\x00")
		case typeWatch:
			ev := message{typ: typeWatchEvent, payload: []byte(f[0] + "\x00" + f[1] + "\x00")}
			return append(reply("OK\x00"), ev)
		default:
			return errno("ENOSYS")
		}
	}
}

var tree = map[string]string{
	"/local/domain/0/name":  "Domain-0",
	"/local/domain/7/name":  "fileserver",
	"/local/domain/12/name": "web",
}

func dial(t *testing.T, path string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRequests(t *testing.T) {
	_, path := newServer(t, store(tree))
	c := dial(t, path)
	ctx := context.Background()
	tests := []struct {
		name string
		do   func() (string, error)
		want string
		err  string
	}{
		{"directory", func() (string, error) {
			ids, err := c.Directory(ctx, "/local/domain")
			return strings.Join(ids, ","), err
		}, "0,12,7", ""},
		{"read", func() (string, error) { return c.Read(ctx, "/local/domain/7/name") }, "fileserver", ""},
		{"missing", func() (string, error) { return c.Read(ctx, "/local/domain/9/name") }, "", "xenstore read /local/domain/9/name: ENOENT"},
		{"denied", func() (string, error) { return c.Read(ctx, "/denied") }, "", "xenstore read /denied: EACCES"},
		{"too long", func() (string, error) { return c.Read(ctx, strings.Repeat("x", PayloadMax)) }, "", "more than xenstore's 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.do()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := c.Read(ctx, "/nope"); !IsNotExist(err) {
		t.Errorf("IsNotExist(%v) = false", err)
	}
	if _, err := c.Read(ctx, "/denied"); IsNotExist(err) {
		t.Errorf("IsNotExist(%v) = true", err)
	}
}

// Many goroutines at once each get their own answer.
func TestConcurrentRequests(t *testing.T) {
	big := map[string]string{}
	for i := range 50 {
		big[fmt.Sprintf("/local/domain/%d/name", i)] = fmt.Sprintf("g%d", i)
	}
	_, path := newServer(t, store(big))
	c := dial(t, path)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			for range 20 {
				v, err := c.Read(context.Background(), fmt.Sprintf("/local/domain/%d/name", i))
				if err != nil || v != fmt.Sprintf("g%d", i) {
					t.Errorf("read %d: %q, %v", i, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWatchEvents(t *testing.T) {
	var srv *server
	srv, path := newServer(t, store(tree))
	c := dial(t, path)
	if err := c.Watch(context.Background(), "@releaseDomain", "xenorder"); err != nil {
		t.Fatal(err)
	}
	next := func() Event {
		select {
		case ev := <-c.Events():
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return Event{}
	}
	if ev := next(); ev != (Event{"@releaseDomain", "xenorder"}) {
		t.Fatalf("initial event %+v", ev)
	}
	// An event between answers, as xenstored sends them.
	srv.mu.Lock()
	write(srv.conns[0], message{typ: typeWatchEvent, payload: []byte("@releaseDomain\x00xenorder\x00")})
	srv.mu.Unlock()
	if ev := next(); ev.Path != "@releaseDomain" {
		t.Fatalf("event %+v", ev)
	}
	if v, err := c.Read(context.Background(), "/local/domain/12/name"); err != nil || v != "web" {
		t.Fatalf("read after events: %q, %v", v, err)
	}
	// The end of the connection closes Events.
	srv.mu.Lock()
	srv.conns[0].Close()
	srv.mu.Unlock()
	select {
	case _, ok := <-c.Events():
		if ok {
			t.Fatal("an event after the connection ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Events not closed when the connection ended")
	}
	if _, err := c.Read(context.Background(), "/local/domain/12/name"); err == nil {
		t.Fatal("read on an ended connection succeeded")
	}
}

// A burst of events while nobody reads is not an unbounded queue, and does
// not stop the answers.
func TestEventsDoNotBlockAnswers(t *testing.T) {
	var srv *server
	srv, path := newServer(t, func(m message) []message {
		var out []message
		for range 200 {
			out = append(out, message{typ: typeWatchEvent, payload: []byte("@releaseDomain\x00t\x00")})
		}
		return append(out, store(tree)(m)...)
	})
	_ = srv
	c := dial(t, path)
	if v, err := c.Read(context.Background(), "/local/domain/0/name"); err != nil || v != "Domain-0" {
		t.Fatalf("read behind 200 events: %q, %v", v, err)
	}
	if n := len(c.Events()); n != cap(c.Events()) {
		t.Fatalf("%d events queued, want the channel full at %d", n, cap(c.Events()))
	}
}

func TestBadServers(t *testing.T) {
	tests := []struct {
		name   string
		answer func(m message) []message
		ctx    time.Duration
		err    string
	}{
		{"silent", func(message) []message { return nil }, 100 * time.Millisecond, "no answer from xenstored: context deadline exceeded"},
		{"wrong type", func(m message) []message { return []message{{typ: typeWatch, id: m.id}} }, time.Second, "answer of type 4, want 2"},
		{"huge", func(m message) []message {
			return []message{{typ: typeRead, id: m.id, payload: make([]byte, PayloadMax+1)}}
		}, time.Second, "more than xenstore's 4096: not xenstored?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path := newServer(t, tt.answer)
			c := dial(t, path)
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctx)
			defer cancel()
			began := time.Now()
			_, err := c.Read(ctx, "/local/domain/0/name")
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if d := time.Since(began); d > tt.ctx+2*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}
}

func TestDialNothing(t *testing.T) {
	_, err := Dial(context.Background(), filepath.Join(t.TempDir(), "socket"))
	if err == nil || !errors.Is(err, syscallENOENT()) {
		t.Fatalf("err = %v, want no such file", err)
	}
}

func TestSocketPath(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, "/var/run/xenstored/socket"},
		{map[string]string{"XENSTORED_RUNDIR": "/run/xs"}, "/run/xs/socket"},
		{map[string]string{"XENSTORED_RUNDIR": "/run/xs", "XENSTORED_PATH": "/tmp/s"}, "/tmp/s"},
	}
	for _, tt := range tests {
		if got := SocketPath(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("SocketPath(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func syscallENOENT() error { return syscall.ENOENT }
