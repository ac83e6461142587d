package runner

import (
	"context"
	"sync"
)

// afterCall shares a call among callers that each need one begun after a
// moment of their own (an xl list begun before a guest's create returned
// cannot show that guest): what is stored will do, or the call in flight
// is joined, or the caller makes the call, which whoever comes meanwhile
// joins. A call in flight that began too early for a caller is waited
// out, then called anew: one call at a time. The lister's xl list and the
// memory gate's xl info share calls so.
//
// Not singleflight.Group: it shares any call in flight, however early it
// began.
type afterCall struct {
	inflight chan struct{} // closed when the call in flight returns; guarded by the owner's mutex
}

// do returns once have (called with mu held) says that what is stored
// will do, or when ctx ends. call runs without mu and returns store,
// which keeps its result, with mu held. mu is held on entry and on return.
func (c *afterCall) do(ctx context.Context, mu *sync.Mutex, have func() bool, call func() (store func())) error {
	for !have() {
		if ch := c.inflight; ch != nil {
			mu.Unlock()
			select {
			case <-ch:
				mu.Lock()
				continue
			case <-ctx.Done():
				mu.Lock()
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.inflight = ch
		mu.Unlock()
		store := call()
		mu.Lock()
		store()
		c.inflight = nil
		close(ch)
	}
	return nil
}
