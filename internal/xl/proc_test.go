package xl

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startFake starts the fake xl, sleeping for sleep before it exits.
func startFake(t *testing.T, sleep string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envHelper+"=1", envSleep+"="+sleep, "GORACE=atexit_sleep_ms=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// awaitReturns fails the test unless awaitExit(p) returns within 20s.
func awaitReturns(t *testing.T, p *os.Process) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		awaitExit(p)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.Kill()
		t.Fatal("awaitExit did not return")
	}
}

func TestAwaitExitLater(t *testing.T) {
	t.Parallel()
	start := time.Now() // before the fork: the fake's 300ms begin after it
	cmd := startFake(t, "300ms")
	awaitReturns(t, cmd.Process)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("returned after %v, before the process exited", took)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestAwaitExitAlreadyExited(t *testing.T) {
	t.Parallel()
	// The process is a zombie before awaitExit arms the poller: its
	// readiness may reach the poller before awaitExit waits, and must not
	// be missed. Other goroutines keep the poller busy meanwhile.
	stop := make(chan struct{})
	defer close(stop)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Microsecond):
				}
			}
		}()
	}
	for range 50 {
		awaitZombie(t)
	}
}

func awaitZombie(t *testing.T) {
	t.Helper()
	cmd := startFake(t, "")
	stat := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat"
	for deadline := time.Now().Add(20 * time.Second); ; {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake never exited")
		}
		time.Sleep(10 * time.Millisecond)
	}
	awaitReturns(t, cmd.Process)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
