package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/xl"
)

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

// PlanStop computes what `stop names...` would do given the current `xl
// list`. With no names: every listed guest, and before them every running
// domain the config does not name (never Domain-0, never a stub domain).
// With names: those and, first, every listed guest that depends on them.
func (r *Runner) PlanStop(ctx context.Context, names []string) (*Plan, error) {
	if err := r.checkNames(names, "stop"); err != nil {
		return nil, err
	}
	cfg := r.Config
	snap, err := r.lister().fresh(ctx)
	if err == nil {
		err = snap.err
	}
	if err != nil {
		return nil, fmt.Errorf("plan stop: %w", err)
	}
	listed := map[string]bool{}
	for _, d := range snap.doms {
		listed[d.Name] = true
	}
	declared := func(n string) bool { return cfg.Guests[n] != nil && !cfg.Guests[n].External }
	plan := &Plan{Verb: "stop"}
	var members []string
	notes := map[string]string{}
	if len(names) == 0 {
		for _, d := range snap.doms {
			switch {
			case d.ID == 0 || d.Name == "Domain-0":
			case declared(d.Name):
				members = append(members, d.Name)
			case isStub(d, listed, declared):
			case d.Name == "(null)" || d.State.Dying:
				// a dying domain without a name is already going
			default:
				plan.Undeclared = append(plan.Undeclared, Step{
					Guest: d.Name, Action: stopAction(d, true), DomID: d.ID, Note: "not in the config",
				})
			}
		}
	} else {
		seeds := set(names)
		for _, n := range cfg.Graph.DependentClosure(names, graph.Hard) {
			if cfg.Guests[n].External {
				continue // never stopped; xenorder only waits for it
			}
			if seeds[n] || listed[n] {
				members = append(members, n)
				if !seeds[n] {
					notes[n] = "depends on " + strings.Join(r.dependsOnAmong(n, names), ", ")
				}
			}
		}
	}
	in := set(members)
	for _, tier := range cfg.Graph.StopTiers(members) {
		var steps []Step
		for _, n := range tier {
			d, ok := snap.find(n)
			s := Step{Guest: n, Action: stopAction(d, ok), DomID: -1, Note: notes[n]}
			if ok {
				s.DomID = d.ID
			}
			for _, e := range cfg.Graph.Dependents(n) {
				if in[e.To] {
					s.Deps = append(s.Deps, e)
				}
			}
			steps = append(steps, s)
		}
		plan.Tiers = append(plan.Tiers, steps)
	}
	return plan, nil
}

// dependsOnAmong lists which of targets n depends on, transitively.
func (r *Runner) dependsOnAmong(n string, targets []string) []string {
	deps := set(r.Config.Graph.DependencyClosure([]string{n}, graph.Hard))
	var out []string
	for _, t := range targets {
		if deps[t] {
			out = append(out, t)
		}
	}
	return out
}

func stopAction(d xl.Domain, listed bool) string {
	switch {
	case !listed:
		return "already stopped"
	case d.State.Dying:
		return "wait (dying)"
	case d.State.Shutdown:
		return "destroy (shut down)"
	}
	return "shutdown"
}

// Stop executes a stop plan: undeclared domains first, then each guest
// once every guest depending on it (depends_on or after) is gone. A guest
// gets `xl shutdown`, and `xl destroy` only after its stop_timeout. A guest
// whose hard dependent could not be stopped is left running. On ctx
// cancellation the stops in flight finish; no new one starts.
func (r *Runner) Stop(ctx context.Context, plan *Plan) *Result {
	began := time.Now()
	steps := map[string]Step{}
	var order, undeclared []string
	for _, s := range plan.Steps() {
		steps[s.Guest] = s
		order = append(order, s.Guest)
	}
	for _, s := range plan.Undeclared {
		undeclared = append(undeclared, s.Guest)
	}
	isUndeclared := set(undeclared)
	w := newWalker(r.Config.Defaults.MaxParallel)
	waitFor := func(n string) []string {
		if isUndeclared[n] {
			return nil
		}
		ps := append([]string{}, undeclared...)
		for _, e := range steps[n].Deps {
			ps = append(ps, e.To)
		}
		return ps
	}
	gate := func(n string) *Outcome {
		for _, e := range steps[n].Deps {
			dep := w.result(e.To)
			if e.Kind != graph.Hard || dep.Status == Done || dep.Status == AlreadyDone || dep.Status == Forced {
				continue
			}
			err := fmt.Errorf("not stopped: %s, which depends on it, is still running", dep.Guest)
			r.emit(n, steps[n].DomID, nil, "not stopped: dependent %s is still running", dep.Guest)
			return &Outcome{Guest: n, Status: Skipped, Cause: dep.Guest, Err: err, DomID: steps[n].DomID}
		}
		if ctx.Err() != nil {
			r.emit(n, steps[n].DomID, nil, "not stopped: interrupted")
			return &Outcome{Guest: n, Status: NotRun, Err: ctx.Err(), DomID: steps[n].DomID}
		}
		return nil
	}
	run := func(n string) *Outcome {
		timeout := r.Config.Defaults.StopTimeout
		if g := r.Config.Guests[n]; g != nil {
			timeout = g.StopTimeout
		}
		// A stop once begun is finished, whatever happens to ctx.
		return r.stopOne(context.WithoutCancel(ctx), n, timeout)
	}
	w.walk(ctx, order, waitFor, gate, run)
	res := &Result{Verb: "stop", Elapsed: time.Since(began)}
	for _, n := range order {
		res.Outcomes = append(res.Outcomes, w.result(n))
	}
	return res
}

// stopOne takes one domain down: shutdown, wait up to grace, destroy.
func (r *Runner) stopOne(ctx context.Context, name string, grace time.Duration) *Outcome {
	began := time.Now()
	out := &Outcome{Guest: name, Began: began, DomID: -1}
	finish := func(st Status, err error) *Outcome {
		out.Status, out.Err, out.Elapsed = st, err, time.Since(began)
		if st == Failed {
			r.emit(name, out.DomID, err, "failed")
		}
		return out
	}
	snap, err := r.lister().recent(ctx, r.interval())
	if err == nil {
		err = snap.err
	}
	if err != nil {
		return finish(Failed, fmt.Errorf("stop %s: %w", name, err))
	}
	d, ok := snap.find(name)
	if !ok {
		r.emit(name, -1, nil, "already stopped")
		return finish(AlreadyDone, nil)
	}
	out.DomID = d.ID
	deadline := began.Add(grace)
	switch {
	case d.State.Dying:
		r.emit(name, d.ID, nil, "dying; waiting for it to go")
		if err := r.waitGone(ctx, name, deadline); err != nil {
			return finish(Failed, fmt.Errorf("stop %s: dying domain %w", name, err))
		}
		r.emit(name, d.ID, nil, "stopped after %s", round(time.Since(began)))
		return finish(Done, nil)
	case d.State.Shutdown:
		r.emit(name, d.ID, nil, "has shut down but is still listed (state %s): destroying, no OS is left", d.State.Raw)
		return r.destroy(ctx, out, finish, Done)
	}

	r.emit(name, d.ID, nil, "shutting down (grace period %s)", grace)
	// The call is bounded by the xl client's own shutdown timeout. The
	// grace period counts from when the request was surely delivered: once
	// xl shutdown has returned. So a guest always gets its whole grace.
	err = r.HV.Shutdown(ctx, name, false)
	deadline = time.Now().Add(grace)
	if err != nil {
		if xl.IsNoSuchDomain(err) {
			r.emit(name, d.ID, nil, "stopped (gone before the request)")
			return finish(Done, nil)
		}
		// The grace period keeps running: the guest may still go down.
		r.emit(name, d.ID, err, "shutdown request failed; waiting out the grace period")
	}
	var seen snapshot
	for {
		s, err := r.lister().get(ctx, seen.at)
		if err != nil {
			return finish(Failed, fmt.Errorf("stop %s: %w", name, err))
		}
		seen = s
		if s.err == nil {
			d, ok := s.find(name)
			switch {
			case !ok:
				r.emit(name, out.DomID, nil, "stopped after %s", round(time.Since(began)))
				return finish(Done, nil)
			case d.State.Shutdown && !d.State.Dying:
				r.emit(name, d.ID, nil, "has shut down (state %s): destroying the remains", d.State.Raw)
				return r.destroy(ctx, out, finish, Done)
			}
		}
		if !time.Now().Before(deadline) {
			break
		}
		if err := sleep(ctx, min(r.interval(), time.Until(deadline)+time.Millisecond)); err != nil {
			return finish(Failed, err)
		}
	}
	r.emit(name, out.DomID, nil, "still running after its grace period of %s: destroying", grace)
	out.Err = fmt.Errorf("destroyed after its grace period of %s", grace)
	return r.destroy(ctx, out, finish, Forced)
}

// destroy runs xl destroy and waits for the domain to vanish; success ends
// with status st.
func (r *Runner) destroy(ctx context.Context, out *Outcome, finish func(Status, error) *Outcome, st Status) *Outcome {
	name := out.Guest
	wait := orDefault(r.DestroyWait, DefaultDestroyWait)
	dctx, cancel := context.WithTimeout(ctx, wait)
	err := r.HV.Destroy(dctx, name)
	cancel()
	if err != nil && !xl.IsNoSuchDomain(err) {
		return finish(Failed, fmt.Errorf("stop %s: %w", name, err))
	}
	if err := r.waitGone(ctx, name, time.Now().Add(wait)); err != nil {
		return finish(Failed, fmt.Errorf("stop %s: destroyed but %w", name, err))
	}
	r.emit(name, out.DomID, nil, "destroyed")
	return finish(st, out.Err)
}
