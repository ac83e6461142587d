package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/xenstore"
	"github.com/xenorder/xenorder/internal/xl"
)

// DefaultMonitorGrace is how long a guest that powered off may stay listed
// before xenorder destroys it itself: on real Xen it shows --ps-- until the
// monitor process xl create left behind destroys it.
const DefaultMonitorGrace = 2 * time.Second

// DefaultPCIMonitorGrace is DefaultMonitorGrace for a guest with PCI
// passthrough: xl's monitor first hands its devices back, which took 10–15 s
// on real Xen in the lab (the guest listed ---s-- meanwhile), and an xl
// destroy of ours in the middle failed in do_pci_remove
// (xc_physdev_unmap_pirq: Invalid argument).
const DefaultPCIMonitorGrace = 20 * time.Second

// monitorGrace is how long xl's monitor gets to destroy this guest.
func (r *Runner) monitorGrace(name string) time.Duration {
	if g := r.Config.Guests[name]; g != nil && len(g.PCI) > 0 {
		return orDefault(r.PCIMonitorGrace, DefaultPCIMonitorGrace)
	}
	return orDefault(r.MonitorGrace, DefaultMonitorGrace)
}

// monitorReaps tells whether xl's monitor will destroy a guest listed in
// this state: it powered off and its on_poweroff destroys (the default; an
// undeclared domain is assumed so).
func (r *Runner) monitorReaps(name string, st xl.State) bool {
	if st.Reason != '-' {
		return false
	}
	if g := r.Config.Guests[name]; g != nil && g.OnPoweroff != "" {
		return strings.Contains(g.OnPoweroff, "destroy")
	}
	return true
}

// destroyRecheck is how long a failed xl destroy waits for the domain to
// turn out gone anyway.
const destroyRecheck = 5 * time.Second

// StubSuffix is what libxl appends to a guest's name to name its device
// model stub domain (libxl__stub_dm_name).
const StubSuffix = "-dm"

// isStub reports whether d is a device-model stub domain of a listed guest
// or a declared one. A stub is never stopped on its own: it goes with its
// guest.
func isStub(d xl.Domain, listed map[string]bool, declared func(string) bool) bool {
	base, ok := strings.CutSuffix(d.Name, StubSuffix)
	return ok && base != "" && (listed[base] || declared(base))
}

// StopOptions shape a stop plan.
type StopOptions struct {
	// Save saves the named guests instead of shutting them down (--save).
	Save bool
}

// Stop methods, as carried by Step.Method.
const (
	methodShutdown = config.StopShutdown
	methodSave     = config.StopSave
	methodMigrate  = config.StopMigrate
	methodDestroy  = config.StopDestroy
)

// PlanStop computes what `stop names...` would do given the current `xl
// list` and `xl list -l`. With no names: every listed guest with its own
// stop_action, and first every running domain the config does not name
// (never Domain-0, a stub domain or the xenstore domain). With names: those
// and, first, every listed guest that depends on them, shut down (or saved
// with opts.Save). Either way a domain that serves another's disks or nics
// (a driver domain) goes only after the domains it serves, whoever they are.
func (r *Runner) PlanStop(ctx context.Context, names []string, opts StopOptions) (*Plan, error) {
	if err := r.checkNames(names, "stop"); err != nil {
		return nil, err
	}
	look, err := r.lookForStop(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan stop: %w", err)
	}
	members := look.members(names)
	sg, err := look.stopGraph(members)
	if err != nil {
		return nil, fmt.Errorf("plan stop: %w", err)
	}
	return &Plan{Verb: "stop", Warnings: look.warnings, Tiers: r.stopSteps(look, sg, members, names, opts)}, nil
}

// stopLook is what a stop plan is made of: the running domains (xl list),
// who serves whose devices (xl list -l) and the xenstore domain.
type stopLook struct {
	cfg      *config.Config
	doms     []xl.Domain
	listed   map[string]xl.Domain
	names    map[string]bool // every listed name
	served   map[string][]served
	xsDom    int
	warnings []string
}

// lookForStop takes the three looks at once. (Not an errgroup: a failed
// xl list -l is tolerated, the plan then orders by the config alone, so
// its error must neither cancel nor fail the other looks.)
func (r *Runner) lookForStop(ctx context.Context) (*stopLook, error) {
	var (
		long    []xl.DomainConfig
		longErr error
		xsDom   int
		wg      sync.WaitGroup
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		long, longErr = r.HV.ListLong(ctx)
	}()
	go func() {
		defer wg.Done()
		xsDom = r.xenstoreDomID(ctx)
	}()
	snap, err := r.lister().fresh(ctx)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	l := &stopLook{cfg: r.Config, doms: snap.doms, listed: map[string]xl.Domain{}, names: map[string]bool{}, xsDom: xsDom}
	l.served, err = servedBy(long, longErr, snap)
	if err != nil {
		l.warnings = append(l.warnings, fmt.Sprintf("cannot read which domain serves which (%v): ordering by the config alone", err))
	}
	for _, d := range snap.doms {
		l.listed[d.Name] = d
		l.names[d.Name] = true
	}
	return l, nil
}

// declared: a guest of the config (not an external node).
func (l *stopLook) declared(n string) bool {
	return l.cfg.Guests[n] != nil && !l.cfg.Guests[n].External
}

// stoppable: a domain a stop may take down: never Domain-0, the xenstore
// domain, a dying "(null)" or a stub domain.
func (l *stopLook) stoppable(d xl.Domain) bool {
	return d.ID != 0 && d.Name != "Domain-0" && d.ID != l.xsDom && d.Name != "(null)" && !isStub(d, l.names, l.declared)
}

// members are the domains the stop takes down, each with why (for the
// plan's notes): with no names every stoppable listed domain (the
// undeclared ones unless undeclared = "leave"), else those named; then, to
// a fixpoint, every listed domain that depends on a member, through
// depends_on (declared guests) or by being served by it.
func (l *stopLook) members(names []string) map[string]string {
	members := map[string]string{}
	if len(names) == 0 {
		for _, d := range l.doms {
			if !l.stoppable(d) || (!l.declared(d.Name) && l.cfg.Defaults.Undeclared == config.UndeclaredLeave) {
				continue
			}
			members[d.Name] = ""
		}
	} else {
		for _, n := range names {
			members[n] = ""
		}
	}
	for changed := true; changed; {
		changed = false
		for _, n := range sortedKeys(members) {
			if l.declared(n) {
				for _, dep := range l.cfg.Graph.DependentClosure([]string{n}, graph.Hard) {
					if _, in := members[dep]; !in && !l.cfg.Guests[dep].External {
						if _, up := l.listed[dep]; up {
							members[dep], changed = "depends on "+n, true
						}
					}
				}
			}
			for _, x := range l.served[n] {
				if _, in := members[x.name]; !in && l.stoppable(l.listed[x.name]) {
					members[x.name], changed = fmt.Sprintf("served by %s (%s backend)", n, x.kind), true
				}
			}
		}
	}
	return members
}

// undeclaredFirst is the why of the edges that stop undeclared domains
// first; a step does not show them as its dependencies.
const undeclaredFirst = "undeclared, stopped first"

// stopGraph is the order among the members: an edge a → b means a waits
// until b is gone (b depends on a, or a serves b); undeclared domains go
// first, unless one of them waits, through the graph, for the declared
// guest (an undeclared driver domain).
func (l *stopLook) stopGraph(members map[string]string) (*graph.Graph, error) {
	sg := graph.New()
	for n := range members {
		sg.Add(n)
	}
	for n := range members {
		if !l.declared(n) {
			continue
		}
		for _, e := range l.cfg.Graph.Dependents(n) {
			if _, in := members[e.To]; in {
				sg.AddEdge(n, e.To, e.Kind, e.Kind.String())
			}
		}
	}
	for b, xs := range l.served {
		if _, in := members[b]; !in {
			continue
		}
		for _, x := range xs {
			if _, in := members[x.name]; in && x.name != b {
				sg.AddEdge(b, x.name, graph.Hard, x.kind+" backend")
			}
		}
	}
	for g := range members {
		if !l.declared(g) {
			continue
		}
		for u := range members {
			if l.declared(u) {
				continue
			}
			if !set(sg.DependencyClosure([]string{u}, graph.Hard, graph.Soft))[g] {
				sg.AddEdge(g, u, graph.Soft, undeclaredFirst)
			}
		}
	}
	if cyc := sg.Cycles(); len(cyc) > 0 {
		return nil, fmt.Errorf("the config's dependencies contradict which domain serves which: cycle %s", strings.Join(cyc[0], " → "))
	}
	return sg, nil
}

// stopSteps turns the stop graph into the plan's tiers: each member's
// domid, why, method (an undeclared domain gets the shutdown ladder
// only; --save saves; a bare stop uses each guest's stop_action) and what
// it waits for.
func (r *Runner) stopSteps(l *stopLook, sg *graph.Graph, members map[string]string, names []string, opts StopOptions) [][]Step {
	var tiers [][]Step
	for _, tier := range sg.StartTiers(sortedKeys(members)) {
		var steps []Step
		for _, n := range tier {
			d, ok := l.listed[n]
			s := Step{Guest: n, DomID: -1, Note: members[n], Method: methodShutdown}
			if ok {
				s.DomID = d.ID
			}
			policy := l.cfg.Defaults.Stop
			if l.declared(n) {
				policy = l.cfg.Guests[n].Stop
			} else if s.Note == "" {
				s.Note = "not in the config"
			}
			switch {
			case !l.declared(n):
				// Nothing knows its config, so nothing could restore or
				// account for it: the shutdown ladder only.
			case opts.Save:
				s.Method = methodSave
			case len(names) == 0:
				s.Method = policy.Action
			}
			s.Action = r.stopAction(d, ok, s.Method, policy)
			for _, e := range sg.Dependencies(n) {
				if e.Why != undeclaredFirst {
					s.Deps = append(s.Deps, e)
				}
			}
			s.waitFor = sg.Dependencies(n)
			steps = append(steps, s)
		}
		tiers = append(tiers, steps)
	}
	return tiers
}

// served is one domain that another serves.
type served struct {
	name string
	kind string // disk, nic, ...
}

// servedBy maps each backend domain (never Domain-0) to the domains whose
// devices it serves, from `xl list -l` (what it returned: long or err).
func servedBy(long []xl.DomainConfig, err error, snap snapshot) (map[string][]served, error) {
	if err != nil {
		return nil, err
	}
	byID := map[int]string{}
	for _, d := range snap.doms {
		byID[d.ID] = d.Name
	}
	out := map[string][]served{}
	for _, dc := range long {
		seen := map[string]bool{}
		for _, b := range dc.Backends {
			name := b.DomName
			if name == "" && b.DomID >= 0 {
				name = byID[b.DomID]
			}
			if name == "" || name == "Domain-0" || b.DomID == 0 || name == dc.Name || seen[name] {
				continue
			}
			seen[name] = true
			out[name] = append(out[name], served{name: dc.Name, kind: b.Kind})
		}
	}
	for _, xs := range out {
		sort.Slice(xs, func(i, j int) bool { return xs[i].name < xs[j].name })
	}
	return out, nil
}

// xenstoreDomID returns the domid of a xenstore stub domain
// (/tool/xenstored/domid), or -1 when there is none or it cannot be read.
// Through xenstored's socket when there is one, else xenstore-read.
func (r *Runner) xenstoreDomID(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if r.DialXenstore != nil {
		if xs, err := r.DialXenstore(ctx); err == nil {
			v, err := xs.Read(ctx, "/tool/xenstored/domid")
			xs.Close()
			if err == nil || xenstore.IsNotExist(err) {
				return domID(v)
			}
		}
	}
	out, err := xenstore.ReadProgram(ctx, r.Config.Defaults.XenstoreRead, "/tool/xenstored/domid")
	if err != nil {
		return -1
	}
	return domID(out)
}

// domID is a positive domid read from xenstore, or -1.
func domID(s string) int {
	id, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || id <= 0 {
		return -1
	}
	return id
}

func (r *Runner) stopAction(d xl.Domain, listed bool, method string, p config.StopPolicy) string {
	switch {
	case !listed:
		return "already stopped"
	case d.State.Dying:
		return "wait (dying)"
	case noOSLeft(d.State):
		return "destroy (shut down)"
	case suspended(d.State):
		return "leave (suspended)"
	}
	switch method {
	case methodSave:
		return "save to " + r.saves().Image(d.Name)
	case methodMigrate:
		return "migrate to " + p.MigrateTo
	case methodDestroy:
		return "destroy (stop_action)"
	}
	return "shutdown"
}

// noOSLeft reports whether a listed domain has shut down for good: powered
// off, crashed or killed by its watchdog. A suspended domain (being saved
// or migrated) keeps its OS, and one shut down to reboot or reset comes
// back: destroying either would lose it.
func noOSLeft(st xl.State) bool {
	return st.Shutdown && !st.Dying && (st.Reason == '-' || st.Reason == 'c' || st.Reason == 'w')
}

// xlIdent is how xl is told which domain: by name, unless xl would read
// the name as something else (all digits: a domid, maybe another guest's;
// a leading '-': an option). Only an undeclared domain can bear such a
// name (the config refuses it); it is then named by its domid.
func xlIdent(name string, domid int) string {
	if domid > 0 && (name == "" || name[0] == '-' || strings.Trim(name, "0123456789") == "") {
		return strconv.Itoa(domid)
	}
	return name
}

// suspended reports whether a listed domain is suspended: a save or
// migration is under way, or one was cut short. Its memory is only in the
// hypervisor and xl has no command to resume it: never destroy it.
func suspended(st xl.State) bool {
	return st.Shutdown && st.Reason == 's' && !st.Dying
}

// leaveSuspended ends a stop that leaves the domain suspended: untouched,
// reported by name with what to do; its dependencies stay up.
func (r *run) leaveSuspended(out *Outcome, finish func(Fate, error) *Outcome, err error) *Outcome {
	r.emit(StageSave, out.Guest, out.DomID, nil, "LEFT SUSPENDED, NOT DESTROYED: its memory is only in the hypervisor (%v). Let a save or migrate under way finish (ps -C xl); xl destroy %s would lose that memory", err, out.Guest)
	out.Status, out.Err, out.Elapsed = Suspended, fmt.Errorf("%w: left as it is, never destroyed; what it depends on stays up", err), r.since(out.Began)
	return out
}

// gone reports whether a stop outcome left the domain gone from this host.
func (s Fate) gone() bool {
	return s == Done || s == AlreadyDone || s == Forced || s == FellBack
}

// stopOne takes one domain down, in phases: look (is it listed?), its
// state (dying, shut down, suspended: whatever its method), its method
// (destroy, save, migrate), and the shutdown ladder, which is also where a
// failed save or migration falls back to.
func (r *run) stopOne(ctx context.Context, name, method string, p config.StopPolicy, grace time.Duration) *Outcome {
	began := r.now()
	out := &Outcome{Guest: name, Began: began, DomID: -1}
	finish := func(st Fate, err error) *Outcome {
		out.Status, out.Err, out.Elapsed = st, err, r.since(began)
		if st == Failed {
			r.emit(StageFail, name, out.DomID, err, "failed")
		}
		return out
	}
	r.setDoing(name, activity{doing: "looking (xl list)", domid: -1, since: began})
	snap, err := r.lister().recent(ctx, r.interval())
	if err != nil {
		return finish(Failed, fmt.Errorf("stop %s: %w", name, err))
	}
	d, ok := snap.find(name)
	if !ok {
		r.emit(StageCheck, name, -1, nil, "already stopped")
		return finish(AlreadyDone, nil)
	}
	out.DomID = d.ID
	if o := r.stopByState(ctx, d, out, finish, grace); o != nil {
		return o
	}
	var o *Outcome
	switch method {
	case methodDestroy:
		r.emit(StageDestroy, name, d.ID, nil, "destroying at once (stop_action = destroy)")
		return r.destroy(ctx, out, finish, Done)
	case methodSave:
		o = r.saveOrFallBack(ctx, d, out, finish, p)
	case methodMigrate:
		o = r.migrateOrFallBack(ctx, d, out, finish, p)
	}
	if o != nil {
		return o
	}
	return r.shutdownLadder(ctx, out, finish, p, grace)
}

// stopByState ends the stop of a domain whose state decides, whatever its
// method: dying (wait for it to go), shut down but listed (destroy the
// remains), suspended (leave it). nil: it runs; go on by its method.
func (r *run) stopByState(ctx context.Context, d xl.Domain, out *Outcome, finish func(Fate, error) *Outcome, grace time.Duration) *Outcome {
	name, began := out.Guest, out.Began
	switch {
	case d.State.Dying:
		r.emit(StageWait, name, d.ID, nil, "dying; waiting for it to go")
		r.setDoing(name, activity{doing: "waiting for the dying domain to go", domid: d.ID, since: began, limit: grace, limitName: "grace", say: true})
		if err := r.waitGone(ctx, name, began.Add(grace)); err != nil {
			return finish(Failed, fmt.Errorf("stop %s: dying domain %w", name, err))
		}
		r.emitAfter(StageStopped, r.since(began), name, d.ID, nil, "stopped after %s", Round(r.since(began)))
		return finish(Done, nil)
	case noOSLeft(d.State):
		r.emit(StageDestroy, name, d.ID, nil, "has shut down but is still listed (state %s): destroying, no OS is left", d.State.Raw)
		return r.destroy(ctx, out, finish, Done)
	case suspended(d.State):
		return r.leaveSuspended(out, finish, fmt.Errorf("%w (domid %d, state %s) before this stop: an xl save or migrate may still be under way", errSuspended, d.ID, d.State.Raw))
	}
	return nil
}

// saveOrFallBack saves the domain (stop_action = save, --save). nil: the
// save failed and left it running; it falls back to the shutdown ladder.
func (r *run) saveOrFallBack(ctx context.Context, d xl.Domain, out *Outcome, finish func(Fate, error) *Outcome, p config.StopPolicy) *Outcome {
	name, began := out.Guest, out.Began
	err := r.save(ctx, d, p)
	switch {
	case err == nil:
		r.emitAfter(StageSave, r.since(began), name, d.ID, nil, "saved to %s after %s", r.saves().Image(name), Round(r.since(began)))
		return finish(Done, nil)
	case errors.Is(err, errSuspended):
		return r.leaveSuspended(out, finish, fmt.Errorf("xl save did not finish: %w", err))
	}
	r.emit(StageSave, name, d.ID, err, "SAVE FAILED; shutting it down instead")
	out.fellBack = fmt.Errorf("save failed (%w); shut down instead", err)
	return nil
}

// migrateOrFallBack migrates the domain (stop_action = migrate). nil: the
// migration failed and left it here; it falls back to the shutdown ladder.
func (r *run) migrateOrFallBack(ctx context.Context, d xl.Domain, out *Outcome, finish func(Fate, error) *Outcome, p config.StopPolicy) *Outcome {
	name, began := out.Guest, out.Began
	r.emit(StageMigrate, name, d.ID, nil, "migrating to %s (xl migrate; save_timeout %s)", p.MigrateTo, p.SaveTimeout)
	r.say("migrating %s to %s", name, p.MigrateTo)
	err := r.inFlight(ctx, flight{guest: name, domid: d.ID, what: "xl migrate", timeout: p.SaveTimeout, timeoutName: "save_timeout", progress: r.xlLines("migrate", name)},
		func(ctx context.Context, started func()) error { return r.HV.Migrate(ctx, name, p.MigrateTo, started) })
	if err != nil {
		if err = r.afterFailedFlight(ctx, d, err); errors.Is(err, errSuspended) {
			return r.leaveSuspended(out, finish, fmt.Errorf("xl migrate did not finish: %w", err))
		}
	}
	if err == nil {
		// Success means the domid that left is gone. To this very
		// host (a localhost migration, as OSSTest does) the guest
		// runs on here under a new domid: that is the migrated guest,
		// never one to shut down.
		end, st := r.waitDown(ctx, name, d.ID, r.now().Add(orDefault(r.DestroyWait, DefaultDestroyWait)), true)
		switch end {
		case downGone:
			r.emitAfter(StageMigrate, r.since(began), name, d.ID, nil, "migrated to %s after %s", p.MigrateTo, Round(r.since(began)))
			return finish(Done, nil)
		case downRebooted:
			r.emitAfter(StageMigrate, r.since(began), name, st.dom.ID, nil, "migrated to %s after %s; %s is this host: the guest runs on here as domid %d (domid %d is gone)",
				p.MigrateTo, Round(r.since(began)), p.MigrateTo, st.dom.ID, d.ID)
			return finish(Done, nil)
		case downFailed:
			// Where the guest runs is unknown: never shut it down blind.
			return finish(Failed, fmt.Errorf("xl migrate to %s succeeded, but xl list then failed: %w", p.MigrateTo, st.err))
		default:
			err = fmt.Errorf("xl migrate succeeded but %s (domid %d) is still listed here", name, d.ID)
		}
	}
	r.emit(StageMigrate, name, d.ID, err, "MIGRATION FAILED; shutting it down instead")
	out.fellBack = fmt.Errorf("migration to %s failed (%w); shut down instead", p.MigrateTo, err)
	return nil
}

// shutdownLadder: xl shutdown (xl shutdown -F when the guest has no PV
// control interface and acpi_fallback is on), wait up to grace, then xl
// destroy. A guest that comes back under a new domid (it rebooted instead
// of powering off) is asked once more, with a grace period of its own; if
// it comes back again (its poweroff restarts it), it is destroyed after
// that grace. A suspended domain is never destroyed.
func (r *run) shutdownLadder(ctx context.Context, out *Outcome, finish func(Fate, error) *Outcome, p config.StopPolicy, grace time.Duration) *Outcome {
	name, began := out.Guest, out.Began
	done := Done
	if out.fellBack != nil {
		done = FellBack
	}
	stopped := func() *Outcome {
		r.emitAfter(StageStopped, r.since(began), name, out.DomID, nil, "stopped after %s", Round(r.since(began)))
		return finish(done, out.fellBack)
	}
	comebacks := 0
	var why string // why it was destroyed, beyond its grace period
	deadline, gone := r.askShutdown(ctx, out, p, grace)
	if gone {
		return stopped()
	}
	for {
		end, d := r.waitDown(ctx, name, out.DomID, deadline, comebacks < 2)
		switch end {
		case downGone:
			return stopped()
		case downFailed:
			return finish(Failed, fmt.Errorf("stop %s: %w", name, d.err))
		case downNoOS:
			r.emit(StageDestroy, name, out.DomID, nil, "has shut down (state %s): destroying the remains", d.dom.State.Raw)
			return r.destroy(ctx, out, finish, done)
		case downRebooted:
			comebacks++
			old := out.DomID
			out.DomID = d.dom.ID
			if comebacks == 1 {
				r.emit(StageShutdown, name, out.DomID, nil, "came back as domid %d instead of going (was domid %d: it rebooted, or its on_poweroff restarts it): asking it once more, with a grace period of its own", out.DomID, old)
				deadline, gone = r.askShutdown(ctx, out, p, grace)
				if gone {
					return stopped()
				}
				continue
			}
			why = fmt.Sprintf("it came back under a new domid after each shutdown request (domid %d, then %d): its on_poweroff restarts it", old, out.DomID)
			r.emit(StageShutdown, name, out.DomID, nil, "came back again as domid %d: %s; it is destroyed when this grace period ends", out.DomID, why)
			continue
		}
		// The grace period is over.
		if suspended(d.dom.State) {
			return r.leaveSuspended(out, finish, fmt.Errorf("%w (domid %d, state %s) at the end of its grace period", errSuspended, d.dom.ID, d.dom.State.Raw))
		}
		return r.destroyAfterGrace(ctx, out, finish, grace, why)
	}
}

// destroyAfterGrace is the ladder's last rung, once the grace period is
// over and the domain still runs: xl destroy, the outcome Forced, saying
// why (beyond its grace period) and what fell back before.
func (r *run) destroyAfterGrace(ctx context.Context, out *Outcome, finish func(Fate, error) *Outcome, grace time.Duration, why string) *Outcome {
	r.emit(StageDestroy, out.Guest, out.DomID, nil, "still running after its grace period of %s: destroying", grace)
	out.Err = fmt.Errorf("destroyed after its grace period of %s", grace)
	if why != "" {
		out.Err = fmt.Errorf("%w: %s", out.Err, why)
	}
	if out.fellBack != nil {
		out.Err = fmt.Errorf("%w; %w", out.fellBack, out.Err)
	}
	return r.destroy(ctx, out, finish, Forced)
}

// askShutdown sends the shutdown request and returns when its grace period
// ends: it counts from when the request was surely delivered, once xl
// shutdown has returned, so a guest always gets its whole grace.
func (r *run) askShutdown(ctx context.Context, out *Outcome, p config.StopPolicy, grace time.Duration) (deadline time.Time, gone bool) {
	name := out.Guest
	r.emit(StageShutdown, name, out.DomID, nil, "shutting down (grace period %s)", grace)
	r.say("shutting down %s (grace period %s)", name, grace)
	r.setDoing(name, activity{doing: "asking it to shut down (xl shutdown)", domid: out.DomID, since: r.now()})
	wait := orDefault(r.DestroyWait, DefaultDestroyWait)
	r.extend(xl.ShutdownTimeout + grace + 2*wait + notifyMargin)
	// The call is bounded by the xl client's own shutdown timeout.
	ident := xlIdent(name, out.DomID)
	err := r.launch(ctx, name, func(ctx context.Context, started func()) error { return r.HV.Shutdown(ctx, ident, false, started) })
	if err != nil && xl.IsNoPVControl(err) && p.ACPIFallback {
		r.emit(StageShutdown, name, out.DomID, nil, "no PV control interface (an HVM guest without PV drivers): pressing its ACPI power button instead (xl shutdown -F)")
		err = r.HV.Shutdown(ctx, ident, true, nil)
	}
	deadline = r.now().Add(grace)
	// "db: waiting for shutdown, 12s of 3m0s grace" every ProgressEvery.
	r.setDoing(name, activity{doing: "waiting for shutdown", domid: out.DomID, since: deadline.Add(-grace), limit: grace, limitName: "grace", say: true})
	if err != nil {
		if xl.IsNoSuchDomain(err) {
			r.emit(StageStopped, name, out.DomID, nil, "stopped (gone before the request)")
			return deadline, true
		}
		// The grace period keeps running: the guest may still go down.
		r.emit(StageShutdown, name, out.DomID, err, "shutdown request failed; waiting out the grace period")
	}
	return deadline, false
}

// downEnd is how a wait for a domain to go ended.
type downEnd int

const (
	downGone     downEnd = iota // no longer listed
	downNoOS                    // shut down for good but listed: destroy the remains
	downRebooted                // back under a new domid
	downGrace                   // the grace period is over
	downFailed                  // the wait itself failed
)

// downState is what the wait saw last.
type downState struct {
	dom xl.Domain
	err error
}

// waitDown waits until the domain of that domid is gone, or the deadline.
// Only what is seen after the call counts. With the watch, the first look
// waits for a death (or poll_interval): a guest is not gone the instant it
// is asked. Woken by a death (a poke), it asks xenstore first when the
// watch runs through xenstored's socket (no xl list for each death); else,
// and on every timed wake, xl list. With reboots set, a domain of that
// name under a new domid ends the wait; else the wait follows it.
func (r *run) waitDown(ctx context.Context, name string, domid int, deadline time.Time, reboots bool) (downEnd, downState) {
	began := r.now()
	seen := snapshot{at: began}
	var last downState
	last.dom.ID = domid
	gen := r.lister().generation()
	poked := false
	if r.watching.Load() {
		if err := r.lister().sleepOrPoke(ctx, untilDeadline(r.now(), r.interval(), deadline), gen); err != nil {
			return downFailed, downState{err: err}
		}
		poked = r.lister().generation() != gen
	}
	var shutAt time.Time // when it was first seen shut down
	for {
		gen = r.lister().generation()
		gone, known := false, false
		if poked {
			gone, known = r.xsGone(ctx, gen, domid, name)
		}
		if gone {
			return downGone, last
		}
		if !known {
			s, err := r.lister().get(ctx, seen.at)
			if err != nil {
				return downFailed, downState{err: err}
			}
			seen = s
			if s.err == nil {
				d, ok := s.find(name)
				switch {
				case !ok:
					return downGone, last
				case d.ID != domid && d.ID > 0:
					last.dom = d
					if reboots {
						return downRebooted, last
					}
					domid = d.ID
				case noOSLeft(d.State):
					last.dom = d
					if shutAt.IsZero() {
						shutAt = s.at
					}
					// xl's own monitor destroys a guest that powered off;
					// give it a moment rather than race it.
					if !r.monitorReaps(name, d.State) || s.at.Sub(shutAt) >= r.monitorGrace(name) {
						return downNoOS, last
					}
				default:
					last.dom = d
				}
			}
		}
		if !r.now().Before(deadline) {
			return downGrace, last
		}
		if err := r.lister().sleepOrPoke(ctx, untilDeadline(r.now(), r.deathCheck(r.since(began)), deadline), gen); err != nil {
			return downFailed, downState{err: err}
		}
		poked = r.lister().generation() != gen
	}
}

// destroy runs xl destroy and waits for the domain to vanish; success ends
// with status st.
func (r *run) destroy(ctx context.Context, out *Outcome, finish func(Fate, error) *Outcome, st Fate) *Outcome {
	name := out.Guest
	wait := orDefault(r.DestroyWait, DefaultDestroyWait)
	r.setDoing(name, activity{doing: "destroying (xl destroy)", domid: out.DomID, since: r.now(), limit: wait, say: true})
	dctx, cancel := context.WithTimeout(ctx, wait)
	ident := xlIdent(name, out.DomID)
	err := r.launch(dctx, name, func(ctx context.Context, started func()) error { return r.HV.Destroy(ctx, ident, started) })
	cancel()
	if err != nil && !xl.IsNoSuchDomain(err) {
		// The monitor process xl create left destroys a powered-off guest
		// itself; when both destroy at once, the later xl destroy fails
		// (xc_domain_destroy: No such process, rc=-3). Gone is gone.
		if werr := r.waitGone(ctx, name, r.now().Add(destroyRecheck)); werr != nil {
			return finish(Failed, fmt.Errorf("stop %s: %w", name, err))
		}
		r.emit(StageDestroy, name, out.DomID, nil, "gone: destroyed meanwhile by xl's own monitor (our xl destroy said: %v)", err)
	}
	if err := r.waitGone(ctx, name, r.now().Add(wait)); err != nil {
		return finish(Failed, fmt.Errorf("stop %s: destroyed but %w", name, err))
	}
	r.emit(StageDestroy, name, out.DomID, nil, "destroyed")
	if out.Err == nil {
		out.Err = out.fellBack
	}
	return finish(st, out.Err)
}
