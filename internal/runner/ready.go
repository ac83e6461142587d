package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/probe"
	"github.com/xenorder/xenorder/internal/saves"
	"github.com/xenorder/xenorder/internal/xl"
)

// DefaultProgressEvery is how often a guest that is still being waited on
// says what it waits for.
const DefaultProgressEvery = 5 * time.Second

// startOne brings one node up, in phases: look (is it listed already?),
// restore (from a save image it may be restored from), create, and wait
// until it runs and its probes pass. An external node only waits.
func (r *run) startOne(ctx context.Context, g *config.Guest, step Step) *Outcome {
	began := r.now()
	out := &Outcome{Guest: g.Name, Began: began, DomID: -1}
	fail := func(err error) *Outcome {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) && out.Created.IsZero() {
			// Interrupted before any xl create or restore (waiting for
			// memory, or for an old domain of its name to go).
			out.Status, out.Err, out.Elapsed = NotRun, fmt.Errorf("start %s: interrupted: %w", g.Name, err), r.since(began)
			r.emit(StageInterrupt, g.Name, out.DomID, nil, "not started: interrupted")
			return out
		}
		out.Status, out.Err, out.Elapsed = Failed, fmt.Errorf("start %s: %w", g.Name, err), r.since(began)
		r.emit(StageFail, g.Name, out.DomID, err, "failed")
		return out
	}
	if ctx.Err() != nil {
		out.Status, out.Err, out.DomID = NotRun, ctx.Err(), step.DomID
		return out
	}
	// The whole start, from the first look until ready, is bounded; but an
	// xl restore in flight is never cut short.
	deadline := began.Add(g.StartTimeout)
	r.extend(g.StartTimeout + notifyMargin)
	r.setDoing(g.Name, activity{doing: "looking (xl list)", domid: -1, since: began, limit: g.StartTimeout, limitName: "start_timeout"})
	target := probe.Target{Name: g.Name, Since: began}
	fresh, restored := true, false // fresh: the probes that need to see the create apply
	if !g.External {
		running, err := r.lookBeforeStart(ctx, g, out, deadline)
		if err != nil {
			return fail(err)
		}
		if running {
			fresh = false
		} else {
			restored, err = r.restoreStep(ctx, g, step, out)
			if err != nil {
				return fail(err)
			}
		}
		if !running && !restored {
			release, err := r.createStep(ctx, g, out, &target, deadline)
			if release != nil {
				defer release()
			}
			if errors.Is(err, errCreatedMeanwhile) {
				fresh = false
			} else if err != nil {
				return fail(err)
			}
		}
	}
	probes := readyProbes(g, fresh, restored)
	if restored && !out.Created.Before(deadline) {
		// The restore ran past start_timeout (it is never cut short): the
		// probes get a start_timeout of their own.
		deadline = out.Created.Add(g.StartTimeout)
	}
	w := &readyWait{r: r, g: g, deadline: deadline, began: began, target: target, probes: probes, announced: !fresh}
	// After a create, only what xl list says after it counts.
	w.seen.at = out.Created
	if out.DomID >= 0 {
		w.last.ID = out.DomID
	}
	d, err := w.wait(ctx)
	if d.ID > 0 { // 0: not seen in xl list yet
		out.DomID = d.ID
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return r.interruptedWaiting(ctx, w, out, fresh, restored)
	case err != nil:
		return fail(err)
	}
	return r.ready(g, out, d, len(probes) > 0, fresh, restored)
}

// readyProbes are the probes a start waits for: after a create all of
// them; for a guest found running, not those that need to see its boot
// (console, delay); for a restored guest, which did not boot, not the
// xenstore keys it wrote before its save either.
func readyProbes(g *config.Guest, fresh, restored bool) []config.Probe {
	switch {
	case restored:
		return withoutKinds(g.Probes, probe.KindConsole, probe.KindDelay, probe.KindXenstore)
	case !fresh:
		return withoutKinds(g.Probes, probe.KindConsole, probe.KindDelay)
	}
	return g.Probes
}

// interruptedWaiting is the outcome of a guest interrupted while its start
// waited for it: not run, with the state it was left in.
func (r *run) interruptedWaiting(ctx context.Context, w *readyWait, out *Outcome, fresh, restored bool) *Outcome {
	g := w.g
	out.Status, out.Err, out.Elapsed = NotRun, fmt.Errorf("start %s: interrupted while waiting: %w", g.Name, ctx.Err()), r.since(out.Began)
	if !g.External && w.last.ID <= 0 {
		// Created, never seen: one more look, for the summary to say
		// what runs (its domid). A look changes nothing.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalLookTimeout)
		_ = w.look(lctx) // what it finds, or not, is said below
		cancel()
		if w.last.ID > 0 {
			out.DomID = w.last.ID
		}
	}
	out.Left = w.left(fresh, restored)
	r.emit(StageInterrupt, g.Name, out.DomID, nil, "interrupted while waiting: %s", out.Left)
	return out
}

// ready is the outcome of a guest that runs and passed its probes: done
// (restored, or by a fallback), or already done when it ran before.
func (r *run) ready(g *config.Guest, out *Outcome, d xl.Domain, probed, fresh, restored bool) *Outcome {
	out.Status, out.Elapsed = Done, r.since(out.Began)
	if restored {
		r.emitAfter(StageRestore, out.Elapsed, g.Name, d.ID, nil, "restored and ready after %s", Round(out.Elapsed))
		return out
	}
	if out.fellBack != nil {
		out.Status, out.Err = FellBack, out.fellBack
	}
	if !fresh && !probed {
		out.Status = AlreadyDone
		return out
	}
	if g.External {
		r.emitAfter(StageReady, out.Elapsed, g.Name, -1, nil, "ready after %s", Round(out.Elapsed))
	} else {
		r.emitAfter(StageReady, out.Elapsed, g.Name, d.ID, nil, "ready after %s (domid %d)", Round(out.Elapsed), d.ID)
	}
	if !fresh {
		out.Status = AlreadyDone
	}
	return out
}

// lookBeforeStart looks for the guest in xl list: running already (a
// previous run may have created it seconds ago), dying (wait for it to go),
// or in a state nothing should start over.
func (r *run) lookBeforeStart(ctx context.Context, g *config.Guest, out *Outcome, deadline time.Time) (running bool, err error) {
	snap, err := r.lister().recent(ctx, r.interval())
	if err != nil {
		return false, err
	}
	d, ok := snap.find(g.Name)
	if !ok {
		return false, nil
	}
	switch bad := badStartState(d.State); {
	case d.State.Dying:
		r.emit(StageWait, g.Name, d.ID, nil, "an old domain of this name is dying (domid %d); waiting for it to go", d.ID)
		r.setDoing(g.Name, activity{doing: "waiting for an old domain of this name to go", domid: -1, since: deadline.Add(-g.StartTimeout), limit: g.StartTimeout, limitName: "start_timeout", say: true})
		return false, r.waitGone(ctx, g.Name, deadline)
	case bad != "":
		out.DomID = d.ID
		return false, fmt.Errorf("domain %s (domid %d) is listed as %s: %s", g.Name, d.ID, d.State, bad)
	}
	r.emit(StageCheck, g.Name, d.ID, nil, "already running (domid %d)", d.ID)
	out.DomID = d.ID
	return true, nil
}

// errCreatedMeanwhile: xl create found the domain already there.
var errCreatedMeanwhile = errors.New("created by someone else meanwhile")

// createStep runs xl create, once the guest's PCI devices are assignable
// and its memory is admitted; release gives the memory account back.
func (r *run) createStep(ctx context.Context, g *config.Guest, out *Outcome, target *probe.Target, deadline time.Time) (release func(), err error) {
	if err := r.preparePCI(ctx, g); err != nil {
		return nil, err
	}
	release, err = r.admit(ctx, g, deadline)
	if err != nil {
		return nil, err
	}
	target.ConsoleOffset = probe.ConsoleSize(r.Config.Defaults.ConsoleLogDir, g.Name)
	r.emit(StageCreate, g.Name, -1, nil, "creating (xl create %s)", g.XLConfig)
	r.say("creating %s", g.Name)
	r.setDoing(g.Name, activity{doing: "creating (xl create)", domid: -1, since: deadline.Add(-g.StartTimeout), limit: g.StartTimeout, limitName: "start_timeout", say: true})
	// A create in flight is not abandoned on interruption: that would
	// leave a half-built domain. It is bounded by the guest's start
	// timeout (the time left by the runner's clock: a context's deadline
	// is read by the real one).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadline.Sub(r.now()))
	err = r.launch(cctx, g.Name, func(ctx context.Context, started func()) error { return r.HV.Create(ctx, g.XLConfig, started) })
	cancel()
	out.Created = r.now()
	switch {
	case err == nil:
		return release, nil
	case xl.IsAlreadyExists(err):
		// Someone else created it meanwhile: recognise it.
		r.emit(StageCreate, g.Name, -1, nil, "was created by someone else meanwhile")
		return release, errCreatedMeanwhile
	case errors.Is(err, context.DeadlineExceeded) || !r.now().Before(deadline):
		return release, fmt.Errorf("xl create did not return within start_timeout %s: %w", g.StartTimeout, err)
	}
	return release, err
}

// restoreStep restores the guest from its save image if the record proves
// it has not run since the save (or the admin named the image: xenorder
// restore). It reports whether the guest now runs from the image; false
// with no error: boot it fresh.
func (r *run) restoreStep(ctx context.Context, g *config.Guest, step Step, out *Outcome) (bool, error) {
	st := r.saves()
	path := step.restoreFrom
	if path == "" {
		v, rec, err := st.Judge(g.Name)
		switch {
		case v == saves.NoImage:
			return false, nil
		case err != nil:
			r.emit(StageRestore, g.Name, -1, err, "NOT RESTORING %s; booting it fresh (xenorder restore %s restores it instead)", st.Image(g.Name), g.Name)
			return false, nil
		case v == saves.Unrecorded:
			r.emit(StageRestore, g.Name, -1, nil, "NOT RESTORING %s: no record of the save that wrote it (an older xenorder's, or not xenorder's), so nothing proves the guest has not run since; booting it fresh. The image stays; xenorder restore %s restores it instead", st.Image(g.Name), g.Name)
			return false, nil
		case v == saves.Incomplete:
			return false, fmt.Errorf("its save to %s, begun %s, never recorded its end (cut short, or xenorder was killed while it ran): the image may be whole or partial, and booting fresh would make it stale. Restore it if you know it is whole (xenorder restore %s), or move it aside to boot fresh (mv %s %s.discarded)",
				st.Image(g.Name), rec.Began.Local().Format("2006-01-02 15:04:05"), g.Name, st.Image(g.Name), st.Image(g.Name))
		case v == saves.Interrupted:
			r.markStale(rec, saves.Seen{Name: g.Name, DomID: -1})
			r.warn(StageRestore, g.Name, -1, "a restore from that image began %s and never recorded its end: the guest may have run from it since; BOOTING IT FRESH", rec.Restoring.Local().Format("2006-01-02 15:04:05"))
			return false, nil
		}
		r.images.setBusy(g.Name, true)
		defer r.images.setBusy(g.Name, false)
		if err := st.BeginRestore(rec, r.wallNow()); err != nil {
			return false, fmt.Errorf("recording the restore before it begins: %w", err)
		}
		r.images.remember(g.Name, rec)
		path = st.Image(g.Name)
	} else {
		r.images.setBusy(g.Name, true)
		defer r.images.setBusy(g.Name, false)
	}
	err := r.restore(ctx, g, path)
	switch {
	case err == nil:
		out.Created = r.now()
		return true, nil
	case g.Stop.RestoreFallback == config.RestoreCreate && step.restoreFrom == "":
		r.warn(StageRestore, g.Name, -1, "BOOTING IT FRESH instead (restore_fallback = create): the state it was saved in is not used")
		out.fellBack = fmt.Errorf("restore failed (%w); booted fresh", err)
		return false, nil
	case step.restoreFrom != "":
		return false, err
	}
	return false, fmt.Errorf("%w; restore_fallback = fail: not booting it fresh", err)
}

// restore runs xl restore from path, never cut short. The moment it
// succeeds the image leaves the restore path (deleted: the guest runs on
// from it), whatever the probes say next. A failed restore keeps the
// image, renamed aside, never overwritten.
func (r *run) restore(ctx context.Context, g *config.Guest, path string) error {
	st := r.saves()
	r.emit(StageRestore, g.Name, -1, nil, "restoring from %s (xl restore)", path)
	r.say("restoring %s from %s", g.Name, path)
	// Real xl restore prints no progress (libxc reports none while it
	// restores): a restore past start_timeout stops the extensions after
	// StallTimeout unless xl says something.
	err := r.inFlight(ctx, flight{guest: g.Name, domid: -1, what: "xl restore", timeout: g.StartTimeout, timeoutName: "start_timeout", progress: r.xlLines("restore", path)},
		func(ctx context.Context, started func()) error { return r.HV.Restore(ctx, path, started) })
	ours := path == st.Image(g.Name)
	if err == nil {
		var rerr error
		if ours {
			rerr = st.Restored(g.Name)
			r.images.remember(g.Name, nil)
		} else {
			rerr = os.Remove(path)
		}
		if rerr != nil {
			r.emit(StageRestore, g.Name, -1, rerr, "RESTORED, BUT THE IMAGE COULD NOT BE DELETED: never restore %s again, the guest runs on from it", path)
		} else {
			r.emit(StageRestore, g.Name, -1, nil, "restored; the image %s is deleted now that the restore succeeded", path)
		}
		return nil
	}
	aside := saves.AsideName(path, "failed", r.wallNow())
	if rerr := os.Rename(path, aside); rerr != nil {
		r.emit(StageRestore, g.Name, -1, rerr, "RESTORE FAILED and the image could not be moved aside; it stays at %s", path)
		return fmt.Errorf("restore from %s: %w", path, err)
	}
	if ours {
		st.Forget(g.Name)
		r.images.remember(g.Name, nil)
	}
	r.emit(StageRestore, g.Name, -1, err, "RESTORE FAILED; the image is kept as %s", aside)
	return fmt.Errorf("restore from %s (kept as %s): %w", path, aside, err)
}

func withoutKinds(ps []config.Probe, kinds ...string) []config.Probe {
	var out []config.Probe
	for _, p := range ps {
		skip := false
		for _, k := range kinds {
			skip = skip || p.Kind() == k
		}
		if !skip {
			out = append(out, p)
		}
	}
	return out
}

// Adaptive checking: something awaited for a while is checked every
// 1/adaptiveDivisor of that while, never more often than minCheck and never
// less often than its configured interval. Quick first checks, then back
// off: the reaction comes within ~6% of the wait, while the checks per
// second stay bounded whatever the number of guests waited on.
const (
	adaptiveDivisor = 16
	minCheck        = 100 * time.Millisecond
)

func adaptive(elapsed, interval time.Duration) time.Duration {
	return min(max(elapsed/adaptiveDivisor, minCheck), interval)
}

// finalLookTimeout bounds the look an interrupted start takes at a guest it
// created and never saw listed.
const finalLookTimeout = 10 * time.Second

// left says in what state an interrupted wait leaves the guest, as the
// last look saw it: fresh and restored as in startOne.
func (w *readyWait) left(fresh, restored bool) string {
	if w.g.External {
		return "not confirmed ready: waiting for " + w.awaited(w.states, false)
	}
	origin := "as it was before this start"
	switch {
	case restored:
		origin = "restored by this start"
	case fresh:
		origin = "created by this start"
	}
	switch {
	case w.last.ID <= 0:
		return origin + " (xl create returned), not yet seen in xl list"
	case w.last.State.Raw == "": // not looked at since it was found running
		return fmt.Sprintf("left running (domid %d), %s, not confirmed ready", w.last.ID, origin)
	case w.running:
		return fmt.Sprintf("left running (domid %d), %s, not confirmed ready: waiting for %s", w.last.ID, origin, w.awaited(w.states, false))
	}
	return fmt.Sprintf("left as xl lists it (domid %d, state %s), %s, not running yet", w.last.ID, w.last.State.Raw, origin)
}

// readyWait is one guest's wait until it runs and its probes pass.
type readyWait struct {
	r         *run
	g         *config.Guest
	deadline  time.Time
	began     time.Time
	target    probe.Target
	probes    []config.Probe
	announced bool // "created (domid N)" said already, or not to be said

	states   []probeState // of probes, during wait
	seen     snapshot
	last     xl.Domain
	lastErr  error // of xl list
	absentAt time.Time
	running  bool
}

type probeState struct {
	next     time.Time
	attempts int
	err      error
	passed   bool
}

// wait polls the shared `xl list` (every poll_interval) for the domain's
// state and runs each probe at its own interval once the domain runs. A
// crash or a plain shutdown fails at once; a reboot (the domain gone, then
// back under a new domid) is followed.
func (w *readyWait) wait(ctx context.Context) (xl.Domain, error) {
	r := w.r
	poll := r.interval()
	fastest := poll
	w.states = make([]probeState, len(w.probes))
	states := w.states
	for _, p := range w.probes {
		fastest = min(fastest, p.Interval)
	}
	lastAwaited := ""
	var lastLook time.Time // the first look is at once
	for {
		elapsed := r.since(w.began)
		if !w.g.External && (lastLook.IsZero() || r.since(lastLook) >= adaptive(elapsed, poll)) {
			lastLook = r.now()
			if err := w.look(ctx); err != nil {
				return w.last, err
			}
		}
		now := r.now()
		if w.g.External || w.running {
			pending := 0
			for i, p := range w.probes {
				st := &states[i]
				if st.passed {
					continue
				}
				if now.Before(st.next) {
					pending++
					continue
				}
				st.attempts++
				st.next = now.Add(adaptive(elapsed, p.Interval))
				// An attempt never outlasts the start timeout. If the
				// deadline, not attempt_timeout, cut it short, its "timed
				// out" says nothing: keep the previous failure.
				budget := untilDeadline(r.now(), p.AttemptTimeout, w.deadline)
				clipped := budget < p.AttemptTimeout
				actx, cancel := context.WithTimeout(ctx, budget)
				err := p.Check(actx, w.target)
				cancel()
				if ctx.Err() != nil {
					return w.last, ctx.Err()
				}
				if err == nil || !clipped || st.err == nil || !errors.Is(err, context.DeadlineExceeded) {
					st.err = err
				}
				if err == nil {
					st.passed = true
					r.emitAfter(StageProbe, r.since(w.began), w.g.Name, w.last.ID, nil, "%s passed after %s", p, Round(r.since(w.began)))
				} else {
					pending++
				}
			}
			if pending == 0 {
				return w.last, nil
			}
		}
		if !r.now().Before(w.deadline) {
			return w.last, w.timeoutErr(states)
		}
		// The run's ticker says it every ProgressEvery, with every other
		// guest's: "waiting for tcp 10.0.0.5:22: connection refused (12s of 1m0s)".
		detail := w.awaited(states, true)
		if awaited := w.awaited(states, false); awaited != lastAwaited {
			lastAwaited = awaited
			r.say("waiting for %s (%s)", w.g.Name, awaited)
			r.setDoing(w.g.Name, activity{doing: "waiting for " + awaited, detail: detail, domid: w.domid(), since: w.began, limit: w.g.StartTimeout, limitName: "start_timeout", say: true, line: readyLine})
		} else {
			r.setDetail(w.g.Name, detail, w.domid())
		}
		if err := sleep(ctx, r.clock, untilDeadline(r.now(), adaptive(r.since(w.began), fastest), w.deadline)); err != nil {
			return w.last, err
		}
	}
}

// readyLine is the progress line of a guest waited on until ready.
func readyLine(a activity, now time.Time) string {
	return fmt.Sprintf("waiting for %s (%s of %s)", a.detail, now.Sub(a.since).Round(time.Second), a.limit)
}

// domid is the domain's domid as last seen, or -1.
func (w *readyWait) domid() int {
	if w.last.ID > 0 {
		return w.last.ID
	}
	return -1
}

// look reads the shared xl list and judges the domain's state.
func (w *readyWait) look(ctx context.Context) error {
	r, g := w.r, w.g
	s, err := r.lister().get(ctx, w.seen.at)
	if err != nil {
		return err
	}
	w.seen = s
	if s.err != nil {
		w.lastErr = s.err // xl list failing once is not fatal; keep trying
		return nil
	}
	w.lastErr = nil
	d, ok := s.find(g.Name)
	if !ok {
		w.running = false
		if w.absentAt.IsZero() {
			w.absentAt = s.at
		}
		if s.at.Sub(w.absentAt) >= orDefault(r.VanishGrace, DefaultVanishGrace) {
			if !w.announced {
				err := errors.New("xl create succeeded but the domain is not listed")
				if tail := probe.ConsoleTail(r.Config.Defaults.ConsoleLogDir, g.Name, w.target.ConsoleOffset, 3); len(tail) > 0 {
					err = fmt.Errorf("%w: it died at once; the last lines of its console (%s): %s", err,
						probe.ConsoleLogPath(r.Config.Defaults.ConsoleLogDir, g.Name), show(strings.Join(tail, " | ")))
				}
				return err
			}
			return fmt.Errorf("domain disappeared while starting (was domid %d)", w.last.ID)
		}
		return nil
	}
	w.absentAt = time.Time{}
	if !w.announced {
		r.emit(StageCreate, g.Name, d.ID, nil, "created (domid %d)", d.ID)
		w.announced = true
	} else if w.last.ID != 0 && d.ID != w.last.ID {
		r.emit(StageWait, g.Name, d.ID, nil, "rebooted: now domid %d", d.ID)
	}
	w.last = d
	w.target.DomID = d.ID
	switch st := d.State; {
	case st.Crashed():
		return fmt.Errorf("domain crashed while starting (domid %d, state %s)", d.ID, st.Raw)
	case st.Shutdown && st.Reason == xl.ShutdownReason('-') && !st.Dying:
		return fmt.Errorf("domain shut down while starting (domid %d, state %s)", d.ID, st.Raw)
	case st.Shutdown || st.Dying || st.Paused:
		w.running = false // rebooting, dying on the way to a reboot, or still being built
	default:
		w.running = true
	}
	return nil
}

// awaited names what is still awaited, for progress lines.
func (w *readyWait) awaited(states []probeState, why bool) string {
	if !w.g.External && !w.running {
		return "the domain to run"
	}
	for i, st := range states {
		if !st.passed {
			msg := w.probes[i].String()
			if why && st.err != nil {
				msg += ": " + st.err.Error()
			}
			return msg
		}
	}
	return "the probes"
}

func (w *readyWait) timeoutErr(states []probeState) error {
	if !w.g.External && !w.running {
		err := fmt.Errorf("not running after %s", w.g.StartTimeout)
		if w.lastErr != nil {
			err = fmt.Errorf("%w: %w", err, w.lastErr)
		}
		return err
	}
	for i, st := range states {
		if !st.passed {
			cause := "not attempted"
			if st.err != nil {
				cause = st.err.Error()
			}
			return fmt.Errorf("not ready after %s: %s: %s (%d attempts)", w.g.StartTimeout, w.probes[i], cause, st.attempts)
		}
	}
	return fmt.Errorf("not ready after %s", w.g.StartTimeout)
}
