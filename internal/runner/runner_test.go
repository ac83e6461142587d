package runner

import (
	"context"
	"errors"
	"fmt"
	"github.com/xenorder/xenorder/internal/xl"
	"slices"
	"strings"
	"testing"
	"time"
)

const seed = `
[defaults]
max_parallel = 4
[guest.Domain-N]
[guest.opnsense]
depends_on = ["Domain-N"]
[guest.fileserver]
depends_on = ["opnsense"]
[guest.web]
depends_on = ["fileserver"]
[guest.mail]
depends_on = ["fileserver"]
[guest.db]
depends_on = ["fileserver"]
[guest.lonely]
[guest.backup]
autostart = false
[guest.late]
after = ["backup", "lonely"]
`

func start(t *testing.T, r *Runner, names ...string) *Result {
	t.Helper()
	plan, err := r.PlanStart(t.Context(), names, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Start(t.Context(), plan)
}

func stop(t *testing.T, r *Runner, names ...string) *Result {
	t.Helper()
	plan, err := r.PlanStop(t.Context(), names, StopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Stop(t.Context(), plan)
}

func newRunner(t *testing.T, src string, hv Hypervisor) (*Runner, *collector) {
	c := &collector{}
	r := New(mustConfig(t, src), hv, c.report)
	r.PollInterval = 5 * time.Millisecond
	r.VanishGrace = 50 * time.Millisecond
	return r, c
}

func statusOf(res *Result) map[string]Fate {
	m := map[string]Fate{}
	for _, o := range res.Outcomes {
		m[o.Guest] = o.Status
	}
	return m
}

func TestStartCreatesAfterDependenciesReady(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, seed, hv)
	res := start(t, r)
	if !res.OK() {
		t.Fatalf("start failed:\n%s", summary(res))
	}
	cfg := r.Config
	creates := hv.callsOf("create")
	if len(creates) != 8 { // every autostart guest; backup is not one
		t.Fatalf("%d creates: %v", len(creates), creates)
	}
	if _, ok := hv.first("create", "backup"); ok {
		t.Error("backup (autostart = false, nothing depends on it) was created")
	}
	for _, c := range creates {
		for _, e := range cfg.Graph.Dependencies(c.name) {
			dep, ok := hv.first("create", e.To)
			if !ok {
				continue // not part of the run (after = backup)
			}
			// The dependency was ready when its create returned and the
			// next xl list saw it; the dependent's create must begin after.
			if !c.begin.After(dep.end) {
				t.Errorf("%s created at %v before its %s %s was ready (%v)", c.name, c.begin, e.Kind, e.To, dep.end)
			}
		}
	}
}

func TestIndependentGuestsOverlapWithinMaxParallel(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("[defaults]\nmax_parallel = 3\n")
	for i := range 7 {
		fmt.Fprintf(&b, "[guest.g%d]\n", i)
	}
	hv := newFake()
	hv.createDelay = 60 * time.Millisecond
	r, _ := newRunner(t, b.String(), hv)
	res := start(t, r)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	if hv.peak != 3 {
		t.Errorf("peak concurrent creates %d, want exactly max_parallel 3", hv.peak)
	}
	// 7 guests, 3 at a time, 60ms each: three rounds, far from seven.
	if res.Elapsed > 7*60*time.Millisecond {
		t.Errorf("took %s: guests did not overlap", res.Elapsed)
	}
}

func TestWaitingGuestHoldsNoSlot(t *testing.T) {
	t.Parallel()
	// With one slot, a guest waiting for its dependency must not hold it,
	// or the dependency could never start.
	src := "[defaults]\nmax_parallel = 1\n[guest.a]\ndepends_on=[\"b\"]\n[guest.b]\ndepends_on=[\"c\"]\n[guest.c]\n"
	hv := newFake()
	r, _ := newRunner(t, src, hv)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	plan, _ := r.PlanStart(ctx, nil, StartOptions{})
	res := r.Start(ctx, plan)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	var order []string
	for _, c := range hv.callsOf("create") {
		order = append(order, c.name)
	}
	if !slices.Equal(order, []string{"c", "b", "a"}) {
		t.Errorf("create order %v", order)
	}
}

func TestFailureSkipsExactlyDependents(t *testing.T) {
	t.Parallel()
	hv := newFake()
	hv.createFail["fileserver"] = true
	r, c := newRunner(t, seed, hv)
	res := start(t, r)
	want := map[string]Fate{
		"Domain-N": Done, "opnsense": Done, "fileserver": Failed,
		"web": Skipped, "mail": Skipped, "db": Skipped, "lonely": Done, "late": Done,
	}
	if got := statusOf(res); !mapsEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	for _, o := range res.Outcomes {
		if o.Status == Skipped && o.Cause != "fileserver" {
			t.Errorf("%s skipped with cause %q", o.Guest, o.Cause)
		}
	}
	if sum := summary(res); strings.Count(sum, "cannot make domain") != 1 {
		t.Errorf("root cause not reported exactly once:\n%s", sum)
	}
	if !slices.Contains(c.lines(), "web: skipped: dependency fileserver failed") {
		t.Errorf("events: %v", c.lines())
	}
	if res.OK() {
		t.Error("a failed start reports OK")
	}
}

func TestSoftDependencyFailureDoesNotSkip(t *testing.T) {
	t.Parallel()
	src := "[guest.a]\nafter=[\"b\"]\n[guest.b]\n"
	hv := newFake()
	hv.createFail["b"] = true
	r, _ := newRunner(t, src, hv)
	res := start(t, r)
	if got := statusOf(res); got["a"] != Done || got["b"] != Failed {
		t.Errorf("statuses %v", got)
	}
	a, _ := hv.first("create", "a")
	b, _ := hv.first("create", "b")
	if !a.begin.After(b.end) {
		t.Error("a (after b) was created before b's attempt finished")
	}
}

func TestAlreadyRunningLeftAlone(t *testing.T) {
	t.Parallel()
	hv := newFake()
	hv.add("Domain-N", "-b----")
	r, c := newRunner(t, seed, hv)
	res := start(t, r, "opnsense")
	if got := statusOf(res); got["Domain-N"] != AlreadyDone || got["opnsense"] != Done || len(got) != 2 {
		t.Errorf("statuses %v", got)
	}
	if _, ok := hv.first("create", "Domain-N"); ok {
		t.Error("running Domain-N created again")
	}
	if !slices.Contains(c.lines(), "Domain-N: already running (domid 1)") {
		t.Errorf("events %v", c.lines())
	}
}

func TestStartPullsInHardDependencyWithoutAutostart(t *testing.T) {
	t.Parallel()
	src := "[guest.web]\ndepends_on = [\"backup\"]\n[guest.backup]\nautostart = false\n"
	hv := newFake()
	r, _ := newRunner(t, src, hv)
	plan, err := r.PlanStart(t.Context(), nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := stepOf(plan, "backup"); !ok || !strings.Contains(s.Note, "autostart = false, pulled in by depends_on") {
		t.Errorf("plan does not say backup is pulled in:\n%s", planText(plan))
	}
	if len(hv.callsOf("create")) != 0 {
		t.Error("plan created something")
	}
}

func TestStopOrderIsExactReverse(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, seed, hv)
	if res := start(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	res := stop(t, r)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	cfg := r.Config
	shutdowns := hv.callsOf("shutdown")
	if len(shutdowns) != 8 {
		t.Fatalf("shutdowns %v", shutdowns)
	}
	for _, s := range shutdowns {
		// every guest depending on s.name (either kind) was gone before s.name was asked
		for _, e := range cfg.Graph.Dependents(s.name) {
			dep, ok := hv.first("shutdown", e.To)
			if !ok {
				continue
			}
			if !s.begin.After(dep.end.Add(hv.shutdownDelay)) {
				t.Errorf("%s asked to stop at %v while its dependent %s still ran (asked %v)", s.name, s.begin, e.To, dep.begin)
			}
		}
	}
	if len(hv.callsOf("destroy")) != 0 {
		t.Error("destroy used although every guest shut down in time")
	}
}

func TestDestroyOnlyAfterStopTimeout(t *testing.T) {
	t.Parallel()
	src := "[guest.stubborn]\nstop_timeout = \"150ms\"\n[guest.fine]\n"
	hv := newFake()
	hv.ignoreShutdown["stubborn"] = true
	r, c := newRunner(t, src, hv)
	start(t, r)
	res := stop(t, r)
	sd, _ := hv.first("shutdown", "stubborn")
	ds, ok := hv.first("destroy", "stubborn")
	if !ok {
		t.Fatal("stubborn never destroyed")
	}
	if gap := ds.begin.Sub(sd.begin); gap < 150*time.Millisecond {
		t.Errorf("destroyed %s after the shutdown request, before its 150ms grace", gap)
	}
	if _, ok := hv.first("destroy", "fine"); ok {
		t.Error("fine was destroyed")
	}
	if got := statusOf(res); got["stubborn"] != Forced || got["fine"] != Done {
		t.Errorf("statuses %v", got)
	}
	if res.OK() {
		t.Error("a forced stop reports OK")
	}
	if !slices.Contains(c.lines(), "stubborn: still running after its grace period of 150ms: destroying") {
		t.Errorf("events %v", c.lines())
	}
}

func TestUndeclaredStopFirstStubAndDom0Untouched(t *testing.T) {
	t.Parallel()
	src := "[guest.opnsense]\n[guest.web]\n"
	hv := newFake()
	r, _ := newRunner(t, src, hv)
	start(t, r)
	hv.add("stray", "-b----")
	hv.add("opnsense-dm", "-b----")
	plan, err := r.PlanStop(t.Context(), nil, StopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Tiers) != 2 || len(plan.Tiers[0]) != 1 || plan.Tiers[0][0].Guest != "stray" || plan.Tiers[0][0].Note != "not in the config" {
		t.Fatalf("plan:\n%s", planText(plan))
	}
	r.Stop(t.Context(), plan)
	stray, _ := hv.first("shutdown", "stray")
	for _, g := range []string{"opnsense", "web"} {
		c, _ := hv.first("shutdown", g)
		if !c.begin.After(stray.end) {
			t.Errorf("%s asked to stop before the undeclared stray was gone", g)
		}
	}
	for _, n := range []string{"Domain-0", "opnsense-dm"} {
		if _, ok := hv.first("shutdown", n); ok {
			t.Errorf("%s was asked to shut down", n)
		}
	}
}

func TestStopNamedTakesDependentsFirst(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, seed, hv)
	start(t, r)
	plan, err := r.PlanStop(t.Context(), []string{"fileserver"}, StopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range plan.Steps() {
		names = append(names, s.Guest)
	}
	if want := []string{"db", "mail", "web", "fileserver"}; !slices.Equal(names, want) {
		t.Errorf("plan %v, want %v", names, want)
	}
	res := r.Stop(t.Context(), plan)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	for _, g := range []string{"Domain-N", "opnsense", "lonely"} {
		if _, ok := hv.first("shutdown", g); ok {
			t.Errorf("%s stopped although nothing drained depends on it", g)
		}
	}
}

func TestStopSkipsDependencyOfAStuckDependent(t *testing.T) {
	t.Parallel()
	src := "[guest.base]\n[guest.top]\ndepends_on=[\"base\"]\n"
	hv := newFake()
	r, _ := newRunner(t, src, hv)
	start(t, r)
	// top cannot be destroyed: simulate by making destroy leave it listed.
	hv.ignoreShutdown["top"] = true
	r.Config.Guests["top"].StopTimeout = 20 * time.Millisecond
	r.DestroyWait = 30 * time.Millisecond
	stuck := &stuckHV{fakeHV: hv, stuck: "top"}
	r.HV = stuck
	r.list = r.newLister() // forget what the old HV listed
	res := stop(t, r)
	if got := statusOf(res); got["top"] != Failed || got["base"] != Skipped {
		t.Errorf("statuses %v", got)
	}
	if _, ok := hv.first("shutdown", "base"); ok {
		t.Error("base was asked to stop while top, which depends on it, still ran")
	}
}

type stuckHV struct {
	*fakeHV
	stuck string
}

func (s *stuckHV) Destroy(ctx context.Context, name string, started func()) error {
	if name == s.stuck {
		s.record("destroy", name, time.Now())
		return nil // claims success, domain stays
	}
	return s.fakeHV.Destroy(ctx, name, started)
}

func TestPlanChangesNothing(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, seed, hv)
	p1, err := r.PlanStart(t.Context(), nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := r.PlanStop(t.Context(), nil, StopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range hv.calls {
		if c.op != "list" && c.op != "list-l" {
			t.Errorf("plan made a %s call", c.op)
		}
	}
	if len(p1.Tiers) != 4 || p1.Tiers[3][0].Guest != "db" {
		t.Errorf("start plan:\n%s", planText(p1))
	}
	if len(p2.Tiers) != 0 {
		t.Errorf("stop plan with nothing running:\n%s", planText(p2))
	}
}

func TestUnknownNameIsUsageError(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t, seed, newFake())
	_, err := r.PlanStart(t.Context(), []string{"filesrver"}, StartOptions{})
	var ue *UsageError
	if !asUsage(err, &ue) || !strings.Contains(err.Error(), `unknown guest "filesrver" (did you mean "fileserver"?)`) {
		t.Errorf("err %v", err)
	}
}

func TestListCallsDoNotGrowWithWaiters(t *testing.T) {
	t.Parallel()
	// Guests that stay paused for a while are all waited on at once; the
	// number of xl list calls over that time must not scale with them.
	for _, n := range []int{2, 20} {
		var b strings.Builder
		fmt.Fprintf(&b, "[defaults]\nmax_parallel = %d\n", n)
		for i := range n {
			fmt.Fprintf(&b, "[guest.g%d]\n", i)
		}
		hv := newFake()
		hv.createDelay = time.Millisecond
		r, _ := newRunner(t, b.String(), hv)
		r.PollInterval = 20 * time.Millisecond
		pausedFor := 200 * time.Millisecond
		pv := &pausedHV{fakeHV: hv, until: time.Now().Add(pausedFor)}
		r.HV = pv
		res := start(t, r)
		if !res.OK() {
			t.Fatal(summary(res))
		}
		calls := r.listCalls()
		// one per interval over the paused time, plus the plan's and the
		// first look of each guest (those coalesce too), with slack.
		limit := int(pausedFor/r.PollInterval) + 6
		if calls > limit {
			t.Errorf("%d guests waiting: %d xl list calls, want at most %d", n, calls, limit)
		}
	}
}

// pausedHV lists every guest as paused until a moment.
type pausedHV struct {
	*fakeHV
	until time.Time
}

func (p *pausedHV) List(ctx context.Context) ([]xl.Domain, error) {
	doms, err := p.fakeHV.List(ctx)
	if time.Now().Before(p.until) {
		for i := range doms {
			if doms[i].ID != 0 {
				doms[i].State = stateOf("--p---")
			}
		}
	}
	return doms, err
}

func mapsEqual(a, b map[string]Fate) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func asUsage(err error, target **UsageError) bool { return errors.As(err, target) }

func TestStatusNotOKWhenAnAutostartGuestIsDown(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, "[guest.a]\n[guest.b]\n", hv)
	start(t, r, "a")
	rep, err := r.Status(t.Context(), StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Guests) != 2 || rep.Guests[0].State != "blocked" || rep.Guests[1].State != "stopped" {
		t.Errorf("guests %+v", rep.Guests)
	}
	if rep.OK {
		t.Error("b (autostart) is down but status is OK")
	}
}

func TestGuestErrSaysTheGuestOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		guest string
		err   error
		want  string
	}{
		{"fileserver", errors.New("start fileserver: xl create /etc/xen/fileserver.cfg: exit status 3"), "xl create /etc/xen/fileserver.cfg: exit status 3"},
		{"db", fmt.Errorf("stop db: %w", errors.New("xl destroy db: exit status 1")), "xl destroy db: exit status 1"},
		{"web", errors.New("start fileserver: not ready"), "start fileserver: not ready"}, // another guest's: kept
		{"web", errors.New("not ready after 2m0s"), "not ready after 2m0s"},
		{"web", nil, "<nil>"},
	} {
		if got := GuestErr(tc.guest, tc.err); got != tc.want {
			t.Errorf("GuestErr(%q, %v) = %q, want %q", tc.guest, tc.err, got, tc.want)
		}
	}
}

func TestEventSeverity(t *testing.T) {
	t.Parallel()
	r, c := newRunner(t, "[guest.web]\n", newFake())
	r.emit("ready", "web", 3, nil, "ready after %s", "1s")
	r.emit("save", "web", 3, errors.New("exit 1"), "SAVE FAILED; shutting it down instead")
	r.warn("restore", "web", -1, "BOOTING IT FRESH instead")
	r.emit("fail", "web", 3, errors.New("exit 3"), "failed")
	var got []Severity
	for _, e := range c.events {
		got = append(got, e.Severity)
	}
	if want := []Severity{Info, Warning, Warning, Error}; !slices.Equal(got, want) {
		t.Errorf("severities %v, want %v", got, want)
	}
}
