package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update to accept):\n%s", name, path, got)
	}
}

func TestDrainHoldsThroughStartAndResumeBringsBack(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	mustExit(t, h.xenorder("start"), 0)

	// Dry run: the plan, nothing changed, nothing recorded.
	dry := h.xenorder("drain", "fileserver", "--dry-run")
	mustExit(t, dry, 0)
	if !regexp.MustCompile(`(?s)tier 0:\n  db .*  mail .*  web .*tier 1:\n  fileserver `).MatchString(dry.stdout) {
		t.Errorf("dry-run plan:\n%s", dry.stdout)
	}
	if n := len(stateChanging(h)) - len(h.callsOf("create")); n != 0 {
		t.Errorf("dry-run changed %d things", n)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "state", "drains.json")); err == nil {
		t.Error("dry-run recorded a drain")
	}

	r := h.xenorder("drain", "fileserver")
	mustExit(t, r, 0)
	if !strings.Contains(r.stdout, "drained (kept down through start, until xenorder resume): db, fileserver, mail, web") {
		t.Errorf("drain output:\n%s", r.stdout)
	}
	sd := h.callsOf("shutdown")
	for _, n := range []string{"Domain-N", "opnsense", "monitor", "scratch"} {
		if _, ok := sd[n]; ok {
			t.Errorf("%s stopped by a drain of fileserver", n)
		}
	}
	gone := goneTimes(t, h)
	for _, n := range []string{"web", "mail", "db"} {
		if !sd["fileserver"].Begin.After(gone[n]) {
			t.Errorf("fileserver asked to stop before its dependent %s was gone", n)
		}
	}
	if up := running(h); !equalSets(up, []string{"Domain-N", "monitor", "opnsense", "scratch"}) {
		t.Errorf("running after the drain: %v", up)
	}

	// A plain start (the one at boot) leaves them down, and is no failure.
	s := h.xenorder("start")
	mustExit(t, s, 0)
	if !regexp.MustCompile(`fileserver: drained since \d{4}-\d\d-\d\d \d\d:\d\d, not started \(xenorder resume fileserver\)`).MatchString(s.stdout) {
		t.Errorf("start output:\n%s", s.stdout)
	}
	if up := running(h); !equalSets(up, []string{"Domain-N", "monitor", "opnsense", "scratch"}) {
		t.Errorf("a plain start brought drained guests back: %v", up)
	}
	// status reports them drained without failing on them.
	st := h.xenorder("status")
	mustExit(t, st, 0)
	if !regexp.MustCompile(`(?m)^fileserver\s+drained\s`).MatchString(st.stdout) {
		t.Errorf("status:\n%s", st.stdout)
	}
	// Starting a guest whose dependency is drained refuses.
	w := h.xenorder("start", "web")
	mustExit(t, w, 1)
	if !strings.Contains(w.stderr, "depends on fileserver, which is drained since") || !strings.Contains(w.stderr, "xenorder resume fileserver") {
		t.Errorf("start web:\n%s", w)
	}

	createsBefore := len(h.calls())
	res := h.xenorder("resume")
	mustExit(t, res, 0)
	var order []string
	for _, c := range h.calls()[createsBefore:] {
		if c.Prog == "xl" && c.Args[0] == "create" {
			order = append(order, strings.TrimSuffix(filepath.Base(c.Args[1]), ".cfg"))
		}
	}
	if len(order) != 4 || order[0] != "fileserver" {
		t.Errorf("resume created %v, fileserver first", order)
	}
	if up := running(h); len(up) != 8 {
		t.Errorf("after resume: %v", up)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "state", "drains.json"))
	var doc struct{ Drained map[string]any }
	json.Unmarshal(b, &doc)
	if len(doc.Drained) != 0 {
		t.Errorf("drains left after resume: %s", b)
	}
}

func TestStartByNameLiftsItsDrain(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	mustExit(t, h.xenorder("start", "monitor"), 0)
	mustExit(t, h.xenorder("drain", "monitor"), 0)
	r := h.xenorder("start", "monitor")
	mustExit(t, r, 0)
	if !strings.Contains(r.stdout, "monitor: drain lifted") {
		t.Errorf("output:\n%s", r.stdout)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "state", "drains.json"))
	if strings.Contains(string(b), "monitor") {
		t.Errorf("drain kept: %s", b)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	mustExit(t, h.xenorder("start"), 0)
	r := h.xenorder("restart", "opnsense")
	mustExit(t, r, 0)
	// opnsense and everything above it went down and came back, in order.
	for _, n := range []string{"opnsense", "fileserver", "web", "mail", "db"} {
		if !strings.Contains(r.stdout, n+": stopped after") || !regexp.MustCompile(n+`: ready after`).MatchString(r.stdout) {
			t.Errorf("%s not restarted:\n%s", n, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "Domain-N: stopped") {
		t.Error("Domain-N restarted")
	}
	if up := running(h); len(up) != 8 {
		t.Errorf("after restart: %v", up)
	}
}

// normalise blanks what changes from run to run in status output.
var volatile = regexp.MustCompile(`"(now|up_since|drained_since|config)": "[^"]*"|"last_start_ms": \d+|"domid": \d+`)

func TestStatusJSONAndDOTGolden(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	mustExit(t, h.xenorder("start"), 0)
	mustExit(t, h.xenorder("drain", "db"), 0)
	st := h.xenorder("status", "--json")
	mustExit(t, st, 0)
	golden(t, "status.json.golden", volatile.ReplaceAllStringFunc(st.stdout, func(s string) string {
		k, _, _ := strings.Cut(s, ":")
		return k + ": X"
	}))
	g := h.xenorder("graph")
	mustExit(t, g, 0)
	golden(t, "graph.dot.golden", g.stdout)

	tm := h.xenorder("status", "--timings")
	mustExit(t, tm, 0)
	if !strings.Contains(tm.stdout, "last start: ") || !strings.Contains(tm.stdout, "Domain-N @") {
		t.Errorf("timings:\n%s", tm.stdout)
	}
	p := h.xenorder("plot")
	mustExit(t, p, 0)
	if !strings.HasPrefix(strings.TrimSpace(p.stdout), "<?xml") && !strings.HasPrefix(strings.TrimSpace(p.stdout), "<svg") {
		t.Errorf("plot is not SVG:\n%.200s", p.stdout)
	}
	_ = time.Second
}
