package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ProgressFile is where a start or stop publishes, while it runs, where it
// is, for `xenorder status` run meanwhile. It is only true while its
// writer runs: the reader must check that (cmd/xenorder does, through the
// host's lock).
const ProgressFile = "progress.json"

// maxProgress bounds what ReadProgress reads.
const maxProgress = 4 << 20

// ProgressPath is the progress file's path.
func (s *Store) ProgressPath() string { return s.path(ProgressFile) }

// WriteProgress replaces the progress file atomically (a temporary file
// renamed over it), mode 0600 in a folder made 0700. It is not fsynced:
// after a crash its writer is gone, and the file means nothing anyway.
func (s *Store) WriteProgress(v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	if err := s.ensureDir(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.Dir, "."+ProgressFile+".tmp-*") // 0600
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("state: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, s.ProgressPath()); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// RemoveProgress removes the progress file; a missing one is fine.
func (s *Store) RemoveProgress() error {
	if err := os.Remove(s.ProgressPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// ReadProgress reads the progress file into v; found is false when there
// is none. A file that is not a plain file (a link), or that someone other
// than root or this user owns or others can write, is an error: nothing
// of it is read.
func (s *Store) ReadProgress(v any) (found bool, err error) {
	path := s.ProgressPath()
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("state: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return false, fmt.Errorf("state: %s is not a plain file: not read", path)
	case !ok || (st.Uid != 0 && int(st.Uid) != os.Geteuid()):
		return false, fmt.Errorf("state: %s is not owned by root: not read", path)
	case fi.Mode().Perm()&0o022 != 0:
		return false, fmt.Errorf("state: %s is mode %04o, writable by others: not read", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxProgress))
	if err != nil {
		return false, fmt.Errorf("state: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("state: %s: %w", path, err)
	}
	return true, nil
}
