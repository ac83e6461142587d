package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestNumericGuestNameRefused: xl reads "3" as domid 3, so a guest named
// "3" would make `stop 3` shut down whichever guest has domid 3. Such a
// config is refused: exit 2, the file, line and guest named, and nothing
// run but (at most) xl list.
func TestNumericGuestNameRefused(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	// domids 1, 2 and 3, then the domain named "3" (domid 4).
	for _, cfg := range []string{"monitor", "scratch", "monitor2", "3"} {
		if cfg == "monitor2" || cfg == "3" {
			os.WriteFile(filepath.Join(h.dir, "xl", cfg+".cfg"),
				[]byte("name = \""+cfg+"\"\ntype = \"pvh\"\nkernel = \"/boot/k\"\nmemory = 128\nxlsim_create_time = \"50ms\"\n"), 0o644)
		}
		mustExit(t, h.run("xl", "create", filepath.Join(h.dir, "xl", cfg+".cfg")), 0)
	}
	before := h.run("xl", "list").stdout
	if !regexp.MustCompile(`(?m)^monitor2 +3 `).MatchString(before) || !regexp.MustCompile(`(?m)^3 +4 `).MatchString(before) {
		t.Fatalf("want monitor2 as domid 3 and \"3\" as domid 4:\n%s", before)
	}
	h.appendTo("xenorder.toml", "\n[guest.\"3\"]\nautostart = false")
	line := strings.Count(readFile(t, h.toml), "\n") - 1 // the table's line
	calls := len(h.calls())

	want := h.toml + ":" + strconv.Itoa(line) + `: guest 3: guest name "3" is all digits: xl reads it as a domain id (xl shutdown 3 would stop domain id 3, whatever its name); rename the guest, here and in its xl config's name = line (for example "guest3")`
	for _, args := range [][]string{{"stop", "3"}, {"stop"}, {"start", "3"}, {"plan", "stop", "3"}, {"status"}, {"check"}} {
		r := h.xenorder(args...)
		if r.code != 2 {
			t.Errorf("%v: want exit 2, got %s", args, r)
		}
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%v: stderr lacks\n%s\n%s", args, want, r)
		}
	}
	for _, c := range h.calls()[calls:] {
		if c.Prog == "xl" && c.Args[0] != "list" {
			t.Errorf("a refused config ran xl %v", c.Args)
		}
	}
	// The same domains, ids and states (Domain-0's CPU time goes on).
	if after := h.run("xl", "list").stdout; !slices.Equal(domainRows(after), domainRows(before)) {
		t.Errorf("the domains changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// domainRows are xl list's rows as "name id state".
func domainRows(list string) []string {
	var rows []string
	for _, l := range strings.Split(list, "\n")[1:] {
		if f := strings.Fields(l); len(f) >= 5 {
			rows = append(rows, f[0]+" "+f[1]+" "+f[4])
		}
	}
	return rows
}

// TestUndeclaredNameEscaped: a domain another admin created with a terminal
// escape sequence in its name reaches xenorder's output only escaped, in
// every rendering, and xl is still given the name itself.
func TestUndeclaredNameEscaped(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	const raw = "evil\x1b[2J\u009b1m"
	const shown = `evil\x1b[2J\u009b1m`
	// The xl config's own escapes: \x1b is ESC, \xc2\x9b is U+009B (CSI).
	os.WriteFile(filepath.Join(h.dir, "evil.cfg"),
		[]byte("name = \"evil\\x1b[2J\\xc2\\x9b1m\"\ntype = \"pvh\"\nkernel = \"/boot/k\"\nmemory = 128\nxlsim_create_time = \"50ms\"\nxlsim_shutdown_time = \"100ms\"\n"), 0o644)
	mustExit(t, h.run("xl", "create", filepath.Join(h.dir, "evil.cfg")), 0)
	if !strings.Contains(h.run("xl", "list").stdout, raw) {
		t.Fatalf("the simulator has no domain named %q", raw)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string // a line of stdout, as a regexp
	}{
		// status exits 1: the declared guests are down.
		{[]string{"status"}, 1, `(?m)^` + regexp.QuoteMeta(shown) + ` +\w+ +- +1 +- +128M +- +undeclared: stopped first by a bare stop$`},
		{[]string{"plan", "stop"}, 0, `(?m)^  ` + regexp.QuoteMeta(shown) + ` +shutdown +\[not in the config\]$`},
		{[]string{"stop", "--dry-run"}, 0, `(?m)^  ` + regexp.QuoteMeta(shown) + ` +shutdown +\[not in the config\]$`},
		{[]string{"stop"}, 0, `(?m)^\d\d:\d\d:\d\d ` + regexp.QuoteMeta(shown) + `: `},
	} {
		r := h.xenorder(tt.args...)
		if r.code != tt.code {
			t.Errorf("%v: want exit %d, got %s", tt.args, tt.code, r)
		}
		if strings.Contains(r.stdout+r.stderr, "\x1b") || strings.Contains(r.stdout+r.stderr, "\u009b") {
			t.Errorf("%v: the name reached the terminal raw:\n%q", tt.args, r.stdout+r.stderr)
		}
		if !regexp.MustCompile(tt.want).MatchString(r.stdout) {
			t.Errorf("%v: stdout lacks %s:\n%s", tt.args, tt.want, r)
		}
	}
	// xl was given the name itself.
	asked := false
	for _, c := range h.calls() {
		if c.Prog == "xl" && c.Args[0] == "shutdown" && c.Args[len(c.Args)-1] == raw {
			asked = true
		}
	}
	if !asked {
		t.Errorf("no xl shutdown %q: %v", raw, h.calls())
	}

	// JSON: escaped for the terminal, the name itself once decoded.
	mustExit(t, h.run("xl", "create", filepath.Join(h.dir, "evil.cfg")), 0)
	r := h.xenorder("status", "--json")
	mustExit(t, r, 1)
	if strings.Contains(r.stdout, "\x1b") || strings.Contains(r.stdout, "\u009b") {
		t.Errorf("status --json: the name reached the terminal raw:\n%q", r.stdout)
	}
	if !strings.Contains(r.stdout, `"evil\u001b[2J\u009b1m"`) {
		t.Errorf("status --json lacks the escaped name:\n%s", r.stdout)
	}
	var rep struct {
		Others []struct{ Name string } `json:"others"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range rep.Others {
		found = found || o.Name == raw
	}
	if !found {
		t.Errorf("status --json: no other named %q: %+v", raw, rep.Others)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
