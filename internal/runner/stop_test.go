package runner

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/xl"
)

// stateConfig is a config whose state_dir is a fresh folder.
func stateConfig(t *testing.T, body string) string {
	return "[defaults]\nstate_dir = \"" + t.TempDir() + "\"\nlock_file = \"/nonexistent/lock\"\n" + body
}

func TestACPIFallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fallback string
		want     Fate
		acpi     bool
	}{
		{"on by default", "", Done, true},
		{"off", "acpi_fallback = false\nstop_timeout = \"100ms\"\n", Forced, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hv := newFake()
			hv.noPV["hvm"] = true
			r, c := newRunner(t, "[guest.hvm]\n"+tt.fallback, hv)
			start(t, r)
			res := stop(t, r)
			if got := statusOf(res)["hvm"]; got != tt.want {
				t.Fatalf("status %v, want %v\n%s", got, tt.want, summary(res))
			}
			said := slices.ContainsFunc(c.lines(), func(l string) bool { return strings.Contains(l, "pressing its ACPI power button") })
			if said != tt.acpi {
				t.Errorf("ACPI fallback said %v, want %v: %v", said, tt.acpi, c.lines())
			}
		})
	}
}

func TestSaveThenRestoreDeletesImageOnceRestored(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, stateConfig(t, "[guest.fs]\nstop_action = \"save\"\n[guest.web]\ndepends_on = [\"fs\"]\n"), hv)
	start(t, r)
	image := filepath.Join(r.Config.Defaults.StateDir, "save", "fs.save")

	// A named stop shuts down, whatever the stop_action...
	plan, _ := r.PlanStop(t.Context(), []string{"fs"}, StopOptions{})
	if s, _ := stepOf(plan, "fs"); s.Action != "shutdown" {
		t.Errorf("named stop plan:\n%s", planText(plan))
	}
	// ...a bare stop applies it.
	res := stop(t, r)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	if _, ok := hv.first("save", "fs"); !ok {
		t.Fatal("fs not saved")
	}
	if _, ok := hv.first("shutdown", "fs"); ok {
		t.Error("fs shut down as well as saved")
	}
	if _, err := os.Stat(image); err != nil {
		t.Fatalf("no image: %v", err)
	}
	plan, _ = r.PlanStart(t.Context(), nil, StartOptions{})
	if s, _ := stepOf(plan, "fs"); s.Action != "restore" {
		t.Errorf("start plan does not restore:\n%s", planText(plan))
	}
	res = r.Start(t.Context(), plan)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	if _, ok := hv.first("restore", "fs.save"); !ok {
		t.Error("fs not restored")
	}
	if n := len(hv.callsOf("create")); n != 3 { // fs and web at first, web again
		t.Errorf("%d creates", n)
	}
	if _, err := os.Stat(image); !os.IsNotExist(err) {
		t.Errorf("image still there after a good restore: %v", err)
	}
	if !slices.ContainsFunc(c.lines(), func(l string) bool {
		return strings.Contains(l, "fs: restored; the image "+image+" is deleted now that the restore succeeded")
	}) {
		t.Errorf("events %v", c.lines())
	}
}

func TestSaveFailureFallsBackAndKeepsWhatItWrote(t *testing.T) {
	t.Parallel()
	hv := newFake()
	hv.saveFail["fs"] = true
	r, _ := newRunner(t, stateConfig(t, "[guest.fs]\nstop_action = \"save\"\n"), hv)
	start(t, r)
	res := stop(t, r)
	if got := statusOf(res)["fs"]; got != FellBack || res.OK() {
		t.Fatalf("status %v:\n%s", got, summary(res))
	}
	if o := res.Outcomes[0]; !strings.HasPrefix(GuestErr(o.Guest, o.Err), "save failed (") {
		t.Errorf("fell back with %v", o.Err)
	}
	if _, ok := hv.first("shutdown", "fs"); !ok {
		t.Error("no shutdown after the failed save")
	}
	kept, _ := filepath.Glob(filepath.Join(r.Config.Defaults.StateDir, "save", "fs.save.failed-*"))
	if len(kept) != 1 {
		t.Errorf("partial image not kept aside: %v", kept)
	}
}

func TestSaveRefusedWithoutRoom(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, stateConfig(t, "[guest.fs]\nstop_action = \"save\"\n"), hv)
	r.FreeSpace = func(string) (int64, error) { return 50 << 20, nil } // the guest has 96 MiB
	start(t, r)
	res := stop(t, r)
	if _, ok := hv.first("save", "fs"); ok {
		t.Error("saved without room")
	}
	if got := statusOf(res)["fs"]; got != FellBack {
		t.Errorf("status %v", got)
	}
	if !slices.ContainsFunc(c.lines(), func(l string) bool {
		return strings.Contains(l, "not enough room in") && strings.Contains(l, "50 MiB free, 0 MiB of it taken by the saves in flight, this one needs 116 MiB")
	}) {
		t.Errorf("events %v", c.lines())
	}
}

func TestRestoreFailure(t *testing.T) {
	t.Parallel()
	for _, fallback := range []string{"create", "fail"} {
		t.Run(fallback, func(t *testing.T) {
			hv := newFake()
			r, c := newRunner(t, stateConfig(t, "[guest.fs]\nrestore_fallback = \""+fallback+"\"\n"), hv)
			dir := filepath.Join(r.Config.Defaults.StateDir, "save")
			os.MkdirAll(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "fs.save"), []byte("corrupt"), 0o600)
			recordSave(t, r, "fs", 7)
			res := start(t, r)
			kept, _ := filepath.Glob(filepath.Join(dir, "fs.save.failed-*"))
			if len(kept) != 1 {
				t.Fatalf("image not kept aside: %v", kept)
			}
			if b, _ := os.ReadFile(kept[0]); string(b) != "corrupt" {
				t.Errorf("kept image changed: %q", b)
			}
			_, created := hv.first("create", "fs")
			switch fallback {
			case "create":
				if got := statusOf(res)["fs"]; got != FellBack || !created {
					t.Errorf("status %v, created %v", got, created)
				}
				if !slices.ContainsFunc(c.lines(), func(l string) bool { return strings.Contains(l, "BOOTING IT FRESH") }) {
					t.Errorf("not said loudly: %v", c.lines())
				}
			case "fail":
				if got := statusOf(res)["fs"]; got != Failed || created {
					t.Errorf("status %v, created %v", got, created)
				}
			}
		})
	}
}

func TestMigrateAndDestroyActions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, host string
		fail       bool
		want       Fate
		shutdown   bool   // mig was shut down instead
		listed     bool   // mig runs here afterwards (under a new domid)
		msg        string // in mig's migrate events
	}{
		{name: "to another host", host: "host2", want: Done, msg: "migrated to host2 after "},
		{name: "fails", host: "host2", fail: true, want: FellBack, shutdown: true, msg: "MIGRATION FAILED; shutting it down instead"},
		// OSSTest's localhost migration: the old domid is gone, the guest
		// runs on here under a new one; never shut that one down.
		{name: "to this host", host: "localhost", want: Done, listed: true, msg: "localhost is this host: the guest runs on here as domid "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "[guest.mig]\nstop_action = \"migrate\"\nmigrate_to = \"" + tc.host + "\"\n[guest.tmp]\nstop_action = \"destroy\"\n"
			hv := newFake()
			hv.migrateFail = tc.fail
			r, c := newRunner(t, src, hv)
			start(t, r)
			before := hv.doms["mig"].id
			res := stop(t, r)
			want := map[string]Fate{"mig": tc.want, "tmp": Done}
			if got := statusOf(res); !mapsEqual(got, want) {
				t.Errorf("%v\n%s", got, summary(res))
			}
			if _, shut := hv.first("shutdown", "mig"); shut != tc.shutdown {
				t.Errorf("shutdown used %v, want %v", shut, tc.shutdown)
			}
			if _, ok := hv.first("shutdown", "tmp"); ok {
				t.Error("destroy action asked for a shutdown")
			}
			d, listed := hv.doms["mig"]
			if listed != tc.listed || listed && d.id == before {
				t.Errorf("mig listed afterwards %v (%+v), want %v under a new domid (was %d)", listed, d, tc.listed, before)
			}
			if !slices.ContainsFunc(c.lines(), func(l string) bool { return strings.Contains(l, "mig") && strings.Contains(l, tc.msg) }) {
				t.Errorf("no %q in\n%s", tc.msg, strings.Join(c.lines(), "\n"))
			}
		})
	}
}

func TestBackendsOrderTheStop(t *testing.T) {
	t.Parallel()
	// drv is an undeclared driver domain serving web's disk: it must not
	// go first. fs is served by Domain-N though nothing declares it.
	src := "[guest.Domain-N]\n[guest.fs]\n[guest.web]\n"
	hv := newFake()
	r, _ := newRunner(t, src, hv)
	start(t, r)
	hv.add("drv", "-b----")
	hv.add("stray", "-b----")
	hv.backends["web"] = []string{"drv", "Domain-0"}
	hv.backends["fs"] = []string{"Domain-N"}
	res := stop(t, r)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	gone := func(n string) time.Time { c, _ := hv.first("shutdown", n); return c.end.Add(hv.shutdownDelay) }
	asked := func(n string) time.Time { c, _ := hv.first("shutdown", n); return c.begin }
	for _, p := range [][2]string{{"drv", "web"}, {"Domain-N", "fs"}, {"fs", "stray"}, {"web", "stray"}, {"Domain-N", "stray"}} {
		if !asked(p[0]).After(gone(p[1])) {
			t.Errorf("%s asked before %s was gone", p[0], p[1])
		}
	}
}

func TestNamedStopPullsInServedDomains(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, "[guest.Domain-N]\n[guest.fs]\n", hv)
	start(t, r)
	hv.add("undeclared-vm", "-b----")
	hv.backends["undeclared-vm"] = []string{"Domain-N"}
	hv.backends["fs"] = []string{"Domain-N"}
	plan, err := r.PlanStop(t.Context(), []string{"Domain-N"}, StopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := planText(plan)
	notes := map[string]string{}
	for _, st := range plan.Steps() {
		notes[st.Guest] = st.Note
	}
	want := map[string]string{"fs": "served by Domain-N (disk backend)", "undeclared-vm": "served by Domain-N (disk backend)", "Domain-N": ""}
	if len(notes) != len(want) {
		t.Errorf("plan:\n%s", s)
	}
	for g, n := range want {
		if got, ok := notes[g]; !ok || got != n {
			t.Errorf("%s: note %q (in plan: %v), want %q", g, got, ok, n)
		}
	}
	if plan.Tiers[len(plan.Tiers)-1][0].Guest != "Domain-N" {
		t.Errorf("Domain-N is not last:\n%s", s)
	}
}

func TestUndeclaredLeave(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, "[defaults]\nundeclared = \"leave\"\n[guest.a]\n", hv)
	start(t, r)
	hv.add("stray", "-b----")
	stop(t, r)
	if _, ok := hv.first("shutdown", "stray"); ok {
		t.Error("undeclared = leave, but stray was stopped")
	}
}

// slowSaveHV takes a while to save.
type slowSaveHV struct {
	*fakeHV
	d time.Duration
}

func (s *slowSaveHV) Save(ctx context.Context, name, path string, started func()) error {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.fakeHV.Save(ctx, name, path, started)
}

func TestInterruptedStopFinishesTheSaveInFlight(t *testing.T) {
	t.Parallel()
	src := stateConfig(t, "[guest.base]\n[guest.top]\ndepends_on = [\"base\"]\nstop_action = \"save\"\n")
	hv := newFake()
	r, _ := newRunner(t, src, &slowSaveHV{fakeHV: hv, d: 300 * time.Millisecond})
	start(t, r)
	ctx, cancel := context.WithCancel(t.Context())
	plan, _ := r.PlanStop(ctx, nil, StopOptions{})
	time.AfterFunc(100*time.Millisecond, cancel) // mid-save
	res := r.Stop(ctx, plan)
	if got := statusOf(res); got["top"] != Done || got["base"] != NotRun {
		t.Errorf("statuses %v", got)
	}
	if _, ok := hv.first("save", "top"); !ok {
		t.Error("the save in flight was abandoned")
	}
	for _, o := range res.Outcomes {
		if o.Guest == "base" && !strings.HasPrefix(res.LeftIn(o), "not stopped; still running (domid ") {
			t.Errorf("base left: %s", res.LeftIn(o))
		}
	}
}

func TestSuspendedDomainIsNeverDestroyed(t *testing.T) {
	t.Parallel()
	// A domain suspended for a save keeps its OS: "---ss-" is not "no OS
	// left". Its memory is only in the hypervisor, and xl cannot resume
	// it: a stop leaves it as it is, says so, and keeps what it needs.
	hv := newFake()
	r, c := newRunner(t, "[guest.base]\n[guest.vm]\ndepends_on = [\"base\"]\nstop_timeout = \"200ms\"\n", hv)
	hv.add("base", "-b----")
	hv.add("vm", "---ss-")
	res := stop(t, r)
	for _, op := range []string{"destroy", "shutdown"} {
		if cl, ok := hv.first(op, "vm"); ok {
			t.Errorf("suspended vm: xl %s at %s", op, cl.begin)
		}
	}
	if _, ok := hv.first("shutdown", "base"); ok {
		t.Error("base, which the suspended vm needs, was asked to shut down")
	}
	if got := statusOf(res); got["vm"] != Suspended || got["base"] != Skipped {
		t.Errorf("statuses %v", got)
	}
	if left := res.LeftOnHost(); !slices.Equal(left, []string{"vm", "base"}) && !slices.Equal(left, []string{"base", "vm"}) {
		t.Errorf("left on host %v", left)
	}
	if !slices.ContainsFunc(c.lines(), func(l string) bool { return strings.Contains(l, "vm: LEFT SUSPENDED, NOT DESTROYED") }) {
		t.Errorf("events %v", c.lines())
	}
	for _, l := range c.lines() {
		if strings.Contains(l, "no OS is left") {
			t.Errorf("treated as shut down: %s", l)
		}
	}
	if res := start(t, r, "vm"); res.Outcomes[len(res.Outcomes)-1].Err == nil || !strings.Contains(res.Outcomes[len(res.Outcomes)-1].Err.Error(), "do not destroy it") {
		t.Errorf("start of a suspended domain: %v", summary(res))
	}
}

// racedHV: someone else creates the guest just before our xl create.
type racedHV struct{ *fakeHV }

func (r *racedHV) Create(ctx context.Context, cfg string, started func()) error {
	r.add(nameOf(cfg), "-b----")
	return r.fakeHV.Create(ctx, cfg, started) // fails: already exists
}

func TestGuestCreatedMeanwhileIsRecognised(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, "[guest.vm]\n", &racedHV{hv})
	res := start(t, r)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	if !slices.Contains(c.lines(), "vm: was created by someone else meanwhile") {
		t.Errorf("events %v", c.lines())
	}
	hv.mu.Lock()
	n := len(hv.doms)
	hv.mu.Unlock()
	if n != 2 { // Domain-0 and one vm
		t.Errorf("%d domains", n)
	}
}

// racingDestroyHV: xl's own monitor destroys the guest as we do; our xl
// destroy then fails with rc=-3, though the domain is gone.
type racingDestroyHV struct{ *fakeHV }

func (r *racingDestroyHV) Destroy(ctx context.Context, name string, started func()) error {
	r.fakeHV.Destroy(ctx, name, started)
	return &xl.Error{Args: []string{"destroy", name}, ExitCode: 1,
		Stderr: "libxl: error: libxl_domain.c:1616:domain_destroy_domid_cb: Domain 1:xc_domain_destroy failed: No such process\ndestroy failed (rc=-3)"}
}

func TestDestroyRacingXLMonitorCountsAsGone(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, "[guest.base]\n[guest.top]\ndepends_on = [\"base\"]\n", &racingDestroyHV{hv})
	start(t, r)
	hv.mu.Lock()
	hv.doms["top"].state = "--ps--" // powered off, paused: the monitor is on it
	hv.mu.Unlock()
	res := stop(t, r)
	if got := statusOf(res); got["top"] != Done || got["base"] != Done {
		t.Errorf("statuses %v\n%s", got, summary(res))
	}
	if !slices.ContainsFunc(c.lines(), func(l string) bool { return strings.Contains(l, "top: gone: destroyed meanwhile by xl's own monitor") }) {
		t.Errorf("events %v", c.lines())
	}
}

// TestStopLeavesNoWatchBehind: the @releaseDomain watch is gone when Stop
// returns, not merely asked to go: xenorder may exit right after.
func TestStopLeavesNoWatchBehind(t *testing.T) {
	t.Parallel()
	// A stop may end before the shell has written its pid (it writes it
	// whole: a temporary file, then mv): try again until one has.
	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "pid")
		watch := filepath.Join(dir, "watch")
		script := "#!/bin/sh\necho $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + "\necho @releaseDomain\nexec sleep 1000\n"
		if err := os.WriteFile(watch, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		hv := newFake()
		hv.add("a", "-b----")
		r, _ := newRunner(t, stateConfig(t, "xenstore_watch = \""+watch+"\"\n[guest.a]\n"), hv)
		if res := stop(t, r); !res.OK() {
			t.Fatal(summary(res))
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			if attempt < 20 {
				continue
			}
			t.Fatalf("the watch never got to write its pid in %d stops: %v", attempt, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("the watch (pid %d) outlived the stop: %v", pid, err)
		}
		return
	}
}

// A guest with PCI passthrough that powered off stays listed while xl's
// monitor hands its devices back (10–15 s on real Xen); xenorder gives the
// monitor PCIMonitorGrace before destroying the remains itself, where it
// gives another guest MonitorGrace.
func TestPCIGuestGetsTheLongerMonitorGrace(t *testing.T) {
	t.Parallel()
	const short, long = 50 * time.Millisecond, 800 * time.Millisecond
	for _, tc := range []struct {
		name     string
		pci      bool
		min, max time.Duration // from the stop's start to our xl destroy
	}{
		{name: "plain", min: short, max: long},
		{name: "pci", pci: true, min: long, max: 10 * long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hv := newFake()
			r, c := newRunner(t, "[guest.top]\n", hv)
			r.MonitorGrace, r.PCIMonitorGrace = short, long
			start(t, r)
			if tc.pci { // after the start, which would make it assignable
				r.Config.Guests["top"].PCI = []string{"0000:00:05.0"}
			}
			hv.mu.Lock()
			hv.monitorSlow = map[string]bool{"top": true} // powers off, stays listed --ps--
			hv.mu.Unlock()
			res := stop(t, r)
			if got := statusOf(res); got["top"] != Done {
				t.Errorf("statuses %v\n%s", got, summary(res))
			}
			sh, _ := hv.first("shutdown", "top")
			d, ok := hv.first("destroy", "top")
			if !ok {
				t.Fatalf("never destroyed the remains: %v", c.lines())
			}
			// The guest is down shutdownDelay after the request returned.
			if took := d.begin.Sub(sh.end) - hv.shutdownDelay; took < tc.min || took > tc.max {
				t.Errorf("xl destroy %v after the guest powered off, want between %v and %v\n%s", took, tc.min, tc.max, strings.Join(c.lines(), "\n"))
			}
		})
	}
}
