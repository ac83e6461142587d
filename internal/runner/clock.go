package runner

import (
	"context"
	"time"
)

// Clock is the runner's time: when now is, and the timers and tickers its
// waits sleep on. New gives a runner the real one (RealClock); tests give
// a fake one, to drive its timing logic without sleeping. Now's readings
// must carry a monotonic reading as time.Now's do (a time shifted with
// Add keeps it): every duration the runner measures, grace periods and
// deadlines, is a difference of two of them, which a jump of the wall
// clock must not move. A wall time is only stored (save records,
// progress) or shown.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
	NewTicker(d time.Duration) Ticker
}

// Timer is a Clock's time.Timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// Ticker is a Clock's time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// RealClock is the clock of the time package.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (RealClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

// Option configures a Runner made by New.
type Option func(*Runner)

// WithClock makes the runner keep time by c instead of the real clock.
func WithClock(c Clock) Option {
	return func(r *Runner) { r.clock = c }
}

func (r *Runner) now() time.Time                  { return r.clock.Now() }
func (r *Runner) since(t time.Time) time.Duration { return r.clock.Now().Sub(t) }

// sleep waits for d or the end of ctx, by c.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// untilDeadline is the next wait of a loop bounded by deadline, at now: d,
// or, if the deadline comes sooner, until just past it (1 ms, so that the
// look after the wait finds the deadline passed).
func untilDeadline(now time.Time, d time.Duration, deadline time.Time) time.Duration {
	return min(d, deadline.Sub(now)+time.Millisecond)
}
