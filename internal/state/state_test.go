package state

import (
	"errors"
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

// damage is one way a copy of the drain record can be unreadable.
var damage = []struct {
	name string
	data string
	why  string // in the warning or the error
}{
	{"truncated", `{"version": 1, "drained": {"db": {"since": "2026-11-25T14:02:00Z", "by": "x`, "unexpected end of JSON input"},
	{"empty", "", "empty"},
	{"not json", "\x00\x00\x00\x00", "invalid character"},
	{"wrong version", `{"version": 7, "drained": {}}`, "version 7, not 1"},
	{"null", "null", "version 0, not 1"},
	{"trailing garbage", "{\"version\": 1, \"drained\": {}}\n}}", "invalid character"},
}

// storeWithDrains is a store whose record went through two writes: its
// previous copy holds fileserver, drains.json fileserver and web.
func storeWithDrains(t *testing.T) (*Store, *[]string, time.Time) {
	t.Helper()
	var warnings []string
	s := &Store{Dir: filepath.Join(t.TempDir(), "state"), Warn: func(m string) { warnings = append(warnings, m) }}
	t0 := time.Date(2026, 11, 25, 14, 2, 0, 0, time.UTC)
	if err := s.AddDrains([]string{"fileserver"}, "drain fileserver", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDrains([]string{"web"}, "drain web", t0); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings on a fresh store: %q", warnings)
	}
	return s, &warnings, t0
}

func TestEveryWriteKeepsThePreviousRecord(t *testing.T) {
	s, _, _ := storeWithDrains(t)
	prev, _ := parseDrains(mustRead(t, filepath.Join(s.Dir, "drains.json.prev")))
	cur, _ := parseDrains(mustRead(t, filepath.Join(s.Dir, "drains.json")))
	if !reflect.DeepEqual(SortedDrains(prev), []string{"fileserver"}) || !reflect.DeepEqual(SortedDrains(cur), []string{"fileserver", "web"}) {
		t.Errorf("previous copy %v, record %v", SortedDrains(prev), SortedDrains(cur))
	}
	// The first write of a store has no record to keep: the new record is
	// its own previous copy.
	f := &Store{Dir: t.TempDir()}
	f.AddDrains([]string{"db"}, "drain db", time.Now())
	if p, why := parseDrains(mustRead(t, filepath.Join(f.Dir, "drains.json.prev"))); why != "" || !reflect.DeepEqual(SortedDrains(p), []string{"db"}) {
		t.Errorf("first write's previous copy: %v %s", p, why)
	}
}

func TestDamagedRecordUsesThePreviousCopyLoudly(t *testing.T) {
	for _, c := range damage {
		t.Run(c.name, func(t *testing.T) {
			s, warnings, t0 := storeWithDrains(t)
			file := filepath.Join(s.Dir, "drains.json")
			os.WriteFile(file, []byte(c.data), 0o600)
			d, err := s.Drains()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, map[string]Drain{"fileserver": {Since: t0, By: "drain fileserver"}}) {
				t.Errorf("drains %v, want the previous copy's", d)
			}
			asides, _ := filepath.Glob(file + ".damaged-*")
			if len(asides) != 1 {
				t.Fatalf("damaged file kept as %v", asides)
			}
			if b := mustRead(t, asides[0]); string(b) != c.data {
				t.Errorf("the file kept aside holds %q, not the damaged bytes", b)
			}
			if len(*warnings) != 1 {
				t.Fatalf("warnings %q", *warnings)
			}
			w := (*warnings)[0]
			for _, want := range []string{"THE DRAIN RECORD " + file + " IS DAMAGED", c.why, "using its previous copy " + file + ".prev",
				"drained: fileserver", "kept as " + asides[0], "xenorder drains --clear", "xenorder drains --set GUEST..."} {
				if !strings.Contains(w, want) {
					t.Errorf("warning lacks %q:\n%s", want, w)
				}
			}
			// The copy is back in place: the next read is quiet and the
			// same, and a write builds on it.
			if d2, err := s.Drains(); err != nil || !reflect.DeepEqual(d2, d) || len(*warnings) != 1 {
				t.Errorf("second read: %v %v %q", d2, err, *warnings)
			}
			if err := s.AddDrains([]string{"mail"}, "drain mail", t0); err != nil {
				t.Fatal(err)
			}
			d3, _ := s.Drains()
			if got := SortedDrains(d3); !reflect.DeepEqual(got, []string{"fileserver", "mail"}) {
				t.Errorf("after the next write: %v", got)
			}
		})
	}
}

func TestMissingRecordBesideItsCopyUsesTheCopy(t *testing.T) {
	s, warnings, _ := storeWithDrains(t)
	os.Remove(filepath.Join(s.Dir, "drains.json"))
	d, err := s.Drains()
	if err != nil || !reflect.DeepEqual(SortedDrains(d), []string{"fileserver"}) {
		t.Fatalf("drains %v %v", d, err)
	}
	if len(*warnings) != 1 || !strings.Contains((*warnings)[0], "IS MISSING beside its previous copy") {
		t.Errorf("warnings %q", *warnings)
	}
}

func TestNothingReadableIsATypedError(t *testing.T) {
	for _, prev := range []struct{ name, data, why string }{
		{"previous copy damaged", "{", "unexpected end of JSON input"},
		{"no previous copy", "", "missing"},
	} {
		t.Run(prev.name, func(t *testing.T) {
			s, warnings, _ := storeWithDrains(t)
			file := filepath.Join(s.Dir, "drains.json")
			os.WriteFile(file, []byte(`{"version": 1, "drai`), 0o600)
			if prev.why == "missing" {
				os.Remove(file + ".prev")
			} else {
				os.WriteFile(file+".prev", []byte(prev.data), 0o600)
			}
			for _, call := range []struct {
				name string
				f    func() error
			}{
				{"Drains", func() error { _, err := s.Drains(); return err }},
				{"AddDrains", func() error { return s.AddDrains([]string{"db"}, "drain db", time.Now()) }},
				{"ClearDrain", func() error { return s.ClearDrain("web") }},
			} {
				err := call.f()
				var de *DamagedError
				if !errors.As(err, &de) {
					t.Fatalf("%s: %v, want a *DamagedError", call.name, err)
				}
				for _, want := range []string{file + " is damaged (unexpected end of JSON input)", file + ".prev", prev.why,
					"which guests are drained is unknown", "xenorder drains --clear", "xenorder drains --set GUEST..."} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error lacks %q:\n%v", call.name, want, err)
					}
				}
			}
			// Nothing was moved or written.
			if b := mustRead(t, file); string(b) != `{"version": 1, "drai` {
				t.Errorf("drains.json changed: %q", b)
			}
			if asides, _ := filepath.Glob(file + "*.damaged-*"); len(asides) != 0 || len(*warnings) != 0 {
				t.Errorf("asides %v, warnings %q", asides, *warnings)
			}

			// SetDrains rebuilds it, keeping both damaged files aside.
			t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			old, err := s.SetDrains(map[string]Drain{"db": {Since: t1, By: "xenorder drains --set db"}})
			if err != nil || old != nil {
				t.Fatalf("SetDrains: old %v, %v", old, err)
			}
			d, err := s.Drains()
			if err != nil || !reflect.DeepEqual(SortedDrains(d), []string{"db"}) {
				t.Errorf("after SetDrains: %v %v", d, err)
			}
			want := 2
			if prev.why == "missing" {
				want = 1
			}
			if asides, _ := filepath.Glob(file + "*.damaged-*"); len(asides) != want {
				t.Errorf("kept aside: %v, want %d files", asides, want)
			}
			if p, why := parseDrains(mustRead(t, file+".prev")); why != "" || !reflect.DeepEqual(SortedDrains(p), []string{"db"}) {
				t.Errorf("previous copy after a rebuild: %v %s", p, why)
			}
		})
	}
}

func TestSetDrainsReturnsTheRecordItReplaced(t *testing.T) {
	s, _, t0 := storeWithDrains(t)
	old, err := s.SetDrains(nil)
	if err != nil || !reflect.DeepEqual(SortedDrains(old), []string{"fileserver", "web"}) || !old["web"].Since.Equal(t0) {
		t.Fatalf("old %v, %v", old, err)
	}
	if d, _ := s.Drains(); len(d) != 0 {
		t.Errorf("after a clear: %v", d)
	}
	b := mustRead(t, filepath.Join(s.Dir, "drains.json"))
	if !strings.Contains(string(b), `"drained": {}`) {
		t.Errorf("cleared record:\n%s", b)
	}
}

func TestTimingRecordDamaged(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	os.WriteFile(filepath.Join(s.Dir, "last-start.json"), []byte(`{"verb": "sta`), 0o600)
	var v map[string]any
	found, err := s.LoadRun("start", &v)
	var de *DamagedError
	if found || !errors.As(err, &de) || !strings.Contains(err.Error(), "last-start.json is damaged") || !strings.Contains(err.Error(), "the next start replaces it") {
		t.Errorf("found %v, err %v", found, err)
	}
	if err := s.SaveRun("start", map[string]int{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if found, err := s.LoadRun("start", &v); !found || err != nil {
		t.Errorf("after a new run: %v %v", found, err)
	}
}

func TestPrivateDir(t *testing.T) {
	root := t.TempDir()
	for _, c := range []struct {
		name    string
		mode    os.FileMode // 0: missing
		warning string
	}{
		{"missing", 0, ""},
		{"0755", 0o755, "was mode 0755"},
		{"0711", 0o711, "was mode 0711"},
		{"0770", 0o770, "was mode 0770"},
		{"0700", 0o700, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(root, c.name, "state")
			if c.mode != 0 {
				os.MkdirAll(dir, 0o700)
				os.Chmod(dir, c.mode)
			}
			w, err := EnsurePrivateDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
				t.Errorf("mode %04o", fi.Mode().Perm())
			}
			if c.warning == "" && w != "" || c.warning != "" && (!strings.Contains(w, c.warning) || !strings.Contains(w, dir) || !strings.Contains(w, "made 0700")) {
				t.Errorf("warning %q", w)
			}
		})
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := EnsurePrivateDir(file); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("a file: %v", err)
	}
}

// The store's writes make its folder private and say so.
func TestWritesMakeTheFolderPrivate(t *testing.T) {
	var warnings []string
	s := &Store{Dir: filepath.Join(t.TempDir(), "state"), Warn: func(m string) { warnings = append(warnings, m) }}
	os.MkdirAll(s.Dir, 0o755)
	os.Chmod(s.Dir, 0o755)
	if err := s.AddDrains([]string{"db"}, "drain db", time.Now()); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(s.Dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %04o", fi.Mode().Perm())
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], s.Dir+" was mode 0755") {
		t.Errorf("warnings %q", warnings)
	}
	os.Chmod(s.Dir, 0o755)
	s.SaveRun("stop", 1)
	if fi, _ := os.Stat(s.Dir); fi.Mode().Perm() != 0o700 || len(warnings) != 2 {
		t.Errorf("SaveRun: mode %04o, warnings %q", fi.Mode().Perm(), warnings)
	}
	// Fresh: created 0700, quietly.
	f := &Store{Dir: filepath.Join(t.TempDir(), "a", "state"), Warn: func(m string) { warnings = append(warnings, m) }}
	f.SaveRun("start", 1)
	if fi, err := os.Stat(f.Dir); err != nil || fi.Mode().Perm() != 0o700 || len(warnings) != 2 {
		t.Errorf("fresh folder: %v %v, warnings %q", fi, err, warnings)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
