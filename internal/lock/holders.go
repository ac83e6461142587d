package lock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ProcLocks is the kernel's lock table.
const ProcLocks = "/proc/locks"

// parseLocks returns the pids /proc/locks text names as holding an flock
// (FLOCK, READ or WRITE) on the file with device major:minor and inode ino.
// A line is
//
//	1: FLOCK  ADVISORY  WRITE 1234 fe:00:9980962 0 EOF
//
// with the device's major and minor in hex and the inode in decimal. Lines
// of processes blocked waiting for a lock ("1: -> FLOCK ...") are not
// holders; nor are POSIX, OFD locks or leases, which xenorder never takes.
func parseLocks(r io.Reader, major, minor uint32, ino uint64) ([]int, error) {
	var pids []int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "->") || f[0] != "FLOCK" || (f[2] != "WRITE" && f[2] != "READ") {
			continue
		}
		pid, err := strconv.Atoi(f[3])
		if err != nil || pid <= 0 {
			continue // not visible from this pid namespace
		}
		id := strings.Split(f[4], ":")
		if len(id) != 3 {
			continue
		}
		maj, err1 := strconv.ParseUint(id[0], 16, 32)
		min, err2 := strconv.ParseUint(id[1], 16, 32)
		n, err3 := strconv.ParseUint(id[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if uint32(maj) == major && uint32(min) == minor && n == ino {
			pids = append(pids, pid)
		}
	}
	return pids, sc.Err()
}

// holdersOf reads the lock table at table for the flocks on the file with
// device dev (st_dev) and inode ino.
func holdersOf(table string, dev, ino uint64) ([]int, error) {
	f, err := os.Open(table)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pids, err := parseLocks(f, unix.Major(dev), unix.Minor(dev), ino)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	return pids, nil
}

// Holders returns the pids of the processes the kernel's lock table says
// hold an flock on the file at path (none when it is free).
func Holders(path string) ([]int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nil, err
	}
	return holdersOf(ProcLocks, uint64(st.Dev), uint64(st.Ino))
}

// Process is a holder that was signalled.
type Process struct {
	PID int
	p   *os.Process
}

// Alive reports whether the process still runs (or is not yet reaped).
func (p *Process) Alive() bool {
	return p != nil && p.p.Signal(syscall.Signal(0)) == nil
}

// Release frees what watching the process takes.
func (p *Process) Release() {
	if p != nil {
		p.p.Release()
	}
}

// Interrupt sends sig to the holder e names, once the kernel's lock table
// confirms, after a handle on that very process is taken (a pidfd), that it
// still holds the lock: a pid that was reused meanwhile is never signalled.
// The pid written in the lock file is never used. It returns the process,
// to watch whether it still lives.
func (e *HeldError) Interrupt(sig syscall.Signal) (*Process, error) {
	return interrupt(ProcLocks, e.dev, e.ino, e.PID, sig)
}

func interrupt(table string, dev, ino uint64, pid int, sig syscall.Signal) (*Process, error) {
	if pid <= 1 || pid == os.Getpid() {
		return nil, fmt.Errorf("the lock table names no process to signal (pid %d)", pid)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	pids, err := holdersOf(table, dev, ino)
	if err != nil {
		p.Release()
		return nil, err
	}
	holds := false
	for _, h := range pids {
		holds = holds || h == pid
	}
	if !holds {
		p.Release()
		return nil, fmt.Errorf("pid %d no longer holds the lock", pid)
	}
	if err := p.Signal(sig); err != nil {
		p.Release()
		if errors.Is(err, os.ErrProcessDone) {
			return nil, fmt.Errorf("pid %d has exited", pid)
		}
		return nil, fmt.Errorf("sending %s to pid %d: %w", sig, pid, err)
	}
	return &Process{PID: pid, p: p}, nil
}
