// Package saves keeps the save folder (state_dir/save): the images of
// guests saved by a stop, the record of each save, and the images kept
// aside. An image is restored only if its guest has not run since it was
// saved, and that is what the record proves:
//
//   - the record is written (and synced) before `xl save` is called, so a
//     save cut short leaves a record that says it never completed;
//   - it is completed once `xl save` has returned success;
//   - it names the domid that was saved: a domain of the guest's name seen
//     under another domid, or seen running again under the same one, means
//     the guest ran since, and the image is stale;
//   - it says when a restore from it began; once `xl restore` succeeds the
//     image and its record leave the restore path at once, whatever the
//     guest's probes say.
//
// Images are never deleted but after a restore from them succeeded: a stale,
// failed or superseded image is renamed aside (NAME.save.stale-TIME,
// .failed-TIME, .old-TIME) and listed by Kept.
package saves

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Store is the save folder.
type Store struct {
	Dir string
}

// Record is what xenorder knows of one guest's save image.
type Record struct {
	Guest  string    `json:"guest"`
	DomID  int       `json:"domid"` // the domain that was saved
	MemMiB int       `json:"memory_mib"`
	Began  time.Time `json:"began"`
	// Saved is when `xl save` returned success; nil: the save never
	// completed (cut short, or xenorder was killed while it ran).
	Saved *time.Time `json:"saved,omitempty"`
	// Restoring is when a restore from the image began; nil: none did.
	Restoring *time.Time `json:"restoring,omitempty"`
}

// Complete reports whether the save returned success.
func (r *Record) Complete() bool { return r.Saved != nil }

// Image is the path of a guest's save image.
func (s *Store) Image(guest string) string { return filepath.Join(s.Dir, guest+".save") }

func (s *Store) recordPath(guest string) string { return filepath.Join(s.Dir, guest+".record") }

// Verdict is what a start may do with a guest's image.
type Verdict int

const (
	NoImage     Verdict = iota // nothing to restore: boot fresh
	Restorable                 // a completed save, the guest not run since
	Unrecorded                 // an image without a record (an older build's): never restored by a plain start
	Incomplete                 // the save never recorded its end: whole or partial, nobody knows
	Interrupted                // a restore from it began and never recorded its end
)

func (v Verdict) String() string {
	return [...]string{"no image", "restorable", "unrecorded", "save incomplete", "restore interrupted"}[v]
}

// Judge says what a start may do with guest's image, by its record.
func (s *Store) Judge(guest string) (Verdict, *Record, error) {
	if _, err := os.Lstat(s.Image(guest)); errors.Is(err, fs.ErrNotExist) {
		return NoImage, nil, nil
	} else if err != nil {
		return NoImage, nil, fmt.Errorf("save image of %s: %w", guest, err)
	}
	rec, err := s.Read(guest)
	switch {
	case err != nil:
		return Unrecorded, nil, err
	case rec == nil:
		return Unrecorded, nil, nil
	case rec.Restoring != nil:
		return Interrupted, rec, nil
	case !rec.Complete():
		return Incomplete, rec, nil
	}
	return Restorable, rec, nil
}

// Read returns guest's record, nil when there is none.
func (s *Store) Read(guest string) (*Record, error) {
	b, err := os.ReadFile(s.recordPath(guest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("save record of %s: %w", guest, err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil || rec.Guest != guest {
		return nil, fmt.Errorf("save record %s is damaged: the image beside it is not restored by a plain start", s.recordPath(guest))
	}
	return &rec, nil
}

// Records returns every record in the folder, by guest.
func (s *Store) Records() (map[string]*Record, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*Record{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("save folder: %w", err)
	}
	out := map[string]*Record{}
	for _, e := range ents {
		g, ok := strings.CutSuffix(e.Name(), ".record")
		if !ok || g == "" || strings.HasPrefix(g, ".") {
			continue
		}
		rec, err := s.Read(g)
		if err != nil || rec == nil {
			continue // judged as unrecorded where it matters
		}
		out[g] = rec
	}
	return out, nil
}

// BeginSave records, before `xl save` runs, that guest (domid) is being
// saved.
func (s *Store) BeginSave(guest string, domid, memMiB int, now time.Time) (*Record, error) {
	rec := &Record{Guest: guest, DomID: domid, MemMiB: memMiB, Began: now.UTC()}
	return rec, s.write(rec)
}

// CompleteSave records that `xl save` returned success.
func (s *Store) CompleteSave(rec *Record, now time.Time) error {
	t := now.UTC()
	rec.Saved = &t
	return s.write(rec)
}

// BeginRestore records, before `xl restore` runs, that a restore began.
func (s *Store) BeginRestore(rec *Record, now time.Time) error {
	t := now.UTC()
	rec.Restoring = &t
	return s.write(rec)
}

// Restored takes the image and its record off the restore path once `xl
// restore` succeeded: the guest runs on from it, so it is stale from now.
func (s *Store) Restored(guest string) error {
	if err := os.Remove(s.Image(guest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return s.Forget(guest)
}

// Forget removes guest's record (never the image).
func (s *Store) Forget(guest string) error {
	if err := os.Remove(s.recordPath(guest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(s.Dir)
}

// Aside renames guest's image to NAME.save.TAG-TIME and forgets its
// record; it returns the new name.
func (s *Store) Aside(guest, tag string, now time.Time) (string, error) {
	path := s.Image(guest)
	aside := AsideName(path, tag, now)
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	if err := s.Forget(guest); err != nil {
		return aside, err
	}
	return aside, nil
}

// AsideName is path with a tag and the time appended, never an existing
// file's name.
func AsideName(path, tag string, now time.Time) string {
	base := fmt.Sprintf("%s.%s-%s", path, tag, now.Format("20060102T150405"))
	name := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}

// Seen is one domain as a look at the host saw it.
type Seen struct {
	Name    string
	DomID   int
	Running bool // not suspended, not shut down, not dying
}

// RanSince reports whether a domain seen by a look shows that rec's guest
// ran after its save: a completed save's guest listed again (a save ends by
// destroying the domain it saved, so any domain of that name is a new one,
// unless it is the saved domid on its way out, not running). With sure set
// (the look comes from the one xenorder allowed to save and restore, and no
// save or restore of the guest is in flight) a save that never completed
// is judged too: its domain resumed, or another of its name runs.
func (rec *Record) RanSince(d Seen, sure bool) bool {
	if d.Name != rec.Guest || (rec.Restoring != nil && !sure) {
		return false // a restore may be in flight: the lock holder judges
	}
	if rec.Complete() {
		return d.DomID != rec.DomID || d.Running
	}
	return sure && (d.DomID != rec.DomID || d.Running)
}

// Kept is one image in the folder, restorable or kept aside.
type Kept struct {
	Guest string    `json:"guest"`
	Path  string    `json:"path"`
	Kind  string    `json:"kind"` // restorable, unrecorded, save incomplete, restore interrupted, old, failed, stale
	Bytes int64     `json:"bytes"`
	Time  time.Time `json:"time"` // the file's modification time
}

// List returns every image in the folder, the kept-aside ones included,
// sorted by guest then path.
func (s *Store) List() ([]Kept, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("save folder: %w", err)
	}
	var out []Kept
	for _, e := range ents {
		name := e.Name()
		i := strings.Index(name, ".save")
		if i <= 0 || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		guest, rest := name[:i], name[i+len(".save"):]
		k := Kept{Guest: guest, Path: filepath.Join(s.Dir, name)}
		switch {
		case rest == "":
			v, _, _ := s.Judge(guest)
			k.Kind = v.String()
		case strings.HasPrefix(rest, "."):
			tag, _, _ := strings.Cut(rest[1:], "-")
			k.Kind = tag
		default:
			continue
		}
		if fi, err := e.Info(); err == nil {
			k.Bytes, k.Time = fi.Size(), fi.ModTime()
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Guest != out[j].Guest {
			return out[i].Guest < out[j].Guest
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// write stores rec atomically: a temporary file, fsync, rename, fsync of
// the folder, so a record survives a power loss the moment it is written.
func (s *Store) write(rec *Record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("save folder: %w", err)
	}
	f, err := os.CreateTemp(s.Dir, "."+rec.Guest+".record.tmp-*")
	if err != nil {
		return fmt.Errorf("save record of %s: %w", rec.Guest, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.recordPath(rec.Guest))
	}
	if err != nil {
		return fmt.Errorf("save record of %s: %w", rec.Guest, err)
	}
	return syncDir(s.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil // nothing was written there
	}
	defer d.Close()
	return d.Sync()
}
