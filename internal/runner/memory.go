package runner

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/xl"
	"github.com/xenorder/xenorder/internal/xlcfg"
)

// memGate admits creates by memory: a guest is created only when `xl info`'s
// free_memory, minus what the creates under way will take, has room for it
// and its stub domain. Otherwise it waits (a create finishing, a guest
// going) instead of failing with xl's "failed to free memory for the
// domain"; one that can never fit fails at once.
//
// One `xl info` serves many admissions: each admitted create holds its
// memory until an xl info taken after the create finished shows it.
type memGate struct {
	mu      sync.Mutex
	info    xl.Info
	infoAt  time.Time // when the xl info call began; zero: none yet
	calls   afterCall // the xl info call in flight
	err     error     // of the last xl info call, begun at errAt
	errAt   time.Time
	holds   []*hold
	changed chan struct{} // closed when a create finishes
	mode    string        // "admit", or why admission stands aside
	decided bool
}

// refresh makes sure the gate holds an xl info begun after the given time:
// it has one, joins the call in flight, or makes the call, which every
// admission waiting meanwhile shares. (Not singleflight.Group, for the
// lister's reason: the call shared must have begun after the given time.)
func (r *Runner) refresh(ctx context.Context, g *memGate, after time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	fresh := func() bool { return !g.infoAt.IsZero() && g.infoAt.After(after) }
	failed := func() bool { return g.err != nil && g.errAt.After(after) }
	err := g.calls.do(ctx, &g.mu, func() bool { return fresh() || failed() }, func() func() {
		began := r.now()
		// Not bound to ctx, which only bounds this caller's wait: others
		// may be sharing the call.
		info, err := r.HV.Info(context.WithoutCancel(ctx))
		return func() { r.keepInfo(g, info, err, began) }
	})
	switch {
	case err != nil:
		return err
	case fresh():
		return nil
	}
	return g.err
}

// keepInfo keeps the result of an xl info begun at began; g.mu is held.
func (r *Runner) keepInfo(g *memGate, info xl.Info, err error, began time.Time) {
	if err != nil {
		g.err, g.errAt = err, began
		return
	}
	if began.After(g.infoAt) {
		g.info, g.infoAt = info, began
	}
	if !g.decided {
		g.decided = true
		g.mode = "admit"
		if b, why := ballooning(r.Config.Defaults.XLConf, info.XenCommandline); b {
			g.mode = why + ": xl balloons dom0 down to make room, so free memory means nothing"
		}
	}
}

type hold struct {
	mib    int64
	doneAt time.Time // zero while the create is under way
}

// pending is what the free memory of an xl info taken at `at` does not yet
// show: creates under way, and creates that finished after it.
func (g *memGate) pending(at time.Time) (total, underWay int64) {
	keep := g.holds[:0]
	for _, h := range g.holds {
		if !h.doneAt.IsZero() && h.doneAt.Before(at) {
			continue // the info shows it
		}
		keep = append(keep, h)
		total += h.mib
		if h.doneAt.IsZero() {
			underWay += h.mib
		}
	}
	g.holds = keep
	return total, underWay
}

var dom0MemRE = regexp.MustCompile(`(^|\s)dom0_mem=`)

// ballooning reads xl.conf's autoballoon ("auto" unless set) and decides
// whether xl balloons dom0 down to make room: then free_memory reads near
// zero and means nothing, and admission stands aside.
func ballooning(xlConf, xenCmdline string) (bool, string) {
	switch xlcfg.Autoballoon(xlConf) {
	case "off", "0":
		return false, "autoballoon=off in " + xlConf
	case "on", "1":
		return true, "autoballoon=on in " + xlConf
	}
	if dom0MemRE.MatchString(xenCmdline) {
		return false, "autoballoon=auto and Xen's command line sets dom0_mem="
	}
	return true, "autoballoon=auto without dom0_mem= on Xen's command line"
}

// admit waits until g fits, holds its memory and returns the release.
// Each round: an xl info recent enough (refresh), a look at the gate
// (fit), then admitted, standing aside, a look by a newer xl info, a
// refusal (it can never fit), or a wait for a create to finish.
func (r *run) admit(ctx context.Context, g *config.Guest, deadline time.Time) (func(), error) {
	need := int64(g.MemoryMiB + g.StubMemoryMiB)
	nothing := func() {}
	gate := r.mem
	if need <= 0 || !r.Config.Defaults.MemoryAdmission || gate == nil {
		return nothing, nil
	}
	said := false
	var fresh time.Time // zero, or: decide on an xl info begun after this
	for {
		looked := r.now()
		after := fresh
		if after.IsZero() {
			after = looked.Add(-r.interval()) // one from the last poll_interval will do
		}
		if err := r.refresh(ctx, gate, after); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// Admission is a help, not a gate keeper: without xl info,
			// create as before and let xl say what it says.
			r.emit(StageMemory, g.Name, -1, err, "cannot read xl info; creating without the memory check")
			return nothing, nil
		}
		f := gate.fit(need, looked, fresh.IsZero(), r.clock)
		switch {
		case f.release != nil:
			return f.release, nil
		case f.standAside:
			return nothing, nil
		case f.again:
			// It does not fit by an xl info taken before this look: decide
			// on one taken now.
			fresh = looked
			continue
		case f.changed == nil:
			// Nothing frees memory during a start: once no create is
			// under way, a guest that does not fit never will.
			return nil, fmt.Errorf("needs %d MiB (memory %d%s) but the host has %d MiB free of %d (xl info): it cannot fit; "+
				"stop another guest or lower its memory", need, g.MemoryMiB, stubNote(g), f.room, f.info.TotalMemoryMiB)
		}
		if !said {
			r.emit(StageMemory, g.Name, -1, nil, "waiting for memory: needs %d MiB; %d MiB free, %d MiB of it for creates under way", need, f.info.FreeMemoryMiB, f.pending)
			r.say("waiting for memory for %s (%d MiB)", g.Name, need)
			r.setDoing(g.Name, activity{doing: fmt.Sprintf("waiting for memory (needs %d MiB)", need), domid: -1, since: deadline.Add(-g.StartTimeout), limit: g.StartTimeout, limitName: "start_timeout", say: true})
			said = true
		}
		if err := r.waitForMemory(ctx, f.changed, deadline); err != nil {
			return nil, err
		}
		if !r.now().Before(deadline) {
			return nil, fmt.Errorf("not enough memory within start_timeout %s: needs %d MiB, %d MiB free", g.StartTimeout, need, f.room)
		}
		fresh = r.now() // look again by an xl info taken now
	}
}

// fitting is what one look at the memory gate decided for a create.
type fitting struct {
	release    func() // admitted: its memory is held until release
	standAside bool   // admission stands aside (xl balloons dom0)
	again      bool   // decide again by an xl info taken after the look
	// changed, while it does not fit: closed when a create under way
	// finishes; nil when none is under way.
	changed       chan struct{}
	info          xl.Info
	room, pending int64
}

// fit looks whether need MiB fit by the gate's xl info, holding them if
// so; looked is when the caller began its look, first whether it is its
// first decision (an older xl info may only admit).
func (g *memGate) fit(need int64, looked time.Time, first bool, clock Clock) fitting {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mode != "admit" {
		return fitting{standAside: true}
	}
	f := fitting{info: g.info}
	var underWay int64
	f.pending, underWay = g.pending(g.infoAt)
	f.room = f.info.FreeMemoryMiB - f.pending
	switch {
	case need <= f.room:
		h := &hold{mib: need}
		g.holds = append(g.holds, h)
		f.release = func() {
			g.mu.Lock()
			h.doneAt = clock.Now()
			if g.changed != nil {
				close(g.changed)
				g.changed = nil
			}
			g.mu.Unlock()
		}
	case first && !g.infoAt.After(looked):
		f.again = true
	case underWay > 0:
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		f.changed = g.changed
	}
	return f
}

// waitForMemory waits for a create to finish (changed), for the next
// poll_interval, or until the deadline.
func (r *run) waitForMemory(ctx context.Context, changed <-chan struct{}, deadline time.Time) error {
	t := r.clock.NewTimer(untilDeadline(r.now(), r.interval(), deadline))
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C():
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func stubNote(g *config.Guest) string {
	if g.StubMemoryMiB > 0 {
		return fmt.Sprintf(" + its stub domain's %d", g.StubMemoryMiB)
	}
	return ""
}
