package runner

import (
	"context"
	"sync"
)

// walk visits every node once all the nodes it waits for are finished,
// concurrently, in the manner of terraform's dag walker: a node's goroutine
// first waits for its predecessors and only then takes one of the limited
// slots, so a waiting node never holds a slot another node needs.
//
// gate is called (without a slot) once the predecessors are done; a non-nil
// result finishes the node there (skipped, interrupted). Otherwise run is
// called holding a slot. Both see the predecessors' results through the
// results map, which walk fills in as nodes finish.
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
	onDone  func(*Outcome) // optional, called as each node finishes
}

func newWalker(parallel int) *walker {
	return &walker{slots: make(chan struct{}, parallel), results: map[string]*Outcome{}}
}

func (w *walker) result(name string) *Outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.results[name]
}

func (w *walker) walk(ctx context.Context, nodes []string, waitFor func(string) []string,
	gate func(string) *Outcome, run func(string) *Outcome) {
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
			for _, p := range waitFor(n) {
				if ch, ok := done[p]; ok {
					<-ch // predecessors always finish: gate and run return on cancel
				}
			}
			out := gate(n)
			if out == nil {
				select {
				case w.slots <- struct{}{}:
					out = run(n)
					<-w.slots
				case <-ctx.Done():
					out = gate(n) // gate reports the interruption
					if out == nil {
						out = &Outcome{Guest: n, Status: NotRun, Err: ctx.Err()}
					}
				}
			}
			w.mu.Lock()
			w.results[n] = out
			w.mu.Unlock()
			if w.onDone != nil {
				w.onDone(out)
			}
		}()
	}
	wg.Wait()
}
