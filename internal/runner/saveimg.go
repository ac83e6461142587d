package runner

// Save images: what a stop writes with xl save and a start restores. The
// records of the saves (internal/saves) prove that a guest has not run since
// its image was written; every look at the host (each xl list, status's
// too) checks them, and an image whose guest was seen running since is
// moved aside as stale, never restored. An xl save, restore or migrate in
// flight is never cut short, whatever a signal or a timeout says: a killed
// save leaves its guest suspended with its memory only in the hypervisor.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/saves"
	"github.com/xenorder/xenorder/internal/state"
	"github.com/xenorder/xenorder/internal/xl"
)

// DefaultStallTimeout is how long an xl save, restore or migrate past its
// timeout may go without progress before xenorder stops extending
// systemd's timeout and leaves the decision to systemd.
const DefaultStallTimeout = 2 * time.Minute

// imageBook is one run's view of the save folder: the records as last read,
// the guests whose save or restore is in flight in this process (their
// looks prove nothing), and the room reserved by the saves in flight.
type imageBook struct {
	store *saves.Store

	mu       sync.Mutex
	records  map[string]*saves.Record // nil until first read
	busy     map[string]bool
	reserved map[string]int64 // folder → bytes
	lines    map[string]int64 // op and target → progress lines xl printed
}

func (r *Runner) saves() *saves.Store { return r.images.store }

func newImageBook(cfg *config.Config) *imageBook {
	return &imageBook{
		store:    &saves.Store{Dir: filepath.Join(cfg.Defaults.StateDir, "save")},
		busy:     map[string]bool{},
		reserved: map[string]int64{},
		lines:    map[string]int64{},
	}
}

// observe judges the save records against a look at the host: an image
// whose guest was seen running since its save is moved aside as stale.
// sure is set when this xenorder holds the lock (Runner.Exclusive).
func (r *Runner) observe(doms []xl.Domain) {
	b := r.images
	if b == nil {
		return
	}
	b.mu.Lock()
	if b.records == nil {
		recs, err := b.store.Records()
		if err != nil {
			b.mu.Unlock()
			r.emit(StageSave, "", -1, err, "cannot read the save records")
			return
		}
		b.records = recs
	}
	var stale []*saves.Record
	var seen []saves.Seen
	for _, d := range doms {
		rec := b.records[d.Name]
		if rec == nil || b.busy[d.Name] {
			continue
		}
		s := saves.Seen{Name: d.Name, DomID: d.ID, Running: isRunning(d.State)}
		if rec.RanSince(s, r.Exclusive) {
			stale = append(stale, rec)
			seen = append(seen, s)
			delete(b.records, d.Name)
		}
	}
	b.mu.Unlock()
	for i, rec := range stale {
		r.markStale(rec, seen[i])
	}
}

// isRunning: the domain runs its OS (not suspended, shut down or dying).
func isRunning(st xl.State) bool { return !st.Shutdown && !st.Dying && !st.Crashed() }

func (r *Runner) markStale(rec *saves.Record, s saves.Seen) {
	aside, err := r.saves().Aside(rec.Guest, "stale", r.wallNow())
	if err != nil {
		r.emit(StageSave, rec.Guest, s.DomID, err, "THE SAVE IMAGE IS STALE (the guest ran since it was saved) but could not be moved aside")
		return
	}
	r.emit(StageSave, rec.Guest, s.DomID, nil, "SAVE IMAGE IS STALE: the guest ran since it was saved at %s (seen as domid %d; the save was of domid %d); it will never be restored, kept as %s",
		rec.Began.Local().Format("2006-01-02 15:04:05"), s.DomID, rec.DomID, aside)
}

// setBusy marks a guest's save or restore in flight in this process (its
// looks are judged by the operation itself).
func (b *imageBook) setBusy(guest string, busy bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if busy {
		b.busy[guest] = true
	} else {
		delete(b.busy, guest)
	}
}

// remember updates the cached record after this process wrote it (nil:
// forgotten).
func (b *imageBook) remember(guest string, rec *saves.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.records == nil {
		return // read in full at the first look
	}
	if rec == nil {
		delete(b.records, guest)
	} else {
		b.records[guest] = rec
	}
}

// reserve takes room for a save in dir: the free space less what the saves
// in flight will still write must hold need. release gives it back.
func (r *Runner) reserve(dir string, need int64) (release func(), err error) {
	freeSpace := r.FreeSpace
	if freeSpace == nil {
		freeSpace = statfsFree
	}
	b := r.images
	b.mu.Lock()
	defer b.mu.Unlock()
	free, err := freeSpace(dir)
	if err != nil {
		return nil, err
	}
	if free-b.reserved[dir] < need {
		return nil, fmt.Errorf("not enough room in %s: %d MiB free, %d MiB of it taken by the saves in flight, this one needs %d MiB",
			dir, free>>20, b.reserved[dir]>>20, need>>20)
	}
	b.reserved[dir] += need
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.reserved[dir] -= need
			b.mu.Unlock()
		})
	}, nil
}

// statfsFree is the room left for an unprivileged writer in dir's
// filesystem.
func statfsFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// errSuspended: a save or migration did not finish and left the domain
// suspended. It is never destroyed.
var errSuspended = errors.New("left suspended")

// save writes the guest to its save image. It records the save before xl
// runs and completes the record after; it refuses when the filesystem lacks
// room for the guest's memory beside the saves in flight, never overwrites
// an image, keeps whatever a failed save left, renamed aside, and never cuts
// xl save short.
func (r *run) save(ctx context.Context, d xl.Domain, p config.StopPolicy) error {
	st := r.saves()
	path := st.Image(d.Name)
	dir := filepath.Dir(path)
	if err := r.privateDir(dir); err != nil {
		return err
	}
	need := int64(d.MemMiB)<<20 + int64(d.MemMiB)<<20/20 + 16<<20 // memory + 5% + 16 MiB
	release, err := r.reserve(dir, need)
	if err != nil {
		return err
	}
	defer release()
	if _, err := os.Lstat(path); err == nil {
		aside, err := st.Aside(d.Name, "old", r.wallNow())
		if err != nil {
			return fmt.Errorf("an earlier image is in the way and cannot be moved aside: %w", err)
		}
		r.images.remember(d.Name, nil)
		r.emit(StageSave, d.Name, d.ID, nil, "an earlier save image was never restored; kept as %s", aside)
	}
	r.images.setBusy(d.Name, true)
	defer r.images.setBusy(d.Name, false)
	rec, err := st.BeginSave(d.Name, d.ID, d.MemMiB, r.wallNow())
	if err != nil {
		return fmt.Errorf("recording the save before it begins: %w", err)
	}
	r.images.remember(d.Name, rec)
	r.emit(StageSave, d.Name, d.ID, nil, "saving to %s (%d MiB; save_timeout %s)", path, d.MemMiB, p.SaveTimeout)
	r.say("saving %s to %s", d.Name, path)
	err = r.inFlight(ctx, flight{guest: d.Name, domid: d.ID, what: "xl save", timeout: p.SaveTimeout, timeoutName: "save_timeout",
		progress: sum(fileSize(path), r.xlLines("save", d.Name))}, func(ctx context.Context, started func()) error { return r.HV.Save(ctx, d.Name, path, started) })
	if err == nil {
		if fi, serr := os.Stat(path); serr != nil || fi.Size() == 0 {
			err = fmt.Errorf("xl save succeeded but left no image at %s", path)
		}
	}
	if err != nil {
		if _, serr := os.Lstat(path); serr == nil {
			if aside, aerr := st.Aside(d.Name, "failed", r.wallNow()); aerr == nil {
				r.emit(StageSave, d.Name, d.ID, nil, "what the failed save wrote is kept as %s", aside)
			}
		} else {
			st.Forget(d.Name)
		}
		r.images.remember(d.Name, nil)
		return r.afterFailedFlight(ctx, d, err)
	}
	if err := st.CompleteSave(rec, r.wallNow()); err != nil {
		// The image is whole but unrecorded: a plain start will not
		// restore it; status lists it and xenorder restore restores it.
		r.emit(StageSave, d.Name, d.ID, err, "SAVED, BUT THE SAVE COULD NOT BE RECORDED: a plain start will not restore %s; xenorder restore %s will", path, d.Name)
	}
	r.images.remember(d.Name, rec)
	return r.waitGone(ctx, d.Name, r.now().Add(orDefault(r.DestroyWait, DefaultDestroyWait)))
}

// afterFailedFlight looks at a domain after its save or migration failed:
// xl resumes it when the operation fails on its own (it then gets the
// shutdown ladder), but one cut short stays suspended, and that one is
// never touched again.
func (r *Runner) afterFailedFlight(ctx context.Context, d xl.Domain, err error) error {
	snap, lerr := r.lister().get(ctx, r.now())
	if lerr == nil && snap.err == nil {
		if now, ok := snap.find(d.Name); ok && now.State.Shutdown && now.State.Reason == 's' && !now.State.Dying {
			return fmt.Errorf("%w (domid %d, state %s): %w", errSuspended, now.ID, now.State.Raw, err)
		}
	}
	return err
}

// sum is a progress measure that grows when either grows.
func sum(a, b func() int64) func() int64 { return func() int64 { return a() + b() } }

// fileSize is a progress measure: the size of the file at path.
func fileSize(path string) func() int64 {
	return func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
}

// privateDir makes state_dir and its save folder 0700 (creating them so),
// saying so when one was looser: the images hold guest memory.
func (r *Runner) privateDir(dir string) error {
	for _, d := range []string{filepath.Dir(dir), dir} {
		w, err := state.EnsurePrivateDir(d)
		if err != nil {
			return fmt.Errorf("save folder: %w", err)
		}
		if w != "" {
			r.emit(StageSave, "", -1, nil, "warning: %s", w)
		}
	}
	return nil
}

// flight is an xl save, restore or migrate: never cut short.
type flight struct {
	guest       string
	domid       int
	what        string        // "xl save", ...
	timeout     time.Duration // when it says so loudly
	timeoutName string        // the config key of timeout
	progress    func() int64  // grows while the operation makes progress
}

// inFlight runs call, whose xl is never interrupted, and waits for it
// whatever ctx says. Past its timeout it says so loudly and keeps waiting;
// while progress grows it keeps extending the service manager's timeout;
// once progress has stalled for StallTimeout it stops extending, says so,
// and leaves the decision to the service manager's own timeout.
func (r *run) inFlight(ctx context.Context, f flight, call func(ctx context.Context, started func()) error) error {
	stall := orDefault(r.StallTimeout, DefaultStallTimeout)
	r.extend(f.timeout + stall + notifyMargin)
	done := make(chan error, 1)
	go func() {
		done <- r.launch(context.WithoutCancel(ctx), f.guest, call)
	}()
	every := orDefault(r.ProgressEvery, DefaultProgressEvery)
	tick := r.clock.NewTicker(min(every, stall/4+time.Millisecond))
	defer tick.Stop()
	lateAt := r.clock.NewTimer(f.timeout)
	defer lateAt.Stop()
	began := r.now()
	last, lastAt := f.progress(), began
	late, stalled := false, false
	// The progress lines ("xl save: 12s of save_timeout 10m0s"; past it,
	// "xl save: 10m5s, past save_timeout 10m0s") come from the run's
	// ticker, with every other guest's.
	doing := func() {
		stalledSince := time.Time{}
		if stalled {
			stalledSince = lastAt
		}
		r.setDoing(f.guest, activity{doing: f.what, domid: f.domid, since: began, limit: f.timeout, limitName: f.timeoutName, say: true,
			line: func(a activity, now time.Time) string { return flightLine(f, a, now, stalledSince) }})
	}
	doing()
	for {
		select {
		case err := <-done:
			if late {
				r.emit(StageWait, f.guest, f.domid, err, "%s ended after %s", f.what, Round(r.since(began)))
			}
			return err
		case <-lateAt.C():
			late = true
			r.emit(StageWait, f.guest, f.domid, nil, "%s IS STILL RUNNING AFTER %s = %s: NOT INTERRUPTING IT (a cut-short %s loses the guest's state); waiting while it makes progress",
				f.what, f.timeoutName, f.timeout, f.what)
		case <-tick.C():
		}
		now := r.now()
		if p := f.progress(); p != last {
			last, lastAt = p, now
			if stalled {
				stalled = false
				doing()
				r.emit(StageWait, f.guest, f.domid, nil, "%s makes progress again", f.what)
			}
		}
		if !late {
			continue
		}
		switch {
		case now.Sub(lastAt) < stall:
			r.extend(stall + notifyMargin)
		case !stalled:
			stalled = true
			doing()
			r.emit(StageWait, f.guest, f.domid, nil, "%s HAS MADE NO PROGRESS FOR %s: no longer extending the service's timeout; still not interrupting it", f.what, Round(now.Sub(lastAt)))
			r.say("%s of %s: no progress for %s", f.what, f.guest, Round(now.Sub(lastAt)))
		}
	}
}

// flightLine is the progress line of an xl save, restore or migrate:
// "xl save: 12s of save_timeout 10m0s"; past it "xl save: 10m5s, past
// save_timeout 10m0s", and when it stalled ", no progress for 2m0s".
func flightLine(f flight, a activity, now time.Time, stalledSince time.Time) string {
	elapsed := now.Sub(a.since)
	if elapsed < f.timeout {
		return fmt.Sprintf("%s: %s of %s %s", f.what, Round(elapsed), f.timeoutName, f.timeout)
	}
	line := fmt.Sprintf("%s: %s, past %s %s", f.what, Round(elapsed), f.timeoutName, f.timeout)
	if !stalledSince.IsZero() {
		line += fmt.Sprintf(", no progress for %s", Round(now.Sub(stalledSince)))
	}
	return line
}

// XLProgress hears each line xl prints on stderr during a save, restore or
// migrate (xl.Client.Progress): a line is progress. target is the domain,
// or a restore's image.
func (r *Runner) XLProgress(op, target, line string) {
	b := r.images
	b.mu.Lock()
	b.lines[op+"\x00"+target]++
	b.mu.Unlock()
}

// xlLines is a progress measure: the lines xl printed for op on target.
func (r *Runner) xlLines(op, target string) func() int64 {
	return func() int64 {
		b := r.images
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.lines[op+"\x00"+target]
	}
}
