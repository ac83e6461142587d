package main

// The command line as an admin meets it (issue 17): dom0 named as a guest,
// --version, help, duration flags, the question before a stop of more than
// the named guests.

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestDom0IsNeverAGuest: naming dom0 (Domain-0, domid 0, dom0) to a
// command that starts or stops guests says it is dom0, which xenorder
// never starts or stops; it never suggests another guest (Domain-N, the
// driver domain, is one letter away), exits 2 and runs no xl.
func TestDom0IsNeverAGuest(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	const dom0 = `is dom0, the control domain (domid 0) that xl and xenorder run in: xenorder never starts, stops, drains or restores it`
	tests := [][]string{
		{"stop", "Domain-0"},
		{"stop", "0"},
		{"stop", "--dry-run", "Domain-0"},
		{"start", "Domain-0"},
		{"restart", "Domain-0"},
		{"drain", "dom0"},
		{"drain", "web", "Domain-0"},
		{"resume", "Domain-0"},
		{"restore", "Domain-0"},
		{"plan", "stop", "Domain-0"},
		{"drains", "--set", "Domain-0"},
	}
	for _, args := range tests {
		r := h.xenorder(args...)
		name := args[len(args)-1]
		if r.code != 2 || !strings.Contains(r.stderr, `"`+name+`" `+dom0) || strings.Contains(r.stdout+r.stderr, "did you mean") {
			t.Errorf("xenorder %s: want exit 2 saying %q is dom0, got %s", strings.Join(args, " "), name, r)
		}
	}
	r := h.xenorder("stop", "34")
	if r.code != 2 || !strings.Contains(r.stderr, `"34" is a domain id: xenorder takes the names of guests of `) {
		t.Errorf("stop 34: %s", r)
	}
	if cs := h.calls(); len(cs) != 0 {
		t.Errorf("naming dom0 ran xl: %v", cs)
	}
}

// TestVersion: --version and version print "xenorder VERSION": the
// version the build passed (-X main.version, as the Makefile does with the
// Debian changelog's), else "(devel)" for a plain go build.
func TestVersion(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}, {"-c", "/nonexistent.toml", "--version"}} {
		r := h.xenorder(args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "xenorder (devel)\nbuilt with go") || r.stderr != "" {
			t.Errorf("xenorder %s: %s", strings.Join(args, " "), r)
		}
	}
	if r := h.xenorder("version", "extra"); r.code != 2 {
		t.Errorf("version extra: %s", r)
	}
	// A release build.
	bin := filepath.Join(t.TempDir(), "xenorder")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=1.2.3-1", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "xenorder 1.2.3-1\n") {
		t.Errorf("a release build's --version: %q, %v", out, err)
	}
	// The Makefile passes the version to the linker.
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s.*\$\(GO\) build .*-X main\.version=\$\(VERSION\)`).Match(mk) {
		t.Error("the Makefile's go build does not pass -X main.version=$(VERSION)")
	}
}

// section returns the lines of the manual from the line that begins with
// start up to the next line that begins with any of ends.
func section(t *testing.T, text, start string, ends ...string) []string {
	t.Helper()
	var out []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		if !in {
			in = strings.HasPrefix(line, start)
			continue
		}
		for _, e := range ends {
			if strings.HasPrefix(line, e) {
				return out
			}
		}
		out = append(out, line)
	}
	if !in {
		t.Fatalf("no section %q", start)
	}
	return out
}

// commandFlags returns, for each command of the dispatcher table, its own
// flags (not the global ones).
func commandFlags() map[string][]string {
	global := flag.NewFlagSet("", flag.ContinueOnError)
	globalFlags(global, &env{})
	out := map[string][]string{}
	for _, c := range commands() {
		out[c.name] = []string{}
		newFlagSet(c, &env{}).VisitAll(func(f *flag.Flag) {
			if global.Lookup(f.Name) == nil {
				out[c.name] = append(out[c.name], f.Name)
			}
		})
	}
	return out
}

// TestHelpListsEveryCommand: the manual (xenorder help), xenorder(1), the
// README and the bash completion list every command of the dispatcher
// table and every flag of each; the manual's list of commands holds no
// block of flags; help COMMAND shows each flag once, in the --flag form.
func TestHelpListsEveryCommand(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	r := h.xenorder("help")
	mustExit(t, r, 0)
	manual := r.stdout
	cmds := section(t, manual, "Commands:", "Flags of the commands", "Global flags:", "Exit codes:")
	flagsSec := strings.Join(section(t, manual, "Flags of the commands", "Global flags:", "Exit codes:"), "\n")
	for _, line := range cmds {
		if strings.HasPrefix(strings.TrimSpace(line), "-") && !strings.HasPrefix(line, " ") {
			t.Errorf("the manual's list of commands holds a flag's line: %q", line)
		}
	}
	readme := readRepoFile(t, "README.md")
	man := readRepoFile(t, "man/xenorder.1")
	manCommands := strings.Join(section(t, man, ".SH COMMANDS", ".SH "), "\n")
	manOptions := strings.Join(section(t, man, ".SH OPTIONS", ".SH "), "\n")
	completion := readRepoFile(t, "contrib/bash-completion/xenorder")
	compCommands := regexp.MustCompile(`local commands="([^"]*)"`).FindStringSubmatch(completion)
	if compCommands == nil {
		t.Fatal("the completion has no list of commands")
	}
	for name, flags := range commandFlags() {
		listed := false
		for _, line := range cmds {
			listed = listed || strings.HasPrefix(line, name+" ") || line == name
		}
		if !listed {
			t.Errorf("xenorder help does not list the command %s", name)
		}
		if !strings.Contains(readme, "| `"+name) {
			t.Errorf("README's table of commands has no %s", name)
		}
		if !regexp.MustCompile(`(?m)^\.BR? ` + name + `\b`).MatchString(manCommands) {
			t.Errorf("xenorder(1) COMMANDS has no %s", name)
		}
		if !slices.Contains(strings.Fields(compCommands[1]), name) {
			t.Errorf("the bash completion does not complete the command %s", name)
		}
		hr := h.xenorder("help", name)
		mustExit(t, hr, 0)
		for _, f := range flags {
			long := "--" + f
			if len(f) == 1 {
				continue // shown with its long name
			}
			if !strings.Contains(flagsSec, long) {
				t.Errorf("xenorder help: the flags section has no %s (of %s)", long, name)
			}
			if !strings.Contains(manOptions, `\-\-`+strings.ReplaceAll(f, "-", `\-`)) {
				t.Errorf("xenorder(1) OPTIONS has no %s (of %s)", long, name)
			}
			if !strings.Contains(completion, long) {
				t.Errorf("the bash completion does not complete %s (of %s)", long, name)
			}
			if n := strings.Count(hr.stdout, "  "+long) + strings.Count(hr.stdout, ", "+long); n != 1 {
				t.Errorf("help %s shows %s %d times:\n%s", name, long, n, hr.stdout)
			}
			if strings.Contains(hr.stdout, "  -"+f+" ") || strings.Contains(hr.stdout, "  -"+f+"\n") {
				t.Errorf("help %s shows -%s with one dash:\n%s", name, f, hr.stdout)
			}
		}
		if !strings.Contains(hr.stdout, "-c, --config FILE") || strings.Contains(hr.stdout, "-config") && !strings.Contains(hr.stdout, "--config") {
			t.Errorf("help %s: the global flags:\n%s", name, hr.stdout)
		}
	}
	if !strings.Contains(manual, "--version") || !strings.Contains(manOptions, `\-\-version`) {
		t.Error("--version is not in the manual and xenorder(1) OPTIONS")
	}
	r = h.xenorder("frobnicate")
	for _, c := range commands() {
		if !strings.Contains(r.stderr, c.name) {
			t.Errorf("unknown command: the list of commands has no %s: %s", c.name, r.stderr)
		}
	}
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWaitLockDurations: --wait-lock takes the spellings admins use in
// systemd units (and Go's); what is not a duration is a usage error (exit 2)
// that says what to write; the value reaches the wait for the lock.
func TestWaitLockDurations(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	for _, d := range []string{"5min", "90s", "1h", "2m30s", "1h 30min", "500ms", "1d", "1.5h", "2 minutes", "0"} {
		if r := h.xenorder("stop", "--dry-run", "--wait-lock", d); r.code != 0 {
			t.Errorf("--wait-lock %q: %s", d, r)
		}
		if r := h.xenorder("drain", "web", "--dry-run", "--wait-lock="+d); r.code != 0 {
			t.Errorf("--wait-lock=%q: %s", d, r)
		}
	}
	for _, tc := range []struct{ d, want string }{
		{"300", `invalid value "300" for flag -wait-lock: 300 has no unit (systemd would read seconds; xenorder wants the unit written): write 300s for seconds`},
		{"5 mins", `unknown unit "mins"; the units are ms, s or sec, m or min, h or hr, d, w (and their long forms)`},
		{"-1m", `-1m is negative; write a duration such as 90s, 5min or 1h`},
		{"infinity", `infinity is not accepted: every wait has a bound`},
		{"soon", `"soon" is not a number`},
		{"5M", `"M" (months or years in systemd) is not accepted`},
	} {
		r := h.xenorder("start", "--wait-lock", tc.d)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "(see xenorder help start)") {
			t.Errorf("--wait-lock %q: want exit 2 with %q, got %s", tc.d, tc.want, r)
		}
	}
	for _, c := range h.calls() {
		if c.Prog == "xl" && len(c.Args) > 0 && c.Args[0] != "list" {
			t.Errorf("a dry run or a bad flag ran xl %v", c.Args)
		}
	}
	// The value reaches the wait: a start holds the lock (fileserver is
	// never ready); a drain waits 500ms for it, saying so, then gives up.
	neverReady(h)
	bg := h.background("start")
	waitFor(t, h, isCall("create", "fileserver"))
	r := h.xenorder("drain", "web", "--wait-lock", "500 msec")
	if r.code != 3 || !strings.Contains(r.stdout, "waiting for it to let go (--wait-lock 500ms)") {
		t.Errorf("drain --wait-lock \"500 msec\" while a start holds the lock: %s", r)
	}
	bg.signal(syscall.SIGTERM)
	bg.wait()
}
