package timeline

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// element is one start tag of a parsed SVG.
type element struct {
	name  string
	attrs map[string]string
	text  string // the character data directly inside it
}

func (e element) hasClass(c string) bool {
	return slices.Contains(strings.Fields(e.attrs["class"]), c)
}

// parseSVG parses out with encoding/xml, failing the test on any error, and
// returns its elements in document order.
func parseSVG(t *testing.T, out []byte) []element {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(out))
	d.Strict = true
	var els []element
	var open []int
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			els = append(els, e)
			open = append(open, len(els)-1)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				els[open[len(open)-1]].text += string(tok)
			}
		}
	}
	if len(els) == 0 || els[0].name != "svg" {
		t.Fatalf("no <svg> root")
	}
	return els
}

func render(t *testing.T, start, stop *Run) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := SVG(&b, start, stop); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSVG(t *testing.T) {
	start, failed, stop := plotStart(), seedFailed(), seedStop()
	weird := Run{Verb: "start", Began: t0, Ended: at(2000), Spans: []Span{
		{Guest: "a<b&c", Began: at(0), Created: at(500), Ended: at(1000), Outcome: "done"},
		{Guest: `q"u'o>te`, Deps: []string{"a<b&c"}, Began: at(1000), Ended: at(2000), Outcome: "done"},
		{Guest: "]]>", Deps: []string{`q"u'o>te`}, Outcome: "skipped"},
	}}
	for _, tc := range []struct {
		name        string
		start, stop *Run
		bars        []string // guests with a bar, i.e. that ended
		crit        []string // the critical chain's guests
		failed      int
		names       []string // must appear verbatim as text
	}{
		{"start and stop", &start, &stop, nil, nil, 1, []string{"Domain-N", "backup"}},
		{"start with a failure", &failed, nil, nil, nil, 1, []string{"web", "mail", "db"}},
		{"stop alone", nil, &stop, nil, nil, 0, nil},
		{"names are escaped", &weird, nil, nil, nil, 0, []string{"a<b&c", `q"u'o>te`, "]]>"}},
		{"empty run", &Run{Verb: "start"}, nil, nil, nil, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, tc.start, tc.stop)
			els := parseSVG(t, out)
			if !bytes.Equal(out, render(t, tc.start, tc.stop)) {
				t.Error("two calls gave different output")
			}
			if bytes.Contains(out, []byte("<script")) || bytes.Contains(out, []byte("@font-face")) || bytes.Contains(out, []byte("href=")) {
				t.Error("output has a script, a font or an external reference")
			}
			if els[0].attrs["font-family"] != "sans-serif" || els[0].attrs["version"] != "1.1" {
				t.Errorf("root attributes %v", els[0].attrs)
			}

			// Per run, in order: one bar per ended guest, critical
			// ones marked, and no bar for anything else.
			var wantBars, wantCrit []string
			for _, r := range []*Run{tc.start, tc.stop} {
				if r == nil {
					continue
				}
				idx, names := endedSpans(*r)
				for _, n := range names {
					wantBars = append(wantBars, idx[n].Guest)
				}
				wantCrit = append(wantCrit, guests(CriticalChain(*r))...)
			}
			var bars, crit []string
			var failedBars, critLines int
			for i, e := range els {
				if e.name == "rect" && e.hasClass("bar") {
					g := guestOf(els, i)
					bars = append(bars, g)
					if e.hasClass("crit") {
						crit = append(crit, g)
						if e.attrs["fill"] != colCritReady {
							t.Errorf("critical bar of %s has fill %s", g, e.attrs["fill"])
						}
					} else if e.attrs["fill"] == colCritReady {
						t.Errorf("bar of %s is not critical but coloured so", g)
					}
				}
				if e.name == "rect" && e.hasClass("failed") {
					failedBars++
					if e.attrs["fill"] != colFailed {
						t.Errorf("failed bar fill %s", e.attrs["fill"])
					}
				}
				if e.name == "path" && e.hasClass("dep") && e.hasClass("crit") {
					critLines++
				}
			}
			slices.Sort(bars)
			slices.Sort(wantBars)
			if !slices.Equal(bars, wantBars) {
				t.Errorf("bars for %q, want one for each ended guest %q", bars, wantBars)
			}
			slices.Sort(crit)
			slices.Sort(wantCrit)
			if !slices.Equal(crit, wantCrit) {
				t.Errorf("critical bars %q, want %q", crit, wantCrit)
			}
			if failedBars != tc.failed {
				t.Errorf("%d failed bars, want %d", failedBars, tc.failed)
			}
			if wantLines := max(0, len(wantCrit)-runsWithChain(tc.start, tc.stop)); critLines != wantLines {
				t.Errorf("%d critical lines, want %d", critLines, wantLines)
			}
			var texts []string
			for _, e := range els {
				if e.name == "text" {
					texts = append(texts, e.text)
				}
			}
			for _, n := range tc.names {
				if !slices.Contains(texts, n) {
					t.Errorf("no text %q among %q", n, texts)
				}
			}
		})
	}
}

// runsWithChain counts the runs that have a critical chain: each has one
// line fewer than guests on it.
func runsWithChain(runs ...*Run) int {
	n := 0
	for _, r := range runs {
		if r != nil && len(CriticalChain(*r)) > 0 {
			n++
		}
	}
	return n
}

// guestOf is the name of the guest whose <g> holds element i: the text of
// the nearest preceding "name" element.
func guestOf(els []element, i int) string {
	for ; i >= 0; i-- {
		if els[i].name == "text" && els[i].hasClass("name") {
			return els[i].text
		}
	}
	return ""
}

func TestSVGNoRun(t *testing.T) {
	if err := SVG(io.Discard, nil, nil); err == nil {
		t.Error("SVG(nil, nil) did not fail")
	}
}

func TestSVGWidth(t *testing.T) {
	long := Run{Verb: "start", Began: t0, Ended: at(3_600_000), Spans: []Span{
		{Guest: "slow", Began: at(0), Ended: at(3_600_000), Outcome: "done"},
	}}
	short := Run{Verb: "start", Began: t0, Ended: at(300), Spans: []Span{
		{Guest: "quick", Began: at(0), Ended: at(300), Outcome: "done"},
	}}
	seed := seedStart()
	for _, tc := range []struct {
		name     string
		run      Run
		min, max float64
	}{
		{"7.6s at 100px/s", seed, 110 + 760, 110 + 760 + 300},
		{"short runs are at least 800px", short, 800, 801},
		{"long runs are capped", long, 6000, 6600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			els := parseSVG(t, render(t, &tc.run, nil))
			w, err := strconv.ParseFloat(els[0].attrs["width"], 64)
			if err != nil {
				t.Fatal(err)
			}
			if w < tc.min || w > tc.max {
				t.Errorf("width %v, want %v..%v", w, tc.min, tc.max)
			}
		})
	}
}

func TestSVGGolden(t *testing.T) {
	start, stop := plotStart(), seedStop()
	golden(t, "plot.golden.svg", render(t, &start, &stop))
}
