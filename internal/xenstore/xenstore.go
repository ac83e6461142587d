// Package xenstore speaks xenstored's wire protocol
// (xen/include/public/io/xs_wire.h) over its unix socket: enough for a
// toolstack to watch @releaseDomain and to read which domains xenstore
// holds, without starting a process for each look.
//
// A message is a header of four native-endian (on x86: little-endian)
// uint32 — type, request id, transaction id, payload length — and the
// payload. Requests are answered in order; watch events arrive between
// the answers, unasked.
package xenstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync"
	"time"
)

// Message types of xs_wire.h that this client uses.
const (
	typeDirectory  = 1
	typeRead       = 2
	typeWatch      = 4
	typeWatchEvent = 15
	typeError      = 16
)

// PayloadMax is xenstored's limit on a message's payload
// (XENSTORE_PAYLOAD_MAX).
const PayloadMax = 4096

// DefaultRunDir is where xenstored keeps its socket on Xen 4.17 built as
// Debian builds it (XEN_RUN_STORED; /var/run is /run on Debian).
const DefaultRunDir = "/var/run/xenstored"

// DefaultTimeout bounds one request when its context has no earlier
// deadline: xenstored answers in microseconds, or is stuck.
const DefaultTimeout = 5 * time.Second

// SocketPath is where libxenstore finds xenstored's socket: $XENSTORED_PATH,
// else $XENSTORED_RUNDIR/socket, else DefaultRunDir/socket. getenv is
// os.Getenv or a test's map.
func SocketPath(getenv func(string) string) string {
	if p := getenv("XENSTORED_PATH"); p != "" {
		return p
	}
	if d := getenv("XENSTORED_RUNDIR"); d != "" {
		return d + "/socket"
	}
	return DefaultRunDir + "/socket"
}

// Event is one firing of a watch.
type Event struct {
	Path  string // the path that changed, or the special path watched (@releaseDomain)
	Token string // the token given to Watch
}

// Error is xenstored's answer XS_ERROR: an errno name such as ENOENT.
type Error struct {
	Op    string // directory, read, watch
	Path  string
	Errno string
}

func (e *Error) Error() string {
	return fmt.Sprintf("xenstore %s %s: %s", e.Op, e.Path, e.Errno)
}

// Is makes errors.Is(err, fs.ErrNotExist) true for ENOENT.
func (e *Error) Is(target error) bool {
	return target == fs.ErrNotExist && e.Errno == "ENOENT"
}

type message struct {
	typ, id uint32
	payload []byte
}

// Conn is one connection to xenstored. Its methods may be called from
// many goroutines; requests go one at a time.
type Conn struct {
	nc     net.Conn
	path   string
	events chan Event
	done   chan struct{} // closed when the reader has ended
	err    error         // why it ended; set before done is closed

	wmu     sync.Mutex // serialises writes
	mu      sync.Mutex // guards next, pending
	next    uint32
	pending map[uint32]chan message
}

// Dial connects to xenstored's socket at path.
func Dial(ctx context.Context, path string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("xenstored socket: %w", err)
	}
	return newConn(nc, path), nil
}

func newConn(nc net.Conn, path string) *Conn {
	c := &Conn{
		nc:      nc,
		path:    path,
		events:  make(chan Event, 64),
		done:    make(chan struct{}),
		pending: map[uint32]chan message{},
	}
	go c.read()
	return c
}

// Path is the socket's path.
func (c *Conn) Path() string { return c.path }

// Events delivers the watches' events. When the reader falls behind by
// more than 64 events, further ones are dropped: each event only says
// "look again", and a look taken after a dropped event sees what it
// announced. The channel is closed when the connection ends.
func (c *Conn) Events() <-chan Event { return c.events }

// Close ends the connection and waits for its reader.
func (c *Conn) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

func (c *Conn) read() {
	defer close(c.done)
	defer close(c.events)
	br := bufio.NewReader(c.nc)
	var hdr [16]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			c.err = fmt.Errorf("xenstored socket %s: %w", c.path, err)
			return
		}
		m := message{typ: binary.LittleEndian.Uint32(hdr[0:]), id: binary.LittleEndian.Uint32(hdr[4:])}
		n := binary.LittleEndian.Uint32(hdr[12:])
		if n > PayloadMax {
			c.err = fmt.Errorf("xenstored socket %s: a message of %d bytes, more than xenstore's %d: not xenstored?", c.path, n, PayloadMax)
			c.nc.Close()
			return
		}
		m.payload = make([]byte, n)
		if _, err := io.ReadFull(br, m.payload); err != nil {
			c.err = fmt.Errorf("xenstored socket %s: %w", c.path, err)
			return
		}
		if m.typ == typeWatchEvent {
			f := fields(m.payload)
			if len(f) >= 2 {
				select {
				case c.events <- Event{Path: f[0], Token: f[1]}:
				default:
				}
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[m.id]
		delete(c.pending, m.id)
		c.mu.Unlock()
		if ch != nil {
			ch <- m // buffered: never blocks
		}
		// An answer nobody waits for is one whose request gave up.
	}
}

// fields splits a payload of NUL-terminated strings.
func fields(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\x00")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

func (c *Conn) do(ctx context.Context, typ uint32, op, path string, payload []byte) ([]byte, error) {
	if len(payload) > PayloadMax {
		return nil, fmt.Errorf("xenstore %s %s: request of %d bytes, more than xenstore's %d", op, path, len(payload), PayloadMax)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	ch := make(chan message, 1)
	msg := make([]byte, 16+len(payload))
	binary.LittleEndian.PutUint32(msg[0:], typ)
	binary.LittleEndian.PutUint32(msg[12:], uint32(len(payload)))
	copy(msg[16:], payload)

	c.mu.Lock()
	c.next++
	id := c.next
	binary.LittleEndian.PutUint32(msg[4:], id)
	c.pending[id] = ch
	c.mu.Unlock()
	c.wmu.Lock()
	dl, _ := ctx.Deadline()
	c.nc.SetWriteDeadline(dl)
	_, err := c.nc.Write(msg)
	c.wmu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}
	if err != nil {
		forget()
		return nil, fmt.Errorf("xenstore %s %s: %w", op, path, err)
	}
	select {
	case m := <-ch:
		switch m.typ {
		case typ:
			return m.payload, nil
		case typeError:
			return nil, &Error{Op: op, Path: path, Errno: strings.TrimRight(string(m.payload), "\x00")}
		default:
			return nil, fmt.Errorf("xenstore %s %s: answer of type %d, want %d", op, path, m.typ, typ)
		}
	case <-ctx.Done():
		forget()
		return nil, fmt.Errorf("xenstore %s %s: no answer from xenstored: %w", op, path, context.Cause(ctx))
	case <-c.done:
		return nil, fmt.Errorf("xenstore %s %s: %w", op, path, c.err)
	}
}

// Directory lists the children of path.
func (c *Conn) Directory(ctx context.Context, path string) ([]string, error) {
	b, err := c.do(ctx, typeDirectory, "directory", path, []byte(path+"\x00"))
	if err != nil {
		return nil, err
	}
	return fields(b), nil
}

// Read returns the value at path.
func (c *Conn) Read(ctx context.Context, path string) (string, error) {
	b, err := c.do(ctx, typeRead, "read", path, []byte(path+"\x00"))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\x00"), nil
}

// Watch sets a watch on path (or a special path: @releaseDomain,
// @introduceDomain). xenstored fires every new watch once at once; the
// events come through Events.
func (c *Conn) Watch(ctx context.Context, path, token string) error {
	return c.ok(ctx, typeWatch, "watch", path, token)
}

func (c *Conn) ok(ctx context.Context, typ uint32, op, path, token string) error {
	b, err := c.do(ctx, typ, op, path, []byte(path+"\x00"+token+"\x00"))
	if err != nil {
		return err
	}
	if got := strings.TrimRight(string(b), "\x00"); got != "OK" {
		return fmt.Errorf("xenstore %s %s: answer %q, want OK", op, path, got)
	}
	return nil
}

// IsNotExist reports whether err is xenstored's ENOENT.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
