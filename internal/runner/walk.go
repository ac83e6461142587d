package runner

import (
	"context"
	"sync"

	"github.com/xenorder/xenorder/internal/graph"
)

// walk visits every node once all the nodes it waits for are finished,
// concurrently, in the manner of terraform's dag walker: a node's goroutine
// first waits for its predecessors and only then takes one of the limited
// slots, so a waiting node never holds a slot another node needs.
//
// The walker propagates upstream failures itself, as terraform's does: a
// node whose hard predecessor did not end well is not run but skipped, and
// the skip names the root cause (the failure it goes back to); a node whose
// predecessor was interrupted, or that is reached once ctx has ended, is
// interrupted. A failure so skips exactly its dependents.
//
// Not errgroup.Group with SetLimit: its Go takes the slot before the
// goroutine starts, so a node waiting for its predecessors would hold a
// slot they need (a deadlock once the waiters fill the limit), and its
// first error cancels everything, where a failure here skips only the
// failed node's dependents.
type walker struct {
	slots chan struct{}

	mu      sync.Mutex
	results map[string]*Outcome
}

// walkRules are what a walk needs of its verb.
type walkRules struct {
	// waitFor: the edges to the nodes that finish before n begins; a hard
	// one whose node did not end well (ok) keeps n from running.
	waitFor func(n string) []graph.Edge
	ok      func(*Outcome) bool
	// held, if set, is the outcome of a node not run on purpose; nil: run it.
	held func(n string) *Outcome
	// skipped is the outcome of n when its predecessor dep did not end
	// well; root is the guest whose failure is the root cause.
	skipped func(n string, dep *Outcome, root string) *Outcome
	// interrupted is the outcome of n not run because of err (the end of
	// the run's ctx, or a predecessor's interruption).
	interrupted func(n string, err error) *Outcome
	// run runs n, holding a slot.
	run func(n string) *Outcome
	// onDone, if set, hears of each node as it finishes.
	onDone func(*Outcome)
}

func newWalker(parallel int) *walker {
	return &walker{slots: make(chan struct{}, parallel), results: map[string]*Outcome{}}
}

func (w *walker) result(name string) *Outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.results[name]
}

func (w *walker) walk(ctx context.Context, nodes []string, rules walkRules) {
	done := make(map[string]chan struct{}, len(nodes))
	for _, n := range nodes {
		done[n] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[n])
			for _, e := range rules.waitFor(n) {
				if ch, ok := done[e.To]; ok {
					<-ch // predecessors always finish: their runs return on cancel
				}
			}
			out := w.blocked(ctx, n, rules)
			if out == nil {
				// The slot is taken only now, after the wait.
				select {
				case w.slots <- struct{}{}:
					out = rules.run(n)
					<-w.slots
				case <-ctx.Done():
					out = rules.interrupted(n, ctx.Err())
				}
			}
			w.mu.Lock()
			w.results[n] = out
			w.mu.Unlock()
			if rules.onDone != nil {
				rules.onDone(out)
			}
		}()
	}
	wg.Wait()
}

// blocked is the outcome of a node that is not to run (held, a hard
// predecessor that did not end well, an ended ctx), or nil.
func (w *walker) blocked(ctx context.Context, n string, rules walkRules) *Outcome {
	if rules.held != nil {
		if out := rules.held(n); out != nil {
			return out
		}
	}
	for _, e := range rules.waitFor(n) {
		dep := w.result(e.To)
		if e.Kind != graph.Hard || dep == nil || rules.ok(dep) {
			continue
		}
		if dep.Status == NotRun {
			return rules.interrupted(n, context.Canceled)
		}
		return rules.skipped(n, dep, rootCause(dep))
	}
	if ctx.Err() != nil {
		return rules.interrupted(n, ctx.Err())
	}
	return nil
}

// rootCause is the guest whose failure a finished node's outcome goes back
// to: its own, or, when it was skipped, its own root cause.
func rootCause(o *Outcome) string {
	if o.Cause != "" {
		return o.Cause
	}
	return o.Guest
}
