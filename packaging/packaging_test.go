package packaging

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"debug/elf"
	"encoding/hex"
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
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/xenorder/xenorder/internal/config"
)

// root is the repository, where the Makefile is.
const root = ".."

// workDir holds what the tests build once and share: the binary.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xenorder-packaging-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ---- the documented keys ----

var (
	readmeKeyRow   = regexp.MustCompile("^\\| `([a-z_]+)` \\| ([^|]+) \\| ([^|]+) \\|")
	readmeProbeKey = regexp.MustCompile("`([a-z_]+) = ")
)

// docKey is one row of the README's key table.
type docKey struct {
	name, scope, def string
}

// readmeKeys returns the rows of the README's key table (| key | scope |
// default | meaning |) and the keys of its probe table.
func readmeKeys(t *testing.T) (keys []docKey, probeKeys []string) {
	t.Helper()
	table := ""
	for _, line := range strings.Split(readFile(t, "README.md"), "\n") {
		switch {
		case strings.HasPrefix(line, "| key | scope | default | meaning |"):
			table = "keys"
			continue
		case strings.HasPrefix(line, "| probe key |"):
			table = "probes"
			continue
		case !strings.HasPrefix(line, "|"):
			table = ""
			continue
		}
		switch table {
		case "keys":
			if m := readmeKeyRow.FindStringSubmatch(line); m != nil {
				keys = append(keys, docKey{m[1], strings.TrimSpace(m[2]), strings.Trim(strings.TrimSpace(m[3]), "`")})
			}
		case "probes":
			for _, m := range readmeProbeKey.FindAllStringSubmatch(line, -1) {
				probeKeys = append(probeKeys, m[1])
			}
		}
	}
	if len(keys) < 20 || len(probeKeys) < 6 {
		t.Fatalf("README.md: found %d keys and %d probe keys; has the key table (| key | scope | default | meaning |) or the probe table (| probe key | ...) changed?", len(keys), len(probeKeys))
	}
	return keys, probeKeys
}

// knownKeys returns the keys internal/config accepts, without the table
// names of the top level.
func knownKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for _, table := range []string{"defaults", "guest", "ready"} {
		keys = append(keys, config.Keys(table)...)
	}
	if len(keys) < 20 {
		t.Fatalf("internal/config: only %d keys", len(keys))
	}
	return keys
}

// allKeys is every config key: the README's tables and config's knownKeys.
func allKeys(t *testing.T) []string {
	keys, probeKeys := readmeKeys(t)
	var all []string
	for _, k := range keys {
		all = append(all, k.name)
	}
	all = append(all, probeKeys...)
	all = append(all, knownKeys(t)...)
	sort.Strings(all)
	return slices.Compact(all)
}

func TestKeysInManPage(t *testing.T) {
	t.Parallel()
	man := readFile(t, "man/xenorder.toml.5")
	for _, k := range allKeys(t) {
		// In bold: ".B key", ".BR key ...", ".BI \"key = ...", or \fBkey\fR.
		re := regexp.MustCompile(`(?m)(^\.B[IR]? +"?` + k + `\b|\\fB` + k + `\\f)`)
		if !re.MatchString(man) {
			t.Errorf("man/xenorder.toml.5 does not document key %s", k)
		}
	}
	// Each key of the README's table is a .TP heading with its scope and,
	// when it is a TOML value, its default.
	keys, _ := readmeKeys(t)
	for _, k := range keys {
		re := regexp.MustCompile(`(?m)^\.TP\n\.BR ` + k.name + ` " \((.*)$`)
		m := re.FindStringSubmatch(man)
		if m == nil {
			t.Errorf("man/xenorder.toml.5: no `.TP` / `.BR %s \" (scope; default ...)` heading", k.name)
			continue
		}
		if !strings.HasPrefix(m[1], k.scope) {
			t.Errorf("man/xenorder.toml.5: %s: heading %q, README's scope %q", k.name, m[1], k.scope)
		}
		if def, ok := tomlLiteral(k.def); ok && !strings.Contains(m[1], roffEscape(def)) {
			t.Errorf("man/xenorder.toml.5: %s: heading %q does not give README's default %s", k.name, m[1], def)
		}
	}
}

// tomlLiteral says whether a default from the README is a TOML value.
func tomlLiteral(s string) (string, bool) {
	if s == "true" || s == "false" || s == "[]" || strings.HasPrefix(s, `"`) {
		return s, true
	}
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return s, true
	}
	return "", false
}

func roffEscape(s string) string {
	return strings.NewReplacer(`"`, `\(dq`, "-", `\-`).Replace(s)
}

func roffUnescape(s string) string {
	return strings.NewReplacer(`\(dq`, `"`, `\-`, "-", `\e`, `\`).Replace(s)
}

func TestKeysInExample(t *testing.T) {
	t.Parallel()
	ex := readFile(t, "contrib/xenorder.toml.example")
	for _, k := range allKeys(t) {
		re := regexp.MustCompile(`(?m)^#?` + k + ` *=`)
		if k == "ready" {
			re = regexp.MustCompile(`(?m)^#?\[\[(guest|external)\.[\w-]+\.ready\]\]`)
		}
		if !re.MatchString(ex) {
			t.Errorf("contrib/xenorder.toml.example has no %s", k)
		}
	}
	// [defaults] shows every key of scope defaults or both with the README's
	// default, each after a one-line comment.
	keys, _ := readmeKeys(t)
	defaults := section(ex, "[defaults]")
	for _, k := range keys {
		if !strings.Contains(k.scope, "defaults") && k.scope != "both" {
			continue
		}
		re := regexp.MustCompile(`(?m)^(.*)\n#?` + k.name + ` = (.*)$`)
		m := re.FindStringSubmatch(defaults)
		if m == nil {
			t.Errorf("contrib/xenorder.toml.example: [defaults] has no %s", k.name)
			continue
		}
		if !strings.HasPrefix(m[1], "# ") {
			t.Errorf("contrib/xenorder.toml.example: [defaults] %s has no comment line above it", k.name)
		}
		if def, ok := tomlLiteral(k.def); ok && m[2] != def {
			t.Errorf("contrib/xenorder.toml.example: [defaults] %s = %s, README's default is %s", k.name, m[2], def)
		}
	}
}

// section returns the lines of a TOML file from the header up to the next
// header (commented or not).
func section(src, header string) string {
	i := strings.Index(src, "\n"+header+"\n")
	if i < 0 {
		return ""
	}
	rest := src[i+1+len(header):]
	if j := regexp.MustCompile(`\n#?\[`).FindStringIndex(rest); j != nil {
		rest = rest[:j[0]]
	}
	return rest
}

// ---- the example config ----

// uncommentRE matches a commented-out setting or table header: "#key = ..."
// or "#[...". Prose comments are "# ...".
var uncommentRE = regexp.MustCompile(`(?m)^#(\[|[a-z_]+ *=)`)

func TestExampleParses(t *testing.T) {
	t.Parallel()
	const file = "/etc/xen/xenorder.toml"
	src := []byte(readFile(t, "contrib/xenorder.toml.example"))
	cfg, err := config.Parse(file, src)
	if err != nil {
		t.Fatalf("contrib/xenorder.toml.example as shipped:\n%v", err)
	}
	want := map[string][]string{
		"Domain-N": nil, "opnsense": {"Domain-N"}, "fileserver": {"opnsense"},
		"web": {"fileserver"}, "mail": {"fileserver"},
	}
	for name, deps := range want {
		g := cfg.Guests[name]
		if g == nil {
			t.Errorf("example: no guest %s", name)
			continue
		}
		if !slices.Equal(g.DependsOn, deps) {
			t.Errorf("example: %s depends_on %q, want %q", name, g.DependsOn, deps)
		}
		if !filepath.IsAbs(g.XLConfig) || !strings.HasPrefix(g.XLConfig, "/etc/xen/") {
			t.Errorf("example: %s: xl config %s, want one in /etc/xen", name, g.XLConfig)
		}
	}
	if d := cfg.Defaults; d.StateDir != config.DefaultStateDir || d.LockFile != config.DefaultLockFile || d.ConfigDir != config.DefaultConfigDir {
		t.Errorf("example: paths not a real host's: state_dir %s, lock_file %s, config_dir %s", d.StateDir, d.LockFile, d.ConfigDir)
	}

	// Every commented-out setting, uncommented, is valid too, and the
	// commented defaults are the defaults.
	all := uncommentRE.ReplaceAll(src, []byte("$1"))
	full, err := config.Parse(file, all)
	if err != nil {
		t.Fatalf("contrib/xenorder.toml.example with every \"#key = ...\" and \"#[...]\" line uncommented:\n%v", err)
	}
	got, def := full.Defaults, cfg.Defaults
	got.Stop.MigrateTo = "" // shown with an example host: it has no default
	// Where stop_action was written (for check's messages), not a value.
	got.Stop.ActionLine, got.Stop.ActionInDefaults = def.Stop.ActionLine, def.Stop.ActionInDefaults
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", def) {
		t.Errorf("the commented [defaults] are not the defaults:\nuncommented: %+v\ndefaults:    %+v", got, def)
	}
	probes := 0
	for _, g := range full.Guests {
		probes += len(g.Probes)
	}
	if probes < 6 || full.Guests["nas"] == nil || !full.Guests["nas"].External {
		t.Errorf("uncommented example: %d probes, external nas %v; want the probe examples and an external node", probes, full.Guests["nas"])
	}
}

var manExampleRE = regexp.MustCompile(`(?s)\.SH EXAMPLE\n.*?\.nf\n(.*?)\.fi\n`)

func TestManPageExampleParses(t *testing.T) {
	t.Parallel()
	m := manExampleRE.FindStringSubmatch(readFile(t, "man/xenorder.toml.5"))
	if m == nil {
		t.Fatal("man/xenorder.toml.5: no .SH EXAMPLE with a .nf/.fi block")
	}
	if _, err := config.Parse("/etc/xen/xenorder.toml", []byte(roffUnescape(m[1]))); err != nil {
		t.Errorf("man/xenorder.toml.5's EXAMPLE:\n%v", err)
	}
}

// ---- the man pages ----

var (
	commandRE = regexp.MustCompile(`\{name: "(\w+)"`)
	flagRE    = regexp.MustCompile(`fs\.(?:Bool|String|Int|Int64|Uint|Uint64|Float64|Duration|Func|BoolFunc|TextVar|Var|BoolVar|StringVar|IntVar|Int64Var|UintVar|Uint64Var|Float64Var|DurationVar)\((?:&[\w.]+, )?"([\w-]+)"`)
)

// cliCommandsAndFlags reads the commands and flags from the source of
// cmd/xenorder (its non-test files).
func cliCommandsAndFlags(t *testing.T) (commands, flags []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "cmd/xenorder/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			b.WriteString(readFile(t, strings.TrimPrefix(f, root+"/")))
		}
	}
	src := b.String()
	for _, m := range commandRE.FindAllStringSubmatch(src, -1) {
		commands = append(commands, m[1])
	}
	commands = append(commands, "help")
	for _, m := range flagRE.FindAllStringSubmatch(src, -1) {
		f := "--" + m[1]
		if len(m[1]) == 1 {
			f = "-" + m[1]
		}
		flags = append(flags, f)
	}
	sort.Strings(flags)
	flags = slices.Compact(flags)
	if len(commands) < 6 || len(flags) < 7 {
		t.Fatalf("cmd/xenorder: read commands %q and flags %q; update this test's reader", commands, flags)
	}
	return commands, flags
}

func TestManPages(t *testing.T) {
	t.Parallel()
	man1 := readFile(t, "man/xenorder.1")
	man5 := readFile(t, "man/xenorder.toml.5")
	for _, s := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS", "SIGNALS", "FILES", "SEE ALSO"} {
		if !strings.Contains(man1, "\n.SH "+s+"\n") {
			t.Errorf("man/xenorder.1: no section %s", s)
		}
	}
	for _, s := range []string{"NAME", "DESCRIPTION", "KEYS", "READINESS PROBES", "EXTERNAL NODES", "EXAMPLE", "SEE ALSO"} {
		if !strings.Contains(man5, "\n.SH "+s+"\n") {
			t.Errorf("man/xenorder.toml.5: no section %s", s)
		}
	}
	exit := man1[strings.Index(man1, ".SH EXIT STATUS"):]
	exit = exit[:strings.Index(exit[1:], "\n.SH ")+1]
	for _, code := range []string{"0", "1", "2", "3"} {
		if !strings.Contains(exit, "\n.TP\n.B "+code+"\n") {
			t.Errorf("man/xenorder.1: EXIT STATUS has no entry for %s", code)
		}
	}
	commands, flags := cliCommandsAndFlags(t)
	cmds := man1[strings.Index(man1, ".SH COMMANDS"):strings.Index(man1, ".SH OPTIONS")]
	for _, c := range commands {
		if !regexp.MustCompile(`(?m)^\.TP\n\.BR? ` + c + `\b`).MatchString(cmds) {
			t.Errorf("man/xenorder.1: COMMANDS has no entry for %s", c)
		}
	}
	opts := man1[strings.Index(man1, ".SH OPTIONS"):strings.Index(man1, ".SH EXIT STATUS")]
	for _, f := range flags {
		if !strings.Contains(opts, roffEscape(f)) {
			t.Errorf("man/xenorder.1: OPTIONS does not describe %s", f)
		}
	}
	for _, s := range []string{"SIGINT", "SIGTERM", "XENORDER_CONFIG", "/etc/xen/xenorder.toml"} {
		if !strings.Contains(man1, s) {
			t.Errorf("man/xenorder.1 does not mention %s", s)
		}
	}

	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff on PATH: not rendering the man pages")
	}
	for _, page := range []string{"man/xenorder.1", "man/xenorder.toml.5"} {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", page)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff -man -ww %s: %v\n%s", page, err, out)
		}
	}
}

// ---- the bash completion ----

func TestBashCompletion(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on PATH")
	}
	commands, flags := cliCommandsAndFlags(t)
	script := readFile(t, "contrib/bash-completion/xenorder")
	for _, f := range flags {
		if !regexp.MustCompile(`[" ]` + f + `[" ]`).MatchString(script) {
			t.Errorf("contrib/bash-completion/xenorder does not complete %s", f)
		}
	}

	conf := filepath.Join(t.TempDir(), "x.toml")
	os.WriteFile(conf, []byte(`[guest.alpha]
[ guest.beta ]   # comment
[guest."gamma"]
[[guest.alpha.ready]]
tcp = "h:1"
#[guest.commented]
[external.ext]
[[external.ext.ready]]
tcp = "h:2"
`), 0o644)
	// Every command of the code is completed (the completion may know
	// commands still under way).
	for _, words := range [][]string{{""}, {"help", ""}} {
		got := complete(t, bash, "", words)
		for _, c := range commands {
			if !slices.Contains(got, c) {
				t.Errorf("completing %q: %q lacks command %s", words, got, c)
			}
		}
	}
	cases := []struct {
		env   string
		words []string
		want  string
	}{
		{"", []string{"st"}, "start stop status"},
		{"", []string{"-c", conf, "start", ""}, "alpha beta gamma ext"},
		{"", []string{"--config", conf, "stop", ""}, "alpha beta gamma"}, // an external node is never stopped
		{"", []string{"--config", "=", conf, "stop", "beta", ""}, "alpha gamma"},
		{"", []string{"plan", "-c", conf, ""}, "start stop alpha beta gamma ext"},
		{"XENORDER_CONFIG=" + conf, []string{"start", "a"}, "alpha"},
		{"", []string{"stop", "--"}, "--config --dry-run --wait-lock --save --yes --interrupt-holder --exec-stop-post"},
		{"", []string{"-c", conf, "restore", ""}, "alpha beta gamma"},
		{"", []string{"restore", "--"}, "--config --dry-run --wait-lock"},
		{"", []string{"drain", "--"}, "--config --dry-run --wait-lock --save --yes"},
		{"", []string{"--v"}, "--version"},
		{"", []string{"drain", "--config", conf, "alpha", ""}, "beta gamma"},
		{"", []string{"-c", conf, "drains", ""}, ""}, // names only with --set
		{"", []string{"-c", conf, "drains", "--set", "beta", ""}, "alpha gamma"},
		{"", []string{"drains", "--"}, "--config --clear --set --dry-run --wait-lock"},
		{"", []string{"status", "-"}, "-c --config -v --json --timings"},
		{"", []string{"-c", filepath.Join(filepath.Dir(conf), "x.t")}, conf},
		{"", []string{"-c", "/nonexistent.toml", "start", ""}, ""},
	}
	for _, c := range cases {
		got, want := complete(t, bash, c.env, c.words), strings.Fields(c.want)
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("completing %q: got %q, want %q", c.words, got, want)
		}
	}
}

// complete runs the completion for the words after "xenorder" (the last
// one is being completed) and returns what it offers.
func complete(t *testing.T, bash, env string, words []string) []string {
	t.Helper()
	var q []string
	for _, w := range append([]string{"xenorder"}, words...) {
		q = append(q, "'"+w+"'")
	}
	prog := `source contrib/bash-completion/xenorder
COMP_WORDS=(` + strings.Join(q, " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]}-1))
_xenorder xenorder "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
echo "${COMPREPLY[*]}"`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "XENORDER_CONFIG=/nonexistent.toml")
	if env != "" {
		cmd.Env = append(cmd.Env, env)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("completing %q: %v\n%s", words, err, out)
	}
	return strings.Fields(string(out))
}

// ---- make ----

// goTool is the go command the tests hand to make as GO.
func goTool(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no go command found to hand to make")
	}
	return p
}

// makeEnv is the environment without what an outer make or the caller's
// shell could pass into the Makefile's variables.
func makeEnv() []string {
	drop := map[string]bool{"MAKEFLAGS": true, "MFLAGS": true, "MAKELEVEL": true, "MAKEOVERRIDES": true,
		"DESTDIR": true, "PREFIX": true, "VERSION": true, "BUILDDIR": true, "DISTDIR": true, "DEB_ARCH": true,
		"MAINTAINER": true, "GOBUILDFLAGS": true, "GOLDFLAGS": true, "GOOS": true, "GOARCH": true, "GO": true}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			env = append(env, kv)
		}
	}
	return env
}

// runMake runs make in the repository with a build folder of its own: the
// tests run in parallel, and every install or deb rebuilds the binary
// (from Go's build cache), so a shared one could be rewritten under
// another test.
func runMake(t *testing.T, args ...string) string {
	t.Helper()
	return runMakeIn(t, t.TempDir(), args...)
}

// runMakeIn runs make in the repository with the build folder dir.
func runMakeIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("no make on PATH")
	}
	args = append([]string{"--no-print-directory", "GO=" + goTool(t), "BUILDDIR=" + dir}, args...)
	cmd := exec.Command(mk, args...)
	cmd.Dir = root
	cmd.Env = makeEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var buildOnce sync.Once

// build runs `make build` once for all tests; later makes find it in Go's
// build cache.
func build(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	goTool(t)
	buildOnce.Do(func() { runMakeIn(t, filepath.Join(workDir, "bin"), "build") })
	if _, err := os.Stat(filepath.Join(workDir, "bin", "xenorder")); err != nil {
		t.Fatalf("make build made no binary: %v", err)
	}
}

// installed is what `make install` puts where, with its mode, for PREFIX=/usr.
var installed = []struct {
	path string
	mode fs.FileMode
	src  string // the repository file it is a copy of ("": not a plain copy)
	gz   bool   // gzip -9n of src
}{
	{"usr/sbin/xenorder", 0o755, "", false},
	{"lib/systemd/system/xenorder.service", 0o644, "contrib/systemd/xenorder.service", false},
	{"usr/share/man/man1/xenorder.1.gz", 0o644, "man/xenorder.1", true},
	{"usr/share/man/man5/xenorder.toml.5.gz", 0o644, "man/xenorder.toml.5", true},
	{"usr/share/bash-completion/completions/xenorder", 0o644, "contrib/bash-completion/xenorder", false},
	{"usr/share/doc/xenorder/examples/xenorder.toml", 0o644, "contrib/xenorder.toml.example", false},
	{"usr/share/doc/xenorder/README.md", 0o644, "README.md", false},
	{"etc/default/xenorder", 0o644, "packaging/debian/default", false},
}

// debOnly is what the package carries beyond `make install`.
var debOnly = []struct {
	path string
	mode fs.FileMode
	src  string
	gz   bool
}{
	{"usr/share/doc/xenorder/changelog.gz", 0o644, "packaging/debian/changelog", true},
	{"usr/share/doc/xenorder/copyright", 0o644, "packaging/debian/copyright", false},
	{"usr/share/lintian/overrides/xenorder", 0o644, "packaging/debian/lintian-overrides", false},
}

// checkTree checks that dir holds every installed file (and, for the
// package, every debOnly file) with its mode and content, and no live config.
func checkTree(t *testing.T, dir string, deb bool) {
	t.Helper()
	files := installed
	if deb {
		files = append(slices.Clone(installed), debOnly...)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		st, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		if !st.Mode().IsRegular() || st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want a regular file with %v", f.path, st.Mode(), f.mode)
		}
		if f.src == "" {
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if f.gz {
			zr, err := gzip.NewReader(bytes.NewReader(got))
			if err != nil {
				t.Errorf("%s: %v", f.path, err)
				continue
			}
			if zr.Name != "" || !zr.ModTime.IsZero() {
				t.Errorf("%s: gzip header keeps name %q and time %v: want gzip -n", f.path, zr.Name, zr.ModTime)
			}
			got, _ = io.ReadAll(zr)
		}
		if string(got) != readFile(t, f.src) {
			t.Errorf("%s differs from %s", f.path, f.src)
		}
	}
	checkBinary(t, filepath.Join(dir, "usr/sbin/xenorder"))
	// No live config: the admin writes or imports one.
	if _, err := os.Lstat(filepath.Join(dir, "etc/xen/xenorder.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("etc/xen/xenorder.toml is installed (%v): the example belongs in usr/share/doc/xenorder/examples", err)
	}
}

// checkBinary checks that the binary is static and runs.
func checkBinary(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Errorf("%s: %v", bin, err)
		return
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (has an ELF interpreter): want CGO_ENABLED=0", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs %v: want a static binary", bin, libs)
	}
	if f.Machine != elf.EM_X86_64 || runtime.GOARCH != "amd64" {
		return // built for amd64 elsewhere, or built for this machine: do not run it
	}
	out, err := exec.Command(bin, "help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "xenorder") {
		t.Errorf("%s help: %v\n%s", bin, err, out)
	}
}

func TestInstall(t *testing.T) {
	t.Parallel()
	build(t)
	dest := t.TempDir()
	out := runMake(t, "install", "DESTDIR="+dest)
	checkTree(t, dest, false)
	if !strings.Contains(out, "no "+dest+"/etc/xen/xenorder.toml: write it with xenorder import > /etc/xen/xenorder.toml") {
		t.Errorf("make install did not say how to write the config:\n%s", out)
	}

	// A second install leaves the admin's files alone and says so: the
	// config it never writes, and /etc/default/xenorder.
	conf := filepath.Join(dest, "etc/xen/xenorder.toml")
	def := filepath.Join(dest, "etc/default/xenorder")
	const mine = "# the admin's own\n[guest.mine]\n"
	const opts = "XENORDER_OPTS=\"-v\"\n"
	os.MkdirAll(filepath.Dir(conf), 0o755)
	for p, b := range map[string]string{conf: mine, def: opts} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out = runMake(t, "install", "DESTDIR="+dest)
	for p, b := range map[string]string{conf: mine, def: opts} {
		if got, _ := os.ReadFile(p); string(got) != b {
			t.Errorf("a second make install overwrote %s:\n%s", p, got)
		}
		if st, _ := os.Stat(p); st == nil || st.Mode().Perm() != 0o600 {
			t.Errorf("a second make install changed the mode of %s", p)
		}
	}
	if !strings.Contains(out, "etc/default/xenorder exists and was left alone") || strings.Contains(out, "write it with xenorder import") {
		t.Errorf("a second make install did not say it kept %s, or asked for a config that is there:\n%s", def, out)
	}
	example := filepath.Join(dest, "usr/share/doc/xenorder/examples/xenorder.toml")
	if got, _ := os.ReadFile(example); string(got) != readFile(t, "contrib/xenorder.toml.example") {
		t.Errorf("a second make install did not refresh %s", example)
	}

	// PREFIX moves the binary, and the unit follows it.
	local := t.TempDir()
	runMake(t, "install", "DESTDIR="+local, "PREFIX=/usr/local")
	if st, err := os.Stat(filepath.Join(local, "usr/local/sbin/xenorder")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("PREFIX=/usr/local: usr/local/sbin/xenorder: %v", err)
	}
	unit, _ := os.ReadFile(filepath.Join(local, "lib/systemd/system/xenorder.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/local/sbin/xenorder $XENORDER_OPTS start") || strings.Contains(string(unit), "/usr/sbin/xenorder") {
		t.Errorf("PREFIX=/usr/local: the unit does not run /usr/local/sbin/xenorder:\n%s", unit)
	}
}

// ---- the Debian package ----

// forbiddenRE is what a maintainer script must never run: anything that
// starts, stops, restarts or enables the unit (stopping it stops every guest).
var forbiddenRE = regexp.MustCompile(`\bsystemctl\s+(-\S+\s+)*(restart|start|enable|stop|try-restart|reload-or-restart|try-reload-or-restart|condrestart|force-reload|isolate|kill)\b|deb-systemd-invoke|invoke-rc\.d|\bservice\s+xenorder|(^|[;&|]\s*)(/usr/sbin/)?xenorder\s`)

var heredocRE = regexp.MustCompile(`<<-?\s*['"]?(\w+)['"]?`)

// commands returns the lines of a shell script that run something: without
// comments, here-document bodies and echo/printf lines, which are text for
// the admin.
func commands(script string) []string {
	var out []string
	term := ""
	for _, line := range strings.Split(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if term != "" {
			if trimmed == term {
				term = ""
			}
			continue
		}
		text := (strings.HasPrefix(trimmed, "echo ") || strings.HasPrefix(trimmed, "printf ")) && !strings.ContainsAny(trimmed, ";&|`$(")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || text {
			continue
		}
		if m := heredocRE.FindStringSubmatch(line); m != nil {
			term = m[1]
		}
		out = append(out, line)
	}
	return out
}

func TestMaintainerScriptsNeverTouchTheUnit(t *testing.T) {
	t.Parallel()
	for _, name := range maintainerScripts {
		src := readFile(t, "packaging/debian/"+name)
		if !strings.HasPrefix(src, "#!/bin/sh\n") {
			t.Errorf("packaging/debian/%s: want #!/bin/sh", name)
		}
		for _, line := range commands(src) {
			if forbiddenRE.MatchString(line) {
				t.Errorf("packaging/debian/%s runs %q: a maintainer script must never start, stop, restart or enable xenorder.service", name, strings.TrimSpace(line))
			}
		}
	}
	// The checker itself finds what it must.
	for _, bad := range []string{"\tsystemctl restart xenorder.service", "echo restarting; systemctl restart xenorder", "systemctl --no-block stop xenorder", "deb-systemd-invoke start xenorder.service", "[ -x /usr/sbin/xenorder ] && xenorder stop", "systemctl enable xenorder"} {
		if l := commands(bad); len(l) != 1 || !forbiddenRE.MatchString(l[0]) {
			t.Errorf("forbiddenRE misses %q", bad)
		}
	}
}

// maintainerScripts are the package's scripts, in packaging/debian.
var maintainerScripts = []string{"preinst", "postinst", "prerm", "postrm"}

// scriptRun is one run of a maintainer script, as dpkg would run it.
type scriptRun struct {
	script  string
	args    []string
	known   bool // deb-systemd-helper has a state file for the unit (debian-installed)
	enabled bool // the unit's links are there (the admin enabled it)
}

// scriptRuns are the runs runScripts makes: every action of the scripts.
var scriptRuns = []scriptRun{
	{"preinst", []string{"install"}, false, false},
	{"preinst", []string{"upgrade", "0.1.0"}, true, true},
	{"postinst", []string{"configure", ""}, false, false},
	{"postinst", []string{"configure", "0.1.0"}, true, true},
	{"postinst", []string{"configure", "0.1.0"}, true, false},
	{"postinst", []string{"abort-upgrade", "0.1.0"}, true, true},
	{"prerm", []string{"upgrade", "9.9.9"}, true, true},
	{"prerm", []string{"remove"}, true, true},
	{"prerm", []string{"deconfigure", "in-favour", "x", "1"}, true, false},
	{"postrm", []string{"remove"}, true, true},
	{"postrm", []string{"upgrade", "9.9.9"}, true, true},
	{"postrm", []string{"abort-upgrade", "0.1.0"}, true, true},
	{"postrm", []string{"purge"}, true, true},
	{"postinst", []string{"configure", "0.1.0"}, false, true}, // enabled under 0.1.0, before deb-systemd-helper knew it
}

// fakeTools writes systemctl, deb-systemd-invoke and deb-systemd-helper
// into a folder: each logs its name and arguments to $FAKE_LOG.
// deb-systemd-helper answers as the real one: debian-installed when it has
// a state file ($FAKE_KNOWN=1), is-enabled when the links are there
// ($FAKE_ENABLED=1), was-enabled when both or without a state file (so
// that debhelper's default enables at installation). systemctl is-active
// answers no.
func fakeTools(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	const log = "#!/bin/sh\necho \"${0##*/} $*\" >> \"$FAKE_LOG\"\n"
	tools := map[string]string{
		"systemctl":          log + "for a in \"$@\"; do [ \"$a\" = is-active ] && exit 3; done\nexit 0\n",
		"deb-systemd-invoke": log + "exit 0\n",
		"deb-systemd-helper": log + `for a in "$@"; do
	case "$a" in
	debian-installed) [ "$FAKE_KNOWN" = 1 ]; exit $?;;
	is-enabled) [ "$FAKE_ENABLED" = 1 ]; exit $?;;
	was-enabled) [ "$FAKE_KNOWN" != 1 ] || [ "$FAKE_ENABLED" = 1 ]; exit $?;;
	esac
done
exit 0
`,
	}
	for name, src := range tools {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runScriptsLogged runs each run's script from dir with fakeTools first on
// PATH, as on a host that runs systemd: "/run/systemd/system" in the
// scripts is replaced by a folder that exists (a copy of each script is
// run). It returns each run's output and the calls it made to the fakes.
func runScriptsLogged(t *testing.T, dir string, runs []scriptRun) (outs []string, calls [][]string) {
	t.Helper()
	fake := fakeTools(t)
	systemd := t.TempDir() // stands for /run/systemd/system
	work := t.TempDir()
	for i, r := range runs {
		src, err := os.ReadFile(filepath.Join(dir, r.script))
		if errors.Is(err, fs.ErrNotExist) {
			outs, calls = append(outs, ""), append(calls, nil)
			continue // debhelper writes only the scripts it needs
		}
		if err != nil {
			t.Fatal(err)
		}
		script := filepath.Join(work, fmt.Sprintf("%d-%s", i, r.script))
		if err := os.WriteFile(script, bytes.ReplaceAll(src, []byte("/run/systemd/system"), []byte(systemd)), 0o755); err != nil {
			t.Fatal(err)
		}
		log := filepath.Join(work, fmt.Sprintf("%d.log", i))
		flag := map[bool]string{false: "0", true: "1"}
		cmd := exec.Command(script, r.args...)
		cmd.Env = append(os.Environ(), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE_LOG="+log,
			"FAKE_KNOWN="+flag[r.known], "FAKE_ENABLED="+flag[r.enabled], "DPKG_MAINTSCRIPT_PACKAGE=xenorder", "DPKG_MAINTSCRIPT_NAME="+r.script, "DPKG_ROOT=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s %q: %v\n%s", r.script, r.args, err, out)
		}
		b, _ := os.ReadFile(log)
		var cs []string
		if s := strings.TrimSpace(string(b)); s != "" {
			cs = strings.Split(s, "\n")
		}
		outs, calls = append(outs, string(out)), append(calls, cs)
	}
	return outs, calls
}

// touchesUnit says whether a logged call starts, stops, restarts, reloads
// or enables a unit: anything but daemon-reload and the read-only
// questions.
func touchesUnit(call string) bool {
	f := strings.Fields(call)
	if len(f) < 2 {
		return false
	}
	verb := f[1]
	for _, a := range f[1:] {
		if !strings.HasPrefix(a, "-") {
			verb = a
			break
		}
	}
	switch f[0] {
	case "systemctl":
		return verb != "daemon-reload" && verb != "is-active" && verb != "is-enabled"
	case "deb-systemd-invoke":
		return true // it only starts, stops and restarts
	case "deb-systemd-helper":
		return verb == "enable" || verb == "reenable"
	}
	return true
}

// runScripts runs the maintainer scripts in dir (the package's DEBIAN/) as
// dpkg would, on a host that runs systemd, and checks that none starts,
// stops or restarts the unit, and that only an upgrade of a unit the
// admin enabled enables it (again: deb-systemd-helper's new links).
func runScripts(t *testing.T, dir string) {
	t.Helper()
	outs, calls := runScriptsLogged(t, dir, scriptRuns)
	for i, r := range scriptRuns {
		out := outs[i]
		for _, c := range calls[i] {
			if !touchesUnit(c) {
				continue
			}
			if c == "deb-systemd-helper enable xenorder.service" && r.script == "postinst" && r.known && r.enabled {
				continue // an admin-enabled unit stays enabled
			}
			t.Errorf("%s %q (%+v) ran %q", r.script, r.args, r, c)
		}
		want := map[string]string{
			"postinst configure ":      "systemctl disable xendomains.service",
			"postinst configure 0.1.0": "not restarted",
			"prerm remove":             "xenorder.service is enabled; after removal",
		}[r.script+" "+strings.Join(r.args, " ")]
		if !strings.Contains(out, want) {
			t.Errorf("%s %q: want output with %q:\n%s", r.script, r.args, want, out)
		}
		if r.script == "prerm" && r.args[0] == "upgrade" && out != "" {
			t.Errorf("prerm upgrade says something; it should do nothing:\n%s", out)
		}
	}
	// What keeps the enable state, as debhelper's snippets do it.
	has := func(i int, call string) bool { return slices.Contains(calls[i], call) }
	if !has(2, "deb-systemd-helper update-state xenorder.service") || has(2, "deb-systemd-helper enable xenorder.service") {
		t.Errorf("postinst configure (first installation): %q, want update-state and no enable", calls[2])
	}
	if !has(3, "deb-systemd-helper enable xenorder.service") {
		t.Errorf("postinst configure (upgrade, unit enabled): %q, want an enable (new links of the enabled unit)", calls[3])
	}
	if has(4, "deb-systemd-helper enable xenorder.service") {
		t.Errorf("postinst configure (upgrade, unit disabled): %q enables it", calls[4])
	}
	if has(13, "deb-systemd-helper enable xenorder.service") || !has(13, "deb-systemd-helper update-state xenorder.service") {
		t.Errorf("postinst configure (upgrade from 0.1.0, unit enabled by hand): %q, want update-state (recording its links) and no enable", calls[13])
	}
	if !has(12, "deb-systemd-helper purge xenorder.service") {
		t.Errorf("postrm purge: %q, want deb-systemd-helper purge", calls[12])
	}
	if !has(9, "systemctl --system daemon-reload") {
		t.Errorf("postrm remove: %q, want a daemon-reload", calls[9])
	}
}

func TestDeb(t *testing.T) {
	t.Parallel()
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		t.Skip("no dpkg-deb on PATH")
	}
	build(t)
	dist := t.TempDir()
	runMake(t, "deb", "DISTDIR="+dist, "VERSION=1.2.3")
	deb := filepath.Join(dist, "xenorder_1.2.3_amd64.deb")
	if _, err := os.Stat(deb); err != nil {
		t.Fatalf("make deb: %v", err)
	}
	dpkg := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(dpkgDeb, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	fields := controlFields(dpkg("-f", deb))
	for k, want := range map[string]string{"Package": "xenorder", "Version": "1.2.3", "Architecture": "amd64",
		"Maintainer": "xenorder maintainers <maintainers@xenorder.org>",
		"Depends":    "xen-utils", "Recommends": "xenstore-utils", "Suggests": "graphviz", "Section": "admin", "Priority": "optional"} {
		if fields[k] != want {
			t.Errorf("control %s: %q, want %q", k, fields[k], want)
		}
	}
	if !strings.Contains(fields["Description"], "xendomains") || !strings.Contains(fields["Description"], "xenorder import") || fields["Installed-Size"] == "" {
		t.Errorf("control: Installed-Size %q, Description %q: want it set, the description naming xendomains and xenorder import",
			fields["Installed-Size"], fields["Description"])
	}

	// The listing: every file, root-owned, with its mode.
	listing := dpkg("-c", deb)
	for _, f := range append(slices.Clone(installed), debOnly...) {
		re := regexp.MustCompile(`(?m)^-` + regexp.QuoteMeta(f.mode.String()[1:]) + ` root/root .* \./` + regexp.QuoteMeta(f.path) + `$`)
		if !re.MatchString(listing) {
			t.Errorf("dpkg-deb -c: no %s with mode %v owned by root:\n%s", f.path, f.mode, listing)
		}
	}

	// Unpacked into a scratch root, the files are where make install puts
	// them, with the package's own beside them, and no live config.
	scratch := t.TempDir()
	dpkg("-x", deb, scratch)
	checkTree(t, scratch, true)

	control := t.TempDir()
	dpkg("-e", deb, control)
	conffiles, _ := os.ReadFile(filepath.Join(control, "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/default/xenorder" {
		t.Errorf("conffiles: %q, want /etc/default/xenorder alone (no live config)", conffiles)
	}
	for _, s := range maintainerScripts {
		st, err := os.Stat(filepath.Join(control, s))
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("DEBIAN/%s: %v, want mode 0755", s, err)
			continue
		}
		got, _ := os.ReadFile(filepath.Join(control, s))
		if string(got) != readFile(t, "packaging/debian/"+s) {
			t.Errorf("DEBIAN/%s differs from packaging/debian/%s", s, s)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(control, s)).CombinedOutput(); err != nil {
			t.Errorf("sh -n DEBIAN/%s: %v\n%s", s, err, out)
		}
	}
	// The brief's grep, on what the scripts run: no start, stop, restart or
	// enable of the unit.
	for _, s := range maintainerScripts {
		got, _ := os.ReadFile(filepath.Join(control, s))
		for _, line := range commands(string(got)) {
			if regexp.MustCompile(`systemctl (restart|start|enable|stop|try-restart)|deb-systemd-invoke`).MatchString(line) {
				t.Errorf("DEBIAN/%s runs %q", s, line)
			}
		}
	}
	if !strings.Contains(readFile(t, "packaging/debian/postinst"), "[ -d /run/systemd/system ]") {
		t.Error("postinst: daemon-reload must be guarded by [ -d /run/systemd/system ]")
	}
	runScripts(t, control)
	checkMD5sums(t, control, scratch)

	// The default version is the changelog's first entry.
	def := t.TempDir()
	runMake(t, "deb", "DISTDIR="+def)
	top := regexp.MustCompile(`^xenorder \(([^)]+)\) `).FindStringSubmatch(readFile(t, "packaging/debian/changelog"))
	if top == nil {
		t.Fatal("packaging/debian/changelog: no first line `xenorder (VERSION) ...`")
	}
	if _, err := os.Stat(filepath.Join(def, "xenorder_"+top[1]+"_amd64.deb")); err != nil {
		t.Errorf("make deb without VERSION: %v, want the changelog's version %s", err, top[1])
	}
}

// controlFields parses the fields of a control file (dpkg-deb -f).
func controlFields(control string) map[string]string {
	fields := map[string]string{}
	key := ""
	for _, line := range strings.Split(control, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
			key, fields[k] = k, v
		} else if key != "" {
			fields[key] += "\n" + line
		}
	}
	return fields
}

// checkMD5sums checks DEBIAN/md5sums against the unpacked files.
func checkMD5sums(t *testing.T, control, tree string) {
	t.Helper()
	f, err := os.Open(filepath.Join(control, "md5sums"))
	if err != nil {
		t.Errorf("md5sums: %v", err)
		return
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, path, ok := strings.Cut(sc.Text(), "  ")
		b, err := os.ReadFile(filepath.Join(tree, path))
		if h := md5.Sum(b); !ok || err != nil || hex.EncodeToString(h[:]) != sum {
			t.Errorf("md5sums: %q does not match the file (%v)", sc.Text(), err)
		}
		n++
	}
	if n != len(installed)+len(debOnly) {
		t.Errorf("md5sums lists %d files, the package has %d", n, len(installed)+len(debOnly))
	}
}

// ---- systemd ----

// hostUnitDir is where this machine's systemd keeps its units.
func hostUnitDir() string {
	for _, d := range []string{"/lib/systemd/system", "/usr/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(d, "sysinit.target")); err == nil {
			return d
		}
	}
	return ""
}

// copyUnits copies the units of src into dst, except those dst has: the
// targets xenorder.service is ordered against by default (sysinit.target,
// shutdown.target, ...) must exist under --root.
func copyUnits(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if _, err := os.Lstat(to); err == nil {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, 0o644)
		}
		return nil
	})
}

func TestSystemdVerify(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on PATH")
	}
	units := hostUnitDir()
	if units == "" {
		t.Skip("no systemd units on this machine (no sysinit.target)")
	}
	build(t)
	dest := t.TempDir()
	runMake(t, "install", "DESTDIR="+dest)
	unitDir := filepath.Join(dest, "lib/systemd/system")
	if err := copyUnits(units, unitDir); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(unitDir, "xenorder.service")

	// Documentation=man:... is checked with man when there is one, against
	// the installed pages.
	manCheck := "--man=no"
	if _, err := exec.LookPath("man"); err == nil {
		manCheck = "--man=yes"
	}
	verify := func() (string, error) {
		cmd := exec.Command(analyze, "verify", manCheck, "--root="+dest, unit)
		cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dest, "usr/share/man"), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := verify()
	t.Logf("systemd-analyze verify %s --root=%s: %v\n%s", manCheck, dest, err, out)
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "xenorder") {
			t.Errorf("systemd-analyze verify complains about xenorder: %s", line)
		}
	}

	// The check is real: without the installed binary, ExecStart= does not resolve.
	if err := os.Remove(filepath.Join(dest, "usr/sbin/xenorder")); err != nil {
		t.Fatal(err)
	}
	out, err = verify()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(out, "/usr/sbin/xenorder") {
		t.Errorf("systemd-analyze verify without /usr/sbin/xenorder: %v, want a failure naming it:\n%s", err, out)
	}
}
