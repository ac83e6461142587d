package runner

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// statusRecorder is a Notifier that keeps every STATUS=.
type statusRecorder struct {
	mu       sync.Mutex
	statuses []string
}

func (s *statusRecorder) Extend(time.Duration) {}
func (s *statusRecorder) Say(msg string) {
	s.mu.Lock()
	s.statuses = append(s.statuses, msg)
	s.mu.Unlock()
}
func (s *statusRecorder) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.statuses)
}

// publishRecorder keeps what Runner.Publish heard.
type publishRecorder struct {
	mu   sync.Mutex
	seen []*Progress
}

func (p *publishRecorder) publish(pr *Progress) {
	p.mu.Lock()
	p.seen = append(p.seen, pr)
	p.mu.Unlock()
}
func (p *publishRecorder) all() []*Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

// progressGroups returns the progress lines ("wait" events) of each tick,
// in the order given, grouped by the tick's time.
func progressGroups(c *collector, re *regexp.Regexp) [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var groups [][]string
	var at time.Time
	for _, e := range c.events {
		if e.Step != "wait" || !re.MatchString(e.String()) {
			continue
		}
		if len(groups) == 0 || !e.Time.Equal(at) {
			groups = append(groups, nil)
			at = e.Time
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], e.Guest)
	}
	return groups
}

// A stop says what it waits for every ProgressEvery, once a wait lasted
// that long, sorted by guest whatever the timing, through Report (the one
// serialised writer); STATUS= says the same; a quick stop says nothing.
func TestStopSaysWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		shutdown time.Duration
		every    time.Duration
		lines    bool
	}{
		{"slow", 400 * time.Millisecond, 40 * time.Millisecond, true},
		{"quick", 20 * time.Millisecond, 200 * time.Millisecond, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := "[defaults]\nstop_timeout = \"3m\"\n[guest.base]\n[guest.web]\ndepends_on = [\"base\"]\n[guest.db]\ndepends_on = [\"base\"]\n[guest.app]\ndepends_on = [\"base\"]\n"
			hv := newFake()
			r, c := newRunner(t, src, hv)
			start(t, r)
			hv.shutdownDelay = tc.shutdown
			rec := &statusRecorder{}
			r.Notify, r.ProgressEvery = rec, tc.every
			res := stop(t, r)
			if !res.OK() {
				t.Fatalf("%s", summary(res))
			}
			line := regexp.MustCompile(`^(app|db|web|base): waiting for shutdown, [0-9.]+m?s of 3m0s grace$`)
			groups := progressGroups(c, regexp.MustCompile(`: waiting for shutdown, `))
			for _, l := range c.lines() {
				if strings.Contains(l, "waiting for shutdown") && !line.MatchString(l) {
					t.Errorf("progress line %q", l)
				}
			}
			if !tc.lines {
				if len(groups) > 0 {
					t.Errorf("a stop quicker than ProgressEvery printed progress: %v", groups)
				}
				return
			}
			full := 0
			for _, g := range groups {
				if !slices.IsSorted(g) {
					t.Errorf("a tick's lines not sorted by guest: %v", g)
				}
				if slices.Equal(g, []string{"app", "db", "web"}) {
					full++
				}
			}
			if full < 2 {
				t.Errorf("want at least two ticks naming app, db, web together: %v\n%s", groups, strings.Join(c.lines(), "\n"))
			}
			status := regexp.MustCompile(`^stopping 0/4: app: waiting for shutdown, [0-9.]+m?s of 3m0s grace; db: waiting for shutdown, .*; web: waiting for shutdown, [0-9.]+m?s of 3m0s grace$`)
			if !slices.ContainsFunc(rec.all(), status.MatchString) {
				t.Errorf("no STATUS= with the progress lines: %q", rec.all())
			}
		})
	}
}

// What a run publishes for status: every guest, queued until its turn,
// then what it does with its limit and deadline, and nil at the end.
func TestStopPublishesItsProgress(t *testing.T) {
	t.Parallel()
	src := "[defaults]\nstop_timeout = \"3m\"\n[guest.base]\n[guest.web]\ndepends_on = [\"base\"]\n"
	hv := newFake()
	r, _ := newRunner(t, src, hv)
	start(t, r)
	hv.shutdownDelay = 200 * time.Millisecond
	pub := &publishRecorder{}
	r.Publish, r.ProgressEvery = pub.publish, 30*time.Millisecond
	res := stop(t, r)
	if !res.OK() {
		t.Fatalf("%s", summary(res))
	}
	seen := pub.all()
	if len(seen) < 3 || seen[len(seen)-1] != nil {
		t.Fatalf("published %d times, the last %v: want nil at the end", len(seen), seen[len(seen)-1])
	}
	if first := seen[0]; first.Verb != "stop" || first.Total != 2 || first.Done != 0 || !slices.Equal(first.Queued, []string{"base", "web"}) {
		t.Errorf("first publish %+v: want both queued", first)
	}
	var waiting *Progress
	for _, p := range seen[:len(seen)-1] {
		if len(p.Guests) == 1 && p.Guests[0].Guest == "web" && p.Guests[0].Doing == "waiting for shutdown" {
			waiting = p
			break
		}
	}
	if waiting == nil {
		b, _ := json.MarshalIndent(seen, "", " ")
		t.Fatalf("never published web waiting for shutdown:\n%s", b)
	}
	g := waiting.Guests[0]
	if g.Action != "stopping" || g.Limit != "grace 3m0s" || g.Deadline == nil || !g.Deadline.Equal(g.Since.Add(3*time.Minute)) || g.DomID <= 0 {
		t.Errorf("web in flight: %+v", g)
	}
	if !slices.Equal(waiting.Queued, []string{"base"}) {
		t.Errorf("queued while web stops: %v, want base (it waits for web to go)", waiting.Queued)
	}
	for _, p := range seen[:len(seen)-1] {
		for _, g := range p.Guests {
			if g.Guest == "base" && slices.Contains(p.Queued, "base") {
				t.Errorf("base both queued and in flight: %+v", p)
			}
		}
	}
}

// A start's progress lines come from the same ticker: sorted by guest,
// with what each waits for, and it publishes its guests as starting with
// start_timeout.
func TestStartProgressSortedAndPublished(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	src := fmt.Sprintf(`
[defaults]
start_timeout = "400ms"
[guest.b]
[[guest.b.ready]]
tcp = %[1]q
interval = "20ms"
[guest.a]
[[guest.a.ready]]
tcp = %[1]q
interval = "20ms"
`, addr)
	r, c := newRunner(t, src, newFake())
	pub := &publishRecorder{}
	r.Publish, r.ProgressEvery = pub.publish, 60*time.Millisecond
	start(t, r)
	groups := progressGroups(c, regexp.MustCompile(`: waiting for tcp `+regexp.QuoteMeta(addr)+`: connection refused \([0-9]+s of 400ms\)$`))
	both := 0
	for _, g := range groups {
		if !slices.IsSorted(g) {
			t.Errorf("a tick's lines not sorted by guest: %v", g)
		}
		if slices.Equal(g, []string{"a", "b"}) {
			both++
		}
	}
	if both == 0 {
		t.Errorf("no tick named a and b: %v\n%s", groups, strings.Join(c.lines(), "\n"))
	}
	found := false
	for _, p := range pub.all() {
		if p == nil {
			continue
		}
		for _, g := range p.Guests {
			if g.Guest == "a" && g.Action == "starting" && g.Doing == "waiting for tcp "+addr && g.Limit == "start_timeout 400ms" {
				found = true
			}
		}
	}
	if !found {
		t.Error("never published a as starting, waiting for its probe")
	}
}

// An xl save says where it is, and past save_timeout that it goes on.
func TestSaveProgressLines(t *testing.T) {
	t.Parallel()
	g := &growingSaveHV{fakeHV: newFake(), d: 300 * time.Millisecond, cancelled: make(chan struct{})}
	r, c := newRunner(t, stateConfig(t, "[guest.vm]\nstop_action = \"save\"\nsave_timeout = \"150ms\"\n"), g)
	r.ProgressEvery = 40 * time.Millisecond
	start(t, r)
	res := stop(t, r)
	if statusOf(res)["vm"] != Done {
		t.Fatalf("%s", summary(res))
	}
	before := regexp.MustCompile(`^vm: xl save: [0-9.]+ms of save_timeout 150ms$`)
	past := regexp.MustCompile(`^vm: xl save: [0-9.]+ms, past save_timeout 150ms$`)
	if !slices.ContainsFunc(c.lines(), before.MatchString) || !slices.ContainsFunc(c.lines(), past.MatchString) {
		t.Errorf("no progress lines before and past save_timeout:\n%s", strings.Join(c.lines(), "\n"))
	}
}

// status shows the guests another xenorder starts or stops: the state
// word, what it does, the time used and left.
func TestStatusShowsAnotherRunsProgress(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, "[guest.base]\n[guest.db]\ndepends_on = [\"base\"]\n[guest.web]\ndepends_on = [\"base\"]\n", hv)
	start(t, r)
	since := time.Now().Add(-12 * time.Second)
	deadline := since.Add(3 * time.Minute)
	ip := &InProgress{PID: 4242, Command: "xenorder stop", Progress: Progress{Verb: "stop", Began: since, Done: 1, Total: 3, Queued: []string{"base"},
		Guests: []GuestProgress{{Guest: "db", Action: "stopping", Doing: "waiting for shutdown", DomID: 2, Since: since, Limit: "grace 3m0s", Deadline: &deadline}}}}
	rep, err := r.Status(t.Context(), StatusOptions{InProgress: ip})
	if err != nil {
		t.Fatal(err)
	}
	// The text is internal/render's (TestStatusTextShowsAnotherRunsProgress);
	// the JSON's schema is the report's own.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Guests []struct {
			Name     string
			State    string
			Progress *struct {
				Action, Doing, Limit string
				UsedMS               int64  `json:"used_ms"`
				LeftMS               *int64 `json:"left_ms"`
			}
		}
		InProgress *struct {
			Verb   string
			PID    int
			Queued []string
		} `json:"in_progress"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, g := range doc.Guests {
		switch {
		case g.Name == "db":
			p := g.Progress
			if g.State != "blocked" || p == nil || p.Action != "stopping" || p.Doing != "waiting for shutdown" || p.Limit != "grace 3m0s" ||
				p.UsedMS < 11_000 || p.UsedMS > 13_000 || p.LeftMS == nil || *p.LeftMS < 167_000 || *p.LeftMS > 169_000 {
				t.Errorf("db in JSON: state %q, progress %+v", g.State, p)
			}
		case g.Progress != nil:
			t.Errorf("%s has progress %+v", g.Name, g.Progress)
		}
	}
	if ipj := doc.InProgress; ipj == nil || ipj.Verb != "stop" || ipj.PID != 4242 || !slices.Equal(ipj.Queued, []string{"base"}) {
		t.Errorf("in_progress: %+v\n%s", ipj, b)
	}

	// Without a run in progress, none of it.
	rep, _ = r.Status(t.Context(), StatusOptions{})
	if b, _ := json.Marshal(rep); strings.Contains(string(b), "progress") {
		t.Errorf("progress shown without a run:\n%s", b)
	}
}

// TestRunsKeepTheirOwnState: two starts of one Runner at once (xenorder
// start of two guests while a start of another is under way in the same
// process) each keep their own progress: every Progress published counts
// one run's guests and names only them.
func TestRunsKeepTheirOwnState(t *testing.T) {
	t.Parallel()
	const src = `
[guest.a1]
[[guest.a1.ready]]
delay = "150ms"
interval = "10ms"
[guest.a2]
[[guest.a2.ready]]
delay = "150ms"
interval = "10ms"
[guest.b]
[[guest.b.ready]]
delay = "150ms"
interval = "10ms"
`
	r, _ := newRunner(t, src, newFake())
	pub := &publishRecorder{}
	r.Publish, r.ProgressEvery = pub.publish, 20*time.Millisecond
	runs := map[int][]string{2: {"a1", "a2"}, 1: {"b"}}
	var wg sync.WaitGroup
	results := make([]*Result, 2)
	for i, names := range [][]string{runs[2], runs[1]} {
		plan, err := r.PlanStart(t.Context(), names, StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { results[i] = r.Start(t.Context(), plan) })
	}
	wg.Wait()
	for i, res := range results {
		if !res.OK() || len(res.Outcomes) != 2-i {
			t.Errorf("run %d: %s", i, summary(res))
		}
	}
	for _, p := range pub.all() {
		if p == nil {
			continue
		}
		own := set(runs[p.Total])
		if own == nil || p.Done > p.Total {
			t.Errorf("published %d done of %d: no run has that", p.Done, p.Total)
			continue
		}
		for _, g := range p.Guests {
			if !own[g.Guest] {
				t.Errorf("a run of %v published %s in flight", runs[p.Total], g.Guest)
			}
		}
		for _, g := range p.Queued {
			if !own[g] {
				t.Errorf("a run of %v published %s queued", runs[p.Total], g)
			}
		}
	}
}
