package runner

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Where a run is: every guest in flight says what it does (an activity),
// and one ticker, every ProgressEvery, turns the activities into progress
// lines (sorted by guest: the same order whatever the timing), into the
// service manager's STATUS=, and into what Publish hears, for `xenorder
// status` run meanwhile.

// progress is a run's count of finished guests and what each guest in
// flight does.
type progress struct {
	mu    sync.Mutex
	verb  string // starting, stopping
	run   string // start, stop
	began time.Time
	order []string // the plan's guests
	total int
	done  int
	ended map[string]bool
	doing map[string]*activity
	poke  chan struct{} // a guest began something else: publish now
}

// activity is what one guest of a run does now.
type activity struct {
	doing     string    // for status: "waiting for shutdown", "xl save", ...
	detail    string    // for the progress line, when it says more than doing
	domid     int       // -1: none
	since     time.Time // when the time counted against limit began
	limit     time.Duration
	limitName string // grace, start_timeout, save_timeout; "" with no limit
	// say: a progress line at every tick once it lasted half a tick;
	// line renders it (nil: "<doing>, 12s of 3m0s grace").
	say  bool
	line func(a activity, now time.Time) string
}

// deadline is when the activity's limit ends (zero: it has none).
func (a activity) deadline() time.Time {
	if a.limit <= 0 {
		return time.Time{}
	}
	return a.since.Add(a.limit)
}

// text is the activity's progress line.
func (a activity) text(now time.Time) string {
	if a.line != nil {
		return a.line(a, now)
	}
	what := a.doing
	if a.detail != "" {
		what = a.detail
	}
	if a.limit <= 0 {
		return fmt.Sprintf("%s, %s so far", what, progressRound(now.Sub(a.since)))
	}
	return strings.TrimSuffix(fmt.Sprintf("%s, %s of %s %s", what, progressRound(now.Sub(a.since)), a.limit, a.limitName), " ")
}

// progressRound rounds a time spent for a progress line: to the second
// from 10s on ("12s"), else to a tenth ("1.2s", "300ms").
func progressRound(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

func (r *run) beginProgress(verb string, order []string) {
	p := &r.prog
	p.mu.Lock()
	p.verb, p.total, p.done = verb, len(order), 0
	p.run = map[string]string{"starting": "start", "stopping": "stop"}[verb]
	p.began = r.now()
	p.order = append([]string(nil), order...)
	p.ended = map[string]bool{}
	p.doing = map[string]*activity{}
	p.poke = make(chan struct{}, 1)
	p.mu.Unlock()
}

func (r *run) finished(o *Outcome) {
	p := &r.prog
	p.mu.Lock()
	p.done++
	if p.ended != nil {
		p.ended[o.Guest] = true
		delete(p.doing, o.Guest)
	}
	p.mu.Unlock()
	p.pokePublish()
}

// pokePublish asks the ticker to publish at once (what a guest does
// changed). Never blocks.
func (p *progress) pokePublish() {
	p.mu.Lock()
	ch := p.poke
	p.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// setDoing says what a guest does from now on (its domid stays when a is
// given none).
func (r *run) setDoing(guest string, a activity) {
	p := &r.prog
	p.mu.Lock()
	if p.doing == nil || p.ended[guest] {
		p.mu.Unlock()
		return
	}
	if old := p.doing[guest]; old != nil && a.domid < 0 {
		a.domid = old.domid
	}
	p.doing[guest] = &a
	p.mu.Unlock()
	p.pokePublish()
}

// setDetail changes what a guest's progress line says it waits for,
// without changing what it does.
func (r *run) setDetail(guest, detail string, domid int) {
	p := &r.prog
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.doing[guest]; a != nil {
		a.detail = detail
		if domid >= 0 {
			a.domid = domid
		}
	}
}

// say tells the service manager where the run is:
// "starting 5/9: waiting for fileserver (tcp 192.168.2.20:2049)".
func (r *run) say(format string, args ...any) {
	if r.Notify == nil {
		return
	}
	r.prog.mu.Lock()
	prefix := fmt.Sprintf("%s %d/%d: ", r.prog.verb, r.prog.done, r.prog.total)
	r.prog.mu.Unlock()
	r.Notify.Say(prefix + fmt.Sprintf(format, args...))
}

// statusGuests is how many guests' progress STATUS= names; the others
// are counted.
const statusGuests = 3

// startTicker runs the progress ticker until the returned stop is called:
// every ProgressEvery a line for each guest whose activity says so and has
// lasted half that (so the first line comes between half a tick and a
// tick and a half into a wait, never for a wait over before it), sorted by
// guest, and STATUS= with the same lines; Publish at once, at every change
// of what a guest does, at every tick, and nil when it stops.
func (r *run) startTicker() (stop func()) {
	every := orDefault(r.ProgressEvery, DefaultProgressEvery)
	quit, done := make(chan struct{}), make(chan struct{})
	r.prog.mu.Lock()
	poke := r.prog.poke
	r.prog.mu.Unlock()
	// The first publish before any guest can begin: every one queued.
	r.publish()
	go func() {
		defer close(done)
		tick := r.clock.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				if r.Publish != nil {
					r.Publish(nil)
				}
				return
			case <-poke:
				r.publish()
			case now := <-tick.C():
				r.tick(now, every)
				r.publish()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// inFlightNow returns the guests in flight, by name, with their activities.
func (r *run) inFlightNow() ([]string, map[string]activity) {
	p := &r.prog
	p.mu.Lock()
	defer p.mu.Unlock()
	acts := make(map[string]activity, len(p.doing))
	for g, a := range p.doing {
		acts[g] = *a
	}
	return sortedKeys(acts), acts
}

// tick prints the progress lines that are due, sorted by guest, and puts
// them in STATUS=.
func (r *run) tick(now time.Time, every time.Duration) {
	names, acts := r.inFlightNow()
	var lines []string
	for _, g := range names {
		a := acts[g]
		if !a.say || now.Sub(a.since) < every/2 {
			continue
		}
		line := a.text(now)
		if r.Report != nil {
			r.Report(Event{Time: now, Guest: g, DomID: a.domid, Msg: line, Step: StageWait})
		}
		lines = append(lines, show(g)+": "+show(line))
	}
	if len(lines) == 0 {
		return
	}
	more := ""
	if len(lines) > statusGuests {
		more = fmt.Sprintf("; %d more waiting", len(lines)-statusGuests)
		lines = lines[:statusGuests]
	}
	r.say("%s%s", strings.Join(lines, "; "), more)
}

// Progress is where a start or stop is, as it publishes it (Runner.Publish)
// for `xenorder status`.
type Progress struct {
	Verb   string          `json:"verb"` // start, stop
	Began  time.Time       `json:"began"`
	Done   int             `json:"done"` // guests finished, of Total
	Total  int             `json:"total"`
	Guests []GuestProgress `json:"guests"` // in flight, by name
	Queued []string        `json:"queued"` // not begun yet, by name
}

// GuestProgress is one guest in flight.
type GuestProgress struct {
	Guest  string `json:"guest"`
	Action string `json:"action"` // starting, stopping
	Doing  string `json:"doing"`  // waiting for shutdown, xl save, creating (xl create), ...
	DomID  int    `json:"domid"`  // -1: none (yet)
	// Since is when the time counted against the limit began: the
	// shutdown request for a grace period, the guest's start for
	// start_timeout, the xl save for save_timeout.
	Since time.Time `json:"since"`
	// Limit names what ends the wait ("grace 3m0s": then xl destroy;
	// "start_timeout 1m0s": then it failed; "save_timeout 10m0s": then
	// said loudly, never cut short); "" with none. Deadline is when.
	Limit    string     `json:"limit,omitempty"`
	Deadline *time.Time `json:"deadline,omitempty"`
}

// snapshot is the run's progress now. Its times are on the wall clock as
// it reads now (onWall), whatever it read when they began: status, in
// another process, compares them with its own reading.
func (r *run) snapshot() *Progress {
	names, acts := r.inFlightNow()
	mono, wall := r.now(), r.wallNow()
	p := &r.prog
	p.mu.Lock()
	out := &Progress{Verb: p.run, Began: onWall(p.began, mono, wall), Done: p.done, Total: p.total, Guests: []GuestProgress{}, Queued: []string{}}
	for _, g := range p.order {
		if _, busy := acts[g]; !busy && !p.ended[g] {
			out.Queued = append(out.Queued, g)
		}
	}
	verb := p.verb
	p.mu.Unlock()
	sort.Strings(out.Queued)
	for _, g := range names {
		a := acts[g]
		gp := GuestProgress{Guest: g, Action: verb, Doing: a.doing, DomID: a.domid, Since: onWall(a.since, mono, wall)}
		if d := a.deadline(); !d.IsZero() {
			gp.Limit = strings.TrimSpace(a.limitName + " " + a.limit.String())
			d = onWall(d, mono, wall)
			gp.Deadline = &d
		}
		out.Guests = append(out.Guests, gp)
	}
	return out
}

func (r *run) publish() {
	if r.Publish != nil {
		r.Publish(r.snapshot())
	}
}
