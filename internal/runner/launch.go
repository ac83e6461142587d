package runner

import (
	"context"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// When many guests become ready to start or stop at the same moment (the
// first tier of a start, every leaf of a stop), their xl calls compete for
// the host's CPUs, and which guest's request lands first was left to
// chance. The calls that begin a guest's start or stop now begin one at a
// time, each as soon as the one before has started xl (Go forks one
// process at a time anyway), and of those waiting, the guest with the
// longest chain of guests behind it goes first: the critical path is not
// left to chance.

// launchGate hands out turns to begin such a call.
type launchGate struct {
	mu    sync.Mutex
	busy  bool
	seq   int
	queue []*launchTurn // by priority, highest first, then by arrival
}

type launchTurn struct {
	prio, seq int
	ready     chan struct{}
}

// wait blocks until it is the caller's turn, or ctx ends.
func (g *launchGate) wait(ctx context.Context, prio int) error {
	g.mu.Lock()
	g.seq++
	t := &launchTurn{prio: prio, seq: g.seq, ready: make(chan struct{})}
	i := sort.Search(len(g.queue), func(i int) bool {
		q := g.queue[i]
		return q.prio < t.prio || q.prio == t.prio && q.seq > t.seq
	})
	g.queue = append(g.queue, nil)
	copy(g.queue[i+1:], g.queue[i:])
	g.queue[i] = t
	if !g.busy {
		// The gate is free: first let the others that are ready at this
		// moment queue up too, so that the turn goes by priority rather
		// than to whoever came first.
		g.busy = true
		g.mu.Unlock()
		runtime.Gosched()
		g.mu.Lock()
		g.passLocked()
	}
	g.mu.Unlock()
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		for i, q := range g.queue {
			if q == t {
				g.queue = append(g.queue[:i], g.queue[i+1:]...)
				return ctx.Err()
			}
		}
		// The turn came meanwhile: pass it on.
		g.passLocked()
		return ctx.Err()
	}
}

// done ends a turn.
func (g *launchGate) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.passLocked()
}

func (g *launchGate) passLocked() {
	if len(g.queue) == 0 {
		g.busy = false
		return
	}
	t := g.queue[0]
	g.queue = g.queue[1:]
	close(t.ready)
}

// launch makes the call that begins guest's start or stop in its turn;
// the turn ends once xl has started (or the call has returned).
func (r *run) launch(ctx context.Context, guest string, call func(ctx context.Context, started func()) error) error {
	g := r.gate
	if g == nil {
		return call(ctx, nil)
	}
	if err := g.wait(ctx, r.prio[guest]); err != nil {
		return err
	}
	var once sync.Once
	done := func() { once.Do(g.done) }
	defer done()
	return call(ctx, done)
}

// byPriority returns the nodes, highest priority first (else in their
// order): the walk starts them so, and the nodes that become ready at the
// same moment then run in that order too, before they even reach the gate.
func (r *run) byPriority(order []string) []string {
	out := slices.Clone(order)
	slices.SortStableFunc(out, func(a, b string) int { return r.prio[b] - r.prio[a] })
	return out
}

// beginLaunches sets up the turns of a run: a node's priority is the
// longest chain of nodes that wait for it, itself included.
func (r *run) beginLaunches(order []string, waitFor func(string) []string) {
	after := map[string][]string{} // node → the nodes that wait for it
	for _, n := range order {
		for _, p := range waitFor(n) {
			after[p] = append(after[p], n)
		}
	}
	prio := make(map[string]int, len(order))
	var height func(string) int
	height = func(n string) int {
		if h, ok := prio[n]; ok {
			return h
		}
		h := 1
		for _, m := range after[n] {
			h = max(h, 1+height(m))
		}
		prio[n] = h
		return h
	}
	for _, n := range order {
		height(n)
	}
	r.prio = prio
	r.gate = &launchGate{}
}
