package main

// The state-changing commands: start, stop, drain, resume, restart.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/render"
	"github.com/xenorder/xenorder/internal/runner"
	"github.com/xenorder/xenorder/internal/state"
	"github.com/xenorder/xenorder/internal/timeline"
)

func (e *env) store(cfg *config.Config) *state.Store {
	return &state.Store{Dir: cfg.Defaults.StateDir, Warn: e.warn}
}

// drainTimes reads the drained guests and when they were drained.
func drainTimes(st *state.Store) (map[string]time.Time, error) {
	d, err := st.Drains()
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(d))
	for n, rec := range d {
		out[n] = rec.Since
	}
	return out, nil
}

func cmdStart(ctx context.Context, e *env, fs *flag.FlagSet, names []string) error {
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	drained, err := drainTimes(e.store(cfg))
	if err != nil {
		return e.drainsUnknown("start", err)
	}
	// Naming a drained guest starts it and lifts its drain once it is ready.
	var lift []string
	for _, n := range names {
		if _, ok := drained[n]; ok {
			lift = append(lift, n)
		}
	}
	return e.start(ctx, cfg, r, fs, names, runner.StartOptions{Drained: drained, Lift: lift})
}

// start plans and runs a start under the lock, telling systemd, lifting
// drains as their guests become ready, and recording the run.
func (e *env) start(ctx context.Context, cfg *config.Config, r *runner.Runner, fs *flag.FlagSet, names []string, opts runner.StartOptions) error {
	if flagBool(fs, "dry-run") {
		plan, err := r.PlanStart(ctx, names, opts)
		if err != nil {
			return startErr(err)
		}
		printPlan(e, plan, false)
		return nil
	}
	if e.notify != nil && xendomainsActive(ctx) {
		return &exitErr{code: 2, err: errors.New(xendomainsMsg)}
	}
	l, err := e.lock(ctx, cfg, fs)
	if err != nil {
		return err
	}
	defer l.Release()
	r.Exclusive = true // only now may its looks judge saves that never ended
	// Meanwhile status shows where this run is.
	defer e.publishProgress(cfg, r)()
	// Under systemd, READY=1 goes out on every path from here: a start
	// process that exits before it fails the unit, and a failed unit's
	// stop would not run at shutdown.
	defer e.notify.Ready()
	plan, err := r.PlanStart(ctx, names, opts)
	if err != nil {
		e.notify.Say("start failed: " + err.Error())
		return startErr(err)
	}
	st := e.store(cfg)
	var mu sync.Mutex
	lifted := set(opts.Lift)
	r.OnReady = func(g string) {
		if !lifted[g] {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if err := st.ClearDrain(g); err != nil {
			e.log.Warn("could not lift the drain", "guest", g, "err", err)
		} else {
			e.out.printf("%s %s: drain lifted\n", time.Now().Format("15:04:05"), g)
		}
	}
	res := r.Start(ctx, plan)
	e.notify.Say(render.ResultLine(res))
	run := record(plan, res, e.host.now())
	if err := st.SaveRun("start", run); err != nil {
		e.log.Warn("could not record the run for status --timings", "err", err)
	}
	err = finish(e, res)
	if hasStatus(res, runner.Done, runner.FellBack) {
		e.out.printf("\nwhere the time went (xenorder status --timings, xenorder plot):\n")
		run.WriteText(e.stdout)
	}
	if dead := e.noGuestRuns(ctx, r, res); dead != nil {
		return dead
	}
	return err
}

// exitNoGuest is start's exit code when it was to start guests and none
// runs (doc.go: Exit codes).
const exitNoGuest = 5

// noGuestRuns is the error of a start that was to start guests and after
// which no domain but Domain-0 runs: every guest it started failed, or was
// skipped for a failed dependency. Exit 5, outside the unit's
// SuccessExitStatus=1, so that the unit fails and a host without guests
// shows in systemctl --failed and in monitoring. A failed unit's stop does
// not run at poweroff, so while any domain runs (another guest, one started
// by hand, a guest whose probe failed) the exit stays 1 and the unit
// active. An interrupted start (a signal: the host may be going down) and
// an xl list that fails keep 1 as well: nothing proves the host dead.
func (e *env) noGuestRuns(ctx context.Context, r *runner.Runner, res *runner.Result) error {
	if ctx.Err() != nil || !hasStatus(res, runner.Failed, runner.Skipped) ||
		hasStatus(res, runner.Done, runner.AlreadyDone, runner.FellBack, runner.NotRun) {
		return nil
	}
	doms, err := r.RunningDomUs(ctx)
	if err != nil {
		e.log.Warn("could not tell whether any guest runs", "err", err)
		return nil
	}
	if len(doms) > 0 {
		return nil
	}
	msg := "no guest runs: every guest this start was to start is down"
	e.notify.Say("start failed: " + msg + "; " + render.ResultLine(res))
	return &exitErr{code: exitNoGuest, err: fmt.Errorf("start: %s (see the summary above); exit %d: under systemd the unit fails", msg, exitNoGuest)}
}

// cmdRestore restores one guest from a save image that a plain start
// would not restore (one without a record: an older xenorder's, or
// xendomains'; or one whose save never recorded its end), then waits for
// its probes as start does, after starting what it depends on. The image
// is deleted once xl restore succeeded.
func cmdRestore(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return usageErr("restore: name one guest, and optionally its image (xenorder restore GUEST [IMAGE])")
	}
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	g := cfg.Guests[args[0]]
	if g == nil {
		return &runner.UsageError{Msg: "restore: " + config.UnknownGuest(args[0], cfg.Names(), cfg.File)}
	}
	if g.External {
		return &runner.UsageError{Msg: fmt.Sprintf("restore: %q is not a guest in %s", args[0], cfg.File)}
	}
	image := filepath.Join(cfg.Defaults.StateDir, "save", g.Name+".save")
	if len(args) == 2 {
		if image, err = filepath.Abs(args[1]); err != nil {
			return usageErr("restore: %v", err)
		}
	}
	if _, err := os.Stat(image); err != nil {
		return usageErr("restore %s: no image to restore: %v", g.Name, err)
	}
	drained, err := drainTimes(e.store(cfg))
	if err != nil {
		return e.drainsUnknown("restore", err)
	}
	lift := []string{}
	if _, ok := drained[g.Name]; ok {
		lift = append(lift, g.Name)
	}
	return e.start(ctx, cfg, r, fs, []string{g.Name}, runner.StartOptions{Drained: drained, Lift: lift, Restore: map[string]string{g.Name: image}})
}

// startErr gives a drained dependency its exit code (1: refused, not a
// usage error).
func startErr(err error) error {
	var de *runner.DrainedError
	if errors.As(err, &de) {
		return &exitErr{code: 1, err: err}
	}
	return err
}

func cmdStop(ctx context.Context, e *env, fs *flag.FlagSet, names []string) error {
	if flagBool(fs, "exec-stop-post") {
		if len(names) > 0 {
			return usageErr("stop --exec-stop-post stops every guest: it takes no names")
		}
		if os.Getenv("SERVICE_RESULT") == "" {
			return usageErr("stop --exec-stop-post is for xenorder.service's ExecStopPost, where systemd sets $SERVICE_RESULT; it is not set (a plain xenorder stop stops the guests)")
		}
		if act, why := unitCutShort(os.Getenv); !act {
			e.out.printf("%s: nothing is stopped; the guests that run keep running\n", why)
			return nil
		}
		if err := e.requireDom0("stop"); err != nil {
			return err
		}
	}
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	return e.stop(ctx, cfg, r, fs, names, nil)
}

// unitCutShort tells the unit's ExecStopPost whether to stop the guests,
// from what systemd passes it. systemd skips ExecStop when it cuts a start
// (or a reload) short, at poweroff, at systemctl stop, at a timeout or
// when it is killed, but always runs ExecStopPost: that stop stops the
// guests then. After a normal ExecStop it finds nothing left to stop. Only
// when the start failed on its own (a config error, damaged state: the
// unit failed with SERVICE_RESULT=exit-code) or never ran does it change
// nothing: the guests that run were not started by it, and nothing said
// the host is going down.
func unitCutShort(getenv func(string) string) (act bool, why string) {
	res := getenv("SERVICE_RESULT")
	switch res {
	case "success", "timeout", "signal", "core-dump", "watchdog", "oom-kill":
		return true, ""
	}
	return false, fmt.Sprintf("xenorder.service ended with SERVICE_RESULT=%s (EXIT_CODE=%s, EXIT_STATUS=%s): its start failed on its own or never ran",
		res, getenv("EXIT_CODE"), getenv("EXIT_STATUS"))
}

// stop plans and runs a stop under the lock. On a terminal, a stop of
// named guests that takes down others too (their dependents) shows the
// plan and asks first, unless --yes. beforeRun, if set, sees the plan
// before it runs (a drain records it there); shown says the plan was
// printed for the question.
func (e *env) stop(ctx context.Context, cfg *config.Config, r *runner.Runner, fs *flag.FlagSet, names []string,
	beforeRun func(plan *runner.Plan, shown bool) error) error {
	opts := runner.StopOptions{Save: flagBool(fs, "save")}
	if flagBool(fs, "dry-run") {
		plan, err := r.PlanStop(ctx, names, opts)
		if err != nil {
			return err
		}
		printPlan(e, plan, false)
		return nil
	}
	e.notify.Stopping()
	e.notify.Say("stopping: waiting for the lock")
	l, err := e.lock(ctx, cfg, fs)
	if err != nil {
		return err
	}
	defer l.Release()
	r.Exclusive = true // only now may its looks judge saves that never ended
	// Meanwhile status shows where this run is.
	defer e.publishProgress(cfg, r)()
	plan, err := r.PlanStop(ctx, names, opts)
	if err != nil {
		e.notify.Say("stop failed: " + err.Error())
		return err
	}
	for _, w := range plan.Warnings {
		e.out.printf("warning: %s\n", w)
	}
	shown := false
	if extra := alsoStopped(plan, names); len(extra) > 0 && !flagBool(fs, "yes") && e.terminal != nil && e.terminal() {
		if err := e.confirmStop(ctx, fs.Name(), plan, names, extra); err != nil {
			e.notify.Say(fs.Name() + ": not confirmed; nothing was done")
			return err
		}
		shown = true
	}
	if beforeRun != nil {
		if err := beforeRun(plan, shown); err != nil {
			return err
		}
	}
	res := r.Stop(ctx, plan)
	e.notify.Say(render.ResultLine(res))
	if err := e.store(cfg).SaveRun("stop", record(plan, res, e.host.now())); err != nil {
		e.log.Warn("could not record the run", "err", err)
	}
	return finish(e, res)
}

// cmdDrain stops the named guests and, first, every running guest that
// depends on them, and records them all as drained: a plain start, the one
// at boot included, leaves them down until resume. The plan is printed,
// then the same plan is executed.
func cmdDrain(ctx context.Context, e *env, fs *flag.FlagSet, names []string) error {
	if len(names) == 0 {
		return usageErr("drain: name the guests to drain (xenorder drain GUEST...)")
	}
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	return e.drain(ctx, cfg, r, fs, names)
}

func (e *env) drain(ctx context.Context, cfg *config.Config, r *runner.Runner, fs *flag.FlagSet, names []string) error {
	if !flagBool(fs, "dry-run") {
		e.out.printf("drain %s: the plan\n", strings.Join(names, " "))
	}
	return e.stop(ctx, cfg, r, fs, names, func(plan *runner.Plan, shown bool) error {
		if !shown {
			printPlan(e, plan, true)
		}
		var set []string
		for _, s := range plan.Steps() {
			if g := cfg.Guests[s.Guest]; g != nil && !g.External {
				set = append(set, s.Guest)
			}
		}
		slices.Sort(set)
		// Recorded before anything stops: killed midway, the drain holds.
		if err := e.store(cfg).AddDrains(set, "xenorder drain "+strings.Join(names, " "), time.Now()); err != nil {
			return fmt.Errorf("drain: nothing stopped: recording the drained guests: %w", err)
		}
		e.out.printf("drained (kept down through start, until xenorder resume): %s\n", strings.Join(set, ", "))
		return nil
	})
}

// cmdResume starts drained guests again: all, or the named ones and the
// drained guests that depend on them; each record is lifted once its guest
// is ready.
func cmdResume(ctx context.Context, e *env, fs *flag.FlagSet, names []string) error {
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	return e.resume(ctx, cfg, r, fs, names)
}

func (e *env) resume(ctx context.Context, cfg *config.Config, r *runner.Runner, fs *flag.FlagSet, names []string) error {
	drained, err := drainTimes(e.store(cfg))
	if err != nil {
		return e.drainsUnknown("resume", err)
	}
	for _, n := range names {
		if cfg.Guests[n] == nil {
			return &runner.UsageError{Msg: "resume: " + config.UnknownGuest(n, cfg.Names(), cfg.File)}
		}
	}
	var sel []string
	if len(names) == 0 {
		sel = state.SortedDrains(drainRecords(drained))
	} else {
		for _, n := range cfg.Graph.DependentClosure(names, graph.Hard) {
			if _, ok := drained[n]; ok || slices.Contains(names, n) {
				sel = append(sel, n)
			}
		}
	}
	if len(sel) == 0 {
		e.out.printf("resume: nothing is drained\n")
		return nil
	}
	return e.start(ctx, cfg, r, fs, sel, runner.StartOptions{Drained: drained, Lift: sel})
}

func drainRecords(m map[string]time.Time) map[string]state.Drain {
	out := make(map[string]state.Drain, len(m))
	for n, t := range m {
		out[n] = state.Drain{Since: t}
	}
	return out
}

// cmdRestart is drain, then resume, of the same guests.
func cmdRestart(ctx context.Context, e *env, fs *flag.FlagSet, names []string) error {
	if len(names) == 0 {
		return usageErr("restart: name the guests to restart (xenorder restart GUEST...)")
	}
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	if err := e.drain(ctx, cfg, r, fs, names); err != nil || flagBool(fs, "dry-run") {
		return err
	}
	if ctx.Err() != nil {
		return &exitErr{code: 1, err: errors.New("restart interrupted after the drain: the guests stay drained (xenorder resume)")}
	}
	return e.resume(ctx, cfg, r, fs, names)
}

// record turns a plan and its result into a timeline for status --timings
// and plot, its times on the wall clock as it reads now (wall): the
// outcomes' times are this process's time.Now readings, and the wall clock
// may have jumped since (status compares a guest's ready time with its own
// reading for its uptime).
func record(plan *runner.Plan, res *runner.Result, wall time.Time) runRecord {
	deps := map[string][]string{}
	for _, s := range plan.Steps() {
		for _, d := range s.Deps {
			deps[s.Guest] = append(deps[s.Guest], d.To)
		}
	}
	mono := time.Now()
	onWall := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return wall.Add(-mono.Sub(t))
	}
	run := runRecord{Run: timeline.Run{Verb: res.Verb, Ended: wall}, DomIDs: map[string]int{}}
	run.Began = run.Ended.Add(-res.Elapsed)
	for _, o := range res.Outcomes {
		if o.DomID >= 0 {
			run.DomIDs[o.Guest] = o.DomID
		}
		sp := timeline.Span{Guest: o.Guest, Deps: deps[o.Guest], Began: onWall(o.Began), Created: onWall(o.Created), Outcome: o.Status.String()}
		if sp.Deps == nil {
			sp.Deps = []string{}
		}
		switch o.Status {
		case runner.Done, runner.AlreadyDone, runner.FellBack, runner.Forced:
			sp.Ended = sp.Began.Add(o.Elapsed)
		}
		run.Spans = append(run.Spans, sp)
	}
	return run
}

func hasStatus(res *runner.Result, sts ...runner.Fate) bool {
	for _, o := range res.Outcomes {
		if slices.Contains(sts, o.Status) {
			return true
		}
	}
	return false
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
