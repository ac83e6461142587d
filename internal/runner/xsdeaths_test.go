package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/xenstore"
)

// fakeXS is xenstored over a fakeHV: /local/domain holds the domains that
// have not gone (a dying one has left it), and @releaseDomain fires when
// one leaves. Each dial is a connection of its own (fakeConn).
type fakeXS struct {
	hv          *fakeHV
	extra       map[string]string // other paths' values
	hidden      map[string]bool   // domains xenstore does not hold
	dirs, reads atomic.Int32
	failDir     atomic.Bool

	mu    sync.Mutex
	conns []*fakeConn
}

func newFakeXS(hv *fakeHV) *fakeXS { return &fakeXS{hv: hv} }

// dial opens a connection.
func (x *fakeXS) dial() *fakeConn {
	c := &fakeConn{fakeXS: x, events: make(chan xenstore.Event, 64), quit: make(chan struct{}), done: make(chan struct{})}
	x.mu.Lock()
	x.conns = append(x.conns, c)
	x.mu.Unlock()
	go c.run()
	return c
}

// Close ends every connection (xenstored going away).
func (x *fakeXS) Close() error {
	x.mu.Lock()
	conns := x.conns
	x.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

func (x *fakeXS) ids() map[int]string {
	x.hv.mu.Lock()
	defer x.hv.mu.Unlock()
	x.hv.advance(time.Now())
	m := map[int]string{}
	for name, d := range x.hv.doms {
		if !d.dying && !x.hidden[name] {
			m[d.id] = name
		}
	}
	return m
}

func (x *fakeXS) Directory(ctx context.Context, path string) ([]string, error) {
	x.dirs.Add(1)
	if x.failDir.Load() {
		return nil, &xenstore.Error{Op: "directory", Path: path, Errno: "EIO"}
	}
	if path != "/local/domain" {
		return nil, &xenstore.Error{Op: "directory", Path: path, Errno: "ENOENT"}
	}
	var out []string
	for id := range x.ids() {
		out = append(out, fmt.Sprint(id))
	}
	return out, nil
}

func (x *fakeXS) Read(ctx context.Context, path string) (string, error) {
	x.reads.Add(1)
	if v, ok := x.extra[path]; ok {
		return v, nil
	}
	var id int
	if _, err := fmt.Sscanf(path, "/local/domain/%d/name", &id); err == nil {
		if n, ok := x.ids()[id]; ok {
			return n, nil
		}
	}
	return "", &xenstore.Error{Op: "read", Path: path, Errno: "ENOENT"}
}

// fakeConn is one connection to a fakeXS, with its own watch.
type fakeConn struct {
	*fakeXS
	events  chan xenstore.Event
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	watched atomic.Bool
	initial atomic.Bool // the watch's first event is due
}

func (c *fakeConn) run() {
	defer close(c.done)
	defer close(c.events)
	seen := c.ids()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		if c.initial.Swap(false) {
			c.events <- xenstore.Event{Path: "@releaseDomain", Token: "xenorder"}
		}
		now := c.ids()
		for id := range seen {
			if _, ok := now[id]; !ok && c.watched.Load() {
				select {
				case c.events <- xenstore.Event{Path: "@releaseDomain", Token: "xenorder"}:
				default:
				}
				break
			}
		}
		seen = now
	}
}

func (c *fakeConn) Watch(ctx context.Context, path, token string) error {
	if path != "@releaseDomain" {
		return errors.New("unexpected watch " + path)
	}
	select {
	case <-c.quit:
		return errors.New("connection closed")
	default:
	}
	c.watched.Store(true)
	c.initial.Store(true) // xenstored fires every new watch once
	return nil
}

func (c *fakeConn) Events() <-chan xenstore.Event { return c.events }

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.quit) })
	<-c.done
	return nil
}

// chain is e → d → c → b → a: e depends on d, and so on.
const chain = "[guest.a]\n[guest.b]\ndepends_on = [\"a\"]\n[guest.c]\ndepends_on = [\"b\"]\n[guest.d]\ndepends_on = [\"c\"]\n[guest.e]\ndepends_on = [\"d\"]\n"

func xsRunner(t *testing.T, src string, hv *fakeHV) (*Runner, *collector, *fakeXS) {
	r, c := newRunner(t, src, hv)
	r.PollInterval = time.Second // the watch, not the polls, must find the deaths
	x := newFakeXS(hv)
	t.Cleanup(func() { x.Close() })
	r.DialXenstore = func(ctx context.Context) (Xenstore, error) { return x.dial(), nil }
	return r, c, x
}

// checkStopOrder fails unless every guest of the chain was asked to shut
// down only after the one that depends on it had left xl list or xenstore.
func checkStopOrder(t *testing.T, hv *fakeHV, names ...string) {
	t.Helper()
	for i := 0; i+1 < len(names); i++ {
		dependent, dep := names[i], names[i+1]
		gone, _ := hv.first("shutdown", dependent)
		asked, _ := hv.first("shutdown", dep)
		if !asked.begin.After(gone.end.Add(hv.shutdownDelay)) {
			t.Errorf("%s asked at %s, before %s was gone (%s)", dep, asked.begin.Format("15:04:05.000"), dependent, gone.end.Add(hv.shutdownDelay).Format("15:04:05.000"))
		}
	}
}

// With xenstored's socket a stop learns each death from xenstore: no xl
// list per death, in the right order, and no slower than the watch
// process.
func TestStopDeathsFromXenstore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		xenstore  bool
		maxLists  int
		minLists  int
		wantLooks bool
	}{
		// The plan's list, the first look of each stop, one to confirm.
		{"xenstored socket", true, 4, 1, true},
		// Without it (no watch at all here) every death costs lists.
		{"polling", false, 1000, 6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hv := newFake()
			var r *Runner
			var x *fakeXS
			if tt.xenstore {
				r, _, x = xsRunner(t, chain, hv)
			} else {
				r, _ = newRunner(t, chain, hv)
				r.PollInterval = 50 * time.Millisecond
			}
			if res := start(t, r); !res.OK() {
				t.Fatal(summary(res))
			}
			before := len(hv.callsOf("list"))
			res := stop(t, r)
			if !res.OK() {
				t.Fatal(summary(res))
			}
			for _, o := range res.Outcomes {
				if o.Status != Done {
					t.Errorf("%s: %s", o.Guest, o.Status)
				}
			}
			checkStopOrder(t, hv, "e", "d", "c", "b", "a")
			lists := len(hv.callsOf("list")) - before
			if lists > tt.maxLists || lists < tt.minLists {
				t.Errorf("%d xl list calls for 5 deaths, want %d–%d", lists, tt.minLists, tt.maxLists)
			}
			if x != nil && x.dirs.Load() < 5 {
				t.Errorf("%d looks at /local/domain for 5 deaths", x.dirs.Load())
			}
			// Each reaction well under the poll interval of 1s.
			if tt.xenstore && res.Elapsed > 5*hv.shutdownDelay+time.Second {
				t.Errorf("stop took %s: the deaths were not seen through xenstore", res.Elapsed)
			}
		})
	}
}

// xenstore lets a domain go a moment before xl list does: the stop ends
// only when xl list agrees, so that what runs next (xen.service's stop at
// shutdown) finds no domain left.
func TestStopWaitsForXLToAgreeWithXenstore(t *testing.T) {
	t.Parallel()
	hv := newFake()
	hv.listLag = 200 * time.Millisecond
	r, c, _ := xsRunner(t, "[guest.a]\n[guest.b]\ndepends_on = [\"a\"]\n", hv)
	r.PollInterval = 20 * time.Millisecond
	if res := start(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	res := stop(t, r)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	// b's shutdown came while a lingered as "(null)": allowed, it has no
	// devices left; but the stop returns only once xl lists neither.
	doms, _ := hv.List(context.Background())
	if len(doms) != 1 {
		t.Fatalf("after the stop xl lists %v", doms)
	}
	asked, _ := hv.first("shutdown", "a")
	if d := time.Since(asked.end); d < hv.shutdownDelay+hv.listLag {
		t.Errorf("the stop returned %s after a's shutdown; a was listed for %s", d, hv.shutdownDelay+hv.listLag)
	}
	for _, l := range c.lines() {
		if strings.Contains(l, "xl still lists") {
			t.Errorf("unexpected warning: %s", l)
		}
	}
}

// A domain that never leaves xl list after it left xenstore (a zombie) is
// reported once DestroyWait is over; the stop does not hang.
func TestStopReportsAZombie(t *testing.T) {
	t.Parallel()
	hv := newFake()
	hv.listLag = time.Hour
	r, c, _ := xsRunner(t, "[guest.a]\n", hv)
	r.DestroyWait = 150 * time.Millisecond
	if res := start(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	res := stop(t, r)
	if !res.OK() || res.Elapsed > 2*time.Second {
		t.Fatalf("%s in %s", summary(res), res.Elapsed)
	}
	if !strings.Contains(strings.Join(c.lines(), "\n"), "stopped, but xl still lists domain") {
		t.Errorf("no word of the zombie:\n%s", strings.Join(c.lines(), "\n"))
	}
}

// A guest that reboots instead of powering off leaves its domid but comes
// back under a new one: it is not gone. The new domain is asked once more,
// with a grace period of its own; one that comes back again (its poweroff
// restarts it) is destroyed when that grace is over, and the summary says
// why. Without xenstore's socket, xl list sees the same.
func TestRebootDuringStop(t *testing.T) {
	t.Parallel()
	for _, socket := range []bool{true, false} {
		for _, tt := range []struct {
			reboots  int
			want     Fate
			shutdown int
		}{
			{reboots: 1, want: Done, shutdown: 2},
			{reboots: 5, want: Forced, shutdown: 2},
		} {
			t.Run(fmt.Sprintf("socket=%v,reboots=%d", socket, tt.reboots), func(t *testing.T) {
				hv := newFake()
				hv.rebootOnShutdown = map[string]int{"a": tt.reboots}
				src := stateConfig(t, "stop_timeout = \"400ms\"\n[guest.a]\n")
				var r *Runner
				var x *fakeXS
				if socket {
					r, _, x = xsRunner(t, src, hv)
				} else {
					r, _ = newRunner(t, src, hv)
				}
				if res := start(t, r); !res.OK() {
					t.Fatal(summary(res))
				}
				res := stop(t, r)
				if got := statusOf(res)["a"]; got != tt.want {
					t.Fatalf("a: %s, want %s\n%s", got, tt.want, summary(res))
				}
				if n := len(hv.callsOf("shutdown")); n != tt.shutdown {
					t.Errorf("%d shutdown requests, want %d", n, tt.shutdown)
				}
				ds, destroyed := hv.first("destroy", "a")
				if tt.want == Done {
					if destroyed {
						t.Error("a guest that went down when asked again was destroyed")
					}
					return
				}
				shs := hv.callsOf("shutdown")
				last := shs[len(shs)-1]
				if !destroyed || ds.begin.Sub(last.end) < 400*time.Millisecond {
					t.Errorf("destroyed %s after the second shutdown request, grace 400ms", ds.begin.Sub(last.end))
				}
				if !strings.Contains(summary(res), "came back under a new domid after each shutdown request") {
					t.Errorf("the outcome does not say why:\n%s", summary(res))
				}
				if socket && x.reads.Load() == 0 {
					t.Error("the new domain's name was never read")
				}
			})
		}
	}
}

// When xenstore fails, or the connection ends, in the middle of a stop,
// the stop goes on with xl list.
func TestXenstoreTroubleFallsBackToXLList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(*fakeXS)
	}{
		{"directory fails", func(x *fakeXS) { x.failDir.Store(true) }},
		{"connection ends", func(x *fakeXS) { x.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hv := newFake()
			r, _, x := xsRunner(t, chain, hv)
			r.PollInterval = 30 * time.Millisecond
			if res := start(t, r); !res.OK() {
				t.Fatal(summary(res))
			}
			// Mid-stop: after the first deaths.
			time.AfterFunc(2*hv.shutdownDelay, func() { tt.break_(x) })
			res := stop(t, r)
			if !res.OK() {
				t.Fatal(summary(res))
			}
			checkStopOrder(t, hv, "e", "d", "c", "b", "a")
		})
	}
}

// No socket: the xenstore_watch program (here none) and polling.
func TestNoXenstoredSocket(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _ := newRunner(t, chain, hv)
	r.DialXenstore = func(ctx context.Context) (Xenstore, error) {
		return nil, errors.New("dial unix /var/run/xenstored/socket: connect: no such file or directory")
	}
	if res := start(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	if res := stop(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	checkStopOrder(t, hv, "e", "d", "c", "b", "a")
}

// A xenstore stub domain is never stopped: its domid comes from
// /tool/xenstored/domid, through the socket where there is one, else
// through the xenstore_read program.
func TestXenstoreDomainIsNeverStopped(t *testing.T) {
	t.Parallel()
	for _, socket := range []bool{true, false} {
		t.Run(fmt.Sprintf("socket %v", socket), func(t *testing.T) {
			hv := newFake()
			hv.add("a", "-b----")
			hv.add("xenstore-dom", "-b----")
			id := hv.doms["xenstore-dom"].id
			var r *Runner
			if socket {
				var x *fakeXS
				r, _, x = xsRunner(t, "[defaults]\nxenstore_read = \"/nonexistent\"\n[guest.a]\n", hv)
				x.extra = map[string]string{"/tool/xenstored/domid": fmt.Sprint(id)}
			} else {
				prog := filepath.Join(t.TempDir(), "xenstore-read")
				os.WriteFile(prog, []byte(fmt.Sprintf("#!/bin/sh\n[ \"$1\" = /tool/xenstored/domid ] && echo %d\n", id)), 0o755)
				r, _ = newRunner(t, "[defaults]\nxenstore_read = \""+prog+"\"\n[guest.a]\n", hv)
			}
			plan, err := r.PlanStop(t.Context(), nil, StopOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tier := range plan.Tiers {
				for _, s := range tier {
					names = append(names, s.Guest)
				}
			}
			if !slices.Equal(names, []string{"a"}) {
				t.Errorf("plan stops %v, want [a]: xenstore's own domain (%d) is never stopped", names, id)
			}
		})
	}
}

// A domain xenstore never held (made by some other toolstack) is not
// taken for gone when a death elsewhere wakes its wait: xl list decides.
func TestDomainXenstoreNeverHeldIsNotGone(t *testing.T) {
	t.Parallel()
	hv := newFake()
	r, _, x := xsRunner(t, stateConfig(t, "stop_timeout = \"400ms\"\n[guest.a]\n[guest.b]\n"), hv)
	if res := start(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	x.hidden = map[string]bool{"a": true}
	hv.ignoreShutdown["a"] = true
	res := stop(t, r)
	if got := statusOf(res); got["a"] != Forced || got["b"] != Done {
		t.Fatalf("a: %s, b: %s; want a forced after its grace period (it never went), b done\n%s", got["a"], got["b"], summary(res))
	}
}
