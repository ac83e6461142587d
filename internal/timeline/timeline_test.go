package timeline

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// seedStart is the sample host's start, with times chosen by hand:
//
//	Domain-N   0.0 → created 0.3 → ready 1.4
//	opnsense   1.6 → 2.0 → 4.0   (after Domain-N)
//	fileserver 4.1 → 4.5 → 6.0   (after opnsense)
//	web        6.2 → 6.5 → 7.6   (after fileserver)
//	mail       6.1 → 6.3 → 7.0   (after fileserver)
//	db         6.1 → 6.4 → 7.3   (after fileserver)
//	monitor    0.0 → 0.2 → 2.5
//
// and the run ends at 7.6, when web is ready.
func seedStart() Run {
	sp := func(g string, deps []string, b, c, e int) Span {
		return Span{Guest: g, Deps: deps, Began: at(b), Created: at(c), Ended: at(e), Outcome: "done"}
	}
	return Run{Verb: "start", Began: t0, Ended: at(7600), Spans: []Span{
		sp("Domain-N", nil, 0, 300, 1400),
		sp("opnsense", []string{"Domain-N"}, 1600, 2000, 4000),
		sp("fileserver", []string{"opnsense"}, 4100, 4500, 6000),
		sp("web", []string{"fileserver"}, 6200, 6500, 7600),
		sp("mail", []string{"fileserver"}, 6100, 6300, 7000),
		sp("db", []string{"fileserver"}, 6100, 6400, 7300),
		sp("monitor", nil, 0, 200, 2500),
	}}
}

// seedFailed is seedStart where fileserver failed its readiness check at
// 8.0 (recorded in Ended) and its dependents were skipped; the run ends at
// 9.0.
func seedFailed() Run {
	r := seedStart()
	r.Ended = at(9000)
	for i := range r.Spans {
		s := &r.Spans[i]
		switch s.Guest {
		case "fileserver":
			s.Outcome, s.Ended = "failed", at(8000)
		case "web", "mail", "db":
			s.Outcome, s.Began, s.Created, s.Ended = "skipped", time.Time{}, time.Time{}, time.Time{}
		}
	}
	return r
}

// seedStop is the reverse: the ordinary guests first, db only by xl destroy
// after its grace period, then fileserver, opnsense and Domain-N.
func seedStop() Run {
	t1 := t0.Add(time.Hour)
	sp := func(g string, deps []string, b, e int, outcome string) Span {
		return Span{Guest: g, Deps: deps, Began: t1.Add(ms(b)), Ended: t1.Add(ms(e)), Outcome: outcome}
	}
	return Run{Verb: "stop", Began: t1, Ended: t1.Add(ms(7000)), Spans: []Span{
		sp("web", nil, 0, 2100, "done"),
		sp("mail", nil, 0, 1200, "done"),
		sp("db", nil, 0, 3400, "forced"),
		sp("monitor", nil, 0, 800, "done"),
		sp("scratch", nil, 0, 0, "already done"),
		sp("fileserver", []string{"web", "mail", "db"}, 3500, 5000, "done"),
		sp("opnsense", []string{"fileserver"}, 5100, 6300, "done"),
		sp("Domain-N", []string{"opnsense"}, 6400, 7000, "done"),
	}}
}

// plotStart is seedStart plus a failed independent guest and a guest
// skipped because of it, for the picture.
func plotStart() Run {
	r := seedStart()
	r.Spans = append(r.Spans,
		Span{Guest: "scratch", Began: at(0), Created: at(400), Ended: at(3300), Outcome: "failed"},
		Span{Guest: "backup", Deps: []string{"scratch"}, Outcome: "skipped"},
	)
	return r
}

func guests(links []Link) []string {
	var g []string
	for _, l := range links {
		g = append(g, l.Guest)
	}
	return g
}

func TestCriticalChain(t *testing.T) {
	tie := Run{Verb: "start", Began: t0, Ended: at(3000), Spans: []Span{
		{Guest: "b", Began: at(0), Ended: at(1000), Outcome: "done"},
		{Guest: "a", Began: at(0), Ended: at(1000), Outcome: "done"},
		{Guest: "c", Deps: []string{"b", "a"}, Began: at(1000), Ended: at(3000), Outcome: "done"},
		{Guest: "z", Began: at(0), Ended: at(3000), Outcome: "done"},
	}}
	cycle := Run{Verb: "start", Began: t0, Spans: []Span{
		{Guest: "x", Deps: []string{"y", "x"}, Began: at(0), Ended: at(2000), Outcome: "done"},
		{Guest: "y", Deps: []string{"x"}, Began: at(0), Ended: at(1000), Outcome: "done"},
	}}
	stop := seedStop()
	for _, tc := range []struct {
		name string
		run  Run
		want []string
	}{
		{"seed start: web ended last", seedStart(), []string{"Domain-N", "opnsense", "fileserver", "web"}},
		{"failed and skipped are not on the chain", seedFailed(), []string{"Domain-N", "opnsense"}},
		{"seed stop", stop, []string{"db", "fileserver", "opnsense", "Domain-N"}},
		{"ties broken by name, at the end and on the way", tie, []string{"a", "c"}},
		{"a cycle in bad input ends the chain", cycle, []string{"y", "x"}},
		{"empty run", Run{Verb: "start"}, nil},
		{"nothing ended", Run{Verb: "start", Began: t0, Spans: []Span{{Guest: "a", Began: at(0), Outcome: "failed"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := guests(CriticalChain(tc.run)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("chain %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCriticalChainDurations(t *testing.T) {
	want := []Link{
		{Guest: "Domain-N", At: 0, Create: ms(300), Ready: ms(1100), Total: ms(1400)},
		{Guest: "opnsense", At: ms(1600), Create: ms(400), Ready: ms(2000), Total: ms(2400)},
		{Guest: "fileserver", At: ms(4100), Create: ms(400), Ready: ms(1500), Total: ms(1900)},
		{Guest: "web", At: ms(6200), Create: ms(300), Ready: ms(1100), Total: ms(1400)},
	}
	if got := CriticalChain(seedStart()); !reflect.DeepEqual(got, want) {
		t.Errorf("chain\n%+v, want\n%+v", got, want)
	}
	// A stop has no create step: Ready is the whole wait.
	got := CriticalChain(seedStop())
	if l := got[0]; l != (Link{Guest: "db", At: 0, Create: 0, Ready: ms(3400), Total: ms(3400)}) {
		t.Errorf("stop chain starts with %+v", l)
	}
	if l := got[3]; l != (Link{Guest: "Domain-N", At: ms(6400), Ready: ms(600), Total: ms(600)}) {
		t.Errorf("stop chain ends with %+v", l)
	}
}

func TestSlack(t *testing.T) {
	longer := seedStart()
	longer.Ended = at(8000) // 0.4s of bookkeeping after web was ready
	for _, tc := range []struct {
		name string
		run  Run
		want map[string]time.Duration
	}{
		// web ends the run: 0. mail, db and monitor may end as late as the
		// run: 7.6-7.0, 7.6-7.3, 7.6-2.5. fileserver must end by the time
		// the longest of its waiters has to begin: min(7.6-1.4 web,
		// 7.6-0.9 mail, 7.6-1.2 db) = 6.2, so 0.2 (the gap before web was
		// created); opnsense by 6.2-1.9 = 4.3: 0.3; Domain-N by 4.3-2.4 =
		// 1.9: 0.5.
		{"seed start", seedStart(), map[string]time.Duration{
			"web": 0, "mail": ms(600), "db": ms(300), "monitor": ms(5100),
			"fileserver": ms(200), "opnsense": ms(300), "Domain-N": ms(500),
		}},
		{"run ends after its last guest", longer, map[string]time.Duration{
			"web": ms(400), "mail": ms(1000), "db": ms(700), "monitor": ms(5500),
			"fileserver": ms(600), "opnsense": ms(700), "Domain-N": ms(900),
		}},
		// fileserver failed, so nothing that ended waits on opnsense: it
		// may end at 9.0; Domain-N by 9.0-2.4 = 6.6.
		{"failed and skipped have none", seedFailed(), map[string]time.Duration{
			"opnsense": ms(5000), "Domain-N": ms(5200), "monitor": ms(6500),
		}},
		{"seed stop", seedStop(), map[string]time.Duration{
			// Domain-N ends the run; opnsense by 7.0-0.6 = 6.4: 0.1;
			// fileserver by 6.4-1.2 = 5.2: 0.2; its waiters' latest end is
			// 5.2-1.5 = 3.7: db 0.3, web 1.6, mail 2.5; monitor and
			// scratch, which nothing waits on, 7.0-0.8 and 7.0-0.
			"Domain-N": 0, "opnsense": ms(100), "fileserver": ms(200),
			"db": ms(300), "web": ms(1600), "mail": ms(2500),
			"monitor": ms(6200), "scratch": ms(7000),
		}},
		// Overlapping by hand: b's waiter a began before b ended.
		{"never negative", Run{Verb: "start", Began: t0, Ended: at(2000), Spans: []Span{
			{Guest: "b", Began: at(0), Ended: at(1500), Outcome: "done"},
			{Guest: "a", Deps: []string{"b"}, Began: at(500), Ended: at(2000), Outcome: "done"},
		}}, map[string]time.Duration{"a": 0, "b": 0}},
		{"empty run", Run{}, map[string]time.Duration{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Slack(tc.run); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("slack %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFmtDur(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.0s"}, {ms(349), "0.3s"}, {ms(41249), "41.2s"}, {ms(59970), "1min 0.0s"},
		{ms(123000), "2min 3.0s"}, {time.Hour + ms(5000), "1h 0min 5.0s"}, {-ms(200), "-0.2s"},
	} {
		if got := fmtDur(tc.d); got != tc.want {
			t.Errorf("fmtDur(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestWriteText(t *testing.T) {
	for _, tc := range []struct {
		golden string
		run    Run
	}{
		{"chain.golden", seedStart()},
		{"chain-failed.golden", plotStart()},
		{"chain-stop.golden", seedStop()},
		{"chain-empty.golden", Run{Verb: "start"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.run.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b.Bytes())
		})
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if the change is intended):\n%s", path, got)
	}
}
