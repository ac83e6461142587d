package main

// The fault suite's rows where the host's wall clock jumps (NTP correcting
// a wrong RTC at boot, an admin's date -s, a resumed VM host): through the
// simulated host's clock (seams_simhost.go), which moves what xenorder
// reads of the wall clock and nothing else, as a real jump moves the wall
// clock and not the monotonic one. Each runs once (the death watch does not
// matter to them).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/runner"
)

// setClock moves the simulated host's wall clock by offset from the real
// one ("-1h", "+1h", "0s"): xenorder's next reading of it reads so.
func (h *host) setClock(offset string) {
	h.t.Helper()
	p := filepath.Join(h.sim, "simhost", "clock")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	// A new file renamed over the old: a reading never sees it half written.
	if err := os.WriteFile(p+".tmp", []byte(offset+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		h.t.Fatal(err)
	}
}

// negativeAge is a duration status prints below zero ("-3599s old").
var negativeAge = regexp.MustCompile(`\s-\d+[smhd]`)

func clockFaults() []fault {
	return []fault{
		{name: "the wall clock jumps back 1 h between a stop's save and the next start's restore", once: true,
			setup: func(h *host) { h.edit("xenorder.toml", "[guest.db]\n", "[guest.db]\nstop_action = \"save\"\n") },
			act: func(t *testing.T, h *host) result {
				mustExit(t, h.xenorder("start"), 0)
				stop := h.xenorder("stop")
				mustExit(t, stop, 0)
				h.setClock("-1h")
				// The image was saved "in the future": it is still the
				// guest's last state, restorable, and no age below zero.
				st := h.xenorder("status")
				if !regexp.MustCompile(`(?m)^\s+db\s+restorable\s`).MatchString(st.stdout) {
					t.Errorf("status does not list db's image as restorable after the jump:\n%s", st)
				}
				if m := negativeAge.FindString(st.stdout); m != "" {
					t.Errorf("status shows a time below zero (%q) after the jump:\n%s", m, st)
				}
				r := h.xenorder("start")
				if _, ok := h.callsOf("restore")["db.save"]; !ok {
					t.Error("db's image, saved before the clock went back, was not restored")
				}
				for _, c := range xlCalls(h.calls(), "create") {
					if strings.HasSuffix(c.Args[len(c.Args)-1], "/db.cfg") && c.Begin.After(h.callsOf("save")["db.save"].End) {
						t.Error("db was created afresh instead of restored")
					}
				}
				if _, err := os.Stat(h.savedImage("db")); !os.IsNotExist(err) {
					t.Errorf("the image stays after its restore succeeded: %v", err)
				}
				if aside, _ := filepath.Glob(h.savedImage("db") + ".*"); len(aside) != 0 {
					t.Errorf("an image was put aside: %v", aside)
				}
				return result{stdout: stop.stdout + st.stdout + r.stdout, stderr: stop.stderr + st.stderr + r.stderr, code: r.code}
			}, code: 0,
			msgs: []string{"db: saved to ", "db: restoring from ", "db: restored and ready after"}},
		{name: "the wall clock jumps forward 1 h in the middle of a stop's grace period", once: true,
			setup: func(h *host) {
				// monitor ignores its shutdown request: destroyed once its
				// 8 s grace is over, not at the jump; xenorder waits on it
				// longer than a progress tick (5 s), whatever the simulator's
				// speed, so status sees its wait published after the jump.
				// scratch takes 6 s to shut down, well within its 20 s grace:
				// it is never destroyed.
				h.appendTo("xl/monitor.cfg", "xlsim_ignore_shutdown = 1")
				h.edit("xenorder.toml", "[guest.monitor]\n", "[guest.monitor]\nstop_timeout = \"8s\"\n")
				h.edit("xl/scratch.cfg", `xlsim_shutdown_time = "500ms"`, `xlsim_shutdown_time = "6s"`)
				h.edit("xenorder.toml", "[guest.scratch]\n", "[guest.scratch]\nstop_timeout = \"20s\"\n")
			},
			act: func(t *testing.T, h *host) result {
				mustExit(t, h.xenorder("start"), 0)
				bg := h.background("stop")
				waitFor(t, h, isCall("shutdown", "monitor"))
				waitFor(t, h, isCall("shutdown", "scratch"))
				h.setClock("+1h")
				st := statusUntilSane(t, h, "monitor", 8*time.Second)
				r := bg.wait()
				if _, ok := h.callsOf("destroy")["scratch"]; ok {
					t.Error("scratch, shutting down within its grace, was destroyed after the clock jumped")
				}
				if up := running(h); len(up) != 0 {
					t.Errorf("still running after the stop: %v", up)
				}
				return result{stdout: r.stdout + st.stdout, stderr: r.stderr + st.stderr, code: r.code}
			}, code: 1,
			msgs: []string{"scratch: shutting down (grace period 20s", "scratch: stopped after ", "FORCED  monitor: destroyed after its grace period of 8s"}},
	}
}

// statusUntilSane runs status --json while guest is being stopped until
// its progress shows the time used and left of its grace period as they
// are (at most the grace, some of it left), and status's now the jumped
// clock's: the run publishes its progress afresh at every change and every
// tick (5 s), and from the first publish after the jump the times must be
// on the new clock. It fails the test if that never comes while the guest
// is in progress.
func statusUntilSane(t *testing.T, h *host, guest string, grace time.Duration) result {
	t.Helper()
	var last result
	var seen []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		last = h.xenorder("status", "--json")
		var rep runner.StatusReport
		if err := json.Unmarshal([]byte(last.stdout), &rep); err != nil {
			t.Fatalf("status --json: %v\n%s", err, last)
		}
		if d := rep.Now.Sub(time.Now()); d < 59*time.Minute || d > 61*time.Minute {
			t.Fatalf("status's now is %s from the real clock, want the jumped clock's +1h", d)
		}
		var p *runner.GuestInProgress
		for _, g := range rep.Guests {
			if g.Name == guest {
				p = g.Progress
			}
		}
		if p == nil {
			break // its stop is over: too late
		}
		used := time.Duration(p.UsedMS) * time.Millisecond
		seen = append(seen[max(len(seen)-4, 0):], used.String())
		if p.LeftMS != nil && *p.LeftMS > 0 && used <= grace && used+time.Duration(*p.LeftMS)*time.Millisecond <= grace+time.Second {
			return last
		}
	}
	t.Errorf("status never showed %s's grace period as it is after the clock jumped (used, last seen: %s):\n%s", guest, strings.Join(seen, ", "), last)
	return last
}
