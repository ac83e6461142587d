package runner

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/saves"
	"github.com/xenorder/xenorder/internal/xl"
)

// recordSave writes a completed save record for guest, as a stop does.
func recordSave(t *testing.T, r *Runner, guest string, domid int) {
	t.Helper()
	rec, err := r.saves().BeginSave(guest, domid, 96, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.saves().CompleteSave(rec, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func writeImage(t *testing.T, r *Runner, guest string) string {
	t.Helper()
	img := r.saves().Image(guest)
	os.MkdirAll(filepath.Dir(img), 0o700)
	if err := os.WriteFile(img, []byte("Xen saved domain, xl format\n"+guest), 0o600); err != nil {
		t.Fatal(err)
	}
	return img
}

func hasLine(c *collector, sub string) bool {
	return slices.ContainsFunc(c.lines(), func(l string) bool { return strings.Contains(l, sub) })
}

// The moment xl restore succeeds the image leaves the restore path, even
// if the restored guest then fails its probes: its next start boots it
// fresh rather than restore the image over disks that moved on.
func TestRestoredImageIsGoneEvenWhenProbesFail(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, stateConfig(t, "[guest.fs]\nstop_action = \"save\"\nstart_timeout = \"300ms\"\n[[guest.fs.ready]]\ntcp = \""+freeAddr(t)+"\"\ninterval = \"20ms\"\n"), hv)
	hv.add("fs", "-b----")
	if res := stop(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	img := r.saves().Image("fs")
	if _, err := os.Stat(img); err != nil {
		t.Fatal(err)
	}
	res := start(t, r)
	if statusOf(res)["fs"] != Failed {
		t.Fatalf("the probe cannot pass:\n%s", summary(res))
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Errorf("the image stays on the restore path after a restore that succeeded: %v", err)
	}
	if !hasLine(c, "is deleted now that the restore succeeded") {
		t.Errorf("events %v", c.lines())
	}
	stop(t, r, "fs") // the guest runs on; a named stop shuts it down
	hv.mu.Lock()
	hv.calls = nil
	hv.mu.Unlock()
	start(t, r)
	if _, ok := hv.first("restore", "fs.save"); ok {
		t.Error("restored again after the guest ran on")
	}
	if _, ok := hv.first("create", "fs"); !ok {
		t.Error("not booted fresh")
	}
}

// Any look that sees the guest run after its save makes the image stale:
// moved aside, said in capitals, never restored. status's look counts too.
func TestImageOfAGuestThatRanSinceIsStale(t *testing.T) {
	t.Parallel()
	for _, look := range []string{"status", "plan start", "start"} {
		t.Run(look, func(t *testing.T) {
			hv := newFake()
			r, c := newRunner(t, stateConfig(t, "[guest.fs]\nstop_action = \"save\"\n"), hv)
			hv.add("fs", "-b----")
			if res := stop(t, r); !res.OK() {
				t.Fatal(summary(res))
			}
			img := r.saves().Image("fs")
			// Someone boots it by hand (xl create): a new domid.
			hv.add("fs", "-b----")
			r = New(r.Config, hv, c.report) // a later xenorder
			switch look {
			case "status":
				if _, err := r.Status(t.Context(), StatusOptions{}); err != nil {
					t.Fatal(err)
				}
			case "plan start":
				r.Exclusive = true
				if _, err := r.PlanStart(t.Context(), nil, StartOptions{}); err != nil {
					t.Fatal(err)
				}
			case "start":
				r.Exclusive = true
				start(t, r)
			}
			if _, err := os.Stat(img); !os.IsNotExist(err) {
				t.Errorf("the image of a guest that ran since is still at %s", img)
			}
			stale, _ := filepath.Glob(img + ".stale-*")
			if len(stale) != 1 {
				t.Errorf("not kept aside as stale: %v", stale)
			}
			if !hasLine(c, "fs: SAVE IMAGE IS STALE: the guest ran since it was saved") {
				t.Errorf("events %v", c.lines())
			}
			if _, ok := hv.first("restore", "fs.save"); ok {
				t.Error("a stale image was restored")
			}
		})
	}
}

// While a save of the guest may be in flight (status does not hold the
// lock), a look sees the saved domain still running: that is no proof.
func TestStatusDoesNotJudgeASaveInFlight(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, stateConfig(t, "[guest.fs]\n"), hv)
	hv.add("fs", "-b----")
	writeImage(t, r, "fs")
	if _, err := r.saves().BeginSave("fs", 1, 96, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Status(t.Context(), StatusOptions{}); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := r.saves().Judge("fs"); v != saves.Incomplete {
		t.Errorf("status judged a save that may be in flight: %v", v)
	}
}

// A save that never recorded its end (xenorder was killed while xl save
// ran) leaves an image nobody can vouch for: a plain start neither
// restores it nor boots the guest fresh over it; it says what to do.
func TestIncompleteSaveIsNeitherRestoredNorOverwritten(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, stateConfig(t, "[guest.fs]\n"), hv)
	img := writeImage(t, r, "fs")
	if _, err := r.saves().BeginSave("fs", 4, 96, time.Now()); err != nil {
		t.Fatal(err)
	}
	plan, err := r.PlanStart(t.Context(), nil, StartOptions{})
	if s, _ := stepOf(plan, "fs"); err != nil || s.Action != "refuse" {
		t.Errorf("plan %v:\n%s", err, planText(plan))
	}
	res := start(t, r)
	o := res.Outcomes[0]
	if o.Status != Failed || !strings.Contains(o.Err.Error(), "never recorded its end") || !strings.Contains(o.Err.Error(), "xenorder restore fs") {
		t.Errorf("%s", summary(res))
	}
	if len(hv.callsOf("restore"))+len(hv.callsOf("create")) != 0 {
		t.Error("restored or created over an image nobody can vouch for")
	}
	if _, err := os.Stat(img); err != nil {
		t.Error(err)
	}
}

// An image without a record (an older build's) is not restored by a plain
// start; xenorder restore restores it, from any path it is given.
func TestUnrecordedImageOnlyByExplicitRestore(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, stateConfig(t, "[guest.fs]\n"), hv)
	img := writeImage(t, r, "fs")
	start(t, r)
	if _, ok := hv.first("restore", "fs.save"); ok {
		t.Error("an unrecorded image was restored by a plain start")
	}
	if !hasLine(c, "fs: NOT RESTORING "+img+": no record of the save") {
		t.Errorf("events %v", c.lines())
	}
	if _, err := os.Stat(img); err != nil {
		t.Errorf("the image went: %v", err)
	}
	stop(t, r)

	// xendomains' image, elsewhere.
	other := filepath.Join(t.TempDir(), "fs")
	os.WriteFile(other, []byte("Xen saved domain, xl format\nfs"), 0o600)
	plan, err := r.PlanStart(t.Context(), []string{"fs"}, StartOptions{Restore: map[string]string{"fs": other}})
	if err != nil {
		t.Fatal(err)
	}
	if res := r.Start(t.Context(), plan); !res.OK() {
		t.Fatal(summary(res))
	}
	if _, ok := hv.first("restore", "fs"); !ok {
		t.Error("xenorder restore did not restore")
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("the image restored from is still there: %v", err)
	}
}

// Saves in flight reserve their room: two guests whose images fit one at a
// time do not both start writing.
func TestParallelSavesReserveRoom(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, stateConfig(t, "[guest.a]\n[guest.b]\n"), &slowSaveHV{fakeHV: hv, d: 150 * time.Millisecond})
	for _, g := range r.Config.Guests {
		g.Stop.Action = "save"
	}
	r.FreeSpace = func(string) (int64, error) { return 200 << 20, nil } // one 96 MiB guest needs 116 MiB
	start(t, r)
	res := stop(t, r)
	if n := len(hv.callsOf("save")); n != 1 {
		t.Errorf("%d saves began with room for one", n)
	}
	got := statusOf(res)
	if !(got["a"] == Done && got["b"] == FellBack || got["a"] == FellBack && got["b"] == Done) {
		t.Errorf("statuses %v", got)
	}
	if !hasLine(c, "116 MiB of it taken by the saves in flight") {
		t.Errorf("events %v", c.lines())
	}
}

// A domain the config does not name is never saved, whatever the default
// stop_action: nothing could restore it.
func TestUndeclaredIsNeverSaved(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, stateConfig(t, "[guest.a]\n"), hv)
	r.Config.Defaults.Stop.Action = "save"
	hv.add("stray", "-b----")
	plan, err := r.PlanStop(t.Context(), nil, StopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := stepOf(plan, "stray"); s.Action != "shutdown" {
		t.Errorf("plan:\n%s", planText(plan))
	}
	r.Stop(t.Context(), plan)
	if _, ok := hv.first("save", "stray"); ok {
		t.Error("an undeclared domain was saved")
	}
	if _, ok := hv.first("shutdown", "stray"); !ok {
		t.Error("an undeclared domain was not shut down")
	}
	// --save on a named guest pulls in what it serves, undeclared or not.
	hv.add("stray", "-b----")
	plan, _ = r.PlanStop(t.Context(), nil, StopOptions{Save: true})
	if s, _ := stepOf(plan, "stray"); s.Action == "save" {
		t.Errorf("--save plan saves an undeclared domain:\n%s", planText(plan))
	}
}

// suspendingSaveHV: the save is cut short and leaves the domain suspended.
type suspendingSaveHV struct{ *fakeHV }

func (s *suspendingSaveHV) Save(ctx context.Context, name, path string, started func()) error {
	callStarted(started)
	s.fakeHV.record("save", name, time.Now())
	s.fakeHV.add(name, "---ss-")
	os.WriteFile(path, []byte("partial"), 0o600)
	return &xl.Error{Args: []string{"save", name, path}, ExitCode: -1, Stderr: "killed"}
}

func TestSaveThatLeavesTheGuestSuspended(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, stateConfig(t, "[guest.base]\n[guest.vm]\ndepends_on = [\"base\"]\nstop_action = \"save\"\nstop_timeout = \"100ms\"\n"), &suspendingSaveHV{hv})
	start(t, r)
	res := stop(t, r)
	if got := statusOf(res); got["vm"] != Suspended || got["base"] != Skipped {
		t.Errorf("statuses %v\n%s", got, summary(res))
	}
	for _, op := range []string{"destroy", "shutdown"} {
		if _, ok := hv.first(op, "vm"); ok {
			t.Errorf("xl %s of a suspended guest", op)
		}
	}
	if !hasLine(c, "vm: LEFT SUSPENDED, NOT DESTROYED") {
		t.Errorf("events %v", c.lines())
	}
	if len(res.LeftOnHost()) != 2 {
		t.Errorf("left on host: %v", res.LeftOnHost())
	}
}

// growingSaveHV writes its image a chunk at a time, for a while, then
// (with stallAfter) stops writing before it ends.
type growingSaveHV struct {
	*fakeHV
	d, stallAfter time.Duration
	cancelled     chan struct{}
	mu            sync.Mutex
	ended         time.Time // when xl save returned
}

func (g *growingSaveHV) Save(ctx context.Context, name, path string, started func()) error {
	callStarted(started)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	began := time.Now()
	for time.Since(began) < g.d {
		select {
		case <-ctx.Done():
			close(g.cancelled)
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if g.stallAfter == 0 || time.Since(began) < g.stallAfter {
			f.Write([]byte("chunk"))
		}
	}
	f.Close()
	err = g.fakeHV.Save(context.WithoutCancel(ctx), name, path, nil) // started: said above
	g.mu.Lock()
	g.ended = time.Now()
	g.mu.Unlock()
	return err
}

type extendRecorder struct {
	mu      sync.Mutex
	extends []time.Time
}

func (e *extendRecorder) Extend(time.Duration) {
	e.mu.Lock()
	e.extends = append(e.extends, time.Now())
	e.mu.Unlock()
}
func (e *extendRecorder) Say(string) {}

// between counts the extensions after from and before to.
func (e *extendRecorder) between(from, to time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, x := range e.extends {
		if x.After(from) && x.Before(to) {
			n++
		}
	}
	return n
}

// save_timeout never kills xl save: past it xenorder says so loudly and
// keeps waiting, extending the service's timeout while the image grows;
// once it stops growing for StallTimeout, it stops extending and says so.
// A cancelled context (a signal) does not cut it short either.
func TestSaveTimeoutNeverKillsTheSave(t *testing.T) {
	t.Parallel()
	for _, stall := range []bool{false, true} {
		t.Run(map[bool]string{false: "progressing", true: "stalled"}[stall], func(t *testing.T) {
			g := &growingSaveHV{fakeHV: newFake(), d: 400 * time.Millisecond, cancelled: make(chan struct{})}
			if stall {
				g.stallAfter = 100 * time.Millisecond
			}
			r, c := newRunner(t, stateConfig(t, "[guest.vm]\nstop_action = \"save\"\nsave_timeout = \"50ms\"\n"), g)
			rec := &extendRecorder{}
			r.Notify, r.StallTimeout, r.ProgressEvery = rec, 100*time.Millisecond, 10*time.Millisecond
			start(t, r)
			ctx, cancel := context.WithCancel(t.Context())
			plan, _ := r.PlanStop(ctx, nil, StopOptions{})
			time.AfterFunc(120*time.Millisecond, cancel) // a signal, mid-save
			began := time.Now()
			res := r.Stop(ctx, plan)
			select {
			case <-g.cancelled:
				t.Fatal("the save was cut short")
			default:
			}
			if statusOf(res)["vm"] != Done {
				t.Fatalf("%s", summary(res))
			}
			if !hasLine(c, "vm: xl save IS STILL RUNNING AFTER save_timeout = 50ms: NOT INTERRUPTING IT") {
				t.Errorf("not said loudly: %v", c.lines())
			}
			stalled := hasLine(c, "xl save HAS MADE NO PROGRESS FOR")
			if stalled != stall {
				t.Errorf("stall said: %v, want %v: %v", stalled, stall, c.lines())
			}
			// Past save_timeout, and past the stall, while xl save still
			// runs (what comes after it, the rest of the stop, may extend).
			late := began.Add(300 * time.Millisecond)
			g.mu.Lock()
			ended := g.ended
			g.mu.Unlock()
			if n := rec.between(late, ended); stall && n > 0 || !stall && n == 0 {
				t.Errorf("%d extensions between %s and the save's end at %s (stalled: %v)", n, late.Sub(began), ended.Sub(began), stall)
			}
		})
	}
}

// An undeclared domain named like a domid is stopped by its own domid,
// never by its name, which xl would read as another domain's domid.
func TestUndeclaredNumericNameStoppedByDomid(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, "[guest.a]\n", hv)
	hv.add("a", "-b----") // domid 1
	hv.add("1", "-b----") // domid 2, named like a's domid
	res := stop(t, r)
	for _, c := range hv.callsOf("shutdown") {
		if c.name == "1" {
			t.Errorf("xl shutdown 1: that is a's domid, not the domain named 1")
		}
	}
	if _, ok := hv.first("shutdown", "2"); !ok {
		t.Errorf("the domain named 1 was not stopped by its domid 2:\n%s", summary(res))
	}
}

// status lists every image, the kept-aside ones with their kind, size and
// age: none is forgotten.
func TestStatusListsEveryImage(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, stateConfig(t, "[guest.a]\n[guest.b]\n"), hv)
	writeImage(t, r, "a")
	recordSave(t, r, "a", 3)
	img := writeImage(t, r, "b") // no record
	for _, tag := range []string{"old", "failed", "stale"} {
		os.WriteFile(saves.AsideName(img, tag, time.Now()), []byte("kept"), 0o600)
	}
	rep, err := r.Status(t.Context(), StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, k := range rep.SaveImages {
		kinds = append(kinds, k.Guest+" "+k.Kind)
	}
	want := []string{"a restorable", "b unrecorded", "b failed", "b old", "b stale"}
	if !slices.Equal(kinds, want) {
		t.Errorf("images %v, want %v", kinds, want)
	}
	if p := rep.SaveImages[len(rep.SaveImages)-1].Path; !strings.Contains(p, ".save.stale-") {
		t.Errorf("stale image at %s", p)
	}
}

// slowRestoreHV restores slowly, and says so if its context ends first.
type slowRestoreHV struct {
	*fakeHV
	d         time.Duration
	cancelled chan struct{}
}

func (s *slowRestoreHV) Restore(ctx context.Context, path string, started func()) error {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		close(s.cancelled)
		return ctx.Err()
	}
	return s.fakeHV.Restore(ctx, path, started)
}

// A signal (a cancelled start) never cuts an xl restore short: the guest
// is restored, its image deleted, and it is left running as it is.
func TestInterruptedStartFinishesTheRestoreInFlight(t *testing.T) {
	t.Parallel()
	hv := &slowRestoreHV{fakeHV: newFake(), d: 300 * time.Millisecond, cancelled: make(chan struct{})}
	r, _ := newRunner(t, stateConfig(t, "[guest.fs]\nstart_timeout = \"100ms\"\n"), hv)
	img := writeImage(t, r, "fs")
	recordSave(t, r, "fs", 7)
	ctx, cancel := context.WithCancel(t.Context())
	plan, err := r.PlanStart(ctx, nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel) // mid-restore, and past start_timeout
	res := r.Start(ctx, plan)
	select {
	case <-hv.cancelled:
		t.Fatal("the restore was cut short")
	default:
	}
	if _, ok := hv.first("restore", "fs.save"); !ok {
		t.Fatalf("not restored:\n%s", summary(res))
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Errorf("the image stays after the restore succeeded: %v", err)
	}
}

// A save folder found open to others is made 0700, with a warning: its
// images hold guest memory.
func TestSaveFolderMadePrivate(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, c := newRunner(t, stateConfig(t, "[guest.fs]\nstop_action = \"save\"\n"), hv)
	dir := filepath.Dir(r.saves().Image("fs"))
	os.MkdirAll(dir, 0o755)
	os.Chmod(dir, 0o755)
	hv.add("fs", "-b----")
	if res := stop(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o700 {
		t.Errorf("the save folder is mode %#o, want 0700", m)
	}
	if !hasLine(c, "warning: the folder "+dir+" was mode 0755, open to others: made 0700") {
		t.Errorf("events %v", c.lines())
	}
}
