package render

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// golden compares got with testdata/name. The files were written by the
// runner's own methods (Plan.String, Result.Summary, StatusReport.Text...)
// for the fixtures, before rendering moved here: the output is the same
// byte for byte.
func golden(t *testing.T, name, got string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s:\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestPlan(t *testing.T) {
	for i, p := range fixturePlans() {
		golden(t, fmt.Sprintf("plan-%d.txt", i), Plan(p))
	}
}

func TestSummaryAndResultLine(t *testing.T) {
	for i, r := range fixtureResults() {
		golden(t, fmt.Sprintf("summary-%d.txt", i), Summary(r))
		golden(t, fmt.Sprintf("line-%d.txt", i), ResultLine(r)+"\n")
	}
}

// A failure's line names the guest once: "FAILED fileserver: xl create
// ...", not "FAILED fileserver: start fileserver: xl create ...".
func TestSummarySaysTheGuestOnce(t *testing.T) {
	s := Summary(fixtureResults()[0])
	if !strings.Contains(s, "  FAILED  fileserver: xl create /etc/xen/fileserver.cfg: exit status 3\n") || strings.Contains(s, "start fileserver") {
		t.Errorf("summary:\n%s", s)
	}
}

func TestStatusText(t *testing.T) {
	for i, s := range fixtureReports() {
		golden(t, fmt.Sprintf("status-%d.txt", i), StatusText(s, false))
		golden(t, fmt.Sprintf("status-colour-%d.txt", i), StatusText(s, true))
	}
}

// Colours only when asked (a terminal), and then for the state words.
func TestStatusColoursOnlyWhenAsked(t *testing.T) {
	rep := fixtureReports()[0]
	if plain := StatusText(rep, false); strings.Contains(plain, "\x1b[") {
		t.Errorf("colours without a terminal:\n%q", plain)
	}
	col := StatusText(rep, true)
	for _, want := range []string{"\x1b[32mblocked  \x1b[0m", "\x1b[33mstopping \x1b[0m", "\x1b[31mnot ready\x1b[0m", "\x1b[33mdrained  \x1b[0m"} {
		if !strings.Contains(col, want) {
			t.Errorf("no %q in\n%q", want, col)
		}
	}
}

// status shows the guests another xenorder starts or stops: the state
// word, what it does, the time used and left, what is queued.
func TestStatusTextShowsAnotherRunsProgress(t *testing.T) {
	text := StatusText(fixtureReports()[0], false)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^db\s+stopping\s+NO\s+2\s`),
		regexp.MustCompile(`(?m)^base\s+blocked\s+yes\s`),
		regexp.MustCompile(`(?m)^in progress: pid 4242 \(xenorder stop\), since 15:06:26, 1 of 9 guests done$`),
		regexp.MustCompile(`(?m)^  db\s+stopping  waiting for shutdown: 12s used, 2m48s left of grace 3m0s$`),
		regexp.MustCompile(`(?m)^  lab\s+starting  creating \(xl create\): 1m15s so far$`),
		regexp.MustCompile(`(?m)^  queued: base, web\\x1b$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("status lacks %s:\n%s", want, text)
		}
	}
	if text := StatusText(fixtureReports()[1], false); strings.Contains(text, "in progress") {
		t.Errorf("progress shown without a run:\n%s", text)
	}
}

// The JSON is the report's schema, with DEL and the C1 controls escaped
// too: it decodes to the same names, and cannot drive a terminal.
func TestStatusJSON(t *testing.T) {
	for i, s := range fixtureReports() {
		b, err := StatusJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, fmt.Sprintf("status-%d.json", i), string(b))
	}
	b, _ := StatusJSON(fixtureReports()[0])
	if strings.ContainsAny(string(b), "\x07\x1b\x7f\u009b") {
		t.Errorf("a control character unescaped:\n%s", b)
	}
	var back struct{ Others []struct{ Name string } }
	if err := json.Unmarshal(b, &back); err != nil || back.Others[2].Name != "stray\x07\x7f\u009b" {
		t.Errorf("decoded %+v, %v", back, err)
	}
}

func TestStatusDOT(t *testing.T) {
	golden(t, "graph-0.dot", StatusDOT(fixtureReports()[0], fixtureGraph()))
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		d            int64 // seconds
		clock, short string
	}{
		{0, "0s", "0s"},
		{59, "59s", "59s"},
		{60, "1m00s", "1m"},
		{168, "2m48s", "2m"},
		{3600 + 2*60 + 5, "1h02m", "1h02m"},
		{47*3600 + 59*60, "47h59m", "47h59m"},
		{49 * 3600, "49h00m", "2d"},
	} {
		d := time.Duration(tc.d) * time.Second
		if got := clock(d); got != tc.clock {
			t.Errorf("clock(%s) = %s, want %s", d, got, tc.clock)
		}
		if got := shortDuration(d); got != tc.short {
			t.Errorf("shortDuration(%s) = %s, want %s", d, got, tc.short)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{42 * time.Second, "42s"},
		{17 * time.Minute, "17m"},
		{3*time.Hour + 5*time.Minute, "3h05m"},
		{5 * 24 * time.Hour, "5d"},
		{0, "0s"},
		// An image saved, or a guest up, before the clock went back.
		{-59*time.Minute - 56*time.Second, "0s"},
		{-3 * 24 * time.Hour, "0s"},
	} {
		if got := shortDuration(tc.d); got != tc.want {
			t.Errorf("shortDuration(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
