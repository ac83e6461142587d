package render

// The text renderer: plans, run summaries and `xenorder status` for people.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/runner"
)

// Plan renders a plan for people: its warnings, then tier by tier one line
// per guest with its action, what it waits for and why it is in the run.
func Plan(p *runner.Plan) string {
	var b strings.Builder
	width := 10
	for _, s := range p.Steps() {
		width = max(width, len(show(s.Guest)))
	}
	line := func(s runner.Step) {
		fmt.Fprintf(&b, "  %-*s  %-16s", width, show(s.Guest), s.Action)
		var deps []string
		for _, e := range s.Deps {
			d := show(e.To)
			switch {
			case e.Kind == graph.Soft:
				d += " (after)"
			case strings.HasPrefix(e.Why, "inferred: "):
				d += " (" + show(e.Why) + ")"
			}
			deps = append(deps, d)
		}
		if len(deps) > 0 {
			if p.Verb == "stop" {
				fmt.Fprintf(&b, "  after: %s", strings.Join(deps, ", "))
			} else {
				fmt.Fprintf(&b, "  needs: %s", strings.Join(deps, ", "))
			}
		}
		if s.Note != "" {
			fmt.Fprintf(&b, "  [%s]", show(s.Note))
		}
		trimLine(&b)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", show(w))
	}
	for i, t := range p.Tiers {
		fmt.Fprintf(&b, "tier %d:\n", i)
		for _, s := range t {
			line(s)
		}
	}
	if len(p.Tiers) == 0 {
		b.WriteString("nothing to do\n")
	}
	return b.String()
}

// trimLine ends the line being built, without trailing blanks.
func trimLine(b *strings.Builder) {
	s := strings.TrimRight(b.String(), " ")
	b.Reset()
	b.WriteString(s)
	b.WriteString("\n")
}

// ResultLine is a run's result in one line, for systemd's STATUS=:
// "started 7/9 in 41.2s; NOT OK: fileserver failed, web skipped".
func ResultLine(r *runner.Result) string {
	verb := "started"
	if r.Verb == "stop" {
		verb = "stopped"
	}
	ok := 0
	var bad []string
	for _, o := range r.Outcomes {
		switch o.Status {
		case runner.Done, runner.AlreadyDone:
			ok++
		case runner.Held:
		default:
			bad = append(bad, fmt.Sprintf("%s %s", show(o.Guest), o.Status))
		}
	}
	line := fmt.Sprintf("%s %d/%d in %s", verb, ok, len(r.Outcomes), runner.Round(r.Elapsed))
	if len(bad) > 0 {
		line += "; NOT OK: " + strings.Join(bad, ", ")
	}
	return line
}

// Summary is a run's closing report: a count line, then one line per
// problem, root causes first.
func Summary(r *runner.Result) string {
	count := map[runner.Fate]int{}
	byStatus := map[runner.Fate][]*runner.Outcome{}
	for _, o := range r.Outcomes {
		count[o.Status]++
		byStatus[o.Status] = append(byStatus[o.Status], o)
	}
	doneWord, alreadyWord, forcedWord := "started", "already running", "destroyed after grace"
	if r.Verb == "stop" {
		doneWord, alreadyWord = "stopped", "already stopped"
	}
	parts := []string{}
	for _, s := range []struct {
		st   runner.Fate
		word string
	}{{runner.Done, doneWord}, {runner.AlreadyDone, alreadyWord}, {runner.FellBack, "by a fallback"}, {runner.Forced, forcedWord}, {runner.Failed, "failed"}, {runner.Skipped, "skipped"}, {runner.NotRun, "interrupted"}, {runner.Held, "held by a drain"}, {runner.Suspended, "left suspended"}} {
		if count[s.st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s.st], s.word))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to do")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d guests in %s: %s\n", r.Verb, len(r.Outcomes), runner.Round(r.Elapsed), strings.Join(parts, ", "))
	for _, o := range byStatus[runner.Failed] {
		fmt.Fprintf(&b, "  FAILED  %s: %s\n", show(o.Guest), runner.GuestErr(o.Guest, o.Err))
	}
	for _, o := range byStatus[runner.FellBack] {
		fmt.Fprintf(&b, "  FELL BACK %s: %s\n", show(o.Guest), runner.GuestErr(o.Guest, o.Err))
	}
	for _, o := range byStatus[runner.Forced] {
		fmt.Fprintf(&b, "  FORCED  %s: %s\n", show(o.Guest), runner.GuestErr(o.Guest, o.Err))
	}
	for _, o := range byStatus[runner.Suspended] {
		fmt.Fprintf(&b, "  SUSPENDED %s: %s\n", show(o.Guest), runner.GuestErr(o.Guest, o.Err))
	}
	skipped := map[string][]string{}
	for _, o := range byStatus[runner.Skipped] {
		skipped[show(o.Cause)] = append(skipped[show(o.Cause)], show(o.Guest))
	}
	causes := make([]string, 0, len(skipped))
	for c := range skipped {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	for _, c := range causes {
		gs := skipped[c]
		sort.Strings(gs)
		if r.Verb == "stop" {
			fmt.Fprintf(&b, "  SKIPPED %s: %s still running\n", strings.Join(gs, ", "), c)
		} else {
			fmt.Fprintf(&b, "  SKIPPED %s: dependency %s failed\n", strings.Join(gs, ", "), c)
		}
	}
	for _, o := range byStatus[runner.NotRun] {
		fmt.Fprintf(&b, "  INTERRUPTED %s: %s\n", show(o.Guest), show(r.LeftIn(o)))
	}
	return b.String()
}
