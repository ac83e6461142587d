package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type prog struct {
	PID   int      `json:"pid"`
	Guest []string `json:"guests"`
}

// The progress file is replaced whole, private to root, and removed at the
// end; a missing one is no error.
func TestProgressRoundTrip(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "state")}
	var got prog
	if found, err := s.ReadProgress(&got); found || err != nil {
		t.Fatalf("no file: found %v, err %v", found, err)
	}
	for i, want := range []prog{{PID: 7, Guest: []string{"db"}}, {PID: 7, Guest: []string{"db", "web"}}} {
		if err := s.WriteProgress(want); err != nil {
			t.Fatal(err)
		}
		got = prog{}
		if found, err := s.ReadProgress(&got); !found || err != nil || got.PID != want.PID || len(got.Guest) != len(want.Guest) {
			t.Fatalf("write %d: read %+v, found %v, err %v", i, got, found, err)
		}
	}
	fi, err := os.Stat(s.ProgressPath())
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("%s is mode %04o, want 0600", s.ProgressPath(), m)
	}
	if di, _ := os.Stat(s.Dir); di.Mode().Perm() != 0o700 {
		t.Errorf("state folder mode %04o, want 0700", di.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(s.Dir, ".*tmp*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := s.RemoveProgress(); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveProgress(); err != nil {
		t.Errorf("removing it twice: %v", err)
	}
	if found, _ := s.ReadProgress(&got); found {
		t.Error("still found after RemoveProgress")
	}
}

// A progress file that someone else could have written is never read.
func TestProgressRefusesWhatOthersCanWrite(t *testing.T) {
	cases := []struct {
		name string
		mess func(t *testing.T, path string)
		want string
	}{
		{"writable by others", func(t *testing.T, p string) { os.Chmod(p, 0o666) }, "writable by others"},
		{"a link", func(t *testing.T, p string) {
			other := filepath.Join(t.TempDir(), "elsewhere.json")
			os.WriteFile(other, []byte(`{"pid": 1}`), 0o600)
			os.Remove(p)
			os.Symlink(other, p)
		}, "progress.json"},
		{"owned by nobody", func(t *testing.T, p string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the file away")
			}
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "not owned by root"},
		{"not JSON", func(t *testing.T, p string) { os.WriteFile(p, []byte("{"), 0o600) }, "unexpected end of JSON input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Store{Dir: filepath.Join(t.TempDir(), "state")}
			if err := s.WriteProgress(prog{PID: 42}); err != nil {
				t.Fatal(err)
			}
			c.mess(t, s.ProgressPath())
			var got prog
			found, err := s.ReadProgress(&got)
			if found || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("found %v, err %v, want an error with %q", found, err, c.want)
			}
			if got.PID != 0 {
				t.Errorf("read %+v from it", got)
			}
		})
	}
}
