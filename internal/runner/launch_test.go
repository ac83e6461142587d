package runner

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestLaunchTurnsByPriority(t *testing.T) {
	t.Parallel()
	g := &launchGate{}
	ctx := t.Context()
	if err := g.wait(ctx, 1); err != nil { // free: at once
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	queued := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); ; {
			g.mu.Lock()
			l := len(g.queue)
			g.mu.Unlock()
			if l == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d queued, want %d", l, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	cancelled, cancel := context.WithCancel(ctx)
	for i, w := range []struct {
		name string
		prio int
		ctx  context.Context
	}{{"a1", 1, ctx}, {"b3", 3, ctx}, {"c2", 2, ctx}, {"gone", 5, cancelled}, {"d3", 3, ctx}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.wait(w.ctx, w.prio); err != nil {
				return
			}
			mu.Lock()
			order = append(order, w.name)
			mu.Unlock()
			g.done()
		}()
		queued(i + 1)
	}
	cancel() // a waiter that gives up leaves the queue
	queued(4)
	g.done() // the first turn ends: the rest go by priority, then arrival
	wg.Wait()
	if want := []string{"b3", "d3", "c2", "a1"}; !reflect.DeepEqual(order, want) {
		t.Errorf("turns %v, want %v", order, want)
	}
	if g.busy || len(g.queue) != 0 {
		t.Errorf("gate left busy %v with %d queued", g.busy, len(g.queue))
	}
}

func TestLaunchPriorityIsTheChainBehind(t *testing.T) {
	t.Parallel()
	// a ← b ← c (c waits for b, b for a), a ← d, and e alone.
	waitFor := map[string][]string{"b": {"a"}, "c": {"b"}, "d": {"a"}}
	r := &run{Runner: &Runner{}}
	r.beginLaunches([]string{"a", "b", "c", "d", "e"}, func(n string) []string { return waitFor[n] })
	if want := map[string]int{"a": 3, "b": 2, "c": 1, "d": 1, "e": 1}; !reflect.DeepEqual(r.prio, want) {
		t.Errorf("priorities %v, want %v", r.prio, want)
	}
}
