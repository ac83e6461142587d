// Package state keeps what xenorder must remember between runs in
// state_dir: which guests are drained, and the last start and stop, for
// timings. Every file is written atomically: a temporary file in the same
// folder, fsync, rename, fsync of the folder. A reader sees the old file or
// the new one, never a torn one, even if xenorder is killed mid-write.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Store is the state folder.
type Store struct {
	Dir string
	// beforeRename, if set, runs between writing the temporary file and
	// renaming it (tests kill the process there).
	beforeRename func()
}

// Drain is one drained guest.
type Drain struct {
	Since time.Time `json:"since"`
	By    string    `json:"by"` // the command that drained it
}

const drainsFile = "drains.json"

type drainsDoc struct {
	Version int              `json:"version"`
	Drained map[string]Drain `json:"drained"`
}

// Drains returns the drained guests (an empty map when none).
func (s *Store) Drains() (map[string]Drain, error) {
	var doc drainsDoc
	if err := s.read(drainsFile, &doc); err != nil {
		return nil, err
	}
	if doc.Drained == nil {
		doc.Drained = map[string]Drain{}
	}
	return doc.Drained, nil
}

// AddDrains records guests as drained (keeping the date of an earlier
// drain).
func (s *Store) AddDrains(names []string, by string, now time.Time) error {
	d, err := s.Drains()
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := d[n]; !ok {
			d[n] = Drain{Since: now.UTC().Truncate(time.Second), By: by}
		}
	}
	return s.write(drainsFile, drainsDoc{Version: 1, Drained: d})
}

// ClearDrain lifts one guest's drain.
func (s *Store) ClearDrain(name string) error {
	d, err := s.Drains()
	if err != nil {
		return err
	}
	if _, ok := d[name]; !ok {
		return nil
	}
	delete(d, name)
	return s.write(drainsFile, drainsDoc{Version: 1, Drained: d})
}

// SaveRun records the last run of a verb ("start", "stop").
func (s *Store) SaveRun(verb string, run any) error {
	return s.write("last-"+verb+".json", run)
}

// LoadRun reads the last run of a verb into run; found is false when there
// is none.
func (s *Store) LoadRun(verb string, run any) (found bool, err error) {
	if _, err := os.Stat(filepath.Join(s.Dir, "last-"+verb+".json")); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return true, s.read("last-"+verb+".json", run)
}

func (s *Store) read(name string, v any) error {
	b, err := os.ReadFile(filepath.Join(s.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("state: %s is damaged (%v); move it aside to start over", filepath.Join(s.Dir, name), err)
	}
	return nil
}

func (s *Store) write(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("state: %w", err)
	}
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
	if err := os.Rename(tmp, filepath.Join(s.Dir, name)); err != nil {
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
