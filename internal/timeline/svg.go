package timeline

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Layout of the picture, in pixels.
const (
	pxPerSec   = 100.0  // the scale, unless the run is too long or too short for it
	maxPlotW   = 6000.0 // a longer run is drawn at a smaller scale
	minWidth   = 800.0
	margin     = 12.0
	rightPad   = 140.0 // room right of the last bar for its duration
	rowH       = 22.0
	barH       = 10.0
	critBarH   = 14.0
	charW      = 7.0 // a generous estimate of a 12px sans-serif character's width
	minTickGap = 60.0
	headH      = 70.0 // a section's title, subtitle and axis labels
	footH      = 28.0 // below a section's rows: the end marker's label
	sectionGap = 16.0
	legendRowH = 20.0
)

// Colours.
const (
	colCreate     = "#a6cee3"
	colReady      = "#1f78b4"
	colGone       = "#807dba"
	colCritCreate = "#fdbf6f"
	colCritReady  = "#e6550d"
	colFailed     = "#d62728"
	colSkipped    = "#999999"
	colDep        = "#9a9a9a"
	colGrid       = "#e3e3e3"
	colRowAlt     = "#f6f6f6"
	colText       = "#222222"
	colMuted      = "#666666"
)

// SVG draws the run as a timeline, like `systemd-analyze plot`: a time axis
// with tick labels and grid lines, one row per guest (sorted by Began, then
// name; guests that never began last) with the guest's name left of its bar.
// A start bar has two shades, Began→Created ("xl create") and Created→Ended
// ("until ready"); a stop bar one ("until gone"). A failed guest is a red bar
// up to where it stopped, a skipped or not-run guest a grey name and no bar.
// Thin lines with arrows lead from the end of each dependency's bar to the
// beginning of its dependent's; the critical chain's bars and lines are
// thicker and orange. Hovering over a row shows its numbers (a <title>).
//
// If stop is non-nil, the stop run is drawn below the start, on the same
// scale, with its own title and axis; either run may be nil, not both. The
// output is SVG 1.1 without scripts or external fonts, and the same runs
// always give the same bytes.
func SVG(w io.Writer, start *Run, stop *Run) error {
	var runs []*Run
	for _, r := range []*Run{start, stop} {
		if r != nil {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return errors.New("timeline: no run to draw")
	}

	secs := make([]*section, len(runs))
	longest := 0.0
	nameChars := 0
	for i, r := range runs {
		secs[i] = newSection(r)
		longest = max(longest, secs[i].dur)
		for _, row := range secs[i].rows {
			nameChars = max(nameChars, utf8.RuneCountInString(row.s.Guest))
		}
	}
	g := geometry{gutter: max(110, margin+float64(nameChars)*charW+16)}
	plotW := max(minWidth-g.gutter-rightPad, min(maxPlotW, longest*pxPerSec))
	g.scale = pxPerSec
	if longest > 0 {
		g.scale = plotW / longest
	}
	g.width = math.Ceil(g.gutter + plotW + rightPad)

	var body bytes.Buffer
	y := 0.0
	for i, s := range secs {
		if i > 0 {
			y += sectionGap
		}
		y += s.draw(&body, g, y)
	}
	legend, lh := drawLegend(g, y+8, start != nil, stop != nil)
	height := math.Ceil(y + 8 + lh + margin)

	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="no"?>` + "\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif" font-size="12">`+"\n",
		num(g.width), num(height), num(g.width), num(height))
	fmt.Fprintf(&b, "<title>%s</title>\n", esc(secs[0].title()))
	b.WriteString(`<defs>` + "\n")
	for _, m := range []struct{ id, col string }{{"arrow", colDep}, {"arrow-crit", colCritReady}} {
		fmt.Fprintf(&b, `<marker id="%s" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="%s"/></marker>`+"\n", m.id, m.col)
	}
	b.WriteString(`</defs>` + "\n")
	fmt.Fprintf(&b, `<rect class="background" x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", num(g.width), num(height))
	b.Write(body.Bytes())
	b.Write(legend)
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// geometry is what all sections of a picture share.
type geometry struct {
	gutter float64 // x of time 0; the guests' names end left of it
	scale  float64 // px per second
	width  float64
}

// section is one run's part of the picture.
type section struct {
	r      *Run
	origin time.Time
	dur    float64 // seconds from origin to the run's end
	rows   []*row
	byName map[string]*row
	chain  []Link
	onCh   map[string]bool
	slack  map[string]time.Duration
}

// row is one guest's line.
type row struct {
	s     Span
	y     float64 // centre
	ended bool
	// a bar is drawn from b0 to b1 when bar is set; b1 is Ended for an
	// ended span, where it stopped for a failed one.
	bar    bool
	b0, b1 time.Time
}

func newSection(r *Run) *section {
	s := &section{r: r, origin: origin(*r), byName: map[string]*row{}}
	s.chain = CriticalChain(*r)
	s.onCh = map[string]bool{}
	for _, l := range s.chain {
		s.onCh[l.Guest] = true
	}
	s.slack = Slack(*r)
	if end := finish(*r); !s.origin.IsZero() && end.After(s.origin) {
		s.dur = end.Sub(s.origin).Seconds()
	}
	for _, sp := range r.Spans {
		if _, dup := s.byName[sp.Guest]; dup {
			continue
		}
		rw := &row{s: sp, ended: hasEnded(sp)}
		switch {
		case rw.ended:
			rw.bar, rw.b0, rw.b1 = true, sp.Began, sp.Ended
		case sp.Outcome == outcomeFailed && !sp.Began.IsZero():
			rw.bar, rw.b0, rw.b1 = true, sp.Began, sp.Began
			for _, t := range []time.Time{sp.Created, sp.Ended} {
				if t.After(rw.b1) {
					rw.b1 = t
				}
			}
		}
		s.rows = append(s.rows, rw)
		s.byName[sp.Guest] = rw
	}
	sort.SliceStable(s.rows, func(i, j int) bool {
		a, b := s.rows[i].s, s.rows[j].s
		if a.Began.IsZero() != b.Began.IsZero() {
			return b.Began.IsZero()
		}
		if !a.Began.Equal(b.Began) {
			return a.Began.Before(b.Began)
		}
		return a.Guest < b.Guest
	})
	return s
}

func (s *section) verb() string {
	if s.r.Verb == "" {
		return "run"
	}
	return s.r.Verb
}

// title is "xenorder start, 2025-03-01 12:00:00 UTC: 7.6s".
func (s *section) title() string {
	t := "xenorder " + s.verb()
	if !s.r.Began.IsZero() {
		t += ", " + s.r.Began.Format("2006-01-02 15:04:05 MST")
	}
	return t + ": " + fmtDur(time.Duration(math.Round(s.dur*1000))*time.Millisecond)
}

// subtitle counts the guests by outcome.
func (s *section) subtitle() string {
	count := map[string]int{}
	order := []string{"done", "already done", "fell back", "forced", outcomeFailed, outcomeSkipped, outcomeNotRun}
	var extra []string
	for _, rw := range s.rows {
		o := rw.s.Outcome
		if o == "" {
			o = "unknown"
		}
		if count[o] == 0 && !contains(order, o) {
			extra = append(extra, o)
		}
		count[o]++
	}
	sort.Strings(extra)
	var parts []string
	for _, o := range append(order, extra...) {
		if count[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[o], o))
		}
	}
	t := fmt.Sprintf("%d guests", len(s.rows))
	if len(s.rows) == 1 {
		t = "1 guest"
	}
	if len(parts) > 0 {
		t += ": " + strings.Join(parts, ", ")
	}
	return t
}

func contains(list []string, x string) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// x is where t is on the axis.
func (s *section) x(g geometry, t time.Time) float64 {
	return g.gutter + max(0, t.Sub(s.origin).Seconds())*g.scale
}

// draw writes the section with its top at y0 and returns its height.
func (s *section) draw(b *bytes.Buffer, g geometry, y0 float64) float64 {
	n := max(1, len(s.rows))
	top := y0 + headH
	bottom := top + float64(n)*rowH
	fmt.Fprintf(b, `<g class="run %s">`+"\n", esc(s.verb()))
	fmt.Fprintf(b, `<text class="title" x="%s" y="%s" font-size="16" font-weight="bold" fill="%s">%s</text>`+"\n",
		num(margin), num(y0+24), colText, esc(s.title()))
	fmt.Fprintf(b, `<text class="subtitle" x="%s" y="%s" fill="%s">%s</text>`+"\n",
		num(margin), num(y0+42), colMuted, esc(s.subtitle()))

	// Row stripes, then the axis and grid over them.
	for i := 0; i < n; i += 2 {
		fmt.Fprintf(b, `<rect class="stripe" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
			num(margin), num(top+float64(i)*rowH), num(g.width-2*margin), num(rowH), colRowAlt)
	}
	axisEnd := (g.width - rightPad/2 - g.gutter) / g.scale
	step := tickStep(g.scale)
	for k := 0; ; k++ {
		t := float64(k) * step
		if t > axisEnd+1e-9 {
			break
		}
		x := g.gutter + t*g.scale
		fmt.Fprintf(b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`+"\n",
			num(x), num(top-4), num(x), num(bottom), colGrid)
		fmt.Fprintf(b, `<text class="tick" x="%s" y="%s" font-size="11" text-anchor="middle" fill="%s">%s</text>`+"\n",
			num(x), num(top-9), colMuted, tickLabel(t, step))
	}
	if len(s.rows) == 0 {
		fmt.Fprintf(b, `<text class="empty" x="%s" y="%s" font-style="italic" fill="%s">no guests in this run</text>`+"\n",
			num(g.gutter+8), num(top+rowH/2+4), colSkipped)
	}
	for i, rw := range s.rows {
		rw.y = top + float64(i)*rowH + rowH/2
	}

	// The end of the run: a dashed line across the rows.
	if s.dur > 0 {
		x := g.gutter + s.dur*g.scale
		fmt.Fprintf(b, `<line class="end" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1" stroke-dasharray="4,3"/>`+"\n",
			num(x), num(top-4), num(x), num(bottom+4), colMuted)
		fmt.Fprintf(b, `<text class="end" x="%s" y="%s" font-size="11" text-anchor="middle" fill="%s">%s</text>`+"\n",
			num(x), num(bottom+17), colMuted, esc(s.verb()+" ended @"+fmtDur(time.Duration(math.Round(s.dur*1000))*time.Millisecond)))
	}

	// Dependency lines under the bars; the critical chain's over them.
	crit := map[[2]string]bool{}
	for i := 1; i < len(s.chain); i++ {
		crit[[2]string{s.chain[i-1].Guest, s.chain[i].Guest}] = true
	}
	var critLines bytes.Buffer
	for _, rw := range s.rows {
		if !rw.bar {
			continue
		}
		for _, d := range sortedDeps(rw.s) {
			dep, ok := s.byName[d]
			if !ok || !dep.ended {
				continue
			}
			x1, y1 := s.x(g, dep.b1), dep.y
			x2, y2 := s.x(g, rw.b0), rw.y
			// Down from the dependency's end, then right into the
			// dependent's start, with room for the arrow.
			xv := min(x1, x2-8)
			path := fmt.Sprintf("M%s,%s H%s V%s H%s", num(x1), num(y1), num(xv), num(y2), num(x2))
			if crit[[2]string{d, rw.s.Guest}] {
				fmt.Fprintf(&critLines, `<path class="dep crit" d="%s" fill="none" stroke="%s" stroke-width="2" marker-end="url(#arrow-crit)"/>`+"\n", path, colCritReady)
			} else {
				fmt.Fprintf(b, `<path class="dep" d="%s" fill="none" stroke="%s" stroke-width="1" marker-end="url(#arrow)"/>`+"\n", path, colDep)
			}
		}
	}

	for _, rw := range s.rows {
		s.drawRow(b, g, rw)
	}
	b.Write(critLines.Bytes())
	b.WriteString("</g>\n")
	return bottom + footH - y0
}

// drawRow writes one guest's name, bar and duration.
func (s *section) drawRow(b *bytes.Buffer, g geometry, rw *row) {
	sp := rw.s
	crit := s.onCh[sp.Guest]
	cls := "guest"
	if crit {
		cls += " crit"
	}
	fmt.Fprintf(b, `<g class="%s">`, cls)
	fmt.Fprintf(b, "<title>%s</title>\n", esc(s.tooltip(rw)))

	nameAttrs := fmt.Sprintf(`fill="%s"`, colText)
	switch {
	case crit:
		nameAttrs += ` font-weight="bold"`
	case !rw.bar:
		nameAttrs = fmt.Sprintf(`fill="%s" font-style="italic"`, colSkipped)
	}
	fmt.Fprintf(b, `<text class="name" x="%s" y="%s" text-anchor="end" %s>%s</text>`+"\n",
		num(g.gutter-8), num(rw.y+4), nameAttrs, esc(sp.Guest))

	if !rw.bar {
		what := sp.Outcome
		if what == "" {
			what = "never began"
		}
		fmt.Fprintf(b, `<text class="note" x="%s" y="%s" font-size="11" font-style="italic" fill="%s">%s</text>`+"\n",
			num(g.gutter+6), num(rw.y+4), colSkipped, esc(what))
		b.WriteString("</g>\n")
		return
	}

	h := barH
	if crit {
		h = critBarH
	}
	x0, x1 := s.x(g, rw.b0), s.x(g, rw.b1)
	w := max(2, x1-x0)
	y := rw.y - h/2
	var note string
	switch {
	case !rw.ended:
		fmt.Fprintf(b, `<rect class="failed" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
			num(x0), num(y), num(w), num(h), colFailed)
		note = "failed"
		if d := rw.b1.Sub(rw.b0); d > 0 {
			note += " after " + fmtDur(d)
		}
	default:
		ready, create, kind := colReady, colCreate, "ready"
		if s.r.Verb == "stop" {
			ready, kind = colGone, "gone"
		}
		if crit {
			ready, create = colCritReady, colCritCreate
			kind += " crit"
		}
		fmt.Fprintf(b, `<rect class="bar %s" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
			kind, num(x0), num(y), num(w), num(h), ready)
		if !sp.Created.IsZero() && sp.Created.After(sp.Began) {
			xc := min(s.x(g, sp.Created), x0+w)
			cc := "create"
			if crit {
				cc += " crit"
			}
			fmt.Fprintf(b, `<rect class="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
				cc, num(x0), num(y), num(xc-x0), num(h), create)
		}
		note = fmtDur(sp.Ended.Sub(sp.Began))
		if sp.Outcome != "" && sp.Outcome != "done" {
			note += " " + sp.Outcome
		}
	}
	fmt.Fprintf(b, `<text class="note" x="%s" y="%s" font-size="11" fill="%s">%s</text>`+"\n",
		num(x0+w+5), num(rw.y+4), colMuted, esc(note))
	b.WriteString("</g>\n")
}

// tooltip is a row's numbers, for the <title> a viewer shows on hover.
func (s *section) tooltip(rw *row) string {
	sp := rw.s
	parts := []string{sp.Guest}
	if sp.Outcome != "" {
		parts = append(parts, sp.Outcome)
	}
	if rw.bar {
		parts = append(parts, "@"+fmtDur(sp.Began.Sub(s.origin)))
		if !sp.Created.IsZero() {
			parts = append(parts, "create "+fmtDur(sp.Created.Sub(sp.Began)))
		}
		if rw.ended {
			if !sp.Created.IsZero() {
				parts = append(parts, "ready "+fmtDur(sp.Ended.Sub(sp.Created)))
			}
			parts = append(parts, "total "+fmtDur(sp.Ended.Sub(sp.Began)))
			if d, ok := s.slack[sp.Guest]; ok {
				parts = append(parts, "slack "+fmtDur(d))
			}
		}
	}
	if deps := sortedDeps(sp); len(deps) > 0 {
		parts = append(parts, "after "+strings.Join(deps, ", "))
	}
	return strings.Join(parts, "; ")
}

// drawLegend returns the legend, laid out in rows from y0, and its height.
func drawLegend(g geometry, y0 float64, start, stop bool) ([]byte, float64) {
	type item struct {
		kind, col, label string
	}
	var items []item
	if start {
		items = append(items, item{"box", colCreate, "xl create"}, item{"box", colReady, "until ready"})
	}
	if stop {
		items = append(items, item{"box", colGone, "until gone"})
	}
	items = append(items,
		item{"box", colCritReady, "critical chain"},
		item{"box", colFailed, "failed"},
		item{"text", colSkipped, "skipped / not run"},
		item{"line", colDep, "waited for"},
		item{"crit-line", colCritReady, "critical wait"},
	)
	var b bytes.Buffer
	b.WriteString(`<g class="legend">` + "\n")
	x, y := margin, y0+legendRowH/2
	for _, it := range items {
		w := 28 + float64(utf8.RuneCountInString(it.label))*charW + 18
		if it.kind == "text" {
			w -= 28
		}
		if x > margin && x+w > g.width-margin {
			x, y = margin, y+legendRowH
		}
		tx := x + 28
		switch it.kind {
		case "box":
			fmt.Fprintf(&b, `<rect class="swatch" x="%s" y="%s" width="22" height="10" fill="%s"/>`, num(x), num(y-5), it.col)
			if it.col == colCritReady && start { // the chain's create step is lighter too
				fmt.Fprintf(&b, `<rect class="swatch" x="%s" y="%s" width="8" height="10" fill="%s"/>`, num(x), num(y-5), colCritCreate)
			}
		case "line", "crit-line":
			sw, mk := "1", "arrow"
			if it.kind == "crit-line" {
				sw, mk = "2", "arrow-crit"
			}
			fmt.Fprintf(&b, `<path class="swatch" d="M%s,%s H%s" stroke="%s" stroke-width="%s" marker-end="url(#%s)"/>`, num(x), num(y), num(x+22), it.col, sw, mk)
		case "text":
			tx = x
		}
		attrs := fmt.Sprintf(`fill="%s"`, colText)
		if it.kind == "text" {
			attrs = fmt.Sprintf(`fill="%s" font-style="italic"`, it.col)
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" %s>%s</text>`+"\n", num(tx), num(y+4), attrs, esc(it.label))
		x += w
	}
	b.WriteString("</g>\n")
	return b.Bytes(), y + legendRowH/2 - y0
}

// tickStep is the smallest of a few round steps, in seconds, that puts ticks
// at least minTickGap apart.
func tickStep(scale float64) float64 {
	for _, s := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if s*scale >= minTickGap {
			return s
		}
	}
	return 7200
}

// tickLabel is t, a multiple of step, in seconds: "0s", "0.5s", "90s".
func tickLabel(t, step float64) string {
	if step < 1 {
		return strconv.FormatFloat(math.Round(t*10)/10, 'f', 1, 64) + "s"
	}
	return strconv.FormatFloat(math.Round(t), 'f', 0, 64) + "s"
}

// num formats a coordinate to a tenth of a pixel, without a trailing ".0"
// or a "-0".
func num(v float64) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
