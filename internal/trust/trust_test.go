package trust

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const nobody = 65534

// tree is a test's folder: t.TempDir under /tmp (root's sticky folder),
// made 0755 whatever the umask.
func tree(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func mkdir(t *testing.T, p string, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	chmod(t, p, mode)
	return p
}

func write(t *testing.T, p string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, p, mode)
	return p
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Lchown(p, uid, -1); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, dest, p string) string {
	t.Helper()
	if err := os.Symlink(dest, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// want is one expected problem: its path, words of its reason, its fix.
type want struct {
	path, reason, fix string
}

func TestChecker(t *testing.T) {
	me := os.Getuid()
	cases := []struct {
		name   string
		asRoot bool // needs root, to chown to another user
		// setup builds the files under d and judges them with c.
		setup func(t *testing.T, d string, c *Checker)
		want  func(d string) []want
	}{
		{
			name: "a safe file in a safe tree",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/etc", 0o755)
				c.File(write(t, d+"/etc/x.toml", 0o644), "the config")
			},
		},
		{
			name: "a group-writable file",
			setup: func(t *testing.T, d string, c *Checker) {
				c.File(write(t, d+"/x.toml", 0o664), "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/x.toml", "writable by group (mode 0664)", "chmod go-w " + d + "/x.toml"}}
			},
		},
		{
			name: "an other-writable folder in the chain",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/a", 0o757)
				mkdir(t, d+"/a/b", 0o755)
				c.File(write(t, d+"/a/b/probe", 0o755), "the probe")
			},
			want: func(d string) []want {
				return []want{{d + "/a", "writable by others (mode 0757)", "chmod go-w " + d + "/a"}}
			},
		},
		{
			name:   "a file owned by another user",
			asRoot: true,
			setup: func(t *testing.T, d string, c *Checker) {
				p := write(t, d+"/probe", 0o755)
				chown(t, p, nobody)
				c.File(p, "the probe")
			},
			want: func(d string) []want {
				return []want{{d + "/probe", "owned by uid 65534, not by root", "chown root " + d + "/probe"}}
			},
		},
		{
			name:   "a file owned by the user running xenorder",
			asRoot: true,
			setup: func(t *testing.T, d string, c *Checker) {
				c.UID = nobody
				p := write(t, d+"/probe", 0o755)
				chown(t, p, nobody)
				c.File(p, "the probe")
			},
		},
		{
			name:   "a file of another user, judged for a user who is not root",
			asRoot: true,
			setup: func(t *testing.T, d string, c *Checker) {
				c.UID = 1000
				p := write(t, d+"/probe", 0o755)
				chown(t, p, nobody)
				c.File(p, "the probe")
			},
			want: func(d string) []want {
				return []want{{d + "/probe", "owned by uid 65534, not by root or uid 1000 (you)", "chown root " + d + "/probe"}}
			},
		},
		{
			name:   "owned by another user and writable: both fixes",
			asRoot: true,
			setup: func(t *testing.T, d string, c *Checker) {
				p := write(t, d+"/x", 0o666)
				chown(t, p, nobody)
				c.File(p, "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/x", "owned by uid 65534, not by root, writable by group and others (mode 0666)",
					"chown root " + d + "/x && chmod go-w " + d + "/x"}}
			},
		},
		{
			name:   "a sticky folder owned by root, like /tmp",
			asRoot: true,
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/tmp", os.ModeSticky|0o777)
				c.File(write(t, d+"/tmp/x.toml", 0o644), "the config")
			},
		},
		{
			name:   "a sticky folder not owned by root",
			asRoot: true,
			setup: func(t *testing.T, d string, c *Checker) {
				s := mkdir(t, d+"/shared", os.ModeSticky|0o777)
				chown(t, s, nobody)
				c.File(write(t, d+"/shared/x.toml", 0o644), "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/shared", "owned by uid 65534, not by root, writable by group and others (mode 1777; sticky, which is safe only when root owns it)", "chown root " + d + "/shared"}}
			},
		},
		{
			name: "a sticky folder owned by the running user who is not root",
			setup: func(t *testing.T, d string, c *Checker) {
				c.UID = me
				if me == 0 {
					c.UID = 0
				}
				mkdir(t, d+"/shared", os.ModeSticky|0o777)
				c.File(write(t, d+"/shared/x.toml", 0o644), "the config")
			},
			want: func(d string) []want {
				if me == 0 {
					return nil // root owns it: like /tmp
				}
				return []want{{d + "/shared", "writable by group and others (mode 1777)", "chmod go-w " + d + "/shared"}}
			},
		},
		{
			name: "a symlink to a bad target",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/etc", 0o755)
				mkdir(t, d+"/srv", 0o775)
				write(t, d+"/srv/real.toml", 0o644)
				c.File(symlink(t, "../srv/real.toml", d+"/etc/x.toml"), "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/srv", "writable by group (mode 0775)", "chmod go-w " + d + "/srv"}}
			},
		},
		{
			name: "a symlink whose target file is writable",
			setup: func(t *testing.T, d string, c *Checker) {
				write(t, d+"/real.toml", 0o646)
				c.File(symlink(t, d+"/real.toml", d+"/x.toml"), "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/real.toml", "writable by others (mode 0646)", "chmod go-w " + d + "/real.toml"}}
			},
		},
		{
			name: "a symlink in a writable folder",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/safe", 0o755)
				write(t, d+"/safe/real.toml", 0o644)
				mkdir(t, d+"/open", 0o777)
				c.File(symlink(t, d+"/safe/real.toml", d+"/open/x.toml"), "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/open", "writable by group and others (mode 0777)", "chmod go-w " + d + "/open"}}
			},
		},
		{
			name:   "a symlink owned by another user",
			asRoot: true,
			setup: func(t *testing.T, d string, c *Checker) {
				write(t, d+"/real.toml", 0o644)
				l := symlink(t, "real.toml", d+"/x.toml")
				chown(t, l, nobody)
				c.File(l, "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/x.toml", "owned by uid 65534", "chown -h root " + d + "/x.toml"}}
			},
		},
		{
			name: "a symlinked folder, then ..: resolved as the kernel does",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/real", 0o755)
				mkdir(t, d+"/real/sub", 0o755)
				mkdir(t, d+"/other", 0o777) // what a lexical .. would reach
				write(t, d+"/real/x.toml", 0o666)
				symlink(t, d+"/real/sub", d+"/other/link")
				c.File(d+"/other/link/../x.toml", "the config")
			},
			want: func(d string) []want {
				return []want{
					{d + "/other", "writable by group and others", "chmod go-w " + d + "/other"},
					{d + "/real/x.toml", "writable by group and others", "chmod go-w " + d + "/real/x.toml"},
				}
			},
		},
		{
			name: "a symlink loop",
			setup: func(t *testing.T, d string, c *Checker) {
				symlink(t, "b", d+"/a")
				symlink(t, "a", d+"/b")
				c.File(d+"/a", "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/a", "too many levels of symbolic links", ""}}
			},
		},
		{
			name: "a missing file in a safe folder",
			setup: func(t *testing.T, d string, c *Checker) {
				c.File(d+"/nothing/here", "the config")
			},
		},
		{
			name: "a missing file in a writable folder",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/open", 0o770)
				c.File(d+"/open/nothing", "the probe")
			},
			want: func(d string) []want {
				return []want{{d + "/open", "writable by group (mode 0770)", "chmod go-w " + d + "/open"}}
			},
		},
		{
			name: "a program on PATH in a world-writable folder",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/bin", 0o777)
				write(t, d+"/bin/xl", 0o755)
				c.PATH = d + "/bin:/usr/bin"
				c.Program("xl", "xl")
			},
			want: func(d string) []want {
				return []want{{d + "/bin", "writable by group and others (mode 0777)", "chmod go-w " + d + "/bin"}}
			},
		},
		{
			name: "a program on PATH after a world-writable folder",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/early", 0o757)
				mkdir(t, d+"/bin", 0o755)
				mkdir(t, d+"/late", 0o777) // never searched: xl is found before
				write(t, d+"/bin/xl", 0o755)
				c.PATH = d + "/early:" + d + "/bin:" + d + "/late"
				c.Program("xl", "xl")
			},
			want: func(d string) []want {
				return []want{{d + "/early", "writable by others (mode 0757)", "chmod go-w " + d + "/early"}}
			},
		},
		{
			name: "a group-writable program on PATH, found after a non-executable one",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/a", 0o755)
				mkdir(t, d+"/b", 0o755)
				write(t, d+"/a/probe", 0o644) // not executable: exec goes on
				write(t, d+"/b/probe", 0o775)
				c.PATH = d + "/a:" + d + "/b"
				c.Program("probe", "guest web's exec probe program")
			},
			want: func(d string) []want {
				return []want{{d + "/b/probe", "writable by group (mode 0775)", "chmod go-w " + d + "/b/probe"}}
			},
		},
		{
			name: "a program not on PATH: every folder of PATH judged",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/a", 0o755)
				mkdir(t, d+"/b", 0o773)
				c.PATH = d + "/a:" + d + "/b"
				c.Program("xenstore-watch", "xenstore_watch")
			},
			want: func(d string) []want {
				return []want{{d + "/b", "writable by group and others (mode 0773)", "chmod go-w " + d + "/b"}}
			},
		},
		{
			name: "a relative program name is taken from the working folder",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/work", 0o755)
				mkdir(t, d+"/work/probes", 0o775)
				write(t, d+"/work/probes/check", 0o755)
				c.Dir = d + "/work"
				c.Program("probes/check", "guest web's exec probe program")
			},
			want: func(d string) []want {
				return []want{{d + "/work/probes", "writable by group (mode 0775)", "chmod go-w " + d + "/work/probes"}}
			},
		},
		{
			name: "a path with a space: the fix is quoted for the shell",
			setup: func(t *testing.T, d string, c *Checker) {
				c.File(write(t, d+"/my config.toml", 0o666), "the config")
			},
			want: func(d string) []want {
				return []want{{d + "/my config.toml", "writable by group and others", "chmod go-w '" + d + "/my config.toml'"}}
			},
		},
		{
			name: "a folder above several files is named once",
			setup: func(t *testing.T, d string, c *Checker) {
				mkdir(t, d+"/xl", 0o777)
				c.File(write(t, d+"/xl/a.cfg", 0o644), "guest a's xl config")
				c.File(write(t, d+"/xl/b.cfg", 0o644), "guest b's xl config")
			},
			want: func(d string) []want {
				return []want{{d + "/xl", "writable by group and others", "chmod go-w " + d + "/xl"}}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.asRoot && os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user")
			}
			d := tree(t)
			c := New(me, "", d)
			tc.setup(t, d, c)
			var wants []want
			if tc.want != nil {
				wants = tc.want(d)
			}
			got := c.Problems()
			if len(got) != len(wants) {
				t.Fatalf("want %d problems, got %d:\n%s", len(wants), len(got), lines(got))
			}
			for i, w := range wants {
				g := got[i]
				if g.Path != w.path || !strings.Contains(g.Reason, w.reason) || g.Fix != w.fix {
					t.Errorf("problem %d:\n got  path %q reason %q fix %q\n want path %q reason ~%q fix %q",
						i, g.Path, g.Reason, g.Fix, w.path, w.reason, w.fix)
				}
				if s := g.String(); !strings.Contains(s, g.What) || (w.fix != "" && !strings.HasSuffix(s, "fix: "+w.fix)) {
					t.Errorf("problem %d reads %q: it must name what it is for and end with the fix", i, s)
				}
			}
		})
	}
}

func lines(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

// The role says how a path leads to what xenorder uses.
func TestProblemString(t *testing.T) {
	d := tree(t)
	mkdir(t, d+"/open", 0o777)
	mkdir(t, d+"/real", 0o777)
	write(t, d+"/real/x.toml", 0o644)
	symlink(t, d+"/real/x.toml", d+"/open/x.toml")
	c := New(os.Getuid(), "", d)
	c.File(d+"/open/x.toml", "the config")
	got := lines(c.Problems())
	for _, w := range []string{
		d + "/open (a folder above " + d + "/open/x.toml, for the config): writable by group and others (mode 0777); fix: chmod go-w " + d + "/open\n",
		d + "/real (a folder on the way to " + d + "/open/x.toml, for the config): writable by group and others (mode 0777); fix: chmod go-w " + d + "/real\n",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("want the line\n  %s\ngot\n%s", w, got)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/xen/xenorder.toml": "/etc/xen/xenorder.toml",
		"/a b":                   "'/a b'",
		"/it's":                  `'/it'\''s'`,
		"/x\x1b[2J":              `"/x\x1b[2J"`,
		"/$HOME":                 "'/$HOME'",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestExecutable(t *testing.T) {
	d := tree(t)
	for name, c := range map[string]struct {
		mode os.FileMode
		want bool
	}{"x": {0o755, true}, "plain": {0o644, false}, "owner-x": {0o700, true}} {
		p := write(t, filepath.Join(d, name), c.mode)
		if got := executable(p); got != c.want {
			t.Errorf("executable(%s) = %v, want %v", name, got, c.want)
		}
	}
	if executable(d) {
		t.Error("a folder is not a program")
	}
}
