package timeline

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteText writes the critical chain like `systemd-analyze critical-chain`:
// a header, then the guest that ended last, and below it, each indented one
// step further, the guest that gated it, down to the root dependency:
//
//	The time when xl create was called is printed after "@"; the time until the guest was ready after "+".
//	web @6.2s +1.4s (create 0.3s, ready 1.1s)
//	└─fileserver @4.1s +1.9s (create 0.4s, ready 1.5s)
//	  └─opnsense @1.6s +2.4s (create 0.4s, ready 2.0s)
//	    └─Domain-N @0.0s +1.4s (create 0.3s, ready 1.1s)
//
// then a line "slack:" and one line per other guest of the run, sorted by
// name, with its slack (see Slack), or its outcome if it never ended.
func (r Run) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	chain := CriticalChain(r)
	outcome := map[string]string{}
	for _, s := range r.Spans {
		if _, dup := outcome[s.Guest]; !dup {
			outcome[s.Guest] = s.Outcome
		}
	}
	if r.Verb == "stop" {
		fmt.Fprintln(bw, `The time when the guest was asked to stop is printed after "@"; the time until it was gone after "+".`)
	} else {
		fmt.Fprintln(bw, `The time when xl create was called is printed after "@"; the time until the guest was ready after "+".`)
	}
	if len(chain) == 0 {
		if len(r.Spans) == 0 {
			fmt.Fprintln(bw, "(no guests in this run)")
		} else if r.Verb == "stop" {
			fmt.Fprintln(bw, "(no guest was gone)")
		} else {
			fmt.Fprintln(bw, "(no guest got ready)")
		}
	}
	onChain := map[string]bool{}
	for i := len(chain) - 1; i >= 0; i-- {
		l := chain[i]
		onChain[l.Guest] = true
		depth := len(chain) - 1 - i
		if depth > 0 {
			fmt.Fprint(bw, strings.Repeat("  ", depth-1), "└─")
		}
		fmt.Fprintf(bw, "%s @%s +%s", l.Guest, fmtDur(l.At), fmtDur(l.Total))
		var notes []string
		if l.Create != 0 {
			notes = append(notes, "create "+fmtDur(l.Create), "ready "+fmtDur(l.Ready))
		}
		if o := outcome[l.Guest]; o != "" && o != "done" {
			notes = append(notes, o)
		}
		if len(notes) > 0 {
			fmt.Fprintf(bw, " (%s)", strings.Join(notes, ", "))
		}
		fmt.Fprintln(bw)
	}

	slack := Slack(r)
	var others []string
	width := 0
	for g := range outcome {
		if !onChain[g] {
			others = append(others, g)
			width = max(width, utf8.RuneCountInString(g))
		}
	}
	sort.Strings(others)
	if len(others) > 0 {
		fmt.Fprintln(bw, "slack:")
	}
	for _, g := range others {
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(g))
		if d, ok := slack[g]; ok {
			fmt.Fprintf(bw, "  %s%s %s", g, pad, fmtDur(d))
			if o := outcome[g]; o != "" && o != "done" {
				fmt.Fprintf(bw, " (%s)", o)
			}
			fmt.Fprintln(bw)
		} else {
			o := outcome[g]
			if o == "" {
				o = "never ended"
			}
			fmt.Fprintf(bw, "  %s%s (%s)\n", g, pad, o)
		}
	}
	return bw.Flush()
}

// fmtDur formats d to a tenth of a second, the way systemd-analyze does
// for longer spans: "0.3s", "41.2s", "2min 3.0s", "1h 0min 5.0s".
func fmtDur(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	h, m := d/time.Hour, d%time.Hour/time.Minute
	s := (d % time.Minute).Seconds()
	if h > 0 {
		return fmt.Sprintf("%dh %dmin %.1fs", h, m, s)
	}
	return fmt.Sprintf("%dmin %.1fs", m, s)
}
