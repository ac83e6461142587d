package xl

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// xenorder makes an xl call for nearly every step of every guest, so what
// one call costs xenorder itself adds up (docs/performance.md). os/exec's
// defaults cost more than they need to: a pipe and a copying goroutine for
// each of stdout and stderr, a look-up of "xl" along $PATH, and a thread
// blocked in wait(2) for as long as xl runs, which keeps the Go runtime's
// monitor thread polling every few microseconds. The helpers below cut
// that; each falls back to os/exec's way where the kernel says no.

// capture collects one output stream of a child in a memory-backed file
// (memfd) the child writes to directly, or, without memfd, in a buffer
// os/exec fills through a pipe.
type capture struct {
	f   *os.File
	buf bytes.Buffer
}

func newCapture(name string) *capture {
	c := &capture{}
	if fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC); err == nil {
		c.f = os.NewFile(uintptr(fd), name)
	}
	return c
}

// writer is what to give the child as its stdout or stderr.
func (c *capture) writer() io.Writer {
	if c.f != nil {
		return c.f
	}
	return &c.buf
}

// bytes returns what the child wrote and releases the file. Call it once,
// after the child has exited.
func (c *capture) bytes() []byte {
	if c.f == nil {
		return c.buf.Bytes()
	}
	defer c.f.Close()
	var b []byte
	if fi, err := c.f.Stat(); err == nil && fi.Size() > 0 {
		b = make([]byte, fi.Size())
		n, _ := c.f.ReadAt(b, 0)
		b = b[:n]
	}
	return b
}

// awaitExit parks the calling goroutine in the runtime's poller until the
// process has exited (a pidfd turns readable then), so that the cmd.Wait
// after it returns at once instead of holding a thread in wait(2). Without
// pidfds (Linux before 5.10) it returns at once and cmd.Wait blocks as
// usual. A context's cancellation still reaches the process: os/exec
// interrupts and kills it from its own goroutine.
func awaitExit(p *os.Process) {
	fd, err := unix.PidfdOpen(p.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		// Called once the poller is armed, and again each time it says the
		// pidfd is readable. Ask the pidfd itself: a readiness that came
		// before the poller was armed is not reported again.
		return exited(fd)
	})
}

// exited reports whether the process of a pidfd has exited (or it cannot
// tell: the caller then waits the ordinary way).
func exited(pidfd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

// devNull is /dev/null, opened once for the stdin of every call: os/exec
// would open and close it for each.
type devNull struct {
	once sync.Once
	f    *os.File
}

// file returns /dev/null, or nil when it cannot be opened (os/exec then
// tries itself).
func (d *devNull) file() *os.File {
	d.once.Do(func() {
		if f, err := os.Open(os.DevNull); err == nil {
			d.f = f
		}
	})
	return d.f
}

// resolver remembers where a program name was found on $PATH, for as long
// as $PATH stays the same.
type resolver struct {
	mu      sync.Mutex
	name    string
	pathEnv string
	path    string
}

// lookup returns the program to run for name: name itself when it has a
// slash or cannot be found (exec then reports why), else its path on
// $PATH.
func (r *resolver) lookup(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	env := os.Getenv("PATH")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.path != "" && r.name == name && r.pathEnv == env {
		return r.path
	}
	p, err := exec.LookPath(name)
	if err != nil {
		r.path = ""
		return name
	}
	r.name, r.pathEnv, r.path = name, env, p
	return p
}

// forget drops what lookup remembered (the program was not found there).
func (r *resolver) forget() {
	r.mu.Lock()
	r.path = ""
	r.mu.Unlock()
}
