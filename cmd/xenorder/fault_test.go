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
	"github.com/xenorder/xenorder/internal/xlsim"
)

// invariant names, the matrix's columns.
var invariants = []string{"no early destroy", "no stop under a dependent", "no image lost", "clear message", "exit code"}

type fault struct {
	name  string
	setup func(h *host)
	// act runs the xenorder commands of the scenario and returns what the
	// message and exit-code invariants judge.
	act  func(t *testing.T, h *host) result
	code int
	msgs []string // each must appear in stdout+stderr
}

func TestFaultSuite(t *testing.T) {
	t.Parallel()
	faults := []fault{
		{name: "create fails", setup: func(h *host) { h.appendTo("xl/fileserver.cfg", "xlsim_create_fail = 1") },
			act: startThenStop, code: 1,
			msgs: []string{"FAILED  fileserver: start fileserver: xl create", "SKIPPED db, mail, web: dependency fileserver failed"}},
		{name: "create hangs past its timeout", setup: func(h *host) {
			h.appendTo("xl/opnsense.cfg", "xlsim_create_hang = 1")
			h.edit("xenorder.toml", "stop_timeout = \"1m\"\n", "stop_timeout = \"1m\"\nstart_timeout = \"2s\"\n")
		}, act: startThenStop, code: 1,
			msgs: []string{"FAILED  opnsense: start opnsense: xl create did not return within start_timeout 2s", "SKIPPED db, fileserver, mail, web: dependency opnsense failed"}},
		{name: "guest ignores shutdown", setup: func(h *host) {
			h.appendTo("xl/fileserver.cfg", "xlsim_ignore_shutdown = 1")
			h.edit("xenorder.toml", "[guest.fileserver]\n", "[guest.fileserver]\nstop_timeout = \"1500ms\"\n")
		}, act: startThenStop, code: 1,
			msgs: []string{"fileserver: still running after its grace period of 1.5s: destroying", "FORCED  fileserver: destroyed after its grace period of 1.5s"}},
		{name: "guest needs ACPI", setup: func(h *host) { h.appendTo("xl/opnsense.cfg", "xlsim_needs_acpi = 1") },
			act: startThenStop, code: 0,
			msgs: []string{"opnsense: no PV control interface (an HVM guest without PV drivers): pressing its ACPI power button instead (xl shutdown -F)"}},
		{name: "xl list prints garbage", setup: func(h *host) { xlsim.SetFaults(h.sim, xlsim.FaultListGarbage) },
			act: func(t *testing.T, h *host) result { return h.xenorder("start") }, code: 1,
			msgs: []string{"xenorder: plan start: xl list: "}},
		{name: "xl list prints nothing", setup: func(h *host) { xlsim.SetFaults(h.sim, xlsim.FaultListEmpty) },
			act: func(t *testing.T, h *host) result { return h.xenorder("stop") }, code: 1,
			msgs: []string{"xenorder: plan stop: xl list printed nothing"}},
		{name: "xl list fails once", setup: func(h *host) { xlsim.SetFaults(h.sim, xlsim.FaultListFailOnce) },
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
		{name: "a save image is corrupt at restore", setup: func(h *host) {
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
			msgs: []string{"FAILED  opnsense: start opnsense: domain crashed while starting (domid ", "opnsense: has shut down but is still listed (state ---sc-): destroying, no OS is left"}},
		{name: "two xenorders at once", setup: func(h *host) {},
			act: func(t *testing.T, h *host) result {
				bg := h.background("start")
				waitFor(t, h, func(c xlsim.Call) bool { return len(c.Args) > 0 && c.Args[0] == "create" })
				second := h.xenorder("stop")
				first := bg.wait()
				mustExit(t, first, 0)
				return second
			}, code: 3,
			msgs: []string{"(xenorder start) holds the lock ", "pass --wait-lock DURATION to wait"}},
		{name: "SIGTERM in the middle of start", setup: func(h *host) {},
			act: func(t *testing.T, h *host) result {
				bg := h.background("start")
				waitFor(t, h, func(c xlsim.Call) bool {
					return len(c.Args) > 1 && c.Args[0] == "create" && strings.HasSuffix(c.Args[1], "fileserver.cfg")
				})
				bg.signal(syscall.SIGTERM)
				r := bg.wait()
				if up := running(h); len(up) != 0 {
					t.Errorf("still running after SIGTERM during start: %v", up)
				}
				if _, ok := h.callsOf("create")["web"]; ok {
					t.Error("web created after the SIGTERM")
				}
				return r
			}, code: 1,
			msgs: []string{"SIGTERM while starting: the host is going down and nothing else will stop the guests: stopping every running guest", "stop: "}},
		{name: "SIGINT in the middle of start", setup: func(h *host) {},
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
			msgs: []string{"NOT RUN fileserver: interrupted"}},
		{name: "SIGTERM in the middle of stop", setup: func(h *host) {
			h.edit("xenorder.toml", "[guest.fileserver]\n", "[guest.fileserver]\nstop_action = \"save\"\n")
			h.appendTo("xl/fileserver.cfg", "xlsim_save_time = \"2s\"")
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
		}, code: 1,
			msgs: []string{"fileserver: saved to ", "NOT RUN opnsense: interrupted; still running", "NOT RUN Domain-N: interrupted; still running"}},
	}

	// Each fault twice: deaths seen through the xenstore-watch program
	// and xl list (no xenstored socket), and through the simulated
	// xenstored's socket.
	const viaSocket = ", xenstored socket" // no parentheses: t.TempDir takes the name, and scripts run from there
	var rows []string
	for _, f := range faults {
		rows = append(rows, f.name, f.name+viaSocket)
	}
	var mu sync.Mutex
	matrix := map[string]map[string]string{}
	t.Run("faults", func(t *testing.T) {
		for _, f := range faults {
			for _, socket := range []bool{false, true} {
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
}

func startThenStop(t *testing.T, h *host) result {
	a := h.xenorder("start")
	b := h.xenorder("stop")
	code := max(a.code, b.code)
	return result{stdout: a.stdout + b.stdout, stderr: a.stderr + b.stderr, code: code}
}

// judge checks every invariant and returns the matrix row.
func judge(t *testing.T, h *host, f fault, r result) map[string]string {
	t.Helper()
	row := map[string]string{}
	mark := func(inv string, problems []string) {
		if len(problems) == 0 {
			row[inv] = "ok"
			return
		}
		row[inv] = "BROKEN"
		for _, p := range problems {
			t.Errorf("%s: %s", inv, p)
		}
		t.Logf("output:\n%s", r)
	}
	cfg := h.config()
	calls := h.calls()
	events, err := xlsim.ReadEvents(h.sim)
	if err != nil {
		t.Fatal(err)
	}
	mark("no early destroy", earlyDestroys(cfg, calls, events))
	mark("no stop under a dependent", stopsUnderDependents(cfg, calls, events))
	mark("no image lost", lostImages(h, calls))
	var missing []string
	for _, m := range f.msgs {
		if !strings.Contains(r.stdout+r.stderr, m) {
			missing = append(missing, fmt.Sprintf("no %q in\n%s", m, r))
		}
	}
	mark("clear message", missing)
	if r.code != f.code {
		mark("exit code", []string{fmt.Sprintf("exit %d, want %d", r.code, f.code)})
	} else {
		mark("exit code", nil)
	}
	return row
}

// earlyDestroys: every xl destroy of a declared guest came at least its
// stop_timeout after its shutdown request returned, unless the guest had
// no OS left (shut down or crashed) or its stop_action is destroy.
func earlyDestroys(cfg *config.Config, calls []xlsim.Call, events []xlsim.Event) []string {
	var bad []string
	for i, c := range calls {
		if c.Prog != "xl" || len(c.Args) < 2 || c.Args[0] != "destroy" {
			continue
		}
		g := cfg.Guests[c.Args[1]]
		if g == nil || g.Stop.Action == config.StopDestroy {
			continue
		}
		noOS := false
		for _, e := range events {
			if e.Domain == g.Name && (e.Ev == "shutdown" || e.Ev == "crashed") && !e.T.After(c.Begin) {
				noOS = true
			}
		}
		var req *xlsim.Call
		for j := i - 1; j >= 0; j-- {
			p := calls[j]
			if p.Prog == "xl" && len(p.Args) >= 2 && p.Args[0] == "shutdown" && p.Args[len(p.Args)-1] == g.Name {
				req = &calls[j]
				break
			}
		}
		switch {
		case noOS:
		case req == nil:
			bad = append(bad, fmt.Sprintf("%s destroyed without a shutdown request", g.Name))
		case c.Begin.Sub(req.End) < g.StopTimeout:
			bad = append(bad, fmt.Sprintf("%s destroyed %s after its shutdown request, grace %s", g.Name, c.Begin.Sub(req.End), g.StopTimeout))
		}
	}
	return bad
}

// stopsUnderDependents: whenever xenorder asked a guest to go (shutdown,
// save, migrate, destroy), no guest depending on it was running.
func stopsUnderDependents(cfg *config.Config, calls []xlsim.Call, events []xlsim.Event) []string {
	var bad []string
	for _, c := range calls {
		if c.Prog != "xl" || len(c.Args) < 2 {
			continue
		}
		switch c.Args[0] {
		case "shutdown", "save", "migrate", "destroy":
		default:
			continue
		}
		name := c.Args[len(c.Args)-1]
		if c.Args[0] == "save" || c.Args[0] == "migrate" {
			name = c.Args[1]
		}
		if cfg.Guests[name] == nil {
			continue
		}
		for _, e := range cfg.Graph.Dependents(name) {
			if runningAt(events, e.To, c.Begin) {
				bad = append(bad, fmt.Sprintf("%s asked to %s at %s while %s, which depends on it, ran", name, c.Args[0], c.Begin.Format(time.StampMilli), e.To))
			}
		}
	}
	return bad
}

// runningAt tells from the event log whether a domain existed at t.
func runningAt(events []xlsim.Event, name string, t time.Time) bool {
	up := false
	for _, e := range events {
		if e.Domain != name || e.T.After(t) {
			continue
		}
		switch e.Ev {
		case "created", "restored", "rebooted":
			up = true
		case "gone", "destroyed", "saved", "migrated":
			up = false
		}
	}
	return up
}

// lostImages: every image a successful xl save wrote still exists, unless
// a successful xl restore read it; every image a failed restore read is
// kept aside.
func lostImages(h *host, calls []xlsim.Call) []string {
	var bad []string
	restored := map[string]bool{}
	for _, c := range calls {
		if c.Prog == "xl" && len(c.Args) == 2 && c.Args[0] == "restore" {
			if c.Ended && c.RC == 0 {
				restored[c.Args[1]] = true
			} else if aside, _ := filepath.Glob(c.Args[1] + ".failed-*"); len(aside) == 0 {
				bad = append(bad, fmt.Sprintf("the image %s of a failed restore is gone", c.Args[1]))
			}
		}
	}
	for _, c := range calls {
		if c.Prog == "xl" && len(c.Args) == 3 && c.Args[0] == "save" && c.Ended && c.RC == 0 {
			aside, _ := filepath.Glob(c.Args[2] + ".failed-*")
			if _, err := os.Stat(c.Args[2]); err != nil && !restored[c.Args[2]] && len(aside) == 0 {
				bad = append(bad, fmt.Sprintf("the image %s is gone and was never restored", c.Args[2]))
			}
		}
	}
	return bad
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
