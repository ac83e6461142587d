package graph

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// seed is the topology xenorder was born from.
func seed() *Graph {
	g := New()
	g.AddEdge("opnsense", "Domain-N", Hard, "")
	g.AddEdge("fileserver", "opnsense", Hard, "")
	for _, n := range []string{"web", "mail", "db"} {
		g.AddEdge(n, "fileserver", Hard, "")
	}
	g.AddEdge("web", "backup", Soft, "")
	g.Add("lonely")
	return g
}

func TestTiers(t *testing.T) {
	g := seed()
	all := g.Nodes()
	tests := []struct {
		name  string
		got   [][]string
		want  [][]string
		order []string
	}{
		{"start", g.StartTiers(all), [][]string{
			{"Domain-N", "backup", "lonely"}, {"opnsense"}, {"fileserver"}, {"db", "mail", "web"},
		}, nil},
		{"stop", g.StopTiers(all), [][]string{
			{"db", "lonely", "mail", "web"}, {"backup", "fileserver"}, {"opnsense"}, {"Domain-N"},
		}, nil},
		{"start subset ignores outside edges", g.StartTiers([]string{"web", "Domain-N"}), [][]string{
			{"Domain-N", "web"},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestStopOrderIsReverseOfStart(t *testing.T) {
	g := New()
	for i := 1; i < 6; i++ {
		g.AddEdge(fmt.Sprint("n", i), fmt.Sprint("n", i-1), Hard, "")
	}
	start := g.StartOrder(g.Nodes())
	stop := slices.Concat(g.StopTiers(g.Nodes())...)
	for i := range start {
		if start[i] != stop[len(stop)-1-i] {
			t.Fatalf("stop %v is not the reverse of start %v", stop, start)
		}
	}
}

func TestClosures(t *testing.T) {
	g := seed()
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"deps of web, hard only", g.DependencyClosure([]string{"web"}, Hard), []string{"Domain-N", "fileserver", "opnsense", "web"}},
		{"deps of web, all kinds", g.DependencyClosure([]string{"web"}, Hard, Soft), []string{"Domain-N", "backup", "fileserver", "opnsense", "web"}},
		{"dependents of opnsense", g.DependentClosure([]string{"opnsense"}, Hard), []string{"db", "fileserver", "mail", "opnsense", "web"}},
		{"dependents of backup, hard", g.DependentClosure([]string{"backup"}, Hard), []string{"backup"}},
		{"dependents of backup, soft", g.DependentClosure([]string{"backup"}, Hard, Soft), []string{"backup", "web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestCycles(t *testing.T) {
	tests := []struct {
		name  string
		edges [][2]string
		want  [][]string
	}{
		{"dag", [][2]string{{"a", "b"}, {"b", "c"}}, nil},
		{"self", [][2]string{{"a", "a"}, {"b", "c"}}, [][]string{{"a"}}},
		{"two cycles reported at once, stable", [][2]string{
			{"z", "y"}, {"y", "x"}, {"x", "z"}, // z→y→x→z
			{"b", "a"}, {"a", "b"},
			{"c", "a"}, // c is not on a cycle
		}, [][]string{{"a", "b"}, {"x", "z", "y"}}},
		{"figure eight is one component", [][2]string{
			{"a", "b"}, {"b", "a"}, {"b", "c"}, {"c", "b"},
		}, [][]string{{"a", "b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 5; i++ { // map order must not leak into the result
				g := New()
				for _, e := range tt.edges {
					g.AddEdge(e[0], e[1], Hard, "")
				}
				if got := g.Cycles(); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestAddEdgeKeepsStrongerKind(t *testing.T) {
	g := New()
	g.AddEdge("a", "b", Soft, "")
	g.AddEdge("a", "b", Hard, "vif")
	g.AddEdge("a", "b", Soft, "")
	deps, rdeps := g.Dependencies("a"), g.Dependents("b")
	if len(deps) != 1 || deps[0].Kind != Hard || deps[0].Why != "vif" {
		t.Errorf("deps = %+v", deps)
	}
	if len(rdeps) != 1 || rdeps[0].Kind != Hard || rdeps[0].To != "a" {
		t.Errorf("rdeps = %+v", rdeps)
	}
}

// bigGraph is a DAG of n nodes and 5n edges: node i depends on five
// earlier nodes.
func bigGraph(n int) *Graph {
	g := New()
	for i := 0; i < n; i++ {
		name := fmt.Sprint("g", i)
		g.Add(name)
		if i == 0 {
			continue
		}
		for k := 1; k <= 5; k++ {
			g.AddEdge(name, fmt.Sprint("g", (i*7919+k*104729)%i), Hard, "")
		}
	}
	return g
}

func benchSizes(b *testing.B, f func(b *testing.B, g *Graph)) {
	for _, n := range []int{1000, 10000} {
		g := bigGraph(n)
		b.Run(fmt.Sprintf("guests=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			f(b, g)
		})
	}
}

func BenchmarkCycles(b *testing.B) {
	benchSizes(b, func(b *testing.B, g *Graph) {
		for b.Loop() {
			if c := g.Cycles(); c != nil {
				b.Fatal(c)
			}
		}
	})
}

func BenchmarkStartOrder(b *testing.B) {
	benchSizes(b, func(b *testing.B, g *Graph) {
		nodes := g.Nodes()
		for b.Loop() {
			g.StartOrder(nodes)
		}
	})
}

func BenchmarkStartTiers(b *testing.B) {
	benchSizes(b, func(b *testing.B, g *Graph) {
		nodes := g.Nodes()
		for b.Loop() {
			g.StartTiers(nodes)
		}
	})
}

func BenchmarkDrainClosure(b *testing.B) {
	benchSizes(b, func(b *testing.B, g *Graph) {
		for b.Loop() {
			g.DependentClosure([]string{"g1"}, Hard, Soft)
		}
	})
}
