package runner

import (
	"fmt"
	"strings"
)

// The runner's tests look at data: what people read of a plan or a result
// is internal/render's, and tested there. These say enough for a failing
// test's message.

// summary lists a run's outcomes, one line each.
func summary(res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s:\n", res.Verb, res.Elapsed)
	for _, o := range res.Outcomes {
		fmt.Fprintf(&b, "  %s: %s", o.Guest, o.Status)
		if o.Err != nil {
			fmt.Fprintf(&b, ": %v", o.Err)
		}
		if o.Cause != "" {
			fmt.Fprintf(&b, " (cause %s)", o.Cause)
		}
		if o.Status == NotRun {
			fmt.Fprintf(&b, " (%s)", res.LeftIn(o))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// planText lists a plan's steps, tier by tier.
func planText(p *Plan) string {
	var b strings.Builder
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	for i, t := range p.Tiers {
		for _, s := range t {
			fmt.Fprintf(&b, "tier %d: %s %s deps %v note %q\n", i, s.Guest, s.Action, s.Deps, s.Note)
		}
	}
	return b.String()
}

// stepOf is guest's step in the plan.
func stepOf(p *Plan, guest string) (Step, bool) {
	for _, s := range p.Steps() {
		if s.Guest == guest {
			return s, true
		}
	}
	return Step{}, false
}
