package runner

import "time"

// The wall clock jumps (NTP correcting a wrong RTC at boot, an admin's
// date -s, a resumed VM host); the monotonic clock time.Now also carries
// does not. Every wait and timeout is measured on the monotonic clock;
// the wall clock is read only for what is stored or compared with what
// another process stored: save records, the progress status reads, the
// time status compares them with.

// WithWallClock makes the runner read the host's wall clock by f, for
// what it stores or compares with stored times only.
func WithWallClock(f func() time.Time) Option {
	return func(r *Runner) { r.wall = f }
}

// wallNow is the host's wall clock now.
func (r *Runner) wallNow() time.Time {
	if r.wall == nil {
		return r.now()
	}
	return r.wall()
}

// onWall gives t, a reading of this process's time.Now, on the wall clock
// as it reads at wall, mono being the time.Now taken with it: wall less the
// monotonic time since t. A wall-clock jump since t moves the result with
// the clock, so that whoever compares it with the wall clock later sees
// the time that truly passed. The zero time stays zero.
func onWall(t, mono, wall time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return wall.Add(-mono.Sub(t))
}
