package main

// The host around xenorder: dom0 or not (xenfs's capabilities), the unit's
// state while guests run, and a start after which no guest runs.

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// setDom0 makes the simulated host Xen's dom0 (capabilities "control_d")
// or a domU (capabilities empty), as xenfs does (seams_simhost.go).
func (h *host) setDom0(dom0 bool) {
	h.t.Helper()
	p := filepath.Join(h.sim, "simhost", "proc", "xen", "capabilities")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	text := ""
	if dom0 {
		text = "control_d\n"
	}
	if err := os.WriteFile(p, []byte(text), 0o444); err != nil {
		h.t.Fatal(err)
	}
}

// setUnitState makes systemd say xenorder.service's ActiveState is state
// ("": systemd does not know the unit).
func (h *host) setUnitState(state string) {
	h.t.Helper()
	p := filepath.Join(h.sim, "simhost", "systemd", unitName)
	if state == "" {
		os.Remove(p)
		return
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(state+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func TestDom0(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, text string // text "-": no file
		ok         bool
		why        string
	}{
		{"dom0", "control_d\n", true, ""},
		{"dom0 among other words", "other control_d\n", true, ""},
		{"a domU: empty", "", false, "does not say control_d: this is a Xen guest (a domU), not dom0"},
		{"no xenfs", "-", false, "does not exist: this is not a Xen host, or Xen's xenfs is not mounted on /proc/xen"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if tt.text != "-" {
				os.WriteFile(p, []byte(tt.text), 0o444)
			}
			ok, why := dom0(p)
			if ok != tt.ok || !strings.Contains(why, tt.why) || (tt.ok && why != "") {
				t.Errorf("dom0(%q) = %v, %q; want %v, %q", tt.text, ok, why, tt.ok, tt.why)
			}
		})
	}
}

func TestChangesHost(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"start"}, true},
		{[]string{"start", "--dry-run"}, false},
		{[]string{"stop"}, true},
		{[]string{"stop", "--dry-run"}, false},
		{[]string{"stop", "--exec-stop-post"}, false}, // cmdStop decides, once $SERVICE_RESULT said it acts
		{[]string{"drain", "web"}, true},
		{[]string{"resume"}, true},
		{[]string{"restart", "web"}, true},
		{[]string{"restore", "web"}, true},
		{[]string{"drains"}, false},
		{[]string{"drains", "--clear"}, true},
		{[]string{"drains", "--set", "web"}, true},
		{[]string{"status"}, false},
		{[]string{"plan"}, false},
		{[]string{"check"}, false},
		{[]string{"graph"}, false},
		{[]string{"import"}, false},
		{[]string{"plot"}, false},
	} {
		var fs *flag.FlagSet
		for _, c := range commands() {
			if c.name == tt.args[0] {
				fs = newFlagSet(c, &env{})
			}
		}
		if fs == nil {
			t.Fatalf("no command %s", tt.args[0])
		}
		if _, err := parseInterspersed(fs, tt.args[1:]); err != nil {
			t.Fatal(err)
		}
		if got := changesHost(tt.args[0], fs); got != tt.want {
			t.Errorf("changesHost(%v) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// Off dom0 every state-changing command refuses, exit 2, and runs no xl;
// the looks still work.
func TestOffDom0(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		setup func(h *host)
		why   string
	}{
		{"a domU", func(h *host) { h.setDom0(false) }, "capabilities does not say control_d: this is a Xen guest (a domU), not dom0"},
		{"no xenfs", func(h *host) { os.Remove(filepath.Join(h.sim, "simhost", "proc", "xen", "capabilities")) }, "capabilities does not exist: this is not a Xen host"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			tt.setup(h)
			for _, args := range [][]string{
				{"start"}, {"start", "web"}, {"stop"}, {"stop", "web"}, {"stop", "--save", "web"}, {"drain", "web"},
				{"resume"}, {"restart", "web"}, {"restore", "web"}, {"drains", "--clear"}, {"drains", "--set", "web"},
			} {
				r := h.xenorder(args...)
				mustExit(t, r, 2)
				want := "xenorder: " + args[0] + ": "
				if !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, tt.why) ||
					!strings.Contains(r.stderr, "xenorder starts and stops guests from dom0 only (check, plan, graph, import and status work anywhere); nothing was changed") {
					t.Errorf("%v: want %q naming why:\n%s", args, want, r)
				}
				if n := strings.Count(r.stderr, "\n"); n != 1 {
					t.Errorf("%v: %d lines on stderr, want 1:\n%s", args, n, r)
				}
			}
			if cs := h.calls(); len(cs) != 0 {
				t.Errorf("a refused command ran %d programs: %v", len(cs), cs)
			}
			// The unit's ExecStopPost after its ExecCondition skipped it
			// (SERVICE_RESULT=exec-condition) changes nothing and succeeds;
			// one that would act refuses.
			for _, tc := range []struct {
				result string
				code   int
			}{{"exec-condition", 0}, {"success", 2}} {
				h.extraEnv = []string{"SERVICE_RESULT=" + tc.result}
				r := h.xenorder("stop", "--exec-stop-post")
				mustExit(t, r, tc.code)
				h.extraEnv = nil
			}
			auto := filepath.Join(t.TempDir(), "auto")
			os.Mkdir(auto, 0o755)
			os.Symlink(filepath.Join(h.dir, "xl", "monitor.cfg"), filepath.Join(auto, "monitor.cfg"))
			for _, args := range [][]string{
				{"check"}, {"plan"}, {"plan", "stop"}, {"graph"}, {"status"}, {"status", "--json"}, {"drains"},
				{"start", "--dry-run"}, {"stop", "--dry-run"}, {"drain", "--dry-run", "web"}, {"import", "--auto-dir", auto},
			} {
				r := h.xenorder(args...)
				if r.code == 2 || strings.Contains(r.stderr, "dom0") {
					t.Errorf("%v refused off dom0:\n%s", args, r)
				}
			}
			if s := stateChanging(h); len(s) != 0 {
				t.Errorf("off dom0, xl calls that change guests: %v", s)
			}
		})
	}
}

// A start that was to start guests and after which no domain runs exits 5,
// outside the unit's SuccessExitStatus=1: the unit fails. While any domain
// runs, it exits 1 and the unit stays active (its stop must run at
// poweroff).
func TestStartNoGuestRuns(t *testing.T) {
	t.Parallel()
	failCreate := func(names ...string) func(h *host) {
		return func(h *host) {
			for _, n := range names {
				h.appendTo("xl/"+n+".cfg", "xlsim_create_fail = 1")
			}
		}
	}
	roots := failCreate("Domain-N", "monitor", "scratch") // what every other autostart guest depends on
	for _, tt := range []struct {
		name    string
		setup   func(h *host)
		args    []string
		code    int
		running []string
	}{
		{name: "every guest's create fails", setup: failCreate("Domain-N", "opnsense", "fileserver", "web", "mail", "db", "monitor", "scratch"), code: 5},
		{name: "the roots fail, the rest is skipped", setup: roots, code: 5},
		{name: "the named guest fails, nothing else runs", setup: roots, args: []string{"web"}, code: 5},
		{name: "some start", setup: failCreate("Domain-N"), code: 1, running: []string{"monitor", "scratch"}},
		{name: "all fail beside a domain the config does not name", setup: func(h *host) {
			b, err := os.ReadFile(filepath.Join(h.dir, "xl", "monitor.cfg"))
			if err != nil {
				h.t.Fatal(err)
			}
			other := filepath.Join(h.dir, "other.cfg")
			os.WriteFile(other, []byte(strings.Replace(string(b), `name    = "monitor"`, `name    = "other"`, 1)), 0o644)
			mustExit(h.t, h.run("xl", "create", other), 0)
			roots(h)
		}, code: 1, running: []string{"other"}},
		{name: "a guest up but not ready", setup: func(h *host) {
			failCreate("Domain-N", "scratch")(h)
			h.edit("xenorder.toml", "[guest.monitor]\n", "[guest.monitor]\nstart_timeout = \"1s\"\n[[guest.monitor.ready]]\nconsole = \"never printed\"\n")
		}, code: 1, running: []string{"monitor"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			tt.setup(h)
			h.fakeSystemctl(3) // xendomains inactive
			sock := filepath.Join(t.TempDir(), "notify")
			got := listenUnixgram(t, sock)
			h.extraEnv = append(h.extraEnv, "NOTIFY_SOCKET="+sock)
			r := h.xenorder(append([]string{"start"}, tt.args...)...)
			mustExit(t, r, tt.code)
			if up := running(h); !slices.Equal(up, tt.running) {
				t.Errorf("running %v, want %v", up, tt.running)
			}
			dead := "xenorder: start: no guest runs: every guest this start was to start is down (see the summary above); exit 5: under systemd the unit fails"
			if (tt.code == 5) != strings.Contains(r.stderr, dead) {
				t.Errorf("exit %d, want stderr to say %q only with exit 5:\n%s", r.code, dead, r)
			}
			if !strings.Contains(r.stdout, "FAILED  ") {
				t.Errorf("no summary naming the failure:\n%s", r)
			}
			var last string
			for _, d := range got() {
				if s, ok := strings.CutPrefix(d.data, "STATUS="); ok {
					last = s
				}
			}
			if (tt.code == 5) != strings.HasPrefix(last, "start failed: no guest runs: every guest this start was to start is down; started 0/") {
				t.Errorf("exit %d, last STATUS=%q", r.code, last)
			}
		})
	}
}

// The command line warns, in one line on stderr, when xenorder.service is
// failed or inactive while domains run: its stop will not run at poweroff.
func TestUnitStateWarning(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.fakeSystemctl(3)                  // xendomains inactive, for the unit's own start
	mustExit(t, h.xenorder("start"), 0) // systemd knows no unit: no word
	warning := func(r result) string {
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, "xenorder.service is ") {
				return l
			}
		}
		return ""
	}
	// What it says, literally, once; the other rows name what runs then.
	want := "xenorder: warning: xenorder.service is failed while 7 domains run (Domain-N, db, fileserver, mail, monitor, opnsense, scratch): " +
		"at poweroff its stop will not run, and nothing stops them in order; systemctl start xenorder.service makes it active " +
		"(it leaves running guests alone and starts the autostart guests that are down and not drained)"
	w := func(state string, doms ...string) string { return "xenorder: warning: " + unitWarning(state, doms) }
	seven := []string{"Domain-N", "db", "fileserver", "mail", "monitor", "opnsense", "scratch"}
	for _, tt := range []struct {
		state string
		args  []string
		env   []string
		want  string // "": no warning
	}{
		{state: "", args: []string{"status"}},
		{state: "active", args: []string{"status"}},
		{state: "activating", args: []string{"stop", "web"}},
		{state: "failed", args: []string{"stop", "web"}, want: want},
		{state: "failed", args: []string{"status"}, want: w("failed", seven...)},
		{state: "failed", args: []string{"status", "--json"}, want: w("failed", seven...)},
		{state: "inactive", args: []string{"drain", "mail"}, want: w("inactive", "Domain-N", "db", "fileserver", "monitor", "opnsense", "scratch")},
		{state: "inactive", args: []string{"resume"}, want: w("inactive", seven...)},
		{state: "failed", args: []string{"plan"}},
		{state: "failed", args: []string{"check"}},
		{state: "failed", args: []string{"stop", "--dry-run"}},
		// The unit's own start (NOTIFY_SOCKET) sees it activating: no word.
		{state: "failed", args: []string{"start"}, env: []string{"NOTIFY_SOCKET=" + filepath.Join(h.dir, "nobody-listens")}},
		{state: "failed", args: []string{"start"}, want: w("failed", append(seven, "web")...)},
		{state: "failed", args: []string{"stop"}}, // nothing runs any more
		{state: "failed", args: []string{"status"}},
	} {
		h.setUnitState(tt.state)
		h.extraEnv = tt.env
		r := h.xenorder(tt.args...)
		got := warning(r)
		if got != tt.want {
			t.Errorf("unit %q, xenorder %v: warning\n  %q\nwant\n  %q\n%s", tt.state, tt.args, got, tt.want, r)
		}
		if strings.Count(r.stderr, "xenorder.service is ") > 1 {
			t.Errorf("unit %q, xenorder %v: more than one line of warning:\n%s", tt.state, tt.args, r)
		}
	}
}

func TestUnitWarningLine(t *testing.T) {
	for _, tt := range []struct {
		doms []string
		want string
	}{
		{[]string{"a"}, "xenorder.service is inactive while 1 domain runs (a): "},
		{[]string{"a", "b\x1b[2J"}, "while 2 domains run (a, b\\x1b[2J): "},
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, "while 10 domains run (a, b, c, d, e, f, g, h, and 2 more): "},
	} {
		got := unitWarning("inactive", tt.doms)
		if !strings.Contains(got, tt.want) || strings.Contains(got, "\n") {
			t.Errorf("unitWarning(%q) = %q, want one line with %q", tt.doms, got, tt.want)
		}
	}
}
