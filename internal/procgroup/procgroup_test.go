package procgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary re-executed with PROCGROUP_TEST set plays a child
// ("child": start a grandchild and wait for it) or a grandchild
// ("grandchild": record its pid, pgid and the signals it gets in the
// folder PROCGROUP_DIR, say it is ready, and exit at SIGINT).
const (
	envMode = "PROCGROUP_TEST"
	envDir  = "PROCGROUP_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envMode) {
	case "child":
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envMode+"=grandchild")
		cmd.Run()
		os.Exit(0)
	case "grandchild":
		dir := os.Getenv(envDir)
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT)
		os.WriteFile(filepath.Join(dir, "ids"), fmt.Appendf(nil, "%d %d", os.Getpid(), syscall.Getpgrp()), 0o600)
		os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
		select {
		case s := <-sigs:
			os.WriteFile(filepath.Join(dir, "signal"), []byte(s.String()), 0o600)
		case <-time.After(30 * time.Second):
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestOwnGroupAndInterrupt(t *testing.T) {
	for _, own := range []bool{true, false} {
		t.Run(fmt.Sprintf("own %v", own), func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0])
			cmd.Env = append(os.Environ(), envMode+"=child", envDir+"="+dir)
			cmd.WaitDelay = 10 * time.Second
			if own {
				OwnInterruptible(cmd)
			} else {
				// What it was before: the child shares the test's group,
				// and only it is interrupted.
				cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
					break
				}
				if i > 3000 {
					t.Fatal("the grandchild never got ready")
				}
				time.Sleep(10 * time.Millisecond)
			}
			var pid, pgid int
			b, _ := os.ReadFile(filepath.Join(dir, "ids"))
			fmt.Sscanf(string(b), "%d %d", &pid, &pgid)
			if own && pgid != cmd.Process.Pid {
				t.Errorf("grandchild %d in group %d, want its parent's own group %d", pid, pgid, cmd.Process.Pid)
			}
			if !own && pgid != syscall.Getpgrp() {
				t.Errorf("grandchild in group %d, want the test's %d", pgid, syscall.Getpgrp())
			}
			cancel()
			cmd.Wait()
			if own {
				// The child dies of the SIGINT at once; the grandchild
				// notes it a moment later.
				for i := 0; i < 500; i++ {
					if b, _ := os.ReadFile(filepath.Join(dir, "signal")); len(b) > 0 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			got, _ := os.ReadFile(filepath.Join(dir, "signal"))
			if want := map[bool]string{true: "interrupt", false: ""}[own]; string(got) != want {
				t.Errorf("the grandchild got %q, want %q: the interrupt goes to the whole group", got, want)
			}
			if !own {
				// Let the grandchild go, and wait until it has: it writes
				// into dir as it goes, which t.TempDir then removes.
				syscall.Kill(pid, syscall.SIGINT)
				for i := 0; ; i++ {
					if b, _ := os.ReadFile(filepath.Join(dir, "signal")); len(b) > 0 {
						break // its last write
					}
					if i > 3000 {
						t.Fatal("the grandchild never went")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

func TestInterruptAfterExit(t *testing.T) {
	cmd := exec.Command("true")
	Own(cmd)
	if err := Interrupt(cmd); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("before start: %v", err)
	}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := Interrupt(cmd); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("after exit: %v, want os.ErrProcessDone", err)
	}
}
