package runner

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/xl"
)

// gatedHV's xl list blocks until the test lets it return.
type gatedHV struct {
	*fakeHV
	entered chan struct{} // a list began
	release chan struct{} // let one list return

	mu    sync.Mutex
	began []time.Time
}

func (g *gatedHV) List(ctx context.Context) ([]xl.Domain, error) {
	g.mu.Lock()
	g.began = append(g.began, time.Now())
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	return g.fakeHV.List(ctx)
}

// TestListerNewsAfterPoke: a waiter woken by a poke (a death) does not
// settle for an xl list that was already under way when the poke came: it
// may not show the death. A waiter that asked before the poke takes the
// list it asked for (its next look is for the news), so a burst of pokes
// cannot keep anyone listing.
func TestListerNewsAfterPoke(t *testing.T) {
	t.Parallel()
	hv := &gatedHV{fakeHV: newFake(), entered: make(chan struct{}, 4), release: make(chan struct{}, 4)}
	l := &lister{list: hv.List, clock: RealClock{}}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	waiter := func(got chan<- snapshot) {
		s, err := l.get(ctx, time.Time{})
		if err != nil {
			t.Error(err)
		}
		got <- s
	}
	early, woken := make(chan snapshot, 1), make(chan snapshot, 1)
	go waiter(early)
	<-hv.entered // a list is under way
	l.poke()
	l.mu.Lock()
	pokedAt := l.pokedAt
	l.mu.Unlock()
	go waiter(woken) // woken by the poke, it finds the list under way
	time.Sleep(20 * time.Millisecond)
	l.poke() // more news while they wait
	hv.release <- struct{}{}
	if s := <-early; s.at.After(pokedAt) {
		t.Errorf("the early waiter's list began after the poke")
	}
	select {
	case <-hv.entered: // a second list, for the news
	case s := <-woken:
		t.Fatalf("the woken waiter took a list begun %s before the poke", pokedAt.Sub(s.at))
	case <-ctx.Done():
		t.Fatal("no second list")
	}
	hv.release <- struct{}{}
	if s := <-woken; !s.at.After(pokedAt) {
		t.Errorf("the woken waiter's list began %s before the poke", pokedAt.Sub(s.at))
	}
	if n := len(hv.began); n != 2 {
		t.Errorf("%d lists, want 2", n)
	}
}
