package xlsim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadsWriteNothing: commands that only read (xl list, list -l, info,
// domid, xenstore-read, xenstore-watch's looks) leave state.json alone
// when nothing is due, so they can share the lock; when something has come
// due they apply it and write it back like any other command.
func TestReadsWriteNothing(t *testing.T) {
	dir, cfg, run := oneGuestHost(t, "xlsim_boot_time = '300ms'")
	state := filepath.Join(dir, "state.json")
	inode := func() uint64 { return inodeOf(t, state) }
	run("xl", "create", cfg)
	written := inode() // every write renames a new file into place
	for _, argv := range [][]string{{"xl", "list"}, {"xl", "list", "-l"}, {"xl", "info"}, {"xl", "domid", "v"},
		{"xenstore-read", "/local/domain/1/name"}, {"xenstore-watch", "-n", "1", "@releaseDomain"}} {
		run(argv...)
		if inode() != written {
			t.Fatalf("%v wrote the state though nothing was due", argv)
		}
	}
	evs, _ := ReadEvents(dir)
	time.Sleep(350 * time.Millisecond) // v's boot comes due
	if l := run("xl", "list"); !strings.Contains(l, "\nv ") {
		t.Fatalf("list:\n%s", l)
	}
	if inode() == written {
		t.Error("xl list applied the boot but did not write it")
	}
	after, _ := ReadEvents(dir)
	if len(after) != len(evs)+1 || after[len(after)-1].Ev != "booted" {
		t.Errorf("events after the list: %+v", after[len(evs):])
	}
}

func TestViewRefusesChanges(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	var out, errb bytes.Buffer
	if rc := Main([]string{"xl", "list"}, &out, &errb); rc != 0 {
		t.Fatal(errb.String())
	}
	e, err := EnvFromOS(&out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.view()
	if err != nil {
		t.Fatal(err)
	}
	if !s.shared {
		t.Fatal("nothing is due, yet the view is not shared")
	}
	s.event(s.st.Domains[0], s.now, "booted")
	if err := s.commit(); err == nil {
		t.Error("a view committed a change")
	}
}

// oneGuestHost is a simulated host in a temporary $XLSIM_DIR with the xl
// config of one guest, v (64 MiB, created in 1ms, plus extra lines), and
// run, which runs the simulator in-process and fails the test on a
// non-zero exit.
func oneGuestHost(t *testing.T, extra ...string) (dir, cfg string, run func(argv ...string) string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	cfg = filepath.Join(dir, "v.cfg")
	os.WriteFile(cfg, []byte("name = 'v'\nmemory = 64\nxlsim_create_time = '1ms'\n"+strings.Join(extra, "\n")+"\n"), 0o644)
	run = func(argv ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if rc := Main(argv, &out, &errb); rc != 0 {
			t.Fatalf("%v: rc %d: %s", argv, rc, errb.String())
		}
		return out.String()
	}
	return dir, cfg, run
}

// inodeOf is path's inode: a write renames a new file into place.
func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
