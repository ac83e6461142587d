package render

// The DOT renderer: `xenorder graph`.

import (
	"fmt"
	"strings"

	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/runner"
)

// StatusDOT renders the graph as Graphviz DOT, nodes coloured by the
// report's states, edges from dependent to dependency (after: dashed).
// Sorted, so stable.
func StatusDOT(s *runner.StatusReport, g *graph.Graph) string {
	var b strings.Builder
	b.WriteString("digraph xenorder {\n\trankdir=RL;\n\tnode [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\"];\n")
	for _, row := range s.Guests {
		label := show(row.Name) + "\\n" + row.State
		if row.DrainedSince != nil && !runner.Up(row.State) {
			label = show(row.Name) + "\\ndrained"
		}
		shape := ""
		if row.Kind == "external" {
			shape = ", shape=ellipse"
		}
		fmt.Fprintf(&b, "\t%q [label=\"%s\", fillcolor=%s%s];\n", row.Name, label, fill(row), shape)
	}
	for _, row := range s.Guests {
		for _, e := range g.Dependencies(row.Name) {
			style := ""
			switch {
			case e.Kind == graph.Soft:
				style = " [style=dashed, label=\"after\"]"
			case strings.HasPrefix(e.Why, "inferred: "):
				style = fmt.Sprintf(" [color=grey40, label=%q]", strings.TrimPrefix(e.Why, "inferred: "))
			}
			fmt.Fprintf(&b, "\t%q -> %q%s;\n", row.Name, e.To, style)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// fill is a node's colour: green ready, yellow on its way, grey stopped,
// blue drained, red anything else (crashed, not ready).
func fill(row runner.GuestStatus) string {
	switch {
	case row.DrainedSince != nil && !runner.Up(row.State):
		return "lightblue"
	case row.State == "ready" || (runner.Up(row.State) && (row.Ready == nil || *row.Ready)):
		return "palegreen"
	case runner.Up(row.State) || row.State == "paused" || row.State == "dying":
		return "khaki"
	case row.State == "stopped":
		return "lightgrey"
	}
	return "salmon"
}
