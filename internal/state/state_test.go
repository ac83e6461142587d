package state

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDrainsRoundTrip(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "state")}
	d, err := s.Drains()
	if err != nil || len(d) != 0 {
		t.Fatalf("fresh store: %v %v", d, err)
	}
	t0 := time.Date(2026, 11, 25, 14, 2, 7, 0, time.UTC)
	if err := s.AddDrains([]string{"fileserver", "web"}, "drain fileserver", t0); err != nil {
		t.Fatal(err)
	}
	s.AddDrains([]string{"web", "mail"}, "drain web", t0.Add(time.Hour)) // web keeps its date
	d, _ = s.Drains()
	want := map[string]Drain{
		"fileserver": {Since: t0, By: "drain fileserver"},
		"web":        {Since: t0, By: "drain fileserver"},
		"mail":       {Since: t0.Add(time.Hour), By: "drain web"},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("drains %v", d)
	}
	s.ClearDrain("web")
	d, _ = s.Drains()
	if got := SortedDrains(d); !reflect.DeepEqual(got, []string{"fileserver", "mail"}) {
		t.Errorf("after clear: %v", got)
	}
	left, _ := filepath.Glob(filepath.Join(s.Dir, ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestDamagedFileSaysWhatToDo(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	os.WriteFile(filepath.Join(s.Dir, drainsFile), []byte("{not json"), 0o644)
	_, err := s.Drains()
	if err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "move it aside") {
		t.Errorf("err %v", err)
	}
}

// TestKillMidWrite kills a writer between writing the temporary file and
// the rename: the old state must be intact and readable.
func TestKillMidWrite(t *testing.T) {
	if dir := os.Getenv("STATE_TEST_WRITER"); dir != "" {
		s := &Store{Dir: dir, beforeRename: func() {
			os.WriteFile(filepath.Join(dir, "paused"), nil, 0o644)
			time.Sleep(time.Minute) // killed here
		}}
		s.AddDrains([]string{"new-guest"}, "drain new-guest", time.Now())
		os.Exit(0)
	}
	dir := t.TempDir()
	s := &Store{Dir: dir}
	t0 := time.Date(2026, 11, 25, 14, 2, 0, 0, time.UTC)
	if err := s.AddDrains([]string{"fileserver"}, "drain fileserver", t0); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillMidWrite$")
	cmd.Env = append(os.Environ(), "STATE_TEST_WRITER="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "paused")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the writer never reached the rename")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	d, err := s.Drains()
	if err != nil {
		t.Fatalf("state after a kill mid-write: %v", err)
	}
	if !reflect.DeepEqual(SortedDrains(d), []string{"fileserver"}) || !d["fileserver"].Since.Equal(t0) {
		t.Errorf("state after a kill mid-write: %v", d)
	}
	// The next write works, whatever the dead writer left.
	if err := s.AddDrains([]string{"web"}, "drain web", t0); err != nil {
		t.Fatal(err)
	}
	d, _ = s.Drains()
	if !reflect.DeepEqual(SortedDrains(d), []string{"fileserver", "web"}) {
		t.Errorf("after the next write: %v", d)
	}
}
