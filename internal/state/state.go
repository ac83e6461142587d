// Package state keeps what xenorder must remember between runs in
// state_dir: which guests are drained, and the last start and stop, for
// timings. Every file is written atomically: a temporary file in the same
// folder, fsync, rename, fsync of the folder. A reader sees the old file or
// the new one, never a torn one, even if xenorder is killed mid-write.
//
// The drain record survives damage that atomic writes cannot prevent (a
// disk that loses blocks, a hand edit): every write first keeps the record
// it replaces as drains.json.prev, and a reader that finds drains.json
// unreadable uses that copy, says so through Store.Warn, puts it back in
// place and keeps the damaged file as drains.json.damaged-TIME. With no
// readable copy left, Drains returns a *DamagedError: which guests are
// drained is unknown, and RepairCommand rebuilds the record.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Store is the state folder.
type Store struct {
	Dir string
	// Warn, if set, is told what the store did about damage: a damaged
	// drain record replaced by its previous copy, a folder whose mode was
	// made 0700. Each message is one line that names the files and the
	// command that repairs them.
	Warn func(msg string)
	// beforeRename, if set, runs between writing the temporary file and
	// renaming it (tests kill the process there).
	beforeRename func()
}

// Drain is one drained guest.
type Drain struct {
	Since time.Time `json:"since"`
	By    string    `json:"by"` // the command that drained it
}

const (
	drainsFile   = "drains.json"
	prevSuffix   = ".prev"
	drainVersion = 1
)

// RepairCommand is what rebuilds the drain record when no readable copy of
// it is left.
const RepairCommand = "xenorder drains --clear (nothing drained) or xenorder drains --set GUEST... (exactly these guests drained)"

type drainsDoc struct {
	Version int              `json:"version"`
	Drained map[string]Drain `json:"drained"`
}

// DamagedError says that a state file cannot be read and that no good copy
// of it is left.
type DamagedError struct {
	File    string // the damaged file
	Why     string
	Prev    string // its previous copy, unreadable too ("" when the file keeps none)
	PrevWhy string
	Repair  string // what to do
}

func (e *DamagedError) Error() string {
	msg := fmt.Sprintf("%s is damaged (%s)", e.File, e.Why)
	switch {
	case e.Prev != "" && e.PrevWhy == "missing":
		msg += fmt.Sprintf(" and it has no previous copy (%s is missing)", e.Prev)
	case e.Prev != "":
		msg += fmt.Sprintf(" and so is its previous copy %s (%s)", e.Prev, e.PrevWhy)
	}
	return msg + ": " + e.Repair
}

func (s *Store) path(name string) string { return filepath.Join(s.Dir, name) }

func (s *Store) warn(msg string) {
	if s.Warn != nil && msg != "" {
		s.Warn(msg)
	}
}

// Drains returns the drained guests (an empty map when none). When
// drains.json is damaged and its previous copy is not, it returns the copy,
// warns, and puts the copy in place; when neither can be read it returns a
// *DamagedError.
func (s *Store) Drains() (map[string]Drain, error) {
	cur := s.readCopy(drainsFile)
	if cur.hard != nil {
		return nil, cur.hard
	}
	if cur.ok() {
		return cur.d, nil
	}
	if cur.missing {
		if _, err := os.Lstat(s.path(drainsFile + prevSuffix)); errors.Is(err, fs.ErrNotExist) {
			return map[string]Drain{}, nil // never written: nothing is drained
		}
	}
	var d map[string]Drain
	err := s.locked(func() error {
		var err error
		d, err = s.update(nil, false)
		return err
	})
	return d, err
}

// AddDrains records guests as drained (keeping the date of an earlier
// drain).
func (s *Store) AddDrains(names []string, by string, now time.Time) error {
	return s.change(func(d map[string]Drain) (map[string]Drain, bool) {
		changed := false
		for _, n := range names {
			if _, ok := d[n]; !ok {
				d[n] = Drain{Since: now.UTC().Truncate(time.Second), By: by}
				changed = true
			}
		}
		return d, changed
	}, false)
}

// ClearDrain lifts one guest's drain.
func (s *Store) ClearDrain(name string) error {
	return s.change(func(d map[string]Drain) (map[string]Drain, bool) {
		if _, ok := d[name]; !ok {
			return d, false
		}
		delete(d, name)
		return d, true
	}, false)
}

// SetDrains replaces the drain record by exactly these drains, whatever
// the record held, damaged or not (damaged copies are moved aside, never
// deleted). It returns the record it replaced, or nil when that was
// unreadable.
func (s *Store) SetDrains(drains map[string]Drain) (old map[string]Drain, err error) {
	err = s.change(func(d map[string]Drain) (map[string]Drain, bool) {
		old = d
		set := maps.Clone(drains)
		if set == nil {
			set = map[string]Drain{}
		}
		return set, true
	}, true)
	return old, err
}

// change applies f to the drain record and writes the result, under the
// folder's lock. force: write even when no readable record is left (f then
// gets nil).
func (s *Store) change(f func(d map[string]Drain) (map[string]Drain, bool), force bool) error {
	if err := s.ensureDir(); err != nil {
		return err
	}
	return s.locked(func() error {
		_, err := s.update(f, force)
		return err
	})
}

// readCopy is one copy of the drain record as read.
type readCopy struct {
	b       []byte
	d       map[string]Drain
	missing bool
	why     string // why it is damaged
	hard    error  // an error that says nothing about the file (no permission)
}

func (c readCopy) ok() bool { return !c.missing && c.why == "" && c.hard == nil }

func (s *Store) readCopy(name string) readCopy {
	b, err := os.ReadFile(s.path(name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return readCopy{missing: true}
	case errors.Is(err, fs.ErrPermission):
		return readCopy{hard: fmt.Errorf("state: %w (run xenorder as root)", err)}
	case err != nil:
		return readCopy{why: err.Error()}
	}
	d, why := parseDrains(b)
	return readCopy{b: b, d: d, why: why}
}

// parseDrains reads one copy of the drain record; why says what is wrong
// with it.
func parseDrains(b []byte) (d map[string]Drain, why string) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, "empty"
	}
	var doc drainsDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err.Error()
	}
	if doc.Version != drainVersion {
		return nil, fmt.Sprintf("version %d, not %d", doc.Version, drainVersion)
	}
	for n := range doc.Drained {
		if n == "" {
			return nil, "a drain without a guest name"
		}
	}
	if doc.Drained == nil {
		doc.Drained = map[string]Drain{}
	}
	return doc.Drained, ""
}

// update reads the drain record (drains.json, or its previous copy when
// drains.json is damaged or missing beside a copy), applies f if set and
// writes the record back when f changed it or the previous copy had to be
// used. The caller holds the folder's lock.
func (s *Store) update(f func(map[string]Drain) (map[string]Drain, bool), force bool) (map[string]Drain, error) {
	cur := s.readCopy(drainsFile)
	if cur.hard != nil {
		return nil, cur.hard
	}
	file, prevFile := s.path(drainsFile), s.path(drainsFile+prevSuffix)
	var (
		d       map[string]Drain
		keep    []byte // the good record this write replaces, for drains.json.prev
		keepHas bool   // drains.json.prev already holds keep
		warning string
	)
	switch {
	case cur.ok():
		d, keep = cur.d, cur.b
	default:
		prev := s.readCopy(drainsFile + prevSuffix)
		if prev.hard != nil {
			return nil, prev.hard
		}
		switch {
		case cur.missing && prev.missing:
			d = map[string]Drain{}
		case prev.ok():
			d, keep, keepHas = prev.d, prev.b, true
			aside := ""
			if !cur.missing {
				var err error
				if aside, err = s.moveAside(drainsFile); err != nil {
					if f == nil { // a reader without the right to repair: the copy is what counts
						s.warn(s.recoveredMsg(cur, "", prev.d) + fmt.Sprintf(" (it could not be moved aside: %v)", err))
						return prev.d, nil
					}
					return nil, err
				}
			}
			warning = s.recoveredMsg(cur, aside, prev.d)
		default:
			why, prevWhy := cur.why, prev.why
			if cur.missing {
				why = "missing, but its previous copy is there"
			}
			if prev.missing {
				prevWhy = "missing"
			}
			if !force {
				return nil, &DamagedError{File: file, Why: why, Prev: prevFile, PrevWhy: prevWhy,
					Repair: "which guests are drained is unknown; rebuild the record: " + RepairCommand}
			}
			for _, c := range []struct {
				rc   readCopy
				name string
			}{{cur, drainsFile}, {prev, drainsFile + prevSuffix}} {
				if !c.rc.missing {
					if _, err := s.moveAside(c.name); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	changed := keepHas // the previous copy goes back in place
	if f != nil {
		var ch bool
		if d, ch = f(d); ch {
			changed = true
		}
	}
	if !changed {
		return d, nil
	}
	b, err := marshal(drainsDoc{Version: drainVersion, Drained: d})
	if err != nil {
		return nil, err
	}
	if !keepHas {
		// The record replaced is kept; with none readable (the first
		// write, a rebuild), the new record is its own previous copy.
		if keep == nil {
			keep = b
		}
		if err := s.writeBytes(drainsFile+prevSuffix, keep); err != nil {
			s.warn(warning)
			return d, err
		}
	}
	if err := s.writeBytes(drainsFile, b); err != nil {
		if warning != "" {
			s.warn(warning + fmt.Sprintf("; the copy could not be put back in place (%v): every run will say so until it is", err))
			if f == nil {
				return d, nil // read only: the copy is what counts
			}
		}
		return d, err
	}
	s.warn(warning)
	return d, nil
}

// recoveredMsg is the warning for a drain record read from its previous
// copy.
func (s *Store) recoveredMsg(cur readCopy, aside string, used map[string]Drain) string {
	file, prevFile := s.path(drainsFile), s.path(drainsFile+prevSuffix)
	what := "nothing drained"
	if len(used) > 0 {
		what = "drained: " + strings.Join(SortedDrains(used), ", ")
	}
	msg := fmt.Sprintf("THE DRAIN RECORD %s IS DAMAGED (%s): using its previous copy %s instead, the record as it was before its last change (%s)", file, cur.why, prevFile, what)
	if cur.missing {
		msg = fmt.Sprintf("THE DRAIN RECORD %s IS MISSING beside its previous copy %s: using that copy (%s)", file, prevFile, what)
	}
	if aside != "" {
		msg += "; the damaged file is kept as " + aside
	}
	return msg + ". Check it with xenorder drains; if it is not right, rebuild it: " + RepairCommand
}

// moveAside renames a damaged file to NAME.damaged-TIME (never over
// another) and returns the new path.
func (s *Store) moveAside(name string) (string, error) {
	base := s.path(name) + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
	aside := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.Rename(s.path(name), aside); err != nil {
		return "", fmt.Errorf("state: moving the damaged %s aside: %w", s.path(name), err)
	}
	return aside, nil
}

// locked runs f under an exclusive flock of the state folder: a reader
// that repairs the record and a writer never interleave. (The host's lock
// serialises the commands that change guests; status and plan take none.)
func (s *Store) locked(f func() error) error {
	d, err := os.Open(s.Dir)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer d.Close()
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("state: locking %s: %w", s.Dir, err)
	}
	defer syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
	return f()
}

// SaveRun records the last run of a verb ("start", "stop").
func (s *Store) SaveRun(verb string, run any) error {
	b, err := marshal(run)
	if err != nil {
		return err
	}
	if err := s.ensureDir(); err != nil {
		return err
	}
	return s.writeBytes("last-"+verb+".json", b)
}

// LoadRun reads the last run of a verb into run; found is false when there
// is none. A damaged record is a *DamagedError (the next run of the verb
// replaces it).
func (s *Store) LoadRun(verb string, run any) (found bool, err error) {
	name := "last-" + verb + ".json"
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state: %w", err)
	}
	if err := json.Unmarshal(b, run); err != nil {
		return false, &DamagedError{File: s.path(name), Why: err.Error(),
			Repair: "it only records the timings of the last " + verb + "; the next " + verb + " replaces it"}
	}
	return true, nil
}

// EnsurePrivateDir makes path a folder only its owner can enter: created
// 0700 when missing, made 0700 when found looser. warning, when not empty,
// names the folder and the mode it had.
func EnsurePrivateDir(path string) (warning string, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(path, 0o700); err != nil {
			return "", fmt.Errorf("state: %w", err)
		}
		if fi, err = os.Stat(path); err != nil {
			return "", fmt.Errorf("state: %w", err)
		}
		if fi.Mode().Perm() == 0o700 {
			return "", nil
		}
		// An odd umask: made 0700 below, without a warning (it is new).
		if err := os.Chmod(path, 0o700); err != nil {
			return "", fmt.Errorf("state: %w", err)
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("state: %s is not a folder", path)
	}
	mode := fi.Mode().Perm()
	if mode&0o077 == 0 {
		return "", nil
	}
	if err := os.Chmod(path, 0o700); err != nil {
		return "", fmt.Errorf("state: %s is mode %04o, open to others, and could not be made 0700: %w", path, mode, err)
	}
	return fmt.Sprintf("the folder %s was mode %04o, open to others: made 0700 (what xenorder keeps there is for root only)", path, mode), nil
}

// ensureDir makes the state folder private before a write.
func (s *Store) ensureDir() error {
	w, err := EnsurePrivateDir(s.Dir)
	s.warn(w)
	return err
}

func marshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeBytes replaces a file of the folder atomically.
func (s *Store) writeBytes(name string, b []byte) error {
	f, err := os.CreateTemp(s.Dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("state: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("state: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if s.beforeRename != nil {
		s.beforeRename()
	}
	if err := os.Rename(tmp, s.path(name)); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if d, err := os.Open(s.Dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// SortedDrains returns the drained guests' names, sorted.
func SortedDrains(d map[string]Drain) []string {
	out := make([]string, 0, len(d))
	for n := range d {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
