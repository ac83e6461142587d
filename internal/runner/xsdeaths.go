package runner

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/xenorder/xenorder/internal/xenstore"
)

// xsDialTimeout bounds connecting to xenstored and setting the watch.
const xsDialTimeout = 2 * time.Second

// watchXenstore sets the @releaseDomain watch through xenstored's socket.
// Each event pokes the lister's waiters, which then ask xenstore, not xl,
// whether their domain went (xsGone). ok is false when there is no
// socket or it does not answer: the caller falls back to the
// xenstore-watch program.
func (r *run) watchXenstore(ctx context.Context) (stop func(), ok bool) {
	dctx, cancel := context.WithTimeout(ctx, xsDialTimeout)
	defer cancel()
	conn, err := r.DialXenstore(dctx)
	if err != nil {
		return nil, false
	}
	if err := conn.Watch(dctx, "@releaseDomain", "xenorder"); err != nil {
		conn.Close()
		return nil, false
	}
	x := &xsLooker{conn: conn, names: map[int]string{}, seen: map[int]bool{}}
	x.look(dctx, 0) // what xenstore holds now: only a domid seen there can be seen to leave
	r.xs.Store(x)
	r.watching.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range conn.Events() {
			r.lister().poke()
		}
		// The connection ended (xenstored restarted, or stop): back to
		// xl list and polling.
		r.xs.CompareAndSwap(x, nil)
		r.watching.Store(false)
		r.lister().poke()
	}()
	return func() {
		conn.Close()
		<-done
	}, true
}

// xsLooker answers, from xenstore, whether a domain is gone: one look at
// /local/domain per poke, shared by every waiter it woke.
type xsLooker struct {
	conn Xenstore

	mu    sync.Mutex
	gen   uint64          // the poke generation the look is as new as
	ids   map[int]bool    // the domids under /local/domain; nil before the first look
	named map[string]bool // the names they bear; nil until a waiter needs them
	names map[int]string  // every domid's name seen so far
	seen  map[int]bool    // every domid any look found
}

// look reads /local/domain for poke generation gen. x.mu is held, or x
// not shared yet.
func (x *xsLooker) look(ctx context.Context, gen uint64) error {
	kids, err := x.conn.Directory(ctx, "/local/domain")
	if err != nil {
		x.ids = nil
		return err
	}
	x.ids, x.named = map[int]bool{}, nil
	for _, k := range kids {
		if n, err := strconv.Atoi(k); err == nil {
			x.ids[n] = true
			x.seen[n] = true
		}
	}
	x.gen = gen
	return nil
}

// xsGone reports whether domain id, guest name, has left xenstore: libxl
// removes /local/domain/<id> when it destroys a domain, after its devices
// are torn down, so its backends are free. Only a domid xenstore was seen
// to hold can be seen to leave it, and it is not gone while another
// domain bears its name (a guest that rebooted came back under a new
// domid). ok is false when xenstore cannot say; then xl list must. gen is
// the lister's generation when the caller woke: the look must be as new.
func (r *run) xsGone(ctx context.Context, gen uint64, id int, name string) (gone, ok bool) {
	x := r.xs.Load()
	if x == nil || id <= 0 {
		return false, false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ids == nil || x.gen < gen {
		if err := x.look(ctx, gen); err != nil {
			return false, false
		}
	}
	if x.ids[id] {
		return false, true
	}
	if !x.seen[id] {
		// Never in xenstore (a domain some other toolstack made, or
		// one gone before the first look): xl list must say.
		return false, false
	}
	if x.named == nil {
		named := map[string]bool{}
		for other := range x.ids {
			n, err := x.name(ctx, r.Runner, other)
			if err != nil {
				return false, false
			}
			named[n] = true
		}
		x.named = named
	}
	return !x.named[name], true
}

// name is domain id's name: from the newest xl list, else from xenstore
// (a domain that appeared since). "" for one that has gone meanwhile.
func (x *xsLooker) name(ctx context.Context, r *Runner, id int) (string, error) {
	if n, ok := x.names[id]; ok {
		return n, nil
	}
	for _, d := range r.lister().latest().doms {
		x.names[d.ID] = d.Name
	}
	if n, ok := x.names[id]; ok {
		return n, nil
	}
	n, err := x.conn.Read(ctx, fmt.Sprintf("/local/domain/%d/name", id))
	if xenstore.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	x.names[id] = n
	return n, nil
}

// confirmGone waits until xl no longer lists the domains a stop saw go:
// libxl removes a domain's xenstore directory, and xl list shows it as
// "(null)", a moment before the hypervisor lets it go, and a stop is over
// only when xl list agrees (at shutdown, xen.service stops next). A
// snapshot taken after the last of them went will do; else it lists once
// more. Bounded by DestroyWait; a domain still listed then is reported,
// not failed: it no longer runs.
func (r *run) confirmGone(ctx context.Context, outs []*Outcome) {
	if len(outs) == 0 {
		return
	}
	var last time.Time
	for _, o := range outs {
		if end := o.Began.Add(o.Elapsed); end.After(last) {
			last = end
		}
	}
	began := r.now()
	deadline := began.Add(orDefault(r.DestroyWait, DefaultDestroyWait))
	for {
		gen := r.lister().generation()
		s, err := r.lister().gathered(ctx, last, 0, false)
		if err == nil && s.err == nil {
			listed := map[int]bool{}
			for _, d := range s.doms {
				listed[d.ID] = true
			}
			var left []*Outcome
			for _, o := range outs {
				if listed[o.DomID] {
					left = append(left, o)
				}
			}
			if outs = left; len(outs) == 0 {
				return
			}
		}
		last = r.now()
		if !r.now().Before(deadline) || ctx.Err() != nil {
			for _, o := range outs {
				r.emit(StageCheck, o.Guest, o.DomID, nil, "stopped, but xl still lists domain %d after %s (dying: the hypervisor has not freed it)", o.DomID, Round(r.since(began)))
			}
			return
		}
		if err := r.lister().sleepOrPoke(ctx, untilDeadline(r.now(), adaptive(r.since(began), r.interval()), deadline), gen); err != nil {
			return
		}
	}
}
