package runner

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/xenorder/xenorder/internal/graph"
)

// execution is what a start or a stop brings to the one executor they
// share (execute): the walk, its launches, progress and outcomes are the
// same; what a step waits for, what lets its dependents go, and what it
// does or says when it does not run are the verb's.
type execution struct {
	verb  string // start, stop
	doing string // starting, stopping
	// waitFor: a step's edges to the steps that finish before it begins.
	waitFor func(Step) []graph.Edge
	// ok: an outcome that lets the hard dependents go.
	ok func(*Outcome) bool
	// held, if set: the outcome of a step not run on purpose, or nil.
	held func(Step) *Outcome
	// skipped: the outcome of a step not run because dep did not end
	// well; root is the guest whose failure is the root cause.
	skipped func(s Step, dep *Outcome, root string) *Outcome
	// interrupted: the outcome of a step not run because of err.
	interrupted func(s Step, err error) *Outcome
	run         func(Step) *Outcome
	// onDone, if set, hears of each outcome as it comes (after progress).
	onDone func(*Outcome)
	// after, if set, runs once every step has finished, with the
	// outcomes in plan order, before the run's time is taken.
	after func([]*Outcome)
}

// run is the state of one start or stop, made by Start and Stop: its
// launch turns, its memory account (a start's) and its progress. What
// lasts from run to run (the lister, the save images) is the Runner's,
// built in New.
type run struct {
	*Runner
	gate *launchGate    // turns to begin a guest's start or stop
	prio map[string]int // the guests' places in those turns
	mem  *memGate       // a start's memory account; nil for a stop
	prog progress
	// A stop's @releaseDomain watch (watch.go, xsdeaths.go).
	watching atomic.Bool // the watch runs
	xs       atomic.Pointer[xsLooker]
}

// execute walks the plan: each step once those it waits for have finished,
// holding one of max_parallel slots while it runs, the launches in turns
// by priority, with progress.
func (r *run) execute(ctx context.Context, plan *Plan, x execution) *Result {
	began := r.now()
	steps, order := plan.index()
	waitFor := func(n string) []string {
		var ps []string
		for _, e := range x.waitFor(steps[n]) {
			ps = append(ps, e.To)
		}
		return ps
	}
	rules := walkRules{
		waitFor:     func(n string) []graph.Edge { return x.waitFor(steps[n]) },
		ok:          x.ok,
		skipped:     func(n string, dep *Outcome, root string) *Outcome { return x.skipped(steps[n], dep, root) },
		interrupted: func(n string, err error) *Outcome { return x.interrupted(steps[n], err) },
		run:         func(n string) *Outcome { return x.run(steps[n]) },
		onDone: func(o *Outcome) {
			r.finished(o)
			if x.onDone != nil {
				x.onDone(o)
			}
		},
	}
	if x.held != nil {
		rules.held = func(n string) *Outcome { return x.held(steps[n]) }
	}
	r.beginLaunches(order, waitFor)
	r.beginProgress(x.doing, order)
	defer r.startTicker()()
	w := newWalker(r.Config.Defaults.MaxParallel)
	w.walk(ctx, r.byPriority(order), rules)
	outs := make([]*Outcome, 0, len(order))
	for _, n := range order {
		outs = append(outs, w.result(n))
	}
	if x.after != nil {
		x.after(outs)
	}
	return &Result{Verb: x.verb, Outcomes: outs, Elapsed: r.since(began)}
}

// Start executes a start plan. Each guest is created once every dependency
// in the run is ready (and every `after` guest in the run has finished),
// holding one of max_parallel slots from xl create until ready. A failed
// guest skips exactly its dependents. On ctx cancellation nothing new is
// launched; guests already created are left as they are.
func (r *Runner) Start(ctx context.Context, plan *Plan) *Result {
	return (&run{Runner: r, mem: &memGate{}}).start(ctx, plan) // one memory account per start
}

func (r *run) start(ctx context.Context, plan *Plan) *Result {
	return r.execute(ctx, plan, execution{
		verb: "start", doing: "starting",
		waitFor: func(s Step) []graph.Edge { return s.Deps },
		ok:      func(o *Outcome) bool { return o.Status == Done || o.Status == AlreadyDone },
		held: func(s Step) *Outcome {
			if !s.held {
				return nil
			}
			r.emit(StageHeld, s.Guest, -1, nil, "%s", s.Note)
			return &Outcome{Guest: s.Guest, Status: Held, DomID: -1}
		},
		skipped: func(s Step, _ *Outcome, root string) *Outcome {
			r.emit(StageSkip, s.Guest, -1, nil, "skipped: dependency %s failed", root)
			return &Outcome{Guest: s.Guest, Status: Skipped, Cause: root, Err: fmt.Errorf("dependency %s failed", root)}
		},
		interrupted: func(s Step, err error) *Outcome {
			r.emit(StageInterrupt, s.Guest, -1, nil, "not started: interrupted")
			return &Outcome{Guest: s.Guest, Status: NotRun, Err: err, DomID: s.DomID}
		},
		run: func(s Step) *Outcome { return r.startOne(ctx, r.Config.Guests[s.Guest], s) },
		onDone: func(o *Outcome) {
			if r.OnReady != nil && (o.Status == Done || o.Status == AlreadyDone || o.Status == FellBack) {
				r.OnReady(o.Guest)
			}
		},
	})
}

// Stop executes a stop plan: each domain once every domain that waits on
// it is gone. A guest gets its stop method; the shutdown ladder is xl
// shutdown, then xl destroy only after its stop_timeout. A guest whose hard
// dependent could not be stopped is left running. On ctx cancellation the
// stops in flight finish (an xl save is never abandoned midway); no new one
// starts.
func (r *Runner) Stop(ctx context.Context, plan *Plan) *Result {
	return (&run{Runner: r}).stop(ctx, plan)
}

func (r *run) stop(ctx context.Context, plan *Plan) *Result {
	// A death is seen at once through xenstore's @releaseDomain watch where
	// there is one; the waits poll either way.
	stopWatch := r.watchReleases(context.WithoutCancel(ctx))
	defer stopWatch()
	return r.execute(ctx, plan, execution{
		verb: "stop", doing: "stopping",
		waitFor: func(s Step) []graph.Edge { return s.waitFor },
		ok:      func(o *Outcome) bool { return o.Status.gone() },
		skipped: func(s Step, dep *Outcome, _ string) *Outcome {
			// Named: the dependent still running, whatever kept it so.
			err := fmt.Errorf("not stopped: %s, which depends on it, is still running", dep.Guest)
			r.emit(StageSkip, s.Guest, s.DomID, nil, "not stopped: %s, which depends on it, is still running", dep.Guest)
			return &Outcome{Guest: s.Guest, Status: Skipped, Cause: dep.Guest, Err: err, DomID: s.DomID}
		},
		interrupted: func(s Step, err error) *Outcome {
			r.emit(StageInterrupt, s.Guest, s.DomID, nil, "not stopped: interrupted")
			return &Outcome{Guest: s.Guest, Status: NotRun, Err: err, DomID: s.DomID}
		},
		run: func(s Step) *Outcome {
			policy := r.Config.Defaults.Stop
			grace := r.Config.Defaults.StopTimeout
			if g := r.Config.Guests[s.Guest]; g != nil && !g.External {
				policy, grace = g.Stop, g.StopTimeout
			}
			// A stop once begun is finished, whatever happens to ctx.
			return r.stopOne(context.WithoutCancel(ctx), s.Guest, s.Method, policy, grace)
		},
		after: func(outs []*Outcome) {
			var gone []*Outcome
			for _, o := range outs {
				if o.Status.gone() && o.Status != AlreadyDone && o.DomID > 0 {
					gone = append(gone, o)
				}
			}
			r.confirmGone(context.WithoutCancel(ctx), gone)
		},
	})
}
