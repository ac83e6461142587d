package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

const realistic = "../../testdata/xendomains-realistic"

// readmeBlock returns the fenced block that follows marker in README.md.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("README.md lacks %q", marker)
	}
	s = s[i+len(marker):]
	open := strings.Index(s, "```")
	if open < 0 {
		t.Fatalf("README.md: no code block after %q", marker)
	}
	s = s[open:]
	s = s[strings.Index(s, "\n")+1:]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatalf("README.md: the code block after %q does not end", marker)
	}
	return s[:end]
}

// listing shows the fixture's auto folder and save folder as the README
// does: one host path a line, a link with its target.
func listing(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	for _, dir := range []string{"/etc/xen/auto", "/var/lib/xen/save"} {
		es, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			line := filepath.Join(dir, e.Name())
			if target, err := os.Readlink(filepath.Join(root, line)); err == nil {
				line += " -> " + target
			}
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestImportRealisticMatchesReadme: the README's walk through import shows
// the host (testdata/xendomains-realistic), the warnings and the config
// exactly as the real binary prints them for it; and that config, pointed
// at the fixture's xl configs, passes check.
func TestImportRealisticMatchesReadme(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	root, err := filepath.Abs(realistic)
	if err != nil {
		t.Fatal(err)
	}
	r := h.xenorder("import", "--root", root)
	mustExit(t, r, 0)
	for _, b := range []struct{ marker, want string }{
		{"<!-- import example: the host -->", listing(t, root)},
		{"<!-- import example: stderr -->", "# xenorder import > /etc/xen/xenorder.toml\n" + r.stderr},
		{"<!-- import example: the config -->", r.stdout},
	} {
		if got := readmeBlock(t, b.marker); got != b.want {
			t.Errorf("README.md's block after %s differs from what it shows; it should read:\n%s", b.marker, b.want)
		}
	}
	// What the example promises.
	for _, want := range []string{
		"[guest.netdrv]\nconfig = \"/etc/xen/netdrv.cfg\"\n# pci = 0000:03:00.0", "stop_action = \"shutdown\"\n\n# /etc/xen/auto/10-router",
		"# name order in /etc/xen/auto: 20-storage before 30-db\nafter = [\"storage\"]", "stop_timeout = \"60s\"", "stop_action = \"save\"",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"warning: /etc/xen/auto/README: skipped", "warning: /etc/xen/auto/30-db~: skipped",
		"warning: /etc/default/xendomains:10: XENDOMAINS_CREATE_USLEEP=5000000", "warning: /var/lib/xen/save/db: an image xendomains saved of db",
		"`xenorder restore db /var/lib/xen/save/db`"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("import's warnings lack %q:\n%s", want, r.stderr)
		}
	}
	// The same config on this machine: a copy of the fixture's xl
	// configs, with an admin's modes (check refuses what others can
	// change, and a checkout's modes follow its umask).
	copied := filepath.Join(h.dir, "realistic")
	copyTree(t, root, copied)
	if err := xlsim.SafeModes(copied); err != nil {
		t.Fatal(err)
	}
	local := strings.ReplaceAll(r.stdout, "config = \"/etc/xen/", "config = \""+copied+"/etc/xen/")
	out := filepath.Join(h.dir, "imported.toml")
	os.WriteFile(out, []byte(local), 0o600)
	c := h.xenorder("-c", out, "check")
	mustExit(t, c, 0)
	if !strings.Contains(c.stdout, "OK: 6 guests, 9 dependencies") {
		t.Errorf("check:\n%s", c)
	}
}

// copyTree copies the folder src to dst: folders, files, symbolic links.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestImportOddInput: import never panics and never aborts on what a real
// host may hold; what it cannot do as asked is exit 2, naming the file.
func TestImportOddInput(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	tests := []struct {
		name     string
		defaults string            // "" for none
		files    map[string]string // in the temporary root
		args     []string          // after import --root ROOT
		code     int
		stdout   []string
		stderr   []string
	}{
		{name: "blank XENDOMAINS_MIGRATE", defaults: "XENDOMAINS_MIGRATE=\" \"\n",
			stdout: []string{`XENDOMAINS_MIGRATE=" ": blank, read as unset: no migration.`, "stop_action = \"shutdown\"\n"}},
		{name: "migrate with options", defaults: "XENDOMAINS_MIGRATE=\"host2 --live -s 'ssh -p 2222'\"\n",
			stdout: []string{"stop_action = \"migrate\"\nmigrate_to = \"host2\"\n", "--live: xl migrates live anyway"},
			stderr: []string{`warning: /etc/default/xendomains:1: XENDOMAINS_MIGRATE="host2 --live -s 'ssh -p 2222'": xenorder runs xl migrate NAME host2 with no options, so -s 'ssh, -p are not carried over`,
				"the words 2222' after host2 made every migration of xendomains fail",
				`XENDOMAINS_MIGRATE="host2 --live -s 'ssh -p 2222'": xendomains passes it to xl unquoted, split at blanks: its quotes reach xl as they are`}},
		{name: "a stray file in the auto folder", files: map[string]string{"/etc/xen/auto/README.txt": "Guests: a, b.\n"},
			stdout: []string{"[guest.a]"}, stderr: []string{"warning: /etc/xen/auto/README.txt: skipped: not an xl config"}},
		{name: "no defaults file: xendomains' defaults", stdout: []string{"[guest.a]", "the xl configs in /etc/xen/auto and /etc/default/xendomains (absent)."}},
		{name: "a named defaults file that is not there", args: []string{"--defaults", "/etc/default/xd"}, code: 2,
			stderr: []string{"xenorder: import: --defaults: stat "}},
		{name: "with --root, a relative path", args: []string{"--defaults", "xd"}, code: 2,
			stderr: []string{"xenorder: import: --defaults xd: with --root, give the host's absolute path"}},
		{name: "no auto folder", args: []string{"--auto-dir", "/srv/auto"}, code: 2,
			stderr: []string{"xenorder: import: the auto folder: /srv/auto: no such file or directory (name it with --auto-dir, or XENDOMAINS_AUTO in /etc/default/xendomains)"}},
		{name: "XENDOMAINS_AUTO empty", defaults: "XENDOMAINS_AUTO=\n", code: 2,
			stderr: []string{"xenorder: import: /etc/default/xendomains:1: XENDOMAINS_AUTO is empty: xendomains starts no guest at boot; name the folder of xl configs to import with --auto-dir"}},
		{name: "arguments", args: []string{"web"}, code: 2, stderr: []string{"import takes no arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{"/etc/xen/a.cfg": "name = 'a'\n", "/etc/xen/auto/a": "../a.cfg"}
			for k, v := range tt.files {
				files[k] = v
			}
			if tt.defaults != "" {
				files["/etc/default/xendomains"] = tt.defaults
			}
			for p, content := range files {
				real := filepath.Join(root, p)
				os.MkdirAll(filepath.Dir(real), 0o755)
				if p == "/etc/xen/auto/a" {
					os.Symlink(content, real)
				} else {
					os.WriteFile(real, []byte(content), 0o644)
				}
			}
			r := h.xenorder(append([]string{"import", "--root", root}, tt.args...)...)
			mustExit(t, r, tt.code)
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("panicked:\n%s", r)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r)
				}
			}
		})
	}
}

// TestCheckRefusesSaveWithPCI: stop_action = "save" in [defaults] covers
// Domain-N, whose NIC is passed through: check says so, naming file,
// line, guest and the fix (exit 2); with stop_action = "shutdown" for it,
// check passes.
func TestCheckRefusesSaveWithPCI(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.edit("xenorder.toml", "[defaults]\n", "[defaults]\nstop_action = \"save\"\n")
	r := h.xenorder("check")
	mustExit(t, r, 2)
	for _, want := range []string{h.toml + ":", "guest Domain-N: stop_action: \"save\" from [defaults] (line ",
		"passes PCI devices through (pci = 0000:00:19.0), and xl cannot save or migrate a domain with PCI passthrough; write stop_action = \"shutdown\" in [guest.Domain-N]"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check lacks %q:\n%s", want, r)
		}
	}
	h.edit("xenorder.toml", "[guest.Domain-N]\n", "[guest.Domain-N]\nstop_action = \"shutdown\"\n")
	mustExit(t, h.xenorder("check"), 0)
}
