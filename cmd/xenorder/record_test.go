package main

import (
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/runner"
)

// A run's record is on the wall clock as it reads when the run ends, even
// when the clock jumped during the run: status compares a guest's ready
// time with its own reading for the guest's uptime.
func TestRecordAfterWallClockJump(t *testing.T) {
	for _, tc := range []struct {
		name string
		jump time.Duration // of the wall clock during the run
	}{
		{"no jump", 0},
		{"forward 1h", time.Hour},
		{"back 1h", -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now().Add(-10 * time.Second) // the run's start, before the jump
			res := &runner.Result{Verb: "start", Elapsed: 10 * time.Second, Outcomes: []*runner.Outcome{
				{Guest: "db", Status: runner.Done, DomID: 7, Began: began.Add(time.Second), Created: began.Add(2 * time.Second), Elapsed: 4 * time.Second},
			}}
			wall := time.Now().Add(tc.jump).Round(0) // the wall clock as it reads at the end
			run := record(&runner.Plan{}, res, wall)
			sp := run.Spans[0]
			// db was ready 5 s after the run began, 5 s before it ended.
			if d := wall.Sub(sp.Ended); d < 5*time.Second || d > 5*time.Second+time.Second {
				t.Errorf("db ready %s before the run's end by the record, want 5s", d)
			}
			if d := sp.Ended.Sub(sp.Began); d != 4*time.Second {
				t.Errorf("db's start took %s by the record, want 4s", d)
			}
			if d := sp.Created.Sub(sp.Began); d != time.Second {
				t.Errorf("db created %s after its start began by the record, want 1s", d)
			}
			if d := sp.Began.Sub(run.Began); d < 900*time.Millisecond || d > 1100*time.Millisecond {
				t.Errorf("db began %s after the run by the record, want 1s", d)
			}
			if run.DomIDs["db"] != 7 {
				t.Errorf("domids %v", run.DomIDs)
			}
		})
	}
}
