// Package lock keeps state-changing xenorders apart: one at a time per host,
// whatever config each reads, through an exclusive flock on one file.
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

// Lock is a held lock; Release lets the next one in.
type Lock struct {
	f *os.File
}

// HeldError says who holds the lock.
type HeldError struct {
	Path    string
	PID     int    // 0 if unknown
	Command string // the holder's command line, if known
	Waited  time.Duration
}

func (e *HeldError) Error() string {
	who := "another xenorder"
	if e.PID > 0 {
		who = fmt.Sprintf("xenorder pid %d", e.PID)
		if e.Command != "" {
			who += fmt.Sprintf(" (%s)", e.Command)
		}
	}
	msg := fmt.Sprintf("%s holds the lock %s", who, e.Path)
	if e.Waited > 0 {
		msg += fmt.Sprintf(" after waiting %s", e.Waited)
	}
	return msg + "; wait for it to finish, or pass --wait-lock DURATION to wait"
}

// Acquire takes the lock at path, waiting up to wait for a holder to let go
// (0: fail at once). It records this process's pid and command in the file.
func Acquire(ctx context.Context, path string, wait time.Duration, command string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	began := time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Since(began) >= wait {
			held := holder(path)
			held.Waited = wait
			f.Close()
			return nil, held
		}
		t := time.NewTimer(min(pollEvery, wait-time.Since(began)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d %s\n", os.Getpid(), command)
		f.Sync()
	}
	return &Lock{f: f}, nil
}

// holder reads who holds the lock from its file.
func holder(path string) *HeldError {
	e := &HeldError{Path: path}
	b, err := os.ReadFile(path)
	if err != nil {
		return e
	}
	pid, cmd, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	e.PID, _ = strconv.Atoi(pid)
	e.Command = cmd
	return e
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
