package runner

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/xl"
)

// fakeClock is a Clock that moves only when a test advances it. Its
// readings keep time.Now's monotonic reading (shifted by Add), as the
// runner's clock must.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
	set     chan struct{} // signalled when a timer or ticker is set
}

type fakeTimer struct {
	c     *fakeClock
	at    time.Time
	every time.Duration // a ticker's period; 0 for a timer
	ch    chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now(), set: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d, every time.Duration) *fakeTimer {
	c.mu.Lock()
	t := &fakeTimer{c: c, at: c.now.Add(d), every: every, ch: make(chan time.Time, 1)}
	c.waiters = append(c.waiters, t)
	c.mu.Unlock()
	c.fire() // one already due fires at once
	select {
	case c.set <- struct{}{}:
	default:
	}
	return t
}

func (c *fakeClock) NewTimer(d time.Duration) Timer   { return c.add(d, 0) }
func (c *fakeClock) NewTicker(d time.Duration) Ticker { return tickerOf{c.add(d, d)} }

func (t *fakeTimer) C() <-chan time.Time { return t.ch }
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.waiters, t)
	if i < 0 {
		return false
	}
	t.c.waiters = slices.Delete(t.c.waiters, i, i+1)
	return true
}

type tickerOf struct{ *fakeTimer }

func (t tickerOf) Stop() { t.fakeTimer.Stop() }

// Advance moves the clock on by d, firing what falls due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	c.fire()
}

func (c *fakeClock) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := c.waiters[:0]
	for _, t := range c.waiters {
		if t.at.After(c.now) {
			keep = append(keep, t)
			continue
		}
		select {
		case t.ch <- c.now:
		default: // a ticker's reader lags: the tick is dropped, as time.Ticker's
		}
		if t.every > 0 {
			t.at = t.at.Add(t.every)
			keep = append(keep, t)
		}
	}
	c.waiters = keep
}

// next is when the earliest timer or ticker falls due.
func (c *fakeClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	for _, t := range c.waiters {
		if at.IsZero() || t.at.Before(at) {
			at = t.at
		}
	}
	return at, !at.IsZero()
}

// runUntil advances the clock from timer to timer until done is closed:
// one goroutine's waits, each over as soon as it is set.
func (c *fakeClock) runUntil(t *testing.T, done <-chan struct{}, limit time.Duration) {
	t.Helper()
	end := c.Now().Add(limit)
	for {
		if at, ok := c.next(); ok {
			if at.After(end) {
				t.Fatalf("still waiting after %s of the fake clock", limit)
			}
			c.Advance(at.Sub(c.Now()))
			continue
		}
		select {
		case <-done:
			return
		case <-c.set:
		}
	}
}

func TestUntilDeadline(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name     string
		d        time.Duration
		deadline time.Time
		want     time.Duration
	}{
		{"the deadline is far", time.Second, now.Add(time.Minute), time.Second},
		{"the deadline comes first: just past it", time.Second, now.Add(300 * time.Millisecond), 301 * time.Millisecond},
		{"the deadline is now", time.Second, now, time.Millisecond},
		{"the deadline has passed", time.Second, now.Add(-time.Second), -999 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := untilDeadline(now, tt.d, tt.deadline); got != tt.want {
			t.Errorf("%s: untilDeadline(%s) = %s, want %s", tt.name, tt.d, got, tt.want)
		}
	}
}

func TestAdaptive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		elapsed, interval, want time.Duration
	}{
		{0, time.Second, minCheck},                                  // quick first checks
		{time.Second, time.Second, minCheck},                        // 1/16 of 1s is under minCheck
		{4 * time.Second, time.Second, 250 * time.Millisecond},      // a 16th of the wait
		{16 * time.Second, time.Second, time.Second},                // never less often than the interval
		{time.Hour, 2 * time.Second, 2 * time.Second},               // ...however long
		{time.Second, 50 * time.Millisecond, 50 * time.Millisecond}, // an interval under minCheck wins
	}
	for _, tt := range tests {
		if got := adaptive(tt.elapsed, tt.interval); got != tt.want {
			t.Errorf("adaptive(%s, %s) = %s, want %s", tt.elapsed, tt.interval, got, tt.want)
		}
	}
}

// TestProgressTickerText: the ticker says, every ProgressEvery, how far a
// waiting guest is into its limit ("5s of 30s grace"), once the wait has
// lasted half a tick; driven by a fake clock, tick by tick.
func TestProgressTickerText(t *testing.T) {
	t.Parallel()
	const every = 5 * time.Second
	tests := []struct {
		name    string
		begin   time.Duration // into the run, when the wait begins
		advance []time.Duration
		want    []string
	}{
		{"from the run's start", 0, []time.Duration{every, every, every},
			[]string{"waiting for shutdown, 5s of 30s grace", "waiting for shutdown, 10s of 30s grace", "waiting for shutdown, 15s of 30s grace"}},
		{"not before half a tick", 3 * time.Second, []time.Duration{2 * time.Second, every},
			[]string{"waiting for shutdown, 7s of 30s grace"}},
		{"past the limit it counts on", 0, []time.Duration{35 * time.Second},
			[]string{"waiting for shutdown, 35s of 30s grace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			var mu sync.Mutex
			var lines []string
			published := make(chan struct{}, 16)
			r := New(mustConfig(t, "[guest.db]\n"), newFake(), func(e Event) {
				mu.Lock()
				lines = append(lines, e.Msg)
				mu.Unlock()
			}, WithClock(clk))
			r.ProgressEvery = every
			r.Publish = func(*Progress) { published <- struct{}{} }
			ru := &run{Runner: r}
			ru.beginProgress("stopping", []string{"db"})
			stop := ru.startTicker()
			<-published // the first, at once
			<-clk.set   // the ticker is set: the ticks count from now
			clk.Advance(tt.begin)
			ru.setDoing("db", activity{doing: "waiting for shutdown", domid: 3, since: clk.Now(), limit: 30 * time.Second, limitName: "grace", say: true})
			<-published // the change
			for _, d := range tt.advance {
				clk.Advance(d)
				<-published // the tick's
			}
			stop()
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(lines) != fmt.Sprint(tt.want) {
				t.Errorf("progress lines %q, want %q", lines, tt.want)
			}
		})
	}
}

// ladderHV is one guest, db, that does what a case says once asked to
// shut down, by the fake clock.
type ladderHV struct {
	*fakeHV
	clk   *fakeClock
	after time.Duration // after the request, it turns to then ("": gone); <0: never
	then  string

	mu        sync.Mutex
	state     string
	asked     time.Time
	gone      bool
	destroyAt time.Time
	shutdowns []time.Time // when each xl shutdown returned
}

func (h *ladderHV) List(ctx context.Context) ([]xl.Domain, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []xl.Domain{{Name: "Domain-0", ID: 0, State: stateOf("r-----")}}
	if !h.asked.IsZero() && h.after >= 0 && !h.clk.Now().Before(h.asked.Add(h.after)) {
		if h.then == "" {
			h.gone = true
		} else {
			h.state = h.then
		}
	}
	if !h.gone {
		out = append(out, xl.Domain{Name: "db", ID: 7, MemMiB: 96, State: stateOf(h.state)})
	}
	return out, nil
}

func (h *ladderHV) Shutdown(ctx context.Context, name string, acpi bool, started func()) error {
	callStarted(started)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.asked.IsZero() {
		h.asked = h.clk.Now()
	}
	h.shutdowns = append(h.shutdowns, h.clk.Now())
	return nil
}

func (h *ladderHV) Destroy(ctx context.Context, name string, started func()) error {
	callStarted(started)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.destroyAt, h.gone = h.clk.Now(), true
	return nil
}

// TestShutdownLadderDestroysOnlyAfterGrace: the shutdown ladder destroys
// a guest that does not go only once its grace period, counted from the
// delivered request, is over; one powered off but still listed only after
// xl's monitor had its moment; one that goes, or is suspended, never.
// Driven by a fake clock: a 30 s grace takes no time.
func TestShutdownLadderDestroysOnlyAfterGrace(t *testing.T) {
	t.Parallel()
	const grace = 30 * time.Second
	tests := []struct {
		name  string
		after time.Duration
		then  string
		want  Fate
		// destroy: when xl destroy may come, into the wait; 0: never.
		destroyFrom, destroyBy time.Duration
	}{
		{"ignores the request", -1, "", Forced, grace, grace + time.Second},
		{"goes within its grace", 10 * time.Second, "", Done, 0, 0},
		{"powered off, the monitor never reaps it", 4 * time.Second, "---s--", Done, 4*time.Second + DefaultMonitorGrace, 7 * time.Second},
		{"suspended when its grace ends", 4 * time.Second, "---ss-", Suspended, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			hv := &ladderHV{fakeHV: newFake(), clk: clk, after: tt.after, then: tt.then, state: "-b----"}
			r := New(mustConfig(t, "[guest.db]\n"), hv, nil, WithClock(clk))
			r.PollInterval = time.Second
			ru := &run{Runner: r}
			var out *Outcome
			done := make(chan struct{})
			go func() {
				defer close(done)
				out = ru.stopOne(t.Context(), "db", methodShutdown, config.StopPolicy{}, grace)
			}()
			clk.runUntil(t, done, 10*time.Minute)
			if out.Status != tt.want {
				t.Errorf("status %s (%v), want %s", out.Status, out.Err, tt.want)
			}
			hv.mu.Lock()
			defer hv.mu.Unlock()
			if len(hv.shutdowns) != 1 {
				t.Fatalf("%d shutdown requests, want 1", len(hv.shutdowns))
			}
			asked := hv.shutdowns[0]
			switch {
			case tt.destroyFrom == 0 && !hv.destroyAt.IsZero():
				t.Errorf("destroyed %s into the wait: never to be destroyed", hv.destroyAt.Sub(asked))
			case tt.destroyFrom == 0:
			case hv.destroyAt.IsZero():
				t.Error("never destroyed")
			case hv.destroyAt.Sub(asked) < tt.destroyFrom || hv.destroyAt.Sub(asked) > tt.destroyBy:
				t.Errorf("destroyed %s into the wait, want between %s and %s", hv.destroyAt.Sub(asked), tt.destroyFrom, tt.destroyBy)
			}
		})
	}
}
