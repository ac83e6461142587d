package runner

import (
	"testing"
	"time"
)

// A run publishes its progress for status, another process that compares
// it with its own reading of the wall clock: whatever the wall clock did
// since a wait began, status must see the time truly used and left.
func TestProgressAfterWallClockJump(t *testing.T) {
	t.Parallel()
	const used, grace = 3 * time.Second, 20 * time.Second
	for _, tc := range []struct {
		name string
		jump time.Duration // of the wall clock, after the wait began
	}{
		{"no jump", 0},
		{"forward 1h", time.Hour},
		{"back 1h", -time.Hour},
		{"back 1 day", -24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The wall clock the host reads from now on: the jump done. As
			// a real one, its readings carry no monotonic reading.
			wall := func() time.Time { return time.Now().Add(tc.jump).Round(0) }
			r := &run{Runner: &Runner{wall: wall, clock: RealClock{}}}
			r.beginProgress("stopping", []string{"db"})
			began := time.Now().Add(-used) // read before the jump
			r.setDoing("db", activity{doing: "waiting for shutdown", domid: 7, since: began, limit: grace, limitName: "grace", say: true})

			p := r.snapshot()
			rep := &StatusReport{Now: wall(), Guests: []GuestStatus{{Name: "db"}}}
			rep.addProgress(&InProgress{PID: 1, Progress: *p})
			gp := rep.Guests[0].Progress
			if gp == nil {
				t.Fatal("no progress for db")
			}
			if d := time.Duration(gp.UsedMS)*time.Millisecond - used; d < 0 || d > time.Second {
				t.Errorf("used %dms, want %s", gp.UsedMS, used)
			}
			if gp.LeftMS == nil {
				t.Fatal("no time left given")
			}
			if d := grace - used - time.Duration(*gp.LeftMS)*time.Millisecond; d < 0 || d > time.Second {
				t.Errorf("left %dms, want %s", *gp.LeftMS, grace-used)
			}
			if d := rep.Now.Sub(p.Began); d < 0 || d > time.Second {
				t.Errorf("the run began %s before status's now, want just before", d)
			}
		})
	}
}

func TestOnWall(t *testing.T) {
	t.Parallel()
	mono := time.Now()
	t0 := mono.Add(-5 * time.Second)
	for _, tc := range []struct {
		name string
		wall time.Time
		want time.Time
	}{
		{"same clock", mono, t0},
		{"wall 1h ahead", mono.Round(0).Add(time.Hour), t0.Round(0).Add(time.Hour)},
		{"wall 1h behind", mono.Round(0).Add(-time.Hour), t0.Round(0).Add(-time.Hour)},
	} {
		if got := onWall(t0, mono, tc.wall); !got.Equal(tc.want) {
			t.Errorf("%s: onWall = %s, want %s", tc.name, got, tc.want)
		}
	}
	if got := onWall(time.Time{}, mono, mono.Add(time.Hour)); !got.IsZero() {
		t.Errorf("the zero time became %s", got)
	}
}
