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
// may not show the death. One more list serves everyone who waits.
func TestListerNewsAfterPoke(t *testing.T) {
	hv := &gatedHV{fakeHV: newFake(), entered: make(chan struct{}, 4), release: make(chan struct{}, 4)}
	l := &lister{hv: hv}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	got := make(chan snapshot, 2)
	waiter := func() {
		s, err := l.get(ctx, time.Time{})
		if err != nil {
			t.Error(err)
		}
		got <- s
	}
	go waiter()
	<-hv.entered // a list is under way
	l.poke()
	l.mu.Lock()
	pokedAt := l.pokedAt
	l.mu.Unlock()
	go waiter() // woken by the poke, it joins the list under way
	time.Sleep(20 * time.Millisecond)
	hv.release <- struct{}{}
	select {
	case <-hv.entered: // a second list, for the news
	case s := <-got:
		t.Fatalf("a waiter took a list begun %s before the poke", pokedAt.Sub(s.at))
	case <-ctx.Done():
		t.Fatal("no second list")
	}
	hv.release <- struct{}{}
	for range 2 {
		if s := <-got; !s.at.After(pokedAt) {
			t.Errorf("a waiter's list began %s before the poke", pokedAt.Sub(s.at))
		}
	}
	if n := len(hv.began); n != 2 {
		t.Errorf("%d lists, want 2", n)
	}
}
