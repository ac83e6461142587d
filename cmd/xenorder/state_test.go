package main

// The state folder under damage: a damaged drain record, with and without
// a good previous copy, the command that repairs it, the timing records,
// the folder's mode.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// createdSince returns the guests xl created from call number n on.
func createdSince(h *host, n int) []string {
	var out []string
	for _, c := range h.calls()[n:] {
		if c.Prog == "xl" && len(c.Args) > 1 && c.Args[0] == "create" {
			out = append(out, strings.TrimSuffix(filepath.Base(c.Args[len(c.Args)-1]), ".cfg"))
		}
	}
	slices.Sort(out)
	return out
}

func TestDamagedDrainRecordUsesItsPreviousCopy(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	mustExit(t, h.xenorder("start"), 0)
	mustExit(t, h.xenorder("drain", "db"), 0)   // the record: db
	mustExit(t, h.xenorder("drain", "mail"), 0) // db, mail; its previous copy: db
	mustExit(t, h.xenorder("stop"), 0)
	file := filepath.Join(h.dir, "state", "drains.json")
	truncated := []byte(`{"version": 1, "drained": {"db": {"since": "2026-`)
	if err := os.WriteFile(file, truncated, 0o600); err != nil {
		t.Fatal(err)
	}

	n := len(h.calls())
	r := h.xenorder("start")
	mustExit(t, r, 0)
	// The previous copy held db only: db stays down, mail starts.
	if got := createdSince(h, n); !slices.Equal(got, []string{"Domain-N", "fileserver", "mail", "monitor", "opnsense", "scratch", "web"}) {
		t.Errorf("created %v", got)
	}
	asides, _ := filepath.Glob(file + ".damaged-*")
	if len(asides) != 1 {
		t.Fatalf("damaged file kept as %v", asides)
	}
	if b, _ := os.ReadFile(asides[0]); string(b) != string(truncated) {
		t.Errorf("%s holds %q, not the damaged bytes", asides[0], b)
	}
	for _, want := range []string{"THE DRAIN RECORD " + file + " IS DAMAGED", "unexpected end of JSON input",
		"using its previous copy " + file + ".prev", "(drained: db)", "kept as " + asides[0],
		"xenorder drains --clear", "xenorder drains --set GUEST..."} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("start's warning lacks %q:\n%s", want, r)
		}
	}
	// The copy is back in place: the next look is quiet.
	d := h.xenorder("drains")
	mustExit(t, d, 0)
	if d.stderr != "" || !regexp.MustCompile(`(?m)^  db  since \d{4}-\d\d-\d\d \d\d:\d\d  by xenorder drain db$`).MatchString(d.stdout) {
		t.Errorf("drains:\n%s", d)
	}
}

func TestNoReadableDrainRecordStartsNothing(t *testing.T) {
	for _, c := range []struct {
		name    string
		prev    *string // nil: no previous copy
		prevWhy string
	}{
		{"previous copy damaged too", ptr(""), "so is its previous copy"},
		{"no previous copy", nil, "it has no previous copy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			mustExit(t, h.xenorder("start"), 0)
			file := filepath.Join(h.dir, "state", "drains.json")
			os.WriteFile(file, []byte("{\"version\": 1, \"drained\": {\"db\""), 0o600)
			os.Remove(file + ".prev")
			if c.prev != nil {
				os.WriteFile(file+".prev", []byte(*c.prev), 0o600)
			}
			damaged := func(t *testing.T, r result) {
				t.Helper()
				for _, want := range []string{file + " is damaged", file + ".prev", c.prevWhy, "which guests are drained is unknown",
					"xenorder drains --clear", "xenorder drains --set GUEST..."} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("message lacks %q:\n%s", want, r)
					}
				}
			}

			// Nothing that starts guests or records drains runs; stop
			// and status do.
			n := len(h.calls())
			st := h.xenorder("status")
			mustExit(t, st, 0) // every autostart guest runs
			if !strings.Contains(st.stdout, "DRAINED: UNKNOWN: "+file+" is damaged") {
				t.Errorf("status:\n%s", st)
			}
			for _, args := range [][]string{{"drain", "db"}, {"restart", "db"}, {"resume"}, {"drains"}, {"plan"}} {
				r := h.xenorder(args...)
				mustExit(t, r, 2)
				damaged(t, r)
			}
			if got := changingSince(h, n); len(got) != 0 {
				t.Errorf("xl calls that change something: %v", got)
			}
			mustExit(t, h.xenorder("stop"), 0)

			n = len(h.calls())
			r := h.xenorder("start")
			mustExit(t, r, 2)
			damaged(t, r)
			if !strings.Contains(r.stderr, "start: nothing started: ") {
				t.Errorf("start:\n%s", r)
			}
			if got := createdSince(h, n); len(got) != 0 {
				t.Errorf("a start with no drain record created %v", got)
			}
			st = h.xenorder("status")
			mustExit(t, st, 1)
			if !regexp.MustCompile(`(?m)^db\s+stopped .*\(drained: unknown\)$`).MatchString(st.stdout) {
				t.Errorf("status:\n%s", st)
			}

			// drains --set checks its names and changes nothing when one
			// is wrong.
			before, _ := os.ReadFile(file)
			for _, args := range [][]string{{"drains", "--set", "db", "nosuch"}, {"drains", "--set", "cloud"}, {"drains", "--set"}, {"drains", "--clear", "db"}, {"drains", "db"}} {
				r := h.xenorder(args...)
				mustExit(t, r, 2)
				if after, _ := os.ReadFile(file); string(after) != string(before) {
					t.Errorf("%v changed the record", args)
				}
			}
			if r := h.xenorder("drains", "--set", "db", "nosuch"); !strings.Contains(r.stderr, `unknown guest "nosuch"`) {
				t.Errorf("drains --set nosuch:\n%s", r)
			}

			// drains --clear: a fresh record, the damaged files kept.
			cl := h.xenorder("drains", "--clear")
			mustExit(t, cl, 0)
			if !strings.Contains(cl.stdout, "cleared: nothing is drained (the record was unreadable)") {
				t.Errorf("drains --clear:\n%s", cl)
			}
			kept, _ := filepath.Glob(file + "*.damaged-*")
			if want := map[bool]int{true: 1, false: 2}[c.prev == nil]; len(kept) != want {
				t.Errorf("kept %v, want %d files", kept, want)
			}
			n = len(h.calls())
			mustExit(t, h.xenorder("start"), 0)
			if got := createdSince(h, n); len(got) != len(autostart) {
				t.Errorf("start after drains --clear created %v", got)
			}

			// drains --set db: start leaves db down.
			mustExit(t, h.xenorder("stop"), 0)
			set := h.xenorder("drains", "--set", "db")
			mustExit(t, set, 0)
			if !strings.Contains(set.stdout, "rebuilt: drained (kept down through start, until xenorder resume): db (was: nothing drained)") {
				t.Errorf("drains --set db:\n%s", set)
			}
			n = len(h.calls())
			s := h.xenorder("start")
			mustExit(t, s, 0)
			if got := createdSince(h, n); slices.Contains(got, "db") || len(got) != len(autostart)-1 {
				t.Errorf("start after drains --set db created %v", got)
			}
			if !strings.Contains(s.stdout, "db: drained since") {
				t.Errorf("start:\n%s", s)
			}
			d := h.xenorder("drains")
			mustExit(t, d, 0)
			if !regexp.MustCompile(`(?m)^  db  since .*  by xenorder drains --set db$`).MatchString(d.stdout) {
				t.Errorf("drains:\n%s", d)
			}
		})
	}
}

// changingSince lists the xl calls from number n on that change
// something.
func changingSince(h *host, n int) []string {
	var out []string
	for _, c := range h.calls()[n:] {
		if c.Prog == "xl" && len(c.Args) > 0 && c.Args[0] != "list" && c.Args[0] != "info" && !strings.HasPrefix(c.Args[0], "pci-assignable-") {
			out = append(out, strings.Join(c.Args, " "))
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// Under systemd a start that finds no readable drain record fails the
// unit at once and visibly: exit 2 (outside SuccessExitStatus=1), STATUS=
// naming the file and the repair, and never READY=1: a start that did
// nothing claims no success (and, without READY=1, its exit with a failure
// code fails the unit in its start: ExecStop does not run).
func TestDamagedDrainRecordFailsTheUnit(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.fakeSystemctl(3) // xendomains inactive
	state := filepath.Join(h.dir, "state")
	os.MkdirAll(state, 0o700)
	os.WriteFile(filepath.Join(state, "drains.json"), nil, 0o600)
	os.WriteFile(filepath.Join(state, "drains.json.prev"), []byte("{\"version\": 2}"), 0o600)
	sock := filepath.Join(t.TempDir(), "notify")
	got := listenUnixgram(t, sock)
	h.extraEnv = append(h.extraEnv, "NOTIFY_SOCKET="+sock)

	r := h.xenorder("start")
	mustExit(t, r, 2)
	for _, want := range []string{"drains.json is damaged (empty)", "drains.json.prev (version 2, not 1)", "xenorder drains --clear",
		"systemctl start xenorder.service", "Not a plain xenorder start"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("message lacks %q:\n%s", want, r)
		}
	}
	ds := got()
	if slices.ContainsFunc(ds, func(d datagram) bool { return d.data == "READY=1" }) {
		t.Errorf("READY=1 sent by a start that started nothing: %v", ds)
	}
	if !slices.ContainsFunc(ds, func(d datagram) bool {
		return strings.HasPrefix(d.data, "STATUS=start refused: the drain record "+filepath.Join(state, "drains.json")+" is damaged") &&
			strings.Contains(d.data, "xenorder drains --clear")
	}) {
		t.Errorf("no STATUS naming the damaged record: %v", ds)
	}
	if n := len(stateChanging(h)); n != 0 {
		t.Errorf("%d state-changing xl calls", n)
	}
	unit, err := os.ReadFile("../../contrib/systemd/xenorder.service")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^SuccessExitStatus=(.*)$`).FindSubmatch(unit); m == nil || slices.Contains(strings.Fields(string(m[1])), "2") {
		t.Errorf("the unit's SuccessExitStatus covers exit 2: %q", m)
	}
}

// Damaged timing records never fail a start or a stop; status says so.
// Writes make the state folder private, saying so.
func TestDamagedTimingRecordsAndFolderMode(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	state := filepath.Join(h.dir, "state")
	os.MkdirAll(state, 0o755)
	os.Chmod(state, 0o755)
	for _, f := range []string{"last-start.json", "last-stop.json"} {
		os.WriteFile(filepath.Join(state, f), []byte(`{"verb": "st`), 0o600)
	}
	r := h.xenorder("start")
	mustExit(t, r, 0)
	if !strings.Contains(r.stderr, "warning: the folder "+state+" was mode 0755, open to others: made 0700") {
		t.Errorf("start:\n%s", r)
	}
	if fi, _ := os.Stat(state); fi.Mode().Perm() != 0o700 {
		t.Errorf("%s is mode %04o", state, fi.Mode().Perm())
	}
	os.WriteFile(filepath.Join(state, "last-start.json"), []byte(`{"verb": "st`), 0o600)
	st := h.xenorder("status")
	mustExit(t, st, 0)
	if !strings.Contains(st.stderr, filepath.Join(state, "last-start.json")+" is damaged") || !strings.Contains(st.stderr, "the next start replaces it") {
		t.Errorf("status:\n%s", st)
	}
	mustExit(t, h.xenorder("stop"), 0)
	tm := h.xenorder("status", "--timings")
	mustExit(t, tm, 2)
	if !strings.Contains(tm.stderr, "last-start.json is damaged") {
		t.Errorf("status --timings:\n%s", tm)
	}
	mustExit(t, h.xenorder("start"), 0)
	mustExit(t, h.xenorder("status", "--timings"), 0)
}
