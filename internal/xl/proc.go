package xl

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// xenorder makes an xl call for nearly every step of every guest, so what
// one call costs xenorder itself adds up (docs/performance.md). When calls
// overlap, as they do while guests start and stop, os/exec's defaults cost
// more than they need to: a pipe and a copying goroutine for each of stdout
// and stderr, and a thread blocked in waitid(2) for as long as xl runs (Go
// waits on a pidfd since 1.23, but in that blocking call), which keeps the
// Go runtime's monitor thread polling every few microseconds. The helpers
// below cut that; each falls back to os/exec's way where the kernel says
// no. A file, unlike a pipe, also makes no run wait for a process xl
// leaves behind holding its output. (A $PATH look-up remembered and one
// /dev/null for every call saved nothing measurable: dropped, issue 18.)

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
