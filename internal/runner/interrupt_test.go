package runner

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestInterruptedStartSaysWhatItLeft: after an interruption the start
// says (Result.LeftIn; the summary's INTERRUPTED lines), for each guest it did not finish, the state it was left in:
// running (with its domid) and not confirmed ready, created but not yet
// listed, running as it was, or not started. Never "not run" for a guest
// that runs.
func TestInterruptedStartSaysWhatItLeft(t *testing.T) {
	t.Parallel()
	const src = `
[guest.slow]
[[guest.slow.ready]]
delay = "1h"
[guest.after]
depends_on = ["slow"]
[guest.up]
[[guest.up.ready]]
exec = ["/bin/false"]
[external.nas]
[[external.nas.ready]]
exec = ["/bin/false"]
`
	// up and nas are looked at in parallel with slow's create: where the
	// interruption finds them varies, what each line says does not.
	const (
		upLine  = "left running (domid 1), "
		nasLine = "not "
	)
	tests := []struct {
		name        string
		createDelay time.Duration
		// cancelOn is the event after which the start is interrupted.
		cancelOn func(Event) bool
		want     map[string]string // guest → the summary's line begins so
	}{
		{"waiting for probes", 20 * time.Millisecond,
			func(e Event) bool { return e.Guest == "slow" && strings.HasPrefix(e.Msg, "created (domid ") },
			map[string]string{
				"slow":  "left running (domid 2), created by this start, not confirmed ready: waiting for delay 1h0m0s",
				"after": "not started",
			}},
		{"during xl create", 300 * time.Millisecond,
			func(e Event) bool { return e.Guest == "slow" && strings.HasPrefix(e.Msg, "creating ") },
			// The create is never abandoned: it ends, and the guest runs.
			map[string]string{
				"slow":  "left running (domid 2), created by this start, not confirmed ready: waiting for delay 1h0m0s",
				"after": "not started",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hv := newFake()
			hv.createDelay = tt.createDelay
			hv.add("up", "-b----") // domid 1
			r, c := newRunner(t, src, hv)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var once sync.Once
			r.Report = func(e Event) {
				c.report(e)
				if tt.cancelOn(e) {
					once.Do(cancel)
				}
			}
			plan, err := r.PlanStart(ctx, nil, StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res := r.Start(ctx, plan)
			var guests []string
			for _, o := range res.Outcomes {
				if o.Status != NotRun {
					t.Errorf("%s: %s, want interrupted", o.Guest, o.Status)
				}
				guests = append(guests, o.Guest)
			}
			// In plan order: the tier of nas, slow and up, then after.
			if !slices.Equal(guests, []string{"nas", "slow", "up", "after"}) {
				t.Fatalf("outcomes:\n%s", summary(res))
			}
			want := map[string]string{"up": upLine, "nas": nasLine}
			for g, w := range tt.want {
				want[g] = w
			}
			for _, o := range res.Outcomes {
				if got := res.LeftIn(o); !strings.HasPrefix(got, want[o.Guest]) {
					t.Errorf("%s left:\n got %s\nwant %s", o.Guest, got, want[o.Guest])
				}
			}
			if _, ok := hv.first("create", "after"); ok {
				t.Error("after was created after the interruption")
			}
			if st := statusOf(res); st["slow"] != NotRun || st["after"] != NotRun {
				t.Errorf("statuses %v", st)
			}
		})
	}
}

// TestInterruptedStopSaysWhatItLeft: a stop's interrupted guests are said
// to run still, with their domid.
func TestInterruptedStopSaysWhatItLeft(t *testing.T) {
	t.Parallel()
	res := &Result{Verb: "stop", Outcomes: []*Outcome{
		{Guest: "db", Status: NotRun, DomID: 7},
		{Guest: "ghost", Status: NotRun, DomID: -1},
	}}
	for i, want := range []string{"not stopped; still running (domid 7)", "not stopped; still running"} {
		if got := res.LeftIn(res.Outcomes[i]); got != want {
			t.Errorf("%s left: %q, want %q", res.Outcomes[i].Guest, got, want)
		}
	}
}
