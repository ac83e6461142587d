package main

// The fault suite: the seed topology through each fault the simulator can
// inject, and after each the invariants xenorder must never break.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

// invariant names, the matrix's columns.
var invariants = []string{"no early destroy", "no stop under a dependent", "no image lost or stale", "clear message", "exit code"}

type fault struct {
	name  string
	setup func(h *host)
	// act runs the xenorder commands of the scenario and returns what the
	// message and exit-code invariants judge.
	act  func(t *testing.T, h *host) result
	code int
	msgs []string // each must appear in stdout+stderr
	// once: run without the simulated xenstored only (the death watch
	// does not matter to it); else the row runs both ways.
	once bool
}

func TestFaultSuite(t *testing.T) {
	t.Parallel()
	faults := []fault{
		{name: "create fails", once: true, setup: func(h *host) { h.appendTo("xl/fileserver.cfg", "xlsim_create_fail = 1") },
			act: startThenStop, code: 1,
			msgs: []string{"FAILED  fileserver: xl create", "SKIPPED db, mail, web: dependency fileserver failed"}},
		{name: "create hangs past its timeout", once: true, setup: func(h *host) {
			h.appendTo("xl/opnsense.cfg", "xlsim_create_hang = 1")
			h.edit("xenorder.toml", "stop_timeout = \"1m\"\n", "stop_timeout = \"1m\"\nstart_timeout = \"2s\"\n")
		}, act: startThenStop, code: 1,
			msgs: []string{"FAILED  opnsense: xl create did not return within start_timeout 2s", "SKIPPED db, fileserver, mail, web: dependency opnsense failed"}},
		{name: "guest ignores shutdown", setup: func(h *host) {
			h.appendTo("xl/fileserver.cfg", "xlsim_ignore_shutdown = 1")
			h.edit("xenorder.toml", "[guest.fileserver]\n", "[guest.fileserver]\nstop_timeout = \"1500ms\"\n")
		}, act: startThenStop, code: 1,
			msgs: []string{"fileserver: still running after its grace period of 1.5s: destroying", "FORCED  fileserver: destroyed after its grace period of 1.5s"}},
		{name: "guest needs ACPI", setup: func(h *host) { h.appendTo("xl/opnsense.cfg", "xlsim_needs_acpi = 1") },
			act: startThenStop, code: 0,
			msgs: []string{"opnsense: no PV control interface (an HVM guest without PV drivers): pressing its ACPI power button instead (xl shutdown -F)"}},
		{name: "xl list prints garbage", once: true, setup: func(h *host) { xlsim.SetFaults(h.sim, xlsim.FaultListGarbage) },
			act: func(t *testing.T, h *host) result { return h.xenorder("start") }, code: 1,
			msgs: []string{"xenorder: plan start: xl list: "}},
		{name: "xl list prints nothing", once: true, setup: func(h *host) { xlsim.SetFaults(h.sim, xlsim.FaultListEmpty) },
			act: func(t *testing.T, h *host) result { return h.xenorder("stop") }, code: 1,
			msgs: []string{"xenorder: plan stop: xl list printed nothing"}},
		{name: "xl list fails once", once: true, setup: func(h *host) { xlsim.SetFaults(h.sim, xlsim.FaultListFailOnce) },
			act: func(t *testing.T, h *host) result {
				first := h.xenorder("start")
				if first.code != 1 || len(stateChanging(h)) != 0 {
					t.Errorf("a failed xl list still changed something: %s %v", first, stateChanging(h))
				}
				// Safe to repeat: the next run does the whole job.
				second := h.xenorder("start")
				mustExit(t, second, 0)
				return result{stdout: first.stdout + second.stdout, stderr: first.stderr + second.stderr, code: first.code}
			}, code: 1,
			msgs: []string{"xenorder: plan start: xl list: exit status 1", "start: 8 guests in"}},
		{name: "a save fails", setup: func(h *host) {
			h.appendTo("xl/mail.cfg", "xlsim_save_fail = 1")
			h.edit("xenorder.toml", "[guest.mail]\n", "[guest.mail]\nstop_action = \"save\"\n")
		}, act: startThenStop, code: 1,
			msgs: []string{"mail: SAVE FAILED; shutting it down instead", "FELL BACK mail: save failed ("}},
		{name: "a save image is corrupt at restore", once: true, setup: func(h *host) {
			h.edit("xenorder.toml", "[guest.db]\n", "[guest.db]\nstop_action = \"save\"\n")
		}, act: func(t *testing.T, h *host) result {
			mustExit(t, h.xenorder("start"), 0)
			mustExit(t, h.xenorder("stop"), 0)
			image := filepath.Join(h.dir, "state", "save", "db.save")
			if err := os.WriteFile(image, []byte("garbage, not a save file"), 0o600); err != nil {
				t.Fatal(err)
			}
			return h.xenorder("start")
		}, code: 1,
			msgs: []string{"db: RESTORE FAILED; the image is kept as ", "db: BOOTING IT FRESH instead (restore_fallback = create)", "FELL BACK db: restore failed ("}},
		{name: "a guest crashes during start", setup: func(h *host) {
			h.appendTo("xl/opnsense.cfg", "xlsim_crash_after = \"500ms\"\non_crash = \"preserve\"")
		}, act: startThenStop, code: 1,
			msgs: []string{"FAILED  opnsense: domain crashed while starting (domid ", "opnsense: has shut down but is still listed (state ---sc-): destroying, no OS is left"}},
		{name: "two xenorders at once", once: true, setup: func(h *host) {},
			act: func(t *testing.T, h *host) result {
				bg := h.background("start")
				waitFor(t, h, func(c xlsim.Call) bool { return len(c.Args) > 0 && c.Args[0] == "create" })
				second := h.xenorder("stop")
				first := bg.wait()
				mustExit(t, first, 0)
				return second
			}, code: 3,
			msgs: []string{"(xenorder start) holds the lock ", "pass --wait-lock DURATION to wait"}},
		{name: "SIGTERM in the middle of start, then the unit's ExecStopPost", once: true, setup: func(h *host) {},
			act: func(t *testing.T, h *host) result {
				bg := h.background("start")
				waitFor(t, h, func(c xlsim.Call) bool {
					return len(c.Args) > 1 && c.Args[0] == "create" && strings.HasSuffix(c.Args[1], "fileserver.cfg")
				})
				before := running(h)
				bg.signal(syscall.SIGTERM) // timeout(1), cron, kill: what Ctrl-C means
				r := bg.wait()
				if n := len(h.callsOf("shutdown")) + len(h.callsOf("destroy")) + len(h.callsOf("save")); n != 0 {
					t.Errorf("SIGTERM to a start stopped %d guests", n)
				}
				if up := running(h); len(up) < len(before) {
					t.Errorf("running before the SIGTERM %v, after %v", before, up)
				}
				if _, ok := h.callsOf("create")["web"]; ok {
					t.Error("web created after the SIGTERM")
				}
				// The unit's start failed on its own: ExecStopPost changes nothing.
				h.extraEnv = []string{"SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=2"}
				post := h.xenorder("stop", "--wait-lock", "1m", "--exec-stop-post")
				mustExit(t, post, 0)
				if n := len(h.callsOf("shutdown")); n != 0 || !strings.Contains(post.stdout, "SERVICE_RESULT=exit-code") {
					t.Errorf("ExecStopPost after a start that failed on its own stopped %d guests:\n%s", n, post)
				}
				// systemd cut the start short (poweroff): it skips ExecStop,
				// runs ExecStopPost, and that stops every guest in order.
				h.extraEnv = []string{"SERVICE_RESULT=success", "EXIT_CODE=exited", "EXIT_STATUS=1"}
				post = h.xenorder("stop", "--wait-lock", "1m", "--exec-stop-post")
				mustExit(t, post, 0)
				if up := running(h); len(up) != 0 {
					t.Errorf("still running after ExecStopPost: %v", up)
				}
				h.extraEnv = nil
				mustExit(t, h.xenorder("stop", "--exec-stop-post"), 2) // not under systemd
				return result{stdout: r.stdout + post.stdout, stderr: r.stderr + post.stderr, code: r.code}
			}, code: 1,
			msgs: []string{"INTERRUPTED web: not started", "stop: "}},
		{name: "SIGINT in the middle of start", once: true, setup: func(h *host) {},
			act: func(t *testing.T, h *host) result {
				bg := h.background("start")
				waitFor(t, h, func(c xlsim.Call) bool {
					return len(c.Args) > 1 && c.Args[0] == "create" && strings.HasSuffix(c.Args[1], "opnsense.cfg")
				})
				bg.signal(os.Interrupt)
				r := bg.wait()
				// Started guests are left as they are; nothing new is launched.
				if up := running(h); !equalSets(up, []string{"Domain-N", "monitor", "opnsense", "scratch"}) {
					t.Errorf("running after SIGINT during start: %v", up)
				}
				if n := len(h.callsOf("shutdown")) + len(h.callsOf("destroy")); n != 0 {
					t.Errorf("SIGINT during start stopped %d guests", n)
				}
				return r
			}, code: 1,
			msgs: []string{"INTERRUPTED fileserver: not started", "INTERRUPTED opnsense: left running (domid ", ", created by this start, not confirmed ready: waiting for "}},
		{name: "SIGTERM in the middle of stop", setup: func(h *host) {
			h.edit("xenorder.toml", "[guest.fileserver]\n", "[guest.fileserver]\nstop_action = \"save\"\n")
			h.appendTo("xl/fileserver.cfg", "xlsim_save_time = "+h.realDur(2*time.Second))
		}, act: func(t *testing.T, h *host) result {
			mustExit(t, h.xenorder("start"), 0)
			bg := h.background("stop")
			waitFor(t, h, func(c xlsim.Call) bool { return len(c.Args) > 0 && c.Args[0] == "save" })
			bg.signal(syscall.SIGTERM)
			time.Sleep(100 * time.Millisecond)
			bg.signal(syscall.SIGTERM) // a second signal does not cut the save short
			r := bg.wait()
			if _, err := os.Stat(filepath.Join(h.dir, "state", "save", "fileserver.save")); err != nil {
				t.Errorf("the save in flight did not finish: %v", err)
			}
			up := running(h)
			if !equalSets(up, []string{"Domain-N", "opnsense"}) {
				t.Errorf("running after the interrupted stop: %v, want Domain-N and opnsense", up)
			}
			return r
		}, code: 4,
			msgs: []string{"fileserver: saved to ", "INTERRUPTED opnsense: not stopped; still running (domid ", "INTERRUPTED Domain-N: not stopped; still running (domid "}},
	}
	faults = append(faults, saveFaults()...)
	faults = append(faults, clockFaults()...)

	// A fault whose stop waits on deaths twice: deaths seen through the
	// xenstore-watch program and xl list (no xenstored socket), and
	// through the simulated xenstored's socket; the others (a fault of the
	// start, the lock or the plan, before a plain stop) once.
	const viaSocket = ", xenstored socket" // no parentheses: t.TempDir takes the name, and scripts run from there
	var rows []string
	for _, f := range faults {
		rows = append(rows, f.name)
		if !f.once {
			rows = append(rows, f.name+viaSocket)
		}
	}
	var mu sync.Mutex
	matrix := map[string]map[string]string{}
	t.Run("faults", func(t *testing.T) {
		for _, f := range faults {
			for _, socket := range []bool{false, true} {
				if socket && f.once {
					continue
				}
				name := f.name
				if socket {
					name += viaSocket
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					h := newHost(t)
					if socket {
						h.xenstored()
					}
					f.setup(h)
					r := f.act(t, h)
					row := judge(t, h, f, r)
					mu.Lock()
					matrix[name] = row
					mu.Unlock()
				})
			}
		}
	})
	var b strings.Builder
	width := 0
	for _, n := range rows {
		width = max(width, len(n))
	}
	fmt.Fprintf(&b, "fault matrix:\n%-*s", width, "fault")
	for _, inv := range invariants {
		fmt.Fprintf(&b, " | %s", inv)
	}
	b.WriteString("\n")
	for _, n := range rows {
		fmt.Fprintf(&b, "%-*s", width, n)
		for _, inv := range invariants {
			fmt.Fprintf(&b, " | %-*s", len(inv), matrix[n][inv])
		}
		b.WriteString("\n")
	}
	t.Log("\n" + b.String())
	// CI prints the matrix from its one run of the suite (under -race),
	// where go test shows no t.Log of a passing test.
	if path := os.Getenv("XENORDER_FAULT_MATRIX"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func startThenStop(t *testing.T, h *host) result {
	a := h.xenorder("start")
	b := h.xenorder("stop")
	code := max(a.code, b.code)
	return result{stdout: a.stdout + b.stdout, stderr: a.stderr + b.stderr, code: code}
}

// judge checks every invariant and returns the matrix row: "ok" where the
// scenario exercised the invariant and it held, "BROKEN" where it did not,
// "n/a" where the scenario never came near it.
func judge(t *testing.T, h *host, f fault, r result) map[string]string {
	t.Helper()
	row := map[string]string{}
	mark := func(inv string, exercised bool, problems []string) {
		switch {
		case len(problems) > 0:
			row[inv] = "BROKEN"
			for _, p := range problems {
				t.Errorf("%s: %s", inv, p)
			}
			t.Logf("output:\n%s", r)
		case exercised:
			row[inv] = "ok"
		default:
			row[inv] = "n/a"
		}
	}
	cfg, err := config.Load(h.toml)
	if err != nil {
		// A config xenorder refuses: every domain is judged as undeclared.
		if cfg, err = config.Parse(h.toml, nil); err != nil {
			t.Fatal(err)
		}
	}
	calls := h.calls()
	events, err := xlsim.ReadEvents(h.sim)
	if err != nil {
		t.Fatal(err)
	}
	ex, bad := earlyDestroys(cfg, calls, events, r)
	mark("no early destroy", ex, bad)
	ex, bad = stopsUnderDependents(cfg, calls, events)
	mark("no stop under a dependent", ex, bad)
	ex, bad = lostImages(calls, events)
	mark("no image lost or stale", ex, bad)
	var missing []string
	for _, m := range f.msgs {
		if !strings.Contains(r.stdout+r.stderr, m) {
			missing = append(missing, fmt.Sprintf("no %q in\n%s", m, r))
		}
	}
	mark("clear message", len(f.msgs) > 0, missing)
	var wrong []string
	if r.code != f.code {
		wrong = append(wrong, fmt.Sprintf("exit %d, want %d", r.code, f.code))
	}
	mark("exit code", true, wrong)
	return row
}

// xlCalls returns the xl calls of one subcommand.
func xlCalls(calls []xlsim.Call, sub string) []xlsim.Call {
	var out []xlsim.Call
	for _, c := range calls {
		if c.Prog == "xl" && len(c.Args) >= 2 && c.Args[0] == sub {
			out = append(out, c)
		}
	}
	return out
}

// destroyedDomid is the domid an xl destroy of name took: the first
// "destroyed" event of that name at or after the call began.
func destroyedDomid(events []xlsim.Event, name string, c xlsim.Call) (int, bool) {
	for _, e := range events {
		if e.Domain == name && e.Ev == "destroyed" && !e.T.Before(c.Begin) {
			return e.Domid, true
		}
	}
	return 0, false
}

// earlyDestroys: every xl destroy of any domain, declared or not, came at
// least its stop_timeout (the default's for an undeclared one) after a
// shutdown request of that name that ended, unless that very domid had no
// OS left (shut down or crashed) or its stop_action is destroy. A domid
// that was never asked itself (a guest that came back under a new domid
// after its second request) may go only with the summary saying why. A
// domain whose xl save was cut short (suspended, its memory only in the
// hypervisor) is never destroyed.
func earlyDestroys(cfg *config.Config, calls []xlsim.Call, events []xlsim.Event, r result) (bool, []string) {
	var bad []string
	destroys := xlCalls(calls, "destroy")
	for _, c := range destroys {
		name := c.Args[len(c.Args)-1]
		grace := cfg.Defaults.StopTimeout
		if g := cfg.Guests[name]; g != nil && !g.External {
			if g.Stop.Action == config.StopDestroy {
				continue
			}
			grace = g.StopTimeout
		}
		domid, known := destroyedDomid(events, name, c)
		noOS, created := false, time.Time{}
		for _, e := range events {
			if e.Domain != name || e.T.After(c.Begin) || (known && e.Domid != domid) {
				continue
			}
			switch e.Ev {
			case "shutdown", "crashed":
				noOS = true
			case "created", "restored", "rebooted", "received":
				created = e.T
			}
		}
		for _, s := range xlCalls(calls, "save") {
			if s.Args[1] == name && !s.Ended && s.Begin.Before(c.Begin) {
				bad = append(bad, fmt.Sprintf("%s destroyed while its xl save never ended: its memory is lost", name))
			}
		}
		var req *xlsim.Call
		for _, p := range xlCalls(calls, "shutdown") {
			if p.Args[len(p.Args)-1] == name && p.Ended && p.End.Before(c.Begin) {
				req = &p
			}
		}
		switch {
		case noOS:
		case req == nil:
			bad = append(bad, fmt.Sprintf("%s (domid %d) destroyed without a shutdown request that ended", name, domid))
		case c.Begin.Sub(req.End) < grace:
			bad = append(bad, fmt.Sprintf("%s destroyed %s after its shutdown request, grace %s", name, c.Begin.Sub(req.End), grace))
		case known && req.End.Before(created) && !strings.Contains(r.stdout, "came back under a new domid after each shutdown request"):
			bad = append(bad, fmt.Sprintf("%s (domid %d, created after the last request) destroyed and the summary does not say why", name, domid))
		}
	}
	return len(destroys) > 0, bad
}

// stopsUnderDependents: whenever xenorder asked a domain to go (shutdown,
// save, migrate, destroy), no guest depending on it was running. Every
// domain is judged; an undeclared one has the declared guests whose vifs or
// disks it serves (backend=) as its dependents.
func stopsUnderDependents(cfg *config.Config, calls []xlsim.Call, events []xlsim.Event) (bool, []string) {
	var bad []string
	exercised := false
	for _, c := range calls {
		if c.Prog != "xl" || len(c.Args) < 2 {
			continue
		}
		switch c.Args[0] {
		case "shutdown", "save", "migrate", "destroy":
		default:
			continue
		}
		exercised = true
		name := c.Args[len(c.Args)-1]
		if c.Args[0] == "save" || c.Args[0] == "migrate" {
			name = c.Args[1]
		}
		for _, d := range dependentsOf(cfg, name) {
			if runningAt(events, d, c.Begin) {
				bad = append(bad, fmt.Sprintf("%s asked to %s at %s while %s, which depends on it, ran", name, c.Args[0], c.Begin.Format(time.StampMilli), d))
			}
		}
	}
	return exercised, bad
}

// dependentsOf lists the guests that depend on name: through the graph
// (depends_on and the inferred backend= edges) for a declared guest, and
// through backend= for any other domain.
func dependentsOf(cfg *config.Config, name string) []string {
	var out []string
	if cfg.Guests[name] != nil {
		for _, e := range cfg.Graph.Dependents(name) {
			out = append(out, e.To)
		}
		return out
	}
	for _, n := range cfg.Names() {
		if g := cfg.Guests[n]; g.XLConfig != "" {
			if b, err := os.ReadFile(g.XLConfig); err == nil && strings.Contains(string(b), "backend="+name) {
				out = append(out, n)
			}
		}
	}
	return out
}

// runningAt tells from the event log whether a domain existed at t.
func runningAt(events []xlsim.Event, name string, t time.Time) bool {
	up := false
	for _, e := range events {
		if e.Domain != name || e.T.After(t) {
			continue
		}
		switch e.Ev {
		case "created", "restored", "rebooted", "received":
			up = true
		case "gone", "destroyed", "saved", "migrated":
			up = false
		}
	}
	return up
}

// lostImages: every image a successful xl save wrote still exists (or was
// kept aside), unless a successful xl restore read it after the save;
// every image a failed restore read is kept aside; no image is restored
// after its guest ran since the save (a stale image).
func lostImages(calls []xlsim.Call, events []xlsim.Event) (bool, []string) {
	var bad []string
	saves, restores := xlCalls(calls, "save"), xlCalls(calls, "restore")
	kept := func(path string) bool {
		for _, tag := range []string{"failed", "stale", "old"} {
			if aside, _ := filepath.Glob(path + "." + tag + "-*"); len(aside) > 0 {
				return true
			}
		}
		return false
	}
	for _, c := range restores {
		if !(c.Ended && c.RC == 0) && !kept(c.Args[len(c.Args)-1]) {
			bad = append(bad, fmt.Sprintf("the image %s of a failed restore is gone", c.Args[len(c.Args)-1]))
		}
	}
	for _, s := range saves {
		if len(s.Args) != 3 || !s.Ended || s.RC != 0 {
			continue
		}
		name, path := s.Args[1], s.Args[2]
		var restoredBy *xlsim.Call
		for _, c := range restores {
			if c.Args[len(c.Args)-1] == path && c.Ended && c.RC == 0 && c.Begin.After(s.End) {
				restoredBy = &c
				break
			}
		}
		if _, err := os.Stat(path); err != nil && restoredBy == nil && !kept(path) {
			bad = append(bad, fmt.Sprintf("the image %s is gone and was never restored", path))
		}
		if restoredBy == nil {
			continue
		}
		for _, e := range events {
			if e.Domain == name && e.T.After(s.End) && e.T.Before(restoredBy.Begin) && (e.Ev == "created" || e.Ev == "restored" || e.Ev == "rebooted" || e.Ev == "received") {
				bad = append(bad, fmt.Sprintf("%s ran (%s, domid %d) between its save and the restore of %s: a stale image restored", name, e.Ev, e.Domid, path))
			}
		}
	}
	return len(saves)+len(restores) > 0, bad
}

// stateChanging lists the xl calls that change something.
func stateChanging(h *host) []string {
	var out []string
	for _, c := range h.calls() {
		if c.Prog == "xl" && len(c.Args) > 0 && c.Args[0] != "list" && c.Args[0] != "info" && !strings.HasPrefix(c.Args[0], "pci-assignable-") {
			out = append(out, strings.Join(c.Args, " "))
		}
	}
	return out
}

// running lists the domains xl lists, but Domain-0 and stub domains.
func running(h *host) []string {
	r := h.run("xl", "list")
	var out []string
	for _, line := range strings.Split(r.stdout, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] != "Domain-0" && !strings.HasSuffix(f[0], "-dm") {
			out = append(out, f[0])
		}
	}
	sort.Strings(out)
	return out
}

func equalSets(a, b []string) bool {
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// waitFor waits until the simulator has begun a call matching ok.
func waitFor(t *testing.T, h *host, ok func(xlsim.Call) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range h.calls() {
			if c.Prog == "xl" && ok(c) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the awaited xl call never came")
}

// bgRun is xenorder running in the background.
type bgRun struct {
	cmd      *exec.Cmd
	out, err strings.Builder
}

func (h *host) background(args ...string) *bgRun {
	h.t.Helper()
	b := &bgRun{cmd: exec.CommandContext(h.t.Context(), filepath.Join(binDir, "xenorder"), args...)}
	b.cmd.Env, b.cmd.Dir = h.env(), h.dir
	// A process group of its own, as a shell's job: signalGroup reaches
	// it as a terminal's Ctrl-C would.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.Stdout, b.cmd.Stderr = &syncWriter{w: &b.out}, &syncWriter{w: &b.err}
	if err := b.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (b *bgRun) signal(s os.Signal) { b.cmd.Process.Signal(s) }

func (b *bgRun) wait() result {
	err := b.cmd.Wait()
	r := result{stdout: b.out.String(), stderr: b.err.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	return r
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
