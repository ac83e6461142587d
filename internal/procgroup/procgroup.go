// Package procgroup runs xenorder's child processes (xl, exec probes,
// xenstore-read, xenstore-watch, modprobe, systemctl) each in a process
// group of its own.
//
// A terminal sends SIGINT (Ctrl-C) and SIGHUP (hang-up) to its foreground
// process group. Were the children in xenorder's group, such a signal would
// reach them too, behind xenorder's back: an `xl save` killed midway leaves
// its guest suspended with its memory only in the hypervisor. In groups of
// their own they never see it; xenorder alone decides what each child gets:
// an `xl save`, `xl restore` or `xl migrate` never gets a signal, any other
// child an explicit SIGINT to its group when its context ends (Interrupt),
// then os/exec's kill after the command's WaitDelay.
package procgroup

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Own makes cmd, when started, the leader of a new process group of its
// own (its pgid is its pid); whatever it starts stays in that group unless
// it leaves it (a daemon's setsid). Call it before cmd.Start.
func Own(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
}

// OwnInterruptible is Own, and makes the end of cmd's context send SIGINT
// to cmd's whole group (Interrupt), as a terminal's Ctrl-C did when the
// child shared xenorder's group. os/exec still kills cmd after
// cmd.WaitDelay if it has not exited by then. cmd must come from
// exec.CommandContext.
func OwnInterruptible(cmd *exec.Cmd) {
	Own(cmd)
	cmd.Cancel = func() error { return Interrupt(cmd) }
}

// Interrupt sends SIGINT to the process group cmd leads (Own). It returns
// os.ErrProcessDone when cmd has already exited.
func Interrupt(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return errors.New("procgroup: not started")
	}
	// Ask through the pidfd first: it tells a process that has exited
	// (and may be reaped, its pid free for reuse) from a live one.
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		return err
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
