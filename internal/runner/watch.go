package runner

import (
	"context"
	"time"

	"github.com/xenorder/xenorder/internal/xenstore"
)

// watchReleases watches @releaseDomain through xenstored's socket where
// it can (watchXenstore), else runs `xenstore-watch @releaseDomain`, until
// the returned stop is called (or ctx ends): xenstored fires that watch whenever a
// domain is released, so a stop learns of a death at once instead of at its
// next poll. Each event pokes the lister's waiters. Without the program (or
// when it fails) the waits simply poll. stop returns once the watch's
// process is gone (interrupted, killed after 2s if need be), so that it
// never outlives xenorder.
func (r *run) watchReleases(ctx context.Context) (stop func()) {
	if r.DialXenstore != nil {
		if stop, ok := r.watchXenstore(ctx); ok {
			return stop
		}
	}
	prog := r.Config.Defaults.XenstoreWatch
	if prog == "" {
		return func() {}
	}
	w, err := xenstore.WatchProgram(ctx, prog, "@releaseDomain")
	if err != nil {
		return func() {}
	}
	r.watching.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range w.Events() {
			r.lister().poke()
		}
		r.watching.Store(false)
		r.lister().poke() // the waits go back to polling quickly
	}()
	return func() {
		w.Close()
		<-done
	}
}

// deathCheck is how long a wait for a domain to go sleeps between looks,
// elapsed into the wait: with the watch running, a death wakes it anyway,
// so it only polls at poll_interval; without, it checks adaptively.
func (r *run) deathCheck(elapsed time.Duration) time.Duration {
	if r.watching.Load() {
		return r.interval()
	}
	return adaptive(elapsed, r.interval())
}
