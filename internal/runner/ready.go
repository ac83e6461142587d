package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/probe"
	"github.com/xenorder/xenorder/internal/xl"
)

// DefaultProgressEvery is how often a guest that is still being waited on
// says what it waits for.
const DefaultProgressEvery = 5 * time.Second

// startOne brings one node up: for a guest, look, create, wait until it
// runs and its probes pass; for an external node, wait for its probes.
func (r *Runner) startOne(ctx context.Context, g *config.Guest) *Outcome {
	began := time.Now()
	out := &Outcome{Guest: g.Name, Began: began, DomID: -1}
	fail := func(err error) *Outcome {
		out.Status, out.Err, out.Elapsed = Failed, fmt.Errorf("start %s: %w", g.Name, err), time.Since(began)
		r.emit("fail", g.Name, out.DomID, err, "failed")
		return out
	}
	if ctx.Err() != nil {
		out.Status, out.Err = NotRun, ctx.Err()
		return out
	}
	// The whole start, from the first look until ready, is bounded.
	deadline := began.Add(g.StartTimeout)
	r.extend(g.StartTimeout + notifyMargin)
	target := probe.Target{Name: g.Name, Since: began}
	fresh := true // the probes that need to see the create apply
	restoredFrom := ""
	if !g.External {
		snap, err := r.lister().recent(ctx, r.interval())
		if err == nil {
			err = snap.err
		}
		if err != nil {
			return fail(err)
		}
		created := false
		if d, ok := snap.find(g.Name); ok {
			switch bad := badStartState(d.State); {
			case d.State.Dying:
				r.emit("wait", g.Name, d.ID, nil, "an old domain of this name is dying (domid %d); waiting for it to go", d.ID)
				if err := r.waitGone(ctx, g.Name, deadline); err != nil {
					return fail(err)
				}
			case bad != "":
				out.DomID = d.ID
				return fail(fmt.Errorf("domain %s (domid %d) is listed as %s: %s", g.Name, d.ID, d.State, bad))
			default:
				// A previous run may have created it seconds ago: probe it
				// too, but only with probes that need not see the create.
				r.emit("check", g.Name, d.ID, nil, "already running (domid %d)", d.ID)
				out.DomID, created, fresh = d.ID, true, false
			}
		}
		if !created {
			switch err := r.restore(ctx, g, deadline); {
			case err == nil:
				created, fresh, restoredFrom = true, false, r.savePath(g.Name)
				out.Created = time.Now()
			case errors.Is(err, errNoImage):
			case g.Stop.RestoreFallback == config.RestoreCreate:
				r.emit("restore", g.Name, -1, nil, "BOOTING IT FRESH instead (restore_fallback = create): the state it was saved in is not used")
				out.fellBack = fmt.Errorf("restore failed (%w); booted fresh", err)
			default:
				return fail(fmt.Errorf("%w; restore_fallback = fail: not booting it fresh", err))
			}
		}
		if !created {
			if err := r.preparePCI(ctx, g); err != nil {
				return fail(err)
			}
			release, err := r.admit(ctx, g, deadline)
			if err != nil {
				return fail(err)
			}
			defer release()
			target.ConsoleOffset = probe.ConsoleSize(r.Config.Defaults.ConsoleLogDir, g.Name)
			r.emit("create", g.Name, -1, nil, "creating (xl create %s)", g.XLConfig)
			r.status("creating %s", g.Name)
			// A create in flight is not abandoned on interruption: that
			// would leave a half-built domain. It is bounded by the
			// guest's start timeout.
			cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
			err = r.launch(cctx, g.Name, func(ctx context.Context) error { return r.HV.Create(ctx, g.XLConfig) })
			cancel()
			out.Created = time.Now()
			switch {
			case err == nil:
			case xl.IsAlreadyExists(err):
				// Someone else created it meanwhile: recognise it.
				r.emit("create", g.Name, -1, nil, "was created by someone else meanwhile")
				fresh = false
			case errors.Is(err, context.DeadlineExceeded) || !time.Now().Before(deadline):
				return fail(fmt.Errorf("xl create did not return within start_timeout %s: %w", g.StartTimeout, err))
			default:
				return fail(err)
			}
		}
	}
	probes := g.Probes
	switch {
	case restoredFrom != "":
		// A restored guest did not boot: it prints no new console lines
		// and rewrites no xenstore key, and a delay means nothing.
		probes = withoutKinds(probes, probe.KindConsole, probe.KindDelay, probe.KindXenstore)
	case !fresh:
		probes = withoutKinds(probes, probe.KindConsole, probe.KindDelay)
	}
	w := &readyWait{r: r, g: g, deadline: deadline, began: began, target: target, probes: probes, announced: !fresh}
	// After a create, only what xl list says after it counts.
	w.seen.at = out.Created
	if out.DomID >= 0 {
		w.last.ID = out.DomID
	}
	d, err := w.wait(ctx)
	out.DomID = d.ID
	if err != nil {
		if ctx.Err() != nil {
			out.Status, out.Err, out.Elapsed = NotRun, fmt.Errorf("start %s: interrupted while waiting: %w", g.Name, ctx.Err()), time.Since(began)
			r.emit("interrupt", g.Name, d.ID, nil, "interrupted while waiting; left as it is")
			return out
		}
		if restoredFrom != "" {
			r.emit("restore", g.Name, d.ID, nil, "the save image %s is kept: the restored guest did not pass its probes", restoredFrom)
		}
		return fail(err)
	}
	out.Status, out.Elapsed = Done, time.Since(began)
	if restoredFrom != "" {
		// Only now, restored and ready, may the image go.
		if err := os.Remove(restoredFrom); err != nil {
			r.emit("restore", g.Name, d.ID, err, "could not delete the save image after the restore")
		} else {
			r.emitAfter("restore", out.Elapsed, g.Name, d.ID, nil, "restored and ready after %s; save image %s deleted", round(out.Elapsed), restoredFrom)
		}
		return out
	}
	if out.fellBack != nil {
		out.Status, out.Err = FellBack, out.fellBack
	}
	if !fresh && len(probes) == 0 {
		out.Status = AlreadyDone
		return out
	}
	if g.External {
		r.emitAfter("ready", out.Elapsed, g.Name, -1, nil, "ready after %s", round(out.Elapsed))
	} else {
		r.emitAfter("ready", out.Elapsed, g.Name, d.ID, nil, "ready after %s (domid %d)", round(out.Elapsed), d.ID)
	}
	if !fresh {
		out.Status = AlreadyDone
	}
	return out
}

// errNoImage: the guest has no save image to restore.
var errNoImage = errors.New("no save image")

// restore brings a guest back from its save image, if it has one. A failed
// restore keeps the image, renamed aside, never overwritten.
func (r *Runner) restore(ctx context.Context, g *config.Guest, deadline time.Time) error {
	path := r.savePath(g.Name)
	if _, err := os.Stat(path); err != nil {
		return errNoImage
	}
	r.emit("restore", g.Name, -1, nil, "restoring from %s (xl restore)", path)
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	err := r.launch(rctx, g.Name, func(ctx context.Context) error { return r.HV.Restore(ctx, path) })
	cancel()
	if err == nil {
		return nil
	}
	aside := asideName(path, "failed")
	if rerr := os.Rename(path, aside); rerr != nil {
		r.emit("restore", g.Name, -1, rerr, "RESTORE FAILED and the image could not be moved aside; it stays at %s", path)
		return fmt.Errorf("restore from %s: %w", path, err)
	}
	r.emit("restore", g.Name, -1, err, "RESTORE FAILED; the image is kept as %s", aside)
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

// readyWait is one guest's wait until it runs and its probes pass.
type readyWait struct {
	r         *Runner
	g         *config.Guest
	deadline  time.Time
	began     time.Time
	target    probe.Target
	probes    []config.Probe
	announced bool // "created (domid N)" said already, or not to be said

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
	states := make([]probeState, len(w.probes))
	for _, p := range w.probes {
		fastest = min(fastest, p.Interval)
	}
	progressEvery := orDefault(r.ProgressEvery, DefaultProgressEvery)
	lastProgress := time.Now()
	lastAwaited := ""
	var lastLook time.Time // the first look is at once
	for {
		elapsed := time.Since(w.began)
		if !w.g.External && (lastLook.IsZero() || time.Since(lastLook) >= adaptive(elapsed, poll)) {
			lastLook = time.Now()
			if err := w.look(ctx); err != nil {
				return w.last, err
			}
		}
		now := time.Now()
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
				budget, clipped := p.AttemptTimeout, false
				if left := time.Until(w.deadline) + time.Millisecond; left < budget {
					budget, clipped = left, true
				}
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
					r.emitAfter("probe", time.Since(w.began), w.g.Name, w.last.ID, nil, "%s passed after %s", p, round(time.Since(w.began)))
				} else {
					pending++
				}
			}
			if pending == 0 {
				return w.last, nil
			}
		}
		if !time.Now().Before(w.deadline) {
			return w.last, w.timeoutErr(states)
		}
		if awaited := w.awaited(states, false); awaited != lastAwaited {
			lastAwaited = awaited
			r.status("waiting for %s (%s)", w.g.Name, awaited)
		}
		if time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			r.emit("wait", w.g.Name, w.last.ID, nil, "waiting for %s (%s of %s)", w.awaited(states, true), time.Since(w.began).Round(time.Second), w.g.StartTimeout)
		}
		if err := sleep(ctx, min(adaptive(time.Since(w.began), fastest), time.Until(w.deadline)+time.Millisecond)); err != nil {
			return w.last, err
		}
	}
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
				return errors.New("xl create succeeded but the domain is not listed")
			}
			return fmt.Errorf("domain disappeared while starting (was domid %d)", w.last.ID)
		}
		return nil
	}
	w.absentAt = time.Time{}
	if !w.announced {
		r.emit("create", g.Name, d.ID, nil, "created (domid %d)", d.ID)
		w.announced = true
	} else if w.last.ID != 0 && d.ID != w.last.ID {
		r.emit("wait", g.Name, d.ID, nil, "rebooted: now domid %d", d.ID)
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
