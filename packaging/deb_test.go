package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	debOnce sync.Once
	debPath string
)

// buildDeb builds the package once for the tests that share it: the
// changelog's version, for this machine's architecture.
func buildDeb(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("no dpkg-deb on PATH")
	}
	build(t)
	debOnce.Do(func() {
		dist := filepath.Join(workDir, "dist")
		runMake(t, "deb", "DISTDIR="+dist, "DEB_ARCH="+runtime.GOARCH)
		debs, _ := filepath.Glob(filepath.Join(dist, "xenorder_*_"+runtime.GOARCH+".deb"))
		if len(debs) == 1 {
			debPath = debs[0]
		}
	})
	if debPath == "" {
		t.Fatal("make deb made no package (see the first test that built it)")
	}
	return debPath
}

// ---- lintian ----

// TestLintian: Debian's own checker finds no error and no warning in the
// package (its informational and pedantic notes are logged). The static Go
// binary is overridden, with the reason, in the package's override file.
func TestLintian(t *testing.T) {
	t.Parallel()
	lintian, err := exec.LookPath("lintian")
	if err != nil {
		t.Skip("no lintian on PATH (apt-get install lintian)")
	}
	deb := buildDeb(t)
	cmd := exec.Command(lintian, "--pedantic", "--display-info", "--show-overrides", deb)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	t.Logf("lintian %s: %v\n%s", filepath.Base(deb), err, out)
	var bad []string
	overridden := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "E: "), strings.HasPrefix(line, "W: "):
			bad = append(bad, line)
		case strings.HasPrefix(line, "O: ") && strings.Contains(line, "statically-linked-binary"):
			overridden = true
		}
	}
	if len(bad) > 0 {
		t.Errorf("lintian reports errors or warnings:\n%s", strings.Join(bad, "\n"))
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Errorf("lintian did not run: %v", err)
	}
	if !overridden {
		t.Errorf("lintian shows no overridden statically-linked-binary: is the override file installed and still needed?")
	}
	// The override says why.
	if !strings.Contains(readFile(t, "packaging/debian/lintian-overrides"), "dh-golang") {
		t.Error("packaging/debian/lintian-overrides: the override has no comment saying why (dh-golang, bookworm's Go)")
	}
}

// TestCopyrightNamesEveryModule: the binary is static, so the copyright file
// has a paragraph for every Go module linked into it, and for Go itself.
func TestCopyrightNamesEveryModule(t *testing.T) {
	t.Parallel()
	gotool := goTool(t)
	cmd := exec.Command(gotool, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./cmd/xenorder")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	copyright := readFile(t, "packaging/debian/copyright")
	if !strings.HasPrefix(copyright, "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n") {
		t.Error("packaging/debian/copyright is not machine-readable (DEP-5 Format: line)")
	}
	mods := strings.Fields(string(out))
	slices.Sort(mods)
	for _, m := range slices.Compact(mods) {
		if m == "github.com/xenorder/xenorder" {
			continue
		}
		// A paragraph's Files: names the module path, up to its major
		// version suffix.
		path := regexp.MustCompile(`/v\d+$`).ReplaceAllString(m, "")
		if !regexp.MustCompile(`(?m)^Files: .*\b` + regexp.QuoteMeta(path) + `/\*`).MatchString(copyright) {
			t.Errorf("packaging/debian/copyright has no Files: paragraph for %s, linked into the static binary", m)
		}
	}
	if !strings.Contains(copyright, "Files: go/*") {
		t.Error("packaging/debian/copyright: no paragraph for the Go runtime and standard library")
	}
}

// ---- debhelper, for comparison ----

// TestDebhelperWouldTouchTheUnit shows what dh_installsystemd would write
// into the scripts (with this machine's debhelper), and why the package
// does not use its defaults: run as dpkg would, on a host running systemd,
// with recording fakes, its default scripts enable and start the unit at
// installation, restart it on upgrade and stop it on remove (every guest!);
// --no-stop-on-upgrade still starts it and stops it on remove; --no-start
// --no-stop-on-upgrade still enables it at installation. Only --no-enable
// --no-start --no-stop-on-upgrade leaves the unit alone, and its
// deb-systemd-helper calls are the package's own.
func TestDebhelperWouldTouchTheUnit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("dh_installsystemd"); err != nil {
		t.Skip("no dh_installsystemd on PATH (apt-get install debhelper)")
	}
	_, ourCalls := runScriptsLogged(t, filepath.Join(root, "packaging/debian"), scriptRuns)
	cases := []struct {
		opts    []string
		wantBad []string // calls that touch the unit, in some run
		clean   bool     // no call touches the unit, and the deb-systemd-helper calls are the package's
	}{
		{nil, []string{"deb-systemd-helper enable xenorder.service", "deb-systemd-invoke start xenorder.service",
			"deb-systemd-invoke restart xenorder.service", "deb-systemd-invoke stop xenorder.service"}, false},
		{[]string{"--no-stop-on-upgrade"}, []string{"deb-systemd-invoke start xenorder.service", "deb-systemd-invoke stop xenorder.service"}, false},
		{[]string{"--no-start", "--no-stop-on-upgrade"}, []string{"deb-systemd-helper enable xenorder.service"}, false},
		{[]string{"--no-enable", "--no-start", "--no-stop-on-upgrade"}, nil, true},
	}
	for _, c := range cases {
		t.Run("dh_installsystemd "+strings.Join(c.opts, " "), func(t *testing.T) {
			dir := debhelperScripts(t, c.opts)
			for _, s := range maintainerScripts {
				if b, err := os.ReadFile(filepath.Join(dir, s)); err == nil {
					t.Logf("%s:\n%s", s, b)
				}
			}
			_, calls := runScriptsLogged(t, dir, scriptRuns)
			var bad []string
			for i, r := range scriptRuns {
				for _, call := range calls[i] {
					if touchesUnit(call) && !(call == "deb-systemd-helper enable xenorder.service" && r.script == "postinst" && r.known && r.enabled) {
						bad = append(bad, fmt.Sprintf("%s %s: %s", r.script, strings.Join(r.args, " "), call))
					}
				}
			}
			t.Logf("calls that touch the unit: %q", bad)
			if c.clean && len(bad) > 0 {
				t.Errorf("dh_installsystemd %s: the scripts touch the unit: %q", strings.Join(c.opts, " "), bad)
			}
			for _, want := range c.wantBad {
				if !slices.ContainsFunc(bad, func(b string) bool { return strings.HasSuffix(b, ": "+want) }) {
					t.Errorf("dh_installsystemd %s: no %q in %q (has debhelper changed? then update this test and packaging/doc.go)", strings.Join(c.opts, " "), want, bad)
				}
			}
			if !c.clean {
				return
			}
			// The package's scripts make the same deb-systemd-helper calls
			// in postinst and postrm: the enable state is handled as
			// debhelper would.
			for i, r := range scriptRuns {
				if r.script != "postinst" && r.script != "postrm" {
					continue
				}
				if got, want := dshCalls(ourCalls[i]), dshCalls(calls[i]); !slices.Equal(got, want) {
					t.Errorf("%s %q (%+v): the package calls %q, debhelper %q", r.script, r.args, r, got, want)
				}
			}
		})
	}
}

// dshCalls keeps the deb-systemd-helper calls of a run.
func dshCalls(calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, "deb-systemd-helper ") {
			out = append(out, c)
		}
	}
	return out
}

// debhelperScripts runs dh_installsystemd with opts and dh_installdeb on a
// scratch package holding the unit, and returns its DEBIAN folder.
func debhelperScripts(t *testing.T, opts []string) string {
	t.Helper()
	src := t.TempDir()
	unitDir := filepath.Join(src, "debian/xenorder/lib/systemd/system")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unitDir, "xenorder.service"), []byte(readFile(t, "contrib/systemd/xenorder.service")), 0o644); err != nil {
		t.Fatal(err)
	}
	control := "Source: xenorder\nMaintainer: xenorder maintainers <maintainers@xenorder.org>\nBuild-Depends: debhelper-compat (= 13)\n\n" +
		"Package: xenorder\nArchitecture: any\nDescription: start and stop Xen guests in dependency order\n test\n"
	if err := os.WriteFile(filepath.Join(src, "debian/control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{append([]string{"dh_installsystemd", "-pxenorder"}, opts...), {"dh_installdeb", "-pxenorder"}} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return filepath.Join(src, "debian/xenorder/DEBIAN")
}

// ---- installing, upgrading, removing and purging with dpkg ----

// chrootPackages are copied from this machine into the test's root: what
// the maintainer scripts and deb-systemd-helper run.
var chrootPackages = []string{"dash", "coreutils", "perl-base", "init-system-helpers", "dpkg", "libc-bin", "sed", "grep", "diffutils", "findutils"}

// chrootLibsOf are the programs whose shared libraries are copied too.
var chrootLibsOf = []string{"/bin/dash", "/usr/bin/perl", "/usr/bin/dpkg-query", "/usr/bin/dpkg", "/usr/bin/md5sum", "/usr/bin/ls", "/usr/bin/cp", "/usr/bin/mv", "/usr/bin/sed", "/usr/bin/grep", "/usr/sbin/ldconfig", "/usr/bin/diff"}

// newChroot makes a root for dpkg --root: this machine's shell, coreutils,
// perl and dpkg, a dpkg database of its own, /run/systemd/system (so the
// scripts take it for a host running systemd), and systemctl and
// deb-systemd-invoke as fakes that log every call to /calls.log.
func newChroot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: dpkg --root runs the maintainer scripts in a chroot")
	}
	for _, tool := range []string{"dpkg", "dpkg-query", "ldd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on PATH", tool)
		}
	}
	if _, err := os.Stat("/usr/bin/deb-systemd-helper"); err != nil {
		t.Skip("no deb-systemd-helper (init-system-helpers) on this machine")
	}
	r := t.TempDir()
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "tmp", "dev", "run/systemd/system",
		"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/lib/dpkg/alternatives", "var/log"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(r, "tmp"), 0o1777)
	for link, target := range map[string]string{"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"} {
		if err := os.Symlink(target, filepath.Join(r, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(r, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dpkg-query", append([]string{"--listfiles"}, chrootPackages...)...).Output()
	if err != nil {
		t.Skipf("dpkg-query --listfiles %s: %v", strings.Join(chrootPackages, " "), err)
	}
	files := strings.Fields(string(out))
	ldd, err := exec.Command("ldd", chrootLibsOf...).Output()
	if err != nil {
		t.Fatalf("ldd: %v", err)
	}
	files = append(files, regexp.MustCompile(`(?m)(/\S+\.so[.\d]*)`).FindAllString(string(ldd), -1)...)
	for _, f := range files {
		if !strings.HasPrefix(f, "/") {
			continue
		}
		if err := copyIntoRoot(r, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("dash", filepath.Join(r, "usr/bin/sh")); err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(r, "dev/null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Skipf("mknod /dev/null in the root: %v", err)
	}
	os.Chmod(filepath.Join(r, "dev/null"), 0o666)
	const fake = "#!/bin/sh\necho \"${0##*/} $*\" >> /calls.log\n"
	for name, src := range map[string]string{
		"systemctl":          fake + "for a in \"$@\"; do [ \"$a\" = is-active ] && exit 3; done\nexit 0\n",
		"deb-systemd-invoke": fake + "exit 0\n",
	} {
		p := filepath.Join(r, "usr/bin", name)
		os.Remove(p)
		if err := os.WriteFile(p, []byte(src), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// copyIntoRoot copies a file or symlink of this machine into the root r
// (not folders: they are made as needed).
func copyIntoRoot(r, path string) error {
	st, err := os.Lstat(path)
	if err != nil || st.IsDir() {
		return nil // a listed file that is gone, or a folder
	}
	to := filepath.Join(r, path)
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(to); err == nil {
		return nil
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, to); err != nil {
			return err
		}
		// And what it points to (the loader is a link to a file of libc6).
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		return copyIntoRoot(r, target)
	}
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dpkgIn runs dpkg on the root r and returns its output.
func dpkgIn(t *testing.T, r string, args ...string) string {
	t.Helper()
	cmd := exec.Command("dpkg", append([]string{"--root=" + r, "--force-unsafe-io"}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg --root %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// takeCalls returns and clears what the fakes logged in the root.
func takeCalls(t *testing.T, r string) []string {
	t.Helper()
	p := filepath.Join(r, "calls.log")
	b, _ := os.ReadFile(p)
	os.Remove(p)
	if s := strings.TrimSpace(string(b)); s != "" {
		return strings.Split(s, "\n")
	}
	return nil
}

// conffilesIn returns dpkg's record of xenorder's conffiles in the root.
func conffilesIn(t *testing.T, r string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(r, "var/lib/dpkg"), "--showformat=${Conffiles}", "--show", "xenorder").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-query: %v\n%s", err, out)
	}
	return string(out)
}

// fakeDeb builds a package in dir from its control file, its files (path
// → content; mode 0755 in usr/sbin, else 0644) and its DEBIAN files
// (conffiles 0644, the scripts 0755).
func fakeDeb(t *testing.T, dir, control string, files, debian map[string]string) string {
	t.Helper()
	tree := filepath.Join(dir, "tree")
	os.RemoveAll(tree)
	write := func(p, content string, mode fs.FileMode) {
		to := filepath.Join(tree, p)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(to, mode) // whatever the umask
	}
	for p, content := range files {
		mode := fs.FileMode(0o644)
		if strings.HasPrefix(p, "usr/sbin/") {
			mode = 0o755
		}
		write(p, content, mode)
	}
	write("DEBIAN/control", control, 0o644)
	for name, content := range debian {
		mode := fs.FileMode(0o755)
		if name == "conffiles" {
			mode = 0o644
		}
		write("DEBIAN/"+name, content, mode)
	}
	filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	deb := filepath.Join(dir, controlFields(control)["Package"]+".deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", tree, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

// oldDeb builds xenorder 0.1.0 as `make deb` built it before this version:
// the DEBIAN files of packaging/testdata/xenorder-0.1.0 and the example
// config as the conffile /etc/xen/xenorder.toml.
func oldDeb(t *testing.T, dir string) (deb, example string) {
	t.Helper()
	old := filepath.Join(root, "packaging/testdata/xenorder-0.1.0")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(old, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	example = readFile(t, "contrib/xenorder.toml.example")
	control := strings.NewReplacer("@VERSION@", "0.1.0", "@ARCH@", runtime.GOARCH, "@MAINTAINER@", "xenorder maintainers <root@localhost>",
		"@INSTALLED_SIZE@", "100").Replace(read("control.in"))
	bin, err := os.ReadFile(filepath.Join(workDir, "bin", "xenorder"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/xen/xenorder.toml":                        example,
		"usr/share/doc/xenorder/xenorder.toml.example": example,
		"lib/systemd/system/xenorder.service":          readFile(t, "contrib/systemd/xenorder.service"),
		"usr/sbin/xenorder":                            string(bin),
	}
	debian := map[string]string{"conffiles": read("conffiles"), "postinst": read("postinst"), "prerm": read("prerm"), "postrm": read("postrm")}
	return fakeDeb(t, dir, control, files, debian), example
}

// xenUtils builds stand-ins for Debian's xen-utils-common and
// xen-utils-4.17 (which Provides: xen-utils, as bookworm's does).
func xenUtils(t *testing.T, dir string) []string {
	t.Helper()
	var debs []string
	for _, c := range []string{
		"Package: xen-utils-common\nVersion: 4.17.0-1\nArchitecture: all\nMaintainer: test <test@xenorder.org>\nDescription: stand-in\n stand-in\n",
		"Package: xen-utils-4.17\nVersion: 4.17.0-1\nArchitecture: all\nProvides: xen-utils\nDepends: xen-utils-common\nMaintainer: test <test@xenorder.org>\nDescription: stand-in\n stand-in\n",
	} {
		d := filepath.Join(dir, controlFields(c)["Package"])
		os.MkdirAll(d, 0o755)
		debs = append(debs, fakeDeb(t, d, c, map[string]string{"usr/share/doc/" + controlFields(c)["Package"] + "/stand-in": "x\n"}, nil))
	}
	return debs
}

// fileState is what "untouched" means for the admin's config.
type fileState struct {
	content string
	mode    fs.FileMode
	ino     uint64
	mtime   int64
}

func stateOf(t *testing.T, p string) fileState {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	b, _ := os.ReadFile(p)
	sys := st.Sys().(*syscall.Stat_t)
	return fileState{string(b), st.Mode(), sys.Ino, st.ModTime().UnixNano()}
}

// TestDebUpgrade installs xenorder 0.1.0 (which shipped the example as the
// conffile /etc/xen/xenorder.toml) with dpkg into a scratch root, upgrades
// it to this package, removes, reinstalls and purges it, with the example
// left as shipped and with the admin's edit, the unit enabled by the admin
// or not: an edited config stays in place untouched and is no longer the
// package's (a purge leaves it), an unmodified example is removed, the
// enable state is kept across upgrade, removal and reinstallation and
// dropped by the purge, and no step starts, stops or restarts the unit.
func TestDebUpgrade(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("dpkg: Linux only")
	}
	deb := buildDeb(t)
	cases := []struct {
		name           string
		edit, enable   bool
		wantConfigKept bool
	}{
		{"unmodified example, unit disabled", false, false, false},
		{"edited config, unit enabled", true, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newChroot(t)
			pkgs := t.TempDir()
			dpkgIn(t, r, append([]string{"--install"}, xenUtils(t, pkgs)...)...)
			old, example := oldDeb(t, pkgs)
			dpkgIn(t, r, "--install", old)
			conf := filepath.Join(r, "etc/xen/xenorder.toml")
			if got := stateOf(t, conf); got.content != example {
				t.Fatalf("0.1.0 did not install the example as %s", conf)
			}
			if cf := conffilesIn(t, r); !strings.Contains(cf, "/etc/xen/xenorder.toml ") {
				t.Fatalf("0.1.0's conffiles: %q", cf)
			}
			wants := filepath.Join(r, "etc/systemd/system/multi-user.target.wants/xenorder.service")
			if c.enable { // as systemctl enable xenorder.service does
				os.MkdirAll(filepath.Dir(wants), 0o755)
				if err := os.Symlink("/lib/systemd/system/xenorder.service", wants); err != nil {
					t.Fatal(err)
				}
			}
			if c.edit {
				f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(f, "# the admin's real guests\n[guest.real]\nconfig = \"/etc/xen/real.cfg\"")
				f.Close()
				os.Chmod(conf, 0o600)
			}
			var before fileState
			if c.edit {
				before = stateOf(t, conf)
			}
			var calls []string
			step := func(what string, args ...string) string {
				t.Helper()
				takeCalls(t, r)
				out := dpkgIn(t, r, args...)
				got := takeCalls(t, r)
				for _, call := range got {
					if touchesUnit(call) {
						t.Errorf("%s: a maintainer script ran %q\n%s", what, call, out)
					}
				}
				calls = append(calls, got...)
				t.Logf("%s: calls %q\n%s", what, got, out)
				return out
			}
			enabled := func(what string, want bool) {
				t.Helper()
				_, err := os.Lstat(wants)
				if got := err == nil; got != want {
					t.Errorf("after %s: unit enabled %v, want %v", what, got, want)
				}
			}
			leftovers := func(what string) {
				t.Helper()
				m, _ := filepath.Glob(conf + ".*")
				if len(m) > 0 {
					t.Errorf("after %s: left %q", what, m)
				}
			}
			configKept := func(what string) {
				t.Helper()
				if !c.wantConfigKept {
					if _, err := os.Lstat(conf); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("after %s: the unmodified example %s is still there (%v)", what, conf, err)
					}
					return
				}
				if got := stateOf(t, conf); got != before {
					t.Errorf("after %s: the admin's config changed:\nbefore %+v\nafter  %+v", what, before, got)
				}
			}

			out := step("upgrade 0.1.0 → this version", "--install", deb)
			configKept("the upgrade")
			leftovers("the upgrade")
			enabled("the upgrade", c.enable)
			cf := conffilesIn(t, r)
			if strings.Contains(cf, "xenorder.toml") || !strings.Contains(cf, "/etc/default/xenorder ") {
				t.Errorf("after the upgrade dpkg records the conffiles %q, want /etc/default/xenorder alone", cf)
			}
			wantSay := "was the unmodified example"
			if c.edit {
				wantSay = "which you edited, stays your config"
			}
			if !strings.Contains(out, wantSay) {
				t.Errorf("the upgrade does not say %q:\n%s", wantSay, out)
			}
			if _, err := os.Stat(filepath.Join(r, "usr/share/doc/xenorder/examples/xenorder.toml")); err != nil {
				t.Errorf("the example: %v", err)
			}

			out = step("remove", "--remove", "xenorder")
			configKept("remove")
			enabled("remove", c.enable)
			if c.enable && !strings.Contains(out, "xenorder.service is enabled; after removal") {
				t.Errorf("remove of an enabled unit does not warn:\n%s", out)
			}
			step("reinstall", "--install", deb)
			enabled("reinstall", c.enable)
			configKept("reinstall")

			step("purge", "--purge", "xenorder")
			enabled("purge", false)
			configKept("purge")
			leftovers("purge")
			if _, err := os.Lstat(filepath.Join(r, "etc/default/xenorder")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after purge: /etc/default/xenorder: %v, want it gone", err)
			}
			if m, _ := filepath.Glob(filepath.Join(r, "var/lib/systemd/deb-systemd-helper-enabled/*xenorder*")); len(m) > 0 {
				t.Errorf("after purge: deb-systemd-helper's state is left: %q", m)
			}

			out = step("install after purge", "--install", deb)
			enabled("install after purge", false)
			if !strings.Contains(out, "neither enabled nor started") {
				t.Errorf("a first installation does not say how to switch:\n%s", out)
			}
			configKept("install after purge")

			// The fakes were there to be called: systemd's daemon-reload.
			if !slices.Contains(calls, "systemctl --system daemon-reload") {
				t.Errorf("no script asked systemd to reload (is /run/systemd/system seen in the root?): %q", calls)
			}
		})
	}
}

// TestDebUpgradeAborted: an upgrade whose unpack fails puts the admin's
// config back where it was (postrm abort-upgrade).
func TestDebUpgradeAborted(t *testing.T) {
	t.Parallel()
	deb := buildDeb(t)
	r := newChroot(t)
	pkgs := t.TempDir()
	dpkgIn(t, r, append([]string{"--install"}, xenUtils(t, pkgs)...)...)
	old, _ := oldDeb(t, pkgs)
	dpkgIn(t, r, "--install", old)
	conf := filepath.Join(r, "etc/xen/xenorder.toml")
	if err := os.WriteFile(conf, []byte("[guest.real]\nconfig = \"/etc/xen/real.cfg\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, conf)
	// Another package owns a file of this one: the unpack fails.
	dpkgIn(t, r, "--install", fakeDeb(t, t.TempDir(), "Package: blocker\nVersion: 1\nArchitecture: all\nMaintainer: test <test@xenorder.org>\nDescription: stand-in\n stand-in\n",
		map[string]string{"usr/share/doc/xenorder/examples/xenorder.toml": "mine\n"}, nil))
	cmd := exec.Command("dpkg", "--root="+r, "--force-unsafe-io", "--install", deb)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the blocked upgrade succeeded:\n%s", out)
	}
	t.Logf("blocked upgrade: %v\n%s", err, out)
	if got := stateOf(t, conf); got != before {
		t.Errorf("after the failed upgrade the admin's config changed:\nbefore %+v\nafter  %+v", before, got)
	}
	if m, _ := filepath.Glob(conf + ".*"); len(m) > 0 {
		t.Errorf("after the failed upgrade: left %q", m)
	}
	if !bytes.Contains(out, []byte("xenorder")) {
		t.Errorf("dpkg said nothing of xenorder:\n%s", out)
	}
}
