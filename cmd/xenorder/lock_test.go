package main

// A stop that finds the lock held: it extends the unit's timeout while it
// waits and, with --interrupt-holder (the unit's ExecStop), sends SIGTERM to
// the holder the kernel's lock table names, waits for it to let go, then
// stops every guest in order.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

// notifications splits a stop's datagrams.
type notifications struct {
	stopping time.Time  // STOPPING=1
	extends  []datagram // EXTEND_TIMEOUT_USEC=
	extendBy []time.Duration
	statuses []datagram // STATUS=, the text only
	// runnerAt is the first STATUS of the runner's stop ("stopping N/M: …"):
	// the lock was taken by then.
	runnerAt time.Time
}

func splitNotifications(ds []datagram) notifications {
	var n notifications
	for _, d := range ds {
		switch {
		case d.data == "STOPPING=1" && n.stopping.IsZero():
			n.stopping = d.at
		case strings.HasPrefix(d.data, "EXTEND_TIMEOUT_USEC="):
			us, _ := strconv.ParseInt(strings.TrimPrefix(d.data, "EXTEND_TIMEOUT_USEC="), 10, 64)
			n.extends = append(n.extends, d)
			n.extendBy = append(n.extendBy, time.Duration(us)*time.Microsecond)
		case strings.HasPrefix(d.data, "STATUS="):
			s := strings.TrimPrefix(d.data, "STATUS=")
			n.statuses = append(n.statuses, datagram{at: d.at, data: s})
			if n.runnerAt.IsZero() && regexp.MustCompile(`^stopping \d+/\d+: `).MatchString(s) {
				n.runnerAt = d.at
			}
		}
	}
	return n
}

// extendsWhileWaiting checks the extensions sent before the lock was taken:
// the first at once, then one at least every lockTick (with slack), each
// for lockExtend.
func extendsWhileWaiting(t *testing.T, n notifications, atLeast int) {
	t.Helper()
	var during []time.Time
	for i, d := range n.extends {
		if !n.runnerAt.IsZero() && d.at.After(n.runnerAt) {
			break
		}
		during = append(during, d.at)
		if n.extendBy[i] < lockExtend-time.Second {
			t.Errorf("an extension of %s while waiting for the lock, want %s", n.extendBy[i], lockExtend)
		}
	}
	if len(during) < atLeast {
		t.Fatalf("%d EXTEND_TIMEOUT_USEC while waiting for the lock, want at least %d", len(during), atLeast)
	}
	if n.stopping.IsZero() || during[0].Sub(n.stopping) > time.Second {
		t.Errorf("the first extension came %s after STOPPING=1", during[0].Sub(n.stopping))
	}
	for i := 1; i < len(during); i++ {
		if gap := during[i].Sub(during[i-1]); gap > lockTick+time.Second {
			t.Errorf("%s between two extensions while waiting: the unit's timeout may run out", gap)
		}
	}
}

func statusWith(n notifications, s string) bool {
	for _, d := range n.statuses {
		if strings.Contains(d.data, s) {
			return true
		}
	}
	return false
}

// stoppedInOrder checks, from the simulator's events since from, that no
// guest was asked to shut down while a guest depending on it still ran,
// and that no guest is left.
func stoppedInOrder(t *testing.T, h *host, from time.Time) {
	t.Helper()
	evs, err := xlsim.ReadEvents(h.sim)
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.config()
	asked, gone := map[string]time.Time{}, map[string]time.Time{}
	for _, e := range evs {
		if e.T.Before(from) {
			continue
		}
		switch e.Ev {
		case "shutdown-requested":
			if _, ok := asked[e.Domain]; !ok {
				asked[e.Domain] = e.T
			}
		case "gone", "destroyed":
			gone[e.Domain] = e.T
		}
	}
	for g, at := range asked {
		for _, d := range cfg.Graph.Dependents(g) {
			if runningAt(evs, d.To, at) {
				t.Errorf("%s asked to shut down at %s while %s, which depends on it, ran", g, at.Format(time.StampMilli), d.To)
			}
		}
	}
	if up := running(h); len(up) != 0 {
		t.Errorf("still running: %v", up)
	}
}

// notifySocket makes the next xenorders of h (not those already running)
// talk to a fake systemd; it returns what it heard.
func notifySocket(t *testing.T, h *host) func() []datagram {
	sock := filepath.Join(t.TempDir(), "notify")
	got := listenUnixgram(t, sock)
	h.extraEnv = append(h.extraEnv, "NOTIFY_SOCKET="+sock)
	return got
}

func isCall(sub, guest string) func(xlsim.Call) bool {
	return func(c xlsim.Call) bool {
		return len(c.Args) > 1 && c.Args[0] == sub && strings.TrimSuffix(filepath.Base(c.Args[len(c.Args)-1]), ".cfg") == guest
	}
}

// neverReady: fileserver boots but never says it is ready, so a start
// waits on its probe (start_timeout 1m).
func neverReady(h *host) {
	h.edit("xl/fileserver.cfg", `xlsim_xenstore      = [ "data/ready=1" ]`, ``)
}

// TestStopInterruptsTheHolder: the unit's stop at host shutdown finds an
// admin's xenorder holding the lock; it asks it to finish, waits, then
// stops every guest in order.
func TestStopInterruptsTheHolder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		setup  func(h *host)
		holder []string
		busy   func(xlsim.Call) bool // the holder is in the middle of its work once this call began
		code   int                   // the holder's exit code
		msgs   []string              // in the holder's summary
		wait   string                // the stop's --wait-lock
		left   int                   // guests the holder leaves, for the stop
	}{
		{name: "start", setup: neverReady, holder: []string{"start"}, busy: isCall("create", "fileserver"), code: 1,
			msgs: []string{"INTERRUPTED fileserver: left running (domid ", ", created by this start, not confirmed ready: waiting for "}, wait: "1m", left: 5},
		{name: "drain", setup: func(h *host) {
			h.edit("xl/web.cfg", `xlsim_shutdown_time = "500ms"`, "xlsim_shutdown_time = "+h.realDur(3*time.Second))
			mustExit(h.t, h.xenorder("start"), 0)
		}, holder: []string{"drain", "fileserver"}, busy: isCall("shutdown", "web"), code: 4,
			// The shutdowns in flight finish; nothing new begins.
			msgs: []string{"web: stopped after ", "INTERRUPTED fileserver: not stopped; still running (domid "}, wait: "1m", left: 5},
		{name: "save", setup: func(h *host) {
			h.edit("xl/web.cfg", `xlsim_shutdown_time = "500ms"`, "xlsim_shutdown_time = \"500ms\"\nxlsim_save_time = "+h.realDur(4*time.Second))
			mustExit(h.t, h.xenorder("start"), 0)
		}, holder: []string{"drain", "--save", "web"},
			busy: func(c xlsim.Call) bool { return len(c.Args) > 1 && c.Args[0] == "save" && c.Args[1] == "web" },
			// The save is never cut short, and the stop waits for it
			// past its --wait-lock: the holder still runs.
			code: 0, msgs: []string{"web: saved to "}, wait: "1s", left: 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			c.setup(h)
			from := time.Now()
			bg := h.background(c.holder...)
			waitFor(t, h, c.busy)
			got := notifySocket(t, h)
			began := time.Now()
			stop := h.xenorder("stop", "--wait-lock", c.wait, "--interrupt-holder")
			held := bg.wait()
			if held.code != c.code {
				t.Errorf("the holder exited %d, want %d:\n%s", held.code, c.code, held)
			}
			for _, m := range c.msgs {
				if !strings.Contains(held.stdout, m) {
					t.Errorf("the holder's output lacks %q:\n%s", m, held)
				}
			}
			if d := time.Since(began); d > 30*time.Second {
				t.Errorf("the holder and the stop took %s", d)
			}
			if stop.code != 0 && stop.code != 1 {
				t.Fatalf("the stop: %s", stop)
			}
			pid := bg.cmd.Process.Pid
			who := fmt.Sprintf("pid %d (xenorder %s)", pid, strings.Join(c.holder, " "))
			if !strings.Contains(stop.stdout, "--interrupt-holder: sent SIGTERM to "+who) {
				t.Errorf("the stop does not say it sent SIGTERM to %s:\n%s", who, stop)
			}
			n := splitNotifications(got())
			extendsWhileWaiting(t, n, 1)
			if c.name == "save" {
				// The holder lived past --wait-lock 1s: the stop kept
				// waiting, and extending.
				var waited time.Duration
				if m := regexp.MustCompile(`took the lock after waiting (\S+)`).FindStringSubmatch(stop.stdout); m != nil {
					waited, _ = time.ParseDuration(m[1])
				}
				if waited < 2*time.Second {
					t.Errorf("the stop did not wait for the holder's save (%s):\n%s", waited, stop)
				}
				extendsWhileWaiting(t, n, 2)
			}
			if !statusWith(n, who) {
				t.Errorf("no STATUS names the holder %s: %v", who, n.statuses)
			}
			// The stop stopped what the holder left (the start stops
			// nothing itself), in order: every guest.
			if !regexp.MustCompile(fmt.Sprintf(`(?m)^stop: %d guests in [^:]+: %[1]d stopped$`, c.left)).MatchString(stop.stdout) {
				t.Errorf("the stop's summary, want the %d guests the holder left stopped:\n%s", c.left, stop)
			}
			stoppedInOrder(t, h, from)
		})
	}
}

// TestStopWithoutInterruptWaits: without --interrupt-holder no signal is
// sent; the stop extends its unit's timeout all through --wait-lock, then
// gives up with exit 3, which the unit counts as a failure.
func TestStopWithoutInterruptWaits(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.edit("xl/fileserver.cfg", `xlsim_boot_time     = "1500ms"`, "xlsim_boot_time     = "+h.realDur(12*time.Second))
	bg := h.background("start")
	waitFor(t, h, isCall("create", "fileserver"))
	got := notifySocket(t, h)
	stop := h.xenorder("stop", "--wait-lock", "5s")
	mustExit(t, stop, 3)
	pid := bg.cmd.Process.Pid
	who := fmt.Sprintf("pid %d (xenorder start)", pid)
	if !strings.Contains(stop.stderr, who+" holds the lock ") || !strings.Contains(stop.stderr, "after waiting 5s") {
		t.Errorf("the stop's message:\n%s", stop)
	}
	if strings.Contains(stop.stdout, "SIGTERM") {
		t.Errorf("the stop speaks of SIGTERM:\n%s", stop)
	}
	n := splitNotifications(got())
	extendsWhileWaiting(t, n, 3) // at 0, 2 and 4 s
	if !statusWith(n, "waiting for the lock held by "+who) {
		t.Errorf("no STATUS names the holder %s: %v", who, n.statuses)
	}
	held := bg.wait()
	mustExit(t, held, 0)
	if strings.Contains(held.stdout, "interrupted") {
		t.Errorf("the holder was interrupted:\n%s", held)
	}
	if up := running(h); len(up) != len(autostart) {
		t.Errorf("running after the holder finished: %v", up)
	}
}

// TestStopIgnoresThePidInTheLockFile: the lock file's text names another
// live process; the stop signals the holder the kernel names, never that
// one.
func TestStopIgnoresThePidInTheLockFile(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	neverReady(h)
	bg := h.background("start")
	waitFor(t, h, isCall("create", "fileserver"))
	liar := exec.Command("sleep", "600")
	if err := liar.Start(); err != nil {
		t.Fatal(err)
	}
	liarDone := make(chan error, 1)
	go func() { liarDone <- liar.Wait() }()
	defer liar.Process.Kill()
	lockFile := filepath.Join(h.dir, "xenorder.lock")
	if err := os.WriteFile(lockFile, fmt.Appendf(nil, "%d xenorder drain fileserver\n", liar.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := h.xenorder("stop", "--wait-lock", "1m", "--interrupt-holder")
	if stop.code != 0 && stop.code != 1 {
		t.Fatalf("the stop: %s", stop)
	}
	held := bg.wait()
	mustExit(t, held, 1)
	if !strings.Contains(held.stdout, "INTERRUPTED fileserver: left running (domid ") {
		t.Errorf("the holder was not interrupted:\n%s", held)
	}
	select {
	case err := <-liarDone:
		t.Errorf("the process the lock file names was signalled: %v", err)
	default:
	}
	pid := bg.cmd.Process.Pid
	if !strings.Contains(stop.stdout, fmt.Sprintf("--interrupt-holder: sent SIGTERM to pid %d (", pid)) ||
		strings.Contains(stop.stdout, fmt.Sprintf("pid %d", liar.Process.Pid)) {
		t.Errorf("the stop's output (holder pid %d, the file's pid %d):\n%s", pid, liar.Process.Pid, stop)
	}
	stoppedInOrder(t, h, time.Time{})
}

// TestStopInterruptedWhileWaiting: a stop interrupted before it took the
// lock did nothing, and says so with exit 3, not 1 (which the unit counts
// as done).
func TestStopInterruptedWhileWaiting(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	neverReady(h)
	holder := h.background("start")
	waitFor(t, h, isCall("create", "fileserver"))
	got := notifySocket(t, h)
	stop := h.background("stop", "--wait-lock", "1m")
	deadline := time.Now().Add(30 * time.Second)
	for !statusWith(splitNotifications(got()), "waiting for the lock held by ") {
		if time.Now().After(deadline) {
			t.Fatal("the stop never said it waits for the lock")
		}
	}
	stop.signal(syscall.SIGTERM)
	r := stop.wait()
	mustExit(t, r, 3)
	if !strings.Contains(r.stderr, "interrupted by terminated: nothing was done") {
		t.Errorf("the stop's message:\n%s", r)
	}
	holder.signal(os.Interrupt)
	holder.wait()
	if n := len(h.callsOf("shutdown")) + len(h.callsOf("destroy")); n != 0 {
		t.Errorf("%d guests stopped", n)
	}
}

// TestUnitStopExitCodes: systemd applies SuccessExitStatus= to ExecStop as
// to the main process (src/core/service.c, service_sigchld_event), so the
// unit must count 1 (done, with force or a fallback) as success and
// neither 3 (the lock never taken) nor 4 (guests left on the host); and its
// stop asks the holder of the lock to finish.
func TestUnitStopExitCodes(t *testing.T) {
	unit, err := os.ReadFile("../../contrib/systemd/xenorder.service")
	if err != nil {
		t.Fatal(err)
	}
	success := map[string]bool{}
	var stops []string
	for _, line := range strings.Split(string(unit), "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		switch {
		case !ok:
		case key == "SuccessExitStatus":
			for _, v := range strings.Fields(val) {
				success[v] = true
			}
		case key == "ExecStop":
			stops = append(stops, val)
		}
	}
	if !success["1"] || success["3"] || success["4"] || len(success) != 1 {
		t.Errorf("SuccessExitStatus= covers %v, want 1 alone", success)
	}
	if len(stops) != 1 || !strings.Contains(stops[0], " stop ") || !strings.Contains(stops[0], " --interrupt-holder") || !strings.Contains(stops[0], " --wait-lock ") {
		t.Errorf("ExecStop=%q, want a stop with --wait-lock and --interrupt-holder", stops)
	}
}
