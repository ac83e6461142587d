package xlsim

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// StartXenstored starts the simulated xenstored (bin/xenstored, a link to
// the simulator) with env and waits until its socket accepts a connection
// (at most 5s). stop sends it SIGTERM and waits for it to exit (at most
// 5s, then kills it).
func StartXenstored(bin string, env []string, sock string) (stop func() error, err error) {
	cmd := exec.Command(filepath.Join(bin, "xenstored"), "-N")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // its complaints, if any, for whoever runs it
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("xenstored: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("xenstored: %w", err)
			}
			return nil
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("xenstored did not exit within 5s of SIGTERM")
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			c.Close()
			return stop, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("xenstored exited before it listened on %s: %v", sock, err)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("xenstored: nothing accepts on %s after 5s", sock)
		}
	}
}
