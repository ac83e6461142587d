// Package lock keeps state-changing xenorders apart: one at a time per host,
// whatever config each reads, through an exclusive flock on one file.
//
// Who holds the lock is read from the kernel's lock table (/proc/locks):
// the pid written in the file's text is for messages only, and is never
// signalled.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pollEvery is how often a waiting Acquire tries again.
const pollEvery = 100 * time.Millisecond

// DefaultEvery is how often a waiting Acquire calls Options.Waiting.
const DefaultEvery = 2 * time.Second

// Lock is a held lock; Release lets the next one in.
type Lock struct {
	f *os.File
}

// HeldError says who holds the lock.
type HeldError struct {
	Path string
	// PID is the holder's pid as the kernel's lock table says (0 if it
	// cannot be read): the only pid Interrupt signals.
	PID int
	// FilePID is the pid written in the lock file: for messages only,
	// when the kernel's lock table cannot say.
	FilePID int
	Command string // the holder's command line, if known
	Waited  time.Duration

	dev, ino uint64 // the lock file's, as opened by the one who found it held
}

// Who names the holder: "xenorder pid 1234 (xenorder start)".
func (e *HeldError) Who() string {
	pid := e.PID
	if pid <= 0 {
		pid = e.FilePID
	}
	if pid <= 0 {
		return "another xenorder"
	}
	who := fmt.Sprintf("pid %d", pid)
	if e.Command != "" {
		who += fmt.Sprintf(" (%s)", e.Command)
	}
	return who
}

func (e *HeldError) Error() string {
	msg := fmt.Sprintf("%s holds the lock %s", e.Who(), e.Path)
	if e.Waited > 0 {
		msg += fmt.Sprintf(" after waiting %s", e.Waited)
	}
	return msg + "; wait for it to finish, or pass --wait-lock DURATION to wait"
}

// Options shape how Acquire waits.
type Options struct {
	// Command is written in the lock file with this process's pid, for the
	// messages of those who find the lock held.
	Command string
	// Wait is how long to wait for the holder to let go (0: fail at once).
	Wait time.Duration
	// Waiting, if set, is called when the lock is first found held, then
	// about every Every while the wait lasts, with who holds it and how
	// long the wait has lasted. It returns whether to keep waiting even
	// past Wait.
	Waiting func(held *HeldError) (keepWaiting bool)
	// Every is how often Waiting is called; 0: DefaultEvery.
	Every time.Duration
}

// Acquire takes the lock at path, waiting up to wait for a holder to let go
// (0: fail at once). It records this process's pid and command in the file.
func Acquire(ctx context.Context, path string, wait time.Duration, command string) (*Lock, error) {
	return AcquireWith(ctx, path, Options{Command: command, Wait: wait})
}

// AcquireWith takes the lock at path as opts say.
func AcquireWith(ctx context.Context, path string, opts Options) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// 0600: anyone who can open the file can flock it, and so keep every
	// xenorder, the unit's stop at shutdown too, waiting.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		f.Chmod(0o600) // an older build's 0644
	}
	every := opts.Every
	if every <= 0 {
		every = DefaultEvery
	}
	began := time.Now()
	var nextCall time.Time
	keep := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if opts.Waiting != nil && !time.Now().Before(nextCall) {
			held := holder(f, path)
			held.Waited = time.Since(began)
			nextCall = time.Now().Add(every)
			keep = opts.Waiting(held)
		}
		waited := time.Since(began)
		if waited >= opts.Wait && !keep {
			held := holder(f, path)
			held.Waited = opts.Wait
			if waited > opts.Wait+time.Second {
				held.Waited = waited.Round(time.Second)
			}
			f.Close()
			return nil, held
		}
		pause := pollEvery
		if left := opts.Wait - waited; !keep && left < pause {
			pause = left + time.Millisecond
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d %s\n", os.Getpid(), opts.Command)
		f.Sync()
	}
	return &Lock{f: f}, nil
}

// holder says who holds the lock on f, the file at path: its pid from the
// kernel's lock table; its command from the lock file when the file names
// that same pid, else from /proc.
func holder(f *os.File, path string) *HeldError {
	e := &HeldError{Path: path}
	if b, err := os.ReadFile(path); err == nil {
		pid, cmd, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
		e.FilePID, _ = strconv.Atoi(pid)
		e.Command = printable(cmd)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return e
	}
	e.dev, e.ino = uint64(st.Dev), uint64(st.Ino)
	pids, err := holdersOf(ProcLocks, e.dev, e.ino)
	if err != nil || len(pids) == 0 {
		return e
	}
	e.PID = pids[0]
	if e.PID != e.FilePID {
		e.Command = commandLine(e.PID)
	}
	return e
}

// commandLine is a process's command line from /proc, or "".
func commandLine(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return printable(strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " "))
}

// printable keeps a command line fit for a terminal and a status line: no
// control characters, at most 200 bytes.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// Release lets the lock go. The file stays: removing it would race with a
// process that opened it and waits.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing drops the flock
	l.f = nil
	return err
}
