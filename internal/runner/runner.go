package runner

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/saves"
	"github.com/xenorder/xenorder/internal/xl"
)

// Runner starts and stops the guests of one config.
type Runner struct {
	Config *config.Config
	HV     Hypervisor
	// Report receives every event as it happens, from many goroutines at
	// once; it must serialise its own output. Nil discards events.
	Report func(Event)

	PollInterval time.Duration // 0: the config's poll_interval
	DestroyWait  time.Duration // 0: DefaultDestroyWait
	VanishGrace  time.Duration // 0: DefaultVanishGrace
	// MonitorGrace and PCIMonitorGrace: how long xl's monitor gets to
	// destroy a guest that powered off (one with PCI passthrough); 0:
	// DefaultMonitorGrace, DefaultPCIMonitorGrace.
	MonitorGrace    time.Duration
	PCIMonitorGrace time.Duration
	// ProgressEvery is how often a waiting guest says what it waits for;
	// 0: DefaultProgressEvery.
	ProgressEvery time.Duration
	// SysfsRoot is where sysfs is mounted ("": /sys), for the dom0 driver
	// of a PCI device. Modprobe is the program that loads xen-pciback ("":
	// modprobe).
	SysfsRoot string
	Modprobe  string
	// FreeSpace reports the bytes free in a folder's filesystem; nil:
	// statfs.
	FreeSpace func(dir string) (int64, error)
	// OnReady, if set, hears of every guest of a start that is up and
	// ready (called from many goroutines).
	OnReady func(guest string)
	// Notify, if set, hears of progress and long waits.
	Notify Notifier
	// Publish, if set, hears where a start or stop is, from one goroutine:
	// as it begins, whenever what a guest does changes, every
	// ProgressEvery, and nil once the run ends (cmd/xenorder keeps it in
	// state_dir for `xenorder status`).
	Publish func(*Progress)
	// DialXenstore, if set, connects to xenstored for a stop: its
	// @releaseDomain watch says at once that a domain went, and
	// /local/domain says which, without an xl list per death. Nil, or a
	// failure to connect, falls back to the xenstore_watch program.
	DialXenstore func(ctx context.Context) (Xenstore, error)
	// Exclusive is set once this xenorder holds the host's lock: only then
	// may a look judge a save that never completed, or a restore that
	// never recorded its end (no other xenorder can have one in flight).
	Exclusive bool
	// StallTimeout is how long an xl save, restore or migrate past its
	// timeout may make no progress before the service manager's timeout
	// is no longer extended; 0: DefaultStallTimeout.
	StallTimeout time.Duration

	images *imageBook
	list   *lister
	clock  Clock
	// wall reads the host's wall clock, for what is stored or compared
	// with stored times (save records, the published progress, status's
	// now); nil: the clock's. Durations never come from it.
	wall func() time.Time
}

// extend asks the service manager for d more before a long wait.
func (r *Runner) extend(d time.Duration) {
	if r.Notify != nil {
		r.Notify.Extend(d)
	}
}

// notifyMargin is added to every extension: the time xenorder itself needs
// around a wait (an xl list, a destroy).
const notifyMargin = 30 * time.Second

// New returns a runner for cfg against hv, keeping time by the real clock
// unless an option (WithClock) says otherwise.
func New(cfg *config.Config, hv Hypervisor, report func(Event), opts ...Option) *Runner {
	r := &Runner{Config: cfg, HV: hv, Report: report, images: newImageBook(cfg), clock: RealClock{}}
	for _, o := range opts {
		o(r)
	}
	r.list = r.newLister()
	return r
}

// newLister is a lister of r.HV's xl list, whatever r.HV is when it lists.
func (r *Runner) newLister() *lister {
	return &lister{clock: r.clock, list: func(ctx context.Context) ([]xl.Domain, error) { return r.HV.List(ctx) }, onList: r.observe}
}

// lister is the xl list every look of every run shares.
func (r *Runner) lister() *lister { return r.list }

func (r *Runner) interval() time.Duration {
	if r.PollInterval > 0 {
		return r.PollInterval
	}
	if r.Config != nil && r.Config.Defaults.PollInterval > 0 {
		return r.Config.Defaults.PollInterval
	}
	return config.DefaultPollInterval
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// emit reports one step of one guest; step is the journal's STEP= field.
func (r *Runner) emit(step Stage, guest string, domid int, err error, format string, args ...any) {
	r.emitAfter(step, 0, guest, domid, err, format, args...)
}

// emitAfter emits an event that closes a step which took elapsed.
// Its severity: Error for a guest's failure (StageFail), Warning with an
// error, else Info.
func (r *Runner) emitAfter(step Stage, elapsed time.Duration, guest string, domid int, err error, format string, args ...any) {
	sev := Info
	switch {
	case step == StageFail:
		sev = Error
	case err != nil:
		sev = Warning
	}
	r.report(Event{Time: r.now(), Guest: guest, DomID: domid, Err: err, Msg: fmt.Sprintf(format, args...), Step: step, Elapsed: elapsed, Severity: sev})
}

// warn emits a Warning without an error: the run goes on otherwise than
// asked, on purpose (a fresh boot instead of a restore).
func (r *Runner) warn(step Stage, guest string, domid int, format string, args ...any) {
	r.report(Event{Time: r.now(), Guest: guest, DomID: domid, Msg: fmt.Sprintf(format, args...), Step: step, Severity: Warning})
}

func (r *Runner) report(e Event) {
	if r.Report != nil {
		r.Report(e)
	}
}

// UsageError is a request that names something the config does not have.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func (r *Runner) checkNames(names []string, verb string) error {
	var bad []string
	for _, n := range names {
		if g := r.Config.Guests[n]; g != nil && g.External && verb != "start" {
			bad = append(bad, fmt.Sprintf("%s is an external node: xenorder only waits for it, it never stops it", n))
		} else if g == nil {
			bad = append(bad, config.UnknownGuest(n, r.Config.Names(), r.Config.File))
		}
	}
	if len(bad) > 0 {
		return &UsageError{Msg: strings.Join(bad, "; ")}
	}
	return nil
}

// ---- start ----

// PlanStart computes what `start names...` would do given the current
// `xl list`: with no names, every autostart guest; with names, those. Either
// way, plus everything they depend on through depends_on.
func (r *Runner) PlanStart(ctx context.Context, names []string, opts StartOptions) (*Plan, error) {
	if err := r.checkNames(names, "start"); err != nil {
		return nil, err
	}
	seeds, run := r.startMembers(names)
	snap, err := r.lister().fresh(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan start: %w", err)
	}
	held, heldRoot := r.heldByDrains(run, snap, opts)
	if len(names) > 0 && len(heldRoot) > 0 {
		return nil, drainedRefusal(names, heldRoot, opts)
	}
	return &Plan{Verb: "start", Tiers: r.startSteps(run, seeds, snap, held, opts)}, nil
}

// startMembers are the guests a start was asked for (seeds: those named,
// or every autostart guest) and the run: the seeds and, through hard
// dependencies, what they need.
func (r *Runner) startMembers(names []string) (seeds, run []string) {
	cfg := r.Config
	seeds = names
	if len(seeds) == 0 {
		for _, n := range cfg.Names() {
			if cfg.Guests[n].Autostart {
				seeds = append(seeds, n)
			}
		}
	}
	return seeds, cfg.Graph.DependencyClosure(seeds, graph.Hard)
}

// heldByDrains: drained guests of the run stay down unless lifted (and not
// running), and so does whatever needs them; held says why, heldRoot which
// drained guest holds a guest that is not drained itself.
func (r *Runner) heldByDrains(run []string, snap snapshot, opts StartOptions) (held, heldRoot map[string]string) {
	cfg := r.Config
	inRun := set(run)
	lifted := set(opts.Lift)
	held, heldRoot = map[string]string{}, map[string]string{}
	for _, n := range run {
		if since, ok := opts.Drained[n]; ok && !lifted[n] {
			if _, up := snap.find(n); !up {
				held[n] = fmt.Sprintf("drained since %s, not started (xenorder resume %s)", since.Local().Format("2006-01-02 15:04"), n)
			}
		}
	}
	for _, n := range cfg.Graph.StartOrder(run) {
		if _, h := held[n]; h {
			continue
		}
		for _, e := range cfg.Graph.Dependencies(n) {
			if _, h := held[e.To]; h && e.Kind == graph.Hard && inRun[e.To] {
				root := e.To
				if rr, ok := heldRoot[e.To]; ok {
					root = rr
				}
				heldRoot[n] = root
				held[n] = fmt.Sprintf("not started: its dependency %s is drained (xenorder resume %s)", root, root)
				break
			}
		}
	}
	return held, heldRoot
}

// drainedRefusal: a start of named guests refuses when one of them needs
// a drained guest, saying which and how to lift it.
func drainedRefusal(names []string, heldRoot map[string]string, opts StartOptions) error {
	var refuse []string
	for _, n := range sortedKeys(heldRoot) {
		refuse = append(refuse, fmt.Sprintf("%s depends on %s, which is drained since %s", n, heldRoot[n], opts.Drained[heldRoot[n]].Local().Format("2006-01-02 15:04")))
	}
	roots := strings.Join(uniqueSorted(heldRoot), " ")
	return &DrainedError{Msg: strings.Join(refuse, "; ") + ": lift the drain with xenorder resume " + roots + ", or name it: xenorder start " + roots + " " + strings.Join(names, " ")}
}

// startSteps turns the run into the plan's tiers: what each guest's start
// does (create, restore, wait for an external node's probes, already
// running, blocked, held by a drain), its dependencies within the run, and
// why it is part of the run when it was not asked for.
func (r *Runner) startSteps(run, seeds []string, snap snapshot, held map[string]string, opts StartOptions) [][]Step {
	cfg := r.Config
	inRun, seed := set(run), set(seeds)
	pulledBy := map[string][]string{}
	for _, n := range run {
		for _, e := range cfg.Graph.Dependents(n) {
			if e.Kind == graph.Hard && inRun[e.To] {
				pulledBy[n] = append(pulledBy[n], e.To)
			}
		}
	}
	var tiers [][]Step
	for _, tier := range cfg.Graph.StartTiers(run) {
		var steps []Step
		for _, n := range tier {
			s := Step{Guest: n, Action: "create", DomID: -1}
			if cfg.Guests[n].External {
				s.Action = "wait for probes"
			} else if img, ok := opts.Restore[n]; ok {
				s.Action, s.Note, s.restoreFrom = "restore", "from "+img+" (xenorder restore)", img
			} else if v, _, _ := r.saves().Judge(n); v != saves.NoImage {
				s.Action, s.Note = r.imageAction(n, v)
			} else if p := r.pciStep(cfg.Guests[n]); p != "" {
				s.Note = "first " + p
			}
			for _, e := range cfg.Graph.Dependencies(n) {
				if inRun[e.To] {
					s.Deps = append(s.Deps, e)
				}
			}
			if d, ok := snap.find(n); ok && !cfg.Guests[n].External {
				s.DomID = d.ID
				s.Action = "already running"
				if bad := badStartState(d.State); bad != "" {
					s.Action = "blocked"
					s.Note = fmt.Sprintf("listed as %s: %s", d.State, bad)
				}
			}
			if why, ok := held[n]; ok {
				s.Action, s.Note, s.held = "held", why, true
			}
			if !seed[n] {
				why := "required by " + strings.Join(pulledBy[n], ", ")
				if !cfg.Guests[n].Autostart {
					why += "; autostart = false, pulled in by depends_on"
				}
				s.Note = joinNote(s.Note, why)
			}
			steps = append(steps, s)
		}
		tiers = append(tiers, steps)
	}
	return tiers
}

// StartOptions shape a start plan.
type StartOptions struct {
	// Drained maps drained guests to when they were drained: they stay
	// down, and so does whatever depends on them.
	Drained map[string]time.Time
	// Lift names drained guests this run starts anyway (start GUEST,
	// resume).
	Lift []string
	// Restore maps guests to the save image to restore them from, whatever
	// its record says (xenorder restore GUEST [IMAGE]).
	Restore map[string]string
}

// imageAction is a start plan's line for a guest with a save image.
func (r *Runner) imageAction(n string, v saves.Verdict) (action, note string) {
	img := r.saves().Image(n)
	switch v {
	case saves.Restorable:
		return "restore", "from " + img
	case saves.Incomplete:
		return "refuse", "the save to " + img + " never recorded its end: restore it (xenorder restore " + n + ") or move it aside"
	case saves.Interrupted:
		return "create", "a restore from " + img + " began and never ended: the image is stale"
	}
	return "create", img + " has no save record: not restored (xenorder restore " + n + " restores it)"
}

// DrainedError refuses to start a guest whose dependency is drained.
type DrainedError struct{ Msg string }

func (e *DrainedError) Error() string { return e.Msg }

func uniqueSorted(m map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range m {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// badStartState says why a listed domain cannot simply count as running.
func badStartState(s xl.State) string {
	switch {
	case s.Crashed():
		return "it crashed; destroy it (xl destroy) to start it again"
	case noOSLeft(s):
		return "it has shut down but is still listed; destroy it (xl destroy) to start it again"
	case s.Shutdown && s.Reason == 's' && !s.Dying:
		return "it is suspended (an xl save or migrate is under way?); let that finish, do not destroy it"
	}
	return ""
}

// waitGone polls until name is no longer listed or the deadline passes.
func (r *run) waitGone(ctx context.Context, name string, deadline time.Time) error {
	began := r.now()
	var seen snapshot
	for {
		gen := r.lister().generation()
		s, err := r.lister().get(ctx, seen.at)
		if err != nil {
			return err
		}
		seen = s
		if s.err == nil {
			if _, ok := s.find(name); !ok {
				return nil
			}
		}
		if !r.now().Before(deadline) {
			return fmt.Errorf("still listed after waiting until %s", deadline.Format(time.TimeOnly))
		}
		if err := r.lister().sleepOrPoke(ctx, untilDeadline(r.now(), r.deathCheck(r.since(began)), deadline), gen); err != nil {
			return err
		}
	}
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
