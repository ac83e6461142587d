package lock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseLocks(t *testing.T) {
	// As Linux prints them: major and minor in hex, the inode in decimal.
	const table = `1: POSIX  ADVISORY  WRITE 700 fe:00:4242 0 EOF
2: FLOCK  ADVISORY  WRITE 1234 fe:00:4242 0 EOF
2: -> FLOCK  ADVISORY  WRITE 5555 fe:00:4242 0 EOF
2:  -> FLOCK  ADVISORY  WRITE 5556 fe:00:4242 0 EOF
3: OFDLCK ADVISORY  WRITE -1 fe:00:4242 0 EOF
4: FLOCK  ADVISORY  WRITE 1235 fe:01:4242 0 EOF
5: FLOCK  ADVISORY  WRITE 1236 fe:00:42421 0 EOF
6: FLOCK  ADVISORY  READ  1237 00:1a:5678 0 EOF
7: FLOCK  ADVISORY  WRITE 1238 00:1a:5678 0 EOF
8: FLOCK  ADVISORY  WRITE 0 00:1a:5678 0 EOF
9: LEASE  ACTIVE    READ  1239 00:1a:5678 0 EOF
garbage
10: FLOCK  ADVISORY  WRITE x 00:1a:5678 0 EOF
11: FLOCK  ADVISORY  WRITE 1240 00:1a 0 EOF
12: FLOCK  ADVISORY  WRITE 1241 zz:1a:5678 0 EOF
`
	cases := []struct {
		name         string
		major, minor uint32
		ino          uint64
		want         []int
	}{
		{"the holder, not the POSIX lock, the OFD lock or the waiters", 0xfe, 0, 4242, []int{1234}},
		{"another minor", 0xfe, 1, 4242, []int{1235}},
		{"another inode", 0xfe, 0, 42421, []int{1236}},
		{"shared holders; pid 0 (another pid namespace) and a lease left out", 0, 0x1a, 5678, []int{1237, 1238}},
		{"nobody", 0xfe, 0, 1, nil},
		{"minor in hex", 0, 26, 5678, []int{1237, 1238}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseLocks(strings.NewReader(table), c.major, c.minor, c.ino)
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestHelperHoldLock is not a test: it is the process that holds the lock
// in the tests below (the test binary run again, as a child). It takes the
// flock, says "locked" and holds it until its stdin closes or a signal
// ends it.
func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv("XENORDER_TEST_HOLD_LOCK")
	if path == "" {
		t.Skip("the lock-holding child of other tests")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// holdInChild makes a child process hold the lock at path until the test
// ends; it returns the child.
func holdInChild(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "XENORDER_TEST_HOLD_LOCK="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "locked" {
			return cmd
		}
		t.Logf("child: %s", sc.Text())
	}
	t.Fatalf("the child never took the lock")
	return nil
}

// decoy is a process that must never be signalled: its pid is what a
// lying lock file says.
type decoy struct {
	*exec.Cmd
	done chan error // its end
}

func newDecoy(t *testing.T) *decoy {
	t.Helper()
	d := &decoy{Cmd: exec.Command("sleep", "600"), done: make(chan error, 1)}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.Wait() }()
	t.Cleanup(func() { d.Process.Kill(); <-d.done })
	return d
}

// untouched fails the test if the decoy has ended (a signal to a process
// not yet reaped would not show otherwise).
func (d *decoy) untouched(t *testing.T) {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // a signal's effect is not instant
	select {
	case err := <-d.done:
		d.done <- err
		t.Errorf("the process the lock file names was signalled: %v", err)
	default:
	}
}

// TestHolderFromTheKernel: the holder is another process, and its pid
// comes from /proc/locks, not from the file's text, which names another
// live process.
func TestHolderFromTheKernel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xenorder.lock")
	os.WriteFile(path, nil, 0o644)
	child := holdInChild(t, path)
	liar := newDecoy(t)
	os.WriteFile(path, []byte(fmt.Sprintf("%d xenorder drain fileserver\n", liar.Process.Pid)), 0o644)

	pids, err := Holders(path)
	if err != nil || !slices.Equal(pids, []int{child.Process.Pid}) {
		t.Fatalf("Holders: %v, %v; want [%d]", pids, err, child.Process.Pid)
	}
	_, err = Acquire(t.Context(), path, 0, "xenorder start")
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("err %v", err)
	}
	if held.PID != child.Process.Pid || held.FilePID != liar.Process.Pid {
		t.Errorf("PID %d, FilePID %d; want %d from the kernel, %d from the file", held.PID, held.FilePID, child.Process.Pid, liar.Process.Pid)
	}
	// The file's command belongs to another pid: the holder's own is named.
	if !strings.Contains(held.Command, "TestHelperHoldLock") || !strings.Contains(err.Error(), fmt.Sprintf("pid %d (", child.Process.Pid)) {
		t.Errorf("command %q, message %q", held.Command, err)
	}

	p, err := held.Interrupt(syscall.SIGTERM)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	werr := child.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("the holder ended with %v, want SIGTERM", werr)
	}
	if p.Alive() {
		t.Error("Alive after the holder was reaped")
	}
	liar.untouched(t)
	l, err := Acquire(t.Context(), path, time.Second, "xenorder stop")
	if err != nil {
		t.Fatalf("after the holder ended: %v", err)
	}
	l.Release()
}

// TestInterruptOnlyTheHolder: a pid the lock table does not name as the
// holder is never signalled.
func TestInterruptOnlyTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xenorder.lock")
	os.WriteFile(path, nil, 0o644)
	child := holdInChild(t, path)
	liar := newDecoy(t)
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{liar.Process.Pid, 1, os.Getpid(), 0} {
		if p, err := interrupt(ProcLocks, uint64(st.Dev), uint64(st.Ino), pid, syscall.SIGTERM); err == nil {
			p.Release()
			t.Errorf("pid %d, which does not hold the lock, was signalled", pid)
		}
	}
	liar.untouched(t)
	// The same holder on another device is not this lock's.
	if p, err := interrupt(ProcLocks, uint64(unix.Mkdev(unix.Major(uint64(st.Dev))+1, 0)), uint64(st.Ino), child.Process.Pid, syscall.SIGTERM); err == nil {
		p.Release()
		t.Errorf("the holder was signalled for another device's inode")
	}
	time.Sleep(50 * time.Millisecond)
	if pids, err := Holders(path); err != nil || !slices.Equal(pids, []int{child.Process.Pid}) {
		t.Errorf("the holder was signalled: the lock is held by %v (%v), want [%d]", pids, err, child.Process.Pid)
	}
}

// TestWaitingIsCalledWhileWaiting: the callback comes at once, then about
// every Every; returning true keeps the wait going past Wait until the
// holder lets go.
func TestWaitingIsCalledWhileWaiting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xenorder.lock")
	first, err := Acquire(t.Context(), path, 0, "xenorder start")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	time.AfterFunc(700*time.Millisecond, func() { first.Release() })
	var calls []time.Duration
	l, err := AcquireWith(t.Context(), path, Options{Command: "xenorder stop", Wait: 100 * time.Millisecond, Every: 200 * time.Millisecond,
		Waiting: func(h *HeldError) bool {
			calls = append(calls, time.Since(began))
			if h.PID != os.Getpid() || h.Command != "xenorder start" {
				t.Errorf("holder %+v", h)
			}
			return true
		}})
	if err != nil {
		t.Fatalf("a wait kept going by Waiting: %v", err)
	}
	l.Release()
	if len(calls) < 3 || calls[0] > 50*time.Millisecond {
		t.Errorf("Waiting called at %v", calls)
	}
	for i := 1; i < len(calls); i++ {
		if d := calls[i] - calls[i-1]; d < 190*time.Millisecond || d > 400*time.Millisecond {
			t.Errorf("Waiting called at %v: a gap of %s", calls, d)
		}
	}

	// Returning false: the wait ends at Wait.
	second, _ := Acquire(t.Context(), path, 0, "xenorder start")
	defer second.Release()
	n := 0
	began = time.Now()
	_, err = AcquireWith(t.Context(), path, Options{Wait: 300 * time.Millisecond, Every: 100 * time.Millisecond, Waiting: func(*HeldError) bool { n++; return false }})
	var held *HeldError
	if !errors.As(err, &held) || time.Since(began) > time.Second || n < 2 || held.Waited != 300*time.Millisecond {
		t.Errorf("err %v after %s, %d calls", err, time.Since(began), n)
	}
}
