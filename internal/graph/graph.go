// Package graph is xenorder's dependency graph: a small directed graph keyed
// by name, with the algorithms that order it. It knows nothing of Xen.
//
// Edges run from a dependent to its dependency: AddEdge("web", "fileserver",
// Hard) says web depends on fileserver. The API names the direction:
// Dependencies and Dependents, StartTiers and StopTiers.
package graph

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Kind says what an edge means.
type Kind uint8

const (
	// Hard is depends_on: the dependent starts only after the dependency is
	// ready, is skipped if the dependency fails, and pulls it into a run.
	Hard Kind = iota + 1
	// Soft is after: ordering only, within the nodes of one run.
	Soft
)

func (k Kind) String() string {
	switch k {
	case Hard:
		return "depends_on"
	case Soft:
		return "after"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Edge is one dependency of a node.
type Edge struct {
	To   string // the dependency
	Kind Kind
	Why  string // optional: where the edge came from, for plans
}

// Graph is a set of named nodes and the edges between them. The zero value
// is not usable; call New.
type Graph struct {
	deps  map[string][]Edge // node → its dependencies
	rdeps map[string][]Edge // node → its dependents (Edge.To is the dependent)
	names []string          // sorted; rebuilt lazily
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{deps: map[string][]Edge{}, rdeps: map[string][]Edge{}}
}

// Add adds a node; adding it twice is harmless.
func (g *Graph) Add(name string) {
	if _, ok := g.deps[name]; !ok {
		g.deps[name] = nil
		g.names = nil
	}
}

// Len is the number of nodes.
func (g *Graph) Len() int { return len(g.deps) }

// AddEdge records that from depends on to. Both are added as nodes. A second
// edge between the same pair keeps the stronger kind (Hard over Soft).
func (g *Graph) AddEdge(from, to string, kind Kind, why string) {
	g.Add(from)
	g.Add(to)
	for i, e := range g.deps[from] {
		if e.To == to {
			if kind == Hard && e.Kind != Hard {
				g.deps[from][i] = Edge{To: to, Kind: kind, Why: why}
				for j, r := range g.rdeps[to] {
					if r.To == from {
						g.rdeps[to][j].Kind = Hard
						g.rdeps[to][j].Why = why
					}
				}
			}
			return
		}
	}
	g.deps[from] = append(g.deps[from], Edge{To: to, Kind: kind, Why: why})
	g.rdeps[to] = append(g.rdeps[to], Edge{To: from, Kind: kind, Why: why})
}

// Nodes returns every node name, sorted.
func (g *Graph) Nodes() []string {
	if g.names == nil {
		g.names = make([]string, 0, len(g.deps))
		for n := range g.deps {
			g.names = append(g.names, n)
		}
		sort.Strings(g.names)
	}
	return slices.Clone(g.names)
}

// Dependencies returns the edges from name to what it depends on, sorted by
// name.
func (g *Graph) Dependencies(name string) []Edge { return sortedEdges(g.deps[name]) }

// Dependents returns the edges from what depends on name (Edge.To is the
// dependent), sorted by name.
func (g *Graph) Dependents(name string) []Edge { return sortedEdges(g.rdeps[name]) }

func sortedEdges(es []Edge) []Edge {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b Edge) int { return strings.Compare(a.To, b.To) })
	return out
}

// DependencyClosure returns names and everything they depend on through
// edges of the given kinds, transitively, sorted.
func (g *Graph) DependencyClosure(names []string, kinds ...Kind) []string {
	return g.closure(g.deps, names, kinds)
}

// DependentClosure returns names and everything that depends on them through
// edges of the given kinds, transitively, sorted.
func (g *Graph) DependentClosure(names []string, kinds ...Kind) []string {
	return g.closure(g.rdeps, names, kinds)
}

func (g *Graph) closure(adj map[string][]Edge, names []string, kinds []Kind) []string {
	seen := make(map[string]bool, len(names))
	stack := slices.Clone(names)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		for _, e := range adj[n] {
			if !seen[e.To] && slices.Contains(kinds, e.Kind) {
				stack = append(stack, e.To)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Cycles returns every cycle in the graph, each as the names of one strongly
// connected component (or a self-loop) in a cycle order starting from its
// smallest name, the cycles sorted by that first name. It returns nil for a
// DAG.
func (g *Graph) Cycles() [][]string {
	// Tarjan's algorithm, iterative so a long chain cannot overflow the stack.
	index := make(map[string]int, len(g.deps))
	low := make(map[string]int, len(g.deps))
	onStack := make(map[string]bool)
	var stack []string
	var cycles [][]string
	next := 0

	type frame struct {
		node string
		i    int
	}
	for _, root := range g.Nodes() {
		if _, ok := index[root]; ok {
			continue
		}
		work := []frame{{node: root}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(work) > 0 {
			f := &work[len(work)-1]
			deps := g.deps[f.node]
			if f.i < len(deps) {
				w := deps[f.i].To
				f.i++
				if _, ok := index[w]; !ok {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					work = append(work, frame{node: w})
				} else if onStack[w] {
					low[f.node] = min(low[f.node], index[w])
				}
				continue
			}
			v := f.node
			work = work[:len(work)-1]
			if len(work) > 0 {
				p := work[len(work)-1].node
				low[p] = min(low[p], low[v])
			}
			if low[v] != index[v] {
				continue
			}
			var scc []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, w)
				if w == v {
					break
				}
			}
			if len(scc) > 1 || g.hasEdge(v, v) {
				cycles = append(cycles, g.cycleOrder(scc))
			}
		}
	}
	slices.SortFunc(cycles, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return cycles
}

func (g *Graph) hasEdge(from, to string) bool {
	return slices.ContainsFunc(g.deps[from], func(e Edge) bool { return e.To == to })
}

// cycleOrder lists the members of a strongly connected component starting at
// its smallest name and following dependency edges (smallest name first) so
// that the list reads as a path through the cycle where one exists; members
// not reached that way follow, sorted.
func (g *Graph) cycleOrder(scc []string) []string {
	in := make(map[string]bool, len(scc))
	for _, n := range scc {
		in[n] = true
	}
	sort.Strings(scc)
	out := []string{scc[0]}
	seen := map[string]bool{scc[0]: true}
	for cur := scc[0]; ; {
		nxt := ""
		for _, e := range g.Dependencies(cur) {
			if in[e.To] && !seen[e.To] {
				nxt = e.To
				break
			}
		}
		if nxt == "" {
			break
		}
		out = append(out, nxt)
		seen[nxt] = true
		cur = nxt
	}
	for _, n := range scc {
		if !seen[n] {
			out = append(out, n)
		}
	}
	return out
}

// StartTiers orders the given nodes for starting: tier 0 holds the nodes
// with no dependency among them, tier k the nodes whose deepest dependency
// among them is in tier k-1. Only edges between the given nodes count; all
// kinds count. Each tier is sorted. The graph must be acyclic.
func (g *Graph) StartTiers(nodes []string) [][]string {
	return g.tiers(nodes, g.deps)
}

// StopTiers orders the given nodes for stopping: tier 0 holds the nodes that
// nothing among them depends on, and so on: the reverse direction of
// StartTiers.
func (g *Graph) StopTiers(nodes []string) [][]string {
	return g.tiers(nodes, g.rdeps)
}

// tiers computes longest-path levels over adj restricted to nodes, in
// O(V+E) with Kahn's algorithm.
func (g *Graph) tiers(nodes []string, adj map[string][]Edge) [][]string {
	in := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		in[n] = true
	}
	// pending[n] counts n's edges in adj to members; rev lists who waits on n.
	pending := make(map[string]int, len(nodes))
	rev := make(map[string][]string, len(nodes))
	for n := range in {
		for _, e := range adj[n] {
			if in[e.To] && e.To != n {
				pending[n]++
				rev[e.To] = append(rev[e.To], n)
			}
		}
	}
	var cur []string
	for n := range in {
		if pending[n] == 0 {
			cur = append(cur, n)
		}
	}
	var out [][]string
	for len(cur) > 0 {
		sort.Strings(cur)
		out = append(out, cur)
		var nxt []string
		for _, n := range cur {
			for _, m := range rev[n] {
				pending[m]--
				if pending[m] == 0 {
					nxt = append(nxt, m)
				}
			}
		}
		cur = nxt
	}
	return out
}

// StartOrder flattens StartTiers into one sequence.
func (g *Graph) StartOrder(nodes []string) []string { return slices.Concat(g.StartTiers(nodes)...) }
