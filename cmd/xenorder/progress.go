package main

// A start or stop publishes where it is in state_dir (progress.json, 0600),
// so that `xenorder status` run meanwhile shows its guests starting or
// stopping with the time used and left. status trusts the file only while
// its writer provably runs: the kernel's lock table names that pid as the
// holder of the host's lock, and the process of that pid started when the
// writer did (a reused pid is not it), on this boot.

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/lock"
	"github.com/xenorder/xenorder/internal/runner"
)

// progressFile is what the file holds.
type progressFile struct {
	PID int `json:"pid"`
	// PIDStart is when the writer started (/proc/PID/stat, in clock ticks
	// since boot), BootID the boot it ran in.
	PIDStart uint64 `json:"pid_start"`
	BootID   string `json:"boot_id"`
	Command  string `json:"command"`
	runner.Progress
}

// publishProgress makes r's start or stop keep the progress file, from
// now until the returned func runs (it removes the file). Call it holding
// the host's lock.
func (e *env) publishProgress(cfg *config.Config, r *runner.Runner) (done func()) {
	st := e.store(cfg)
	pid := os.Getpid()
	started, err := procStart(pid)
	if err != nil {
		e.log.Debug("not publishing progress for status", "err", err)
		return func() {}
	}
	head := progressFile{PID: pid, PIDStart: started, BootID: bootID(), Command: "xenorder " + strings.Join(e.argv, " ")}
	warned := false
	r.Publish = func(p *runner.Progress) {
		var err error
		if p == nil {
			err = st.RemoveProgress()
		} else {
			f := head
			f.Progress = *p
			err = st.WriteProgress(f)
		}
		if err != nil && !warned {
			warned = true // once: the run goes on without it
			e.log.Warn("status will not show this run's progress", "err", err)
		}
	}
	return func() {
		r.Publish = nil
		if err := st.RemoveProgress(); err != nil {
			e.log.Warn("could not remove the progress file", "err", err)
		}
	}
}

// inProgress reads the progress another xenorder publishes, if its writer
// provably still runs; else nil (a file left by a killed xenorder, or from
// an earlier boot, is ignored: said with -v).
func (e *env) inProgress(cfg *config.Config) *runner.InProgress {
	st := e.store(cfg)
	var f progressFile
	found, err := st.ReadProgress(&f)
	if err != nil {
		e.log.Debug("ignoring the progress file", "err", err)
		return nil
	}
	if !found {
		return nil
	}
	if why := staleProgress(f, cfg.Defaults.LockFile, lock.Holders, procStart, bootID()); why != "" {
		e.log.Debug("ignoring "+st.ProgressPath()+": "+why, "pid", f.PID)
		return nil
	}
	return &runner.InProgress{PID: f.PID, Command: config.Printable(f.Command), Progress: f.Progress}
}

// staleProgress says why a progress file's writer is not (provably) the
// xenorder that holds the lock now; "" when it is.
func staleProgress(f progressFile, lockFile string, holders func(string) ([]int, error), started func(int) (uint64, error), boot string) string {
	if f.PID <= 0 || f.PIDStart == 0 {
		return "it names no writer"
	}
	if f.PID == os.Getpid() {
		return "it names this very process"
	}
	if f.BootID == "" || f.BootID != boot {
		return "it was written before the last boot"
	}
	pids, err := holders(lockFile)
	if err != nil {
		return fmt.Sprintf("who holds the lock %s is unknown: %v", lockFile, err)
	}
	if !slices.Contains(pids, f.PID) {
		return fmt.Sprintf("its writer, pid %d, does not hold the lock %s (it ended, or was killed)", f.PID, lockFile)
	}
	s, err := started(f.PID)
	if err != nil || s != f.PIDStart {
		return fmt.Sprintf("pid %d is not its writer (the pid was reused)", f.PID)
	}
	return ""
}

// procStart is when process pid started, in clock ticks since boot: field
// 22 of /proc/PID/stat, counted after the command's closing parenthesis
// (the command may hold spaces and parentheses).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("/proc/" + strconv.Itoa(pid) + "/stat: no command")
	}
	// After ") " come field 3 (state) onwards: starttime is the 20th of them.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("/proc/" + strconv.Itoa(pid) + "/stat: too short")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// bootID names this boot ("" if unknown).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
