package runner

import (
	"context"
	"sync"
	"time"

	"github.com/xenorder/xenorder/internal/xl"
)

// lister shares `xl list` between every guest being waited on: a caller asks
// for a snapshot newer than the one it saw last, and gets the newest one if
// that qualifies, joins a call in flight, or makes the call itself. So the
// number of xl calls per interval does not grow with the number of waiters.
type lister struct {
	list  func(ctx context.Context) ([]xl.Domain, error)
	clock Clock
	// onList, if set, sees every listing (the save records are judged
	// against each look at the host).
	onList func([]xl.Domain)

	mu        sync.Mutex
	pokes     chan struct{} // closed when something worth a new look happened
	gen       uint64        // pokes so far
	pokedAt   time.Time     // the last poke
	snap      snapshot
	calls     afterCall
	callCount int
}

// listGather is how long a new xl list waits for others to join it.
const listGather = 10 * time.Millisecond

type snapshot struct {
	at   time.Time // when the call that produced it began
	doms []xl.Domain
	err  error
}

func (s snapshot) find(name string) (xl.Domain, bool) {
	for _, d := range s.doms {
		if d.Name == name {
			return d, true
		}
	}
	return xl.Domain{}, false
}

// get returns a snapshot taken after the given time (the zero time accepts
// any) and after the last poke so far: a waiter wants the news a poke
// announced. (Pokes that come while it waits are for its next look: else a
// burst of deaths could keep it listing.) The call itself is not bound to
// ctx, which only bounds the wait: other waiters may be sharing it.
func (l *lister) get(ctx context.Context, after time.Time) (snapshot, error) {
	return l.gathered(ctx, after, listGather, true)
}

// gathered is get with a new call waiting gather for others to join it;
// news: the snapshot must be newer than the last poke too.
//
// Not singleflight.Group: it shares any call in flight, but a waiter here
// needs a call that began after a given moment (a call begun before a
// guest's create returned cannot show that guest), so an older call in
// flight must not be shared.
func (l *lister) gathered(ctx context.Context, after time.Time, gather time.Duration, news bool) (snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	want := after
	poked := news && l.pokedAt.After(want)
	// The call begins after a short gather, so that the guests asking at
	// about the same moment (a tier's creates returning together) share
	// it. Not after a poke: everyone it woke wants a snapshot newer than
	// the poke (a call begun before may not show what it announced), so
	// they all share this call, even once it is in flight.
	wait := gather
	if poked {
		want, wait = l.pokedAt, 0
	}
	err := l.calls.do(ctx, &l.mu, func() bool { return !l.snap.at.IsZero() && l.snap.at.After(want) }, func() func() {
		began := l.clock.Now().Add(wait)
		if wait > 0 {
			_ = sleep(context.Background(), l.clock, wait) // not ctx: others may be sharing the call
		}
		doms, err := l.list(context.WithoutCancel(ctx))
		if err == nil && l.onList != nil {
			l.onList(doms)
		}
		return func() {
			l.snap = snapshot{at: began, doms: doms, err: err}
			l.callCount++
		}
	})
	if err != nil {
		return snapshot{}, err
	}
	return l.snap, nil
}

// recent returns a snapshot begun at most one poll interval ago: good
// enough for a first look, and shared by every guest looking at once.
func (l *lister) recent(ctx context.Context, interval time.Duration) (snapshot, error) {
	return withListErr(l.gathered(ctx, l.clock.Now().Add(-interval), listGather, false))
}

// fresh returns a snapshot begun now or later, at once: for a caller that
// looks alone (a plan, status).
func (l *lister) fresh(ctx context.Context) (snapshot, error) {
	return withListErr(l.gathered(ctx, l.clock.Now().Add(-time.Nanosecond), 0, false))
}

// withListErr makes a failed xl list the error, for the callers that cannot
// do without the list (recent, fresh); a wait (get) reads snap.err itself
// and looks again.
func withListErr(snap snapshot, err error) (snapshot, error) {
	if err == nil {
		err = snap.err
	}
	return snap, err
}

// latest is the newest snapshot, whatever its age (zero before the first).
func (l *lister) latest() snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snap
}

// generation counts pokes: a waiter notes it before it looks, and its
// sleep ends at once if a poke came in between.
func (l *lister) generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// poke wakes everyone waiting: a domain went away.
func (l *lister) poke() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	l.pokedAt = l.clock.Now()
	if l.pokes != nil {
		close(l.pokes)
		l.pokes = nil
	}
}

// sleepOrPoke waits for d, the end of ctx, or a poke after generation gen
// (one that came before the call counts too).
func (l *lister) sleepOrPoke(ctx context.Context, d time.Duration, gen uint64) error {
	l.mu.Lock()
	if l.gen != gen {
		l.mu.Unlock()
		return nil
	}
	if l.pokes == nil {
		l.pokes = make(chan struct{})
	}
	ch := l.pokes
	l.mu.Unlock()
	t := l.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
