package runner

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestAfterCallSharesOnlyCallsBegunLateEnough: a caller joins the call in
// flight when it began after the caller's moment, and waits it out and
// calls anew when it began before; either way one call at a time.
func TestAfterCallSharesOnlyCallsBegunLateEnough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		second    int // the moment the second caller needs a call begun after
		wantCalls int
	}{
		{"joins a call begun after its moment", 0, 1},
		{"waits out a call begun before its moment", 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				c       afterCall
				clock   = 1 // the call begins at clock; clock then moves on
				stored  = 0 // when the stored result's call began; 0: none
				calls   = 0
				running = 0
				peak    = 0
			)
			release := make(chan struct{})
			inCall := make(chan struct{}, 2)
			get := func(after int) error {
				mu.Lock()
				defer mu.Unlock()
				return c.do(context.Background(), &mu, func() bool { return stored > after }, func() func() {
					mu.Lock()
					began := clock
					clock++
					calls++
					running++
					peak = max(peak, running)
					mu.Unlock()
					inCall <- struct{}{}
					<-release
					return func() { stored, running = began, running-1 }
				})
			}
			var wg sync.WaitGroup
			wg.Go(func() { _ = get(0) })
			<-inCall // the first call is in flight, begun at 1
			wg.Go(func() { _ = get(tt.second) })
			time.Sleep(20 * time.Millisecond) // lets the second caller reach the call in flight (the outcome must hold either way)
			close(release)
			wg.Wait()
			if calls != tt.wantCalls || peak != 1 {
				t.Errorf("%d calls, %d at once; want %d, one at a time", calls, peak, tt.wantCalls)
			}
		})
	}
}
