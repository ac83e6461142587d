package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/graph"
)

// TestWalkCascade: the walker itself propagates what happens upstream: a
// failure skips exactly its hard dependents, each skip naming the root
// cause; a soft edge only orders; an interrupted node interrupts its
// dependents; an ended ctx runs nothing more. And a node waiting for its
// predecessors holds no slot (one slot and a chain does not deadlock).
func TestWalkCascade(t *testing.T) {
	t.Parallel()
	type edge struct {
		from, to string
		kind     graph.Kind
	}
	tests := []struct {
		name     string
		nodes    []string // in walk order: dependents first, to catch a slot taken before the wait
		edges    []edge   // from waits for to
		fail     string   // runs and fails
		cancelIn string   // the run of this node cancels the walk
		want     map[string]string
	}{
		{"failure skips exactly its dependents, by root cause",
			[]string{"d", "c", "b", "a", "x"},
			[]edge{{"b", "a", graph.Hard}, {"c", "b", graph.Hard}, {"d", "x", graph.Hard}},
			"a", "",
			map[string]string{"a": "failed", "b": "skipped a", "c": "skipped a", "d": "done", "x": "done"}},
		{"a soft edge only orders",
			[]string{"b", "a"},
			[]edge{{"b", "a", graph.Soft}},
			"a", "",
			map[string]string{"a": "failed", "b": "done"}},
		{"an interruption interrupts the dependents, not the others",
			[]string{"c", "b", "a", "x"},
			[]edge{{"b", "a", graph.Hard}, {"c", "b", graph.Hard}, {"x", "a", graph.Soft}},
			"", "a",
			map[string]string{"a": "not run", "b": "not run", "c": "not run", "x": "not run"}},
		{"a chain with one slot",
			[]string{"e", "d", "c", "b", "a"},
			[]edge{{"e", "d", graph.Hard}, {"d", "c", graph.Hard}, {"c", "b", graph.Hard}, {"b", "a", graph.Hard}},
			"", "",
			map[string]string{"a": "done", "b": "done", "c": "done", "d": "done", "e": "done"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			waitFor := map[string][]graph.Edge{}
			for _, e := range tt.edges {
				waitFor[e.from] = append(waitFor[e.from], graph.Edge{To: e.to, Kind: e.kind})
			}
			var mu sync.Mutex
			var ran []string
			rules := walkRules{
				waitFor: func(n string) []graph.Edge { return waitFor[n] },
				ok:      func(o *Outcome) bool { return o.Status == Done },
				skipped: func(n string, _ *Outcome, root string) *Outcome {
					return &Outcome{Guest: n, Status: Skipped, Cause: root}
				},
				interrupted: func(n string, err error) *Outcome {
					return &Outcome{Guest: n, Status: NotRun, Err: err}
				},
				run: func(n string) *Outcome {
					mu.Lock()
					ran = append(ran, n)
					mu.Unlock()
					switch n {
					case tt.fail:
						return &Outcome{Guest: n, Status: Failed, Err: errors.New("boom")}
					case tt.cancelIn:
						cancel()
						return &Outcome{Guest: n, Status: NotRun, Err: ctx.Err()}
					}
					return &Outcome{Guest: n, Status: Done}
				},
			}
			w := newWalker(1)
			done := make(chan struct{})
			go func() {
				w.walk(ctx, tt.nodes, rules)
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the walk never ended: a waiting node holds the slot")
			}
			got := map[string]string{}
			for _, n := range tt.nodes {
				o := w.result(n)
				got[n] = o.Status.String()
				if o.Status == Skipped {
					got[n] += " " + o.Cause
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
			sort.Strings(ran)
			for _, n := range ran {
				if s := w.result(n).Status; s == Skipped || strings.Contains(tt.want[n], "skipped") {
					t.Errorf("%s ran but is %s", n, s)
				}
			}
		})
	}
}
