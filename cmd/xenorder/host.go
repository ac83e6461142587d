package main

// What xenorder asks of the host before and after a command: is this Xen's
// dom0 (a state-changing command runs nowhere else), and is xenorder.service
// active while guests run (its stop is what stops them at poweroff).

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/config"
)

const (
	// procXenCapabilities is xenfs's capabilities file: "control_d" in
	// dom0, empty in a domU (Linux's drivers/xen/xenfs). xendomains and
	// Xen's own units test it the same way.
	procXenCapabilities = "/proc/xen/capabilities"
	// unitName is the unit whose stop stops the guests at poweroff.
	unitName = "xenorder.service"
	// unitQueryTimeout bounds the question to systemd: a warning is not
	// worth more.
	unitQueryTimeout = 2 * time.Second
)

// hostSeams is what a command learns of the host besides xl: where xenfs's
// capabilities file is and how to ask systemd for a unit's state. Only a
// binary built for the test suite (-tags xenorder_simhost, seams_simhost.go)
// answers from the simulated host; the shipped binary (seams_real.go) has
// /proc/xen/capabilities and systemd's bus, and no way to be pointed
// elsewhere.
type hostSeams struct {
	capabilities string
	units        unitStates
	// wall reads the host's wall clock, for what is stored or compared
	// with stored times (save records, progress.json, run records); nil:
	// time.Now. Never what a duration is measured with: that is the
	// monotonic clock, which no wall-clock jump moves.
	wall func() time.Time
}

// now is the host's wall clock now.
func (h hostSeams) now() time.Time {
	if h.wall == nil {
		return time.Now()
	}
	return h.wall()
}

// unitStates asks the service manager about a unit.
type unitStates interface {
	// ActiveState returns the unit's ActiveState ("active", "inactive",
	// "failed", "activating", ...); ok is false when there is no answer:
	// systemd is not PID 1, its bus is not there, or it does not know the
	// unit.
	ActiveState(ctx context.Context, unit string) (state string, ok bool)
}

// changesHost reports whether this invocation of a command changes the
// host: its guests, or xenorder's records of them. --dry-run changes
// nothing. stop --exec-stop-post first learns from $SERVICE_RESULT whether
// it acts (cmdStop asks then).
func changesHost(name string, fs *flag.FlagSet) bool {
	if flagBool(fs, "dry-run") {
		return false
	}
	switch name {
	case "start", "drain", "resume", "restart", "restore":
		return true
	case "stop":
		return !flagBool(fs, "exec-stop-post")
	case "drains":
		return flagBool(fs, "clear") || flagBool(fs, "set")
	}
	return false
}

// dom0 says whether the capabilities file at path makes this host Xen's
// dom0, and why not.
func dom0(path string) (ok bool, why string) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Sprintf("%s does not exist: this is not a Xen host, or Xen's xenfs is not mounted on /proc/xen", path)
		}
		return false, fmt.Sprintf("cannot read %s: %v", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return false, fmt.Sprintf("cannot read %s: %v", path, err)
	}
	if bytes.Contains(b, []byte("control_d")) {
		return true, ""
	}
	return false, fmt.Sprintf("%s does not say control_d: this is a Xen guest (a domU), not dom0", path)
}

// requireDom0 refuses a state-changing command anywhere but dom0: in a
// domU, xl cannot start or stop a guest, and a config copied there must not
// make it try.
func (e *env) requireDom0(verb string) error {
	ok, why := dom0(e.host.capabilities)
	if ok {
		return nil
	}
	return &exitErr{code: 2, err: fmt.Errorf("%s: %s; xenorder starts and stops guests from dom0 only (check, plan, graph, import and status work anywhere); nothing was changed", verb, why)}
}

// warnUnit warns, in one line on stderr, when xenorder.service is failed
// or inactive while domains run: its stop will not run at poweroff, and
// nothing stops the guests in order. Checked after a command that changes
// the host, and by status; not under the unit itself (its own start and
// stop see it activating or deactivating), nor when systemd cannot be
// asked.
func (e *env) warnUnit(ctx context.Context, name string, fs *flag.FlagSet) {
	if e.notify != nil || e.runner == nil || e.host.units == nil || (name != "status" && !changesHost(name, fs)) {
		return
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unitQueryTimeout)
	state, ok := e.host.units.ActiveState(qctx, unitName)
	cancel()
	if !ok || (state != "failed" && state != "inactive") {
		return
	}
	if ctx.Err() != nil {
		return // interrupted: the summary said what was left
	}
	doms, err := e.runner.RunningDomUs(ctx)
	if err != nil || len(doms) == 0 {
		return
	}
	e.warn(unitWarning(state, doms))
}

// unitWarning is warnUnit's line.
func unitWarning(state string, doms []string) string {
	shown := make([]string, 0, len(doms))
	for i, d := range doms {
		if i == 8 {
			shown = append(shown, fmt.Sprintf("and %d more", len(doms)-i))
			break
		}
		shown = append(shown, config.Printable(d))
	}
	noun := "domains run"
	if len(doms) == 1 {
		noun = "domain runs"
	}
	return fmt.Sprintf("%s is %s while %d %s (%s): at poweroff its stop will not run, and nothing stops them in order; "+
		"systemctl start %s makes it active (it leaves running guests alone and starts the autostart guests that are down and not drained)",
		unitName, state, len(doms), noun, strings.Join(shown, ", "), unitName)
}
