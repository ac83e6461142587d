package xdimport

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/xenorder/xenorder/internal/config"
)

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name, src string
		want      map[string]string
		problems  []string // substrings, one per problem, in order
	}{
		{"debian", "XENDOMAINS_SAVE=/var/lib/xen/save\nXENDOMAINS_STOP_MAXWAIT=300\n",
			map[string]string{"XENDOMAINS_SAVE": "/var/lib/xen/save", "XENDOMAINS_STOP_MAXWAIT": "300"}, nil},
		{"quotes, comments, export", "# XENDOMAINS_SAVE=/x\nexport XENDOMAINS_MIGRATE=\"host2 -s 'ssh -p 2222'\"\nXENDOMAINS_SAVE=''\nXENDOMAINS_AUTO=/srv/auto # ours\n",
			map[string]string{"XENDOMAINS_MIGRATE": "host2 -s 'ssh -p 2222'", "XENDOMAINS_SAVE": "", "XENDOMAINS_AUTO": "/srv/auto"}, nil},
		{"blank", "XENDOMAINS_MIGRATE=\" \"\n", map[string]string{"XENDOMAINS_MIGRATE": " "}, nil},
		{"escapes", `A="a \"q\" \\ \$ \n" B=a\ b C='x'"y"z D=a#b`,
			map[string]string{"A": `a "q" \ $ \n`, "B": "a b", "C": "xyz", "D": "a#b"}, nil},
		{"the last one wins", "XENDOMAINS_SAVE=/a\n  XENDOMAINS_SAVE=/b\n", map[string]string{"XENDOMAINS_SAVE": "/b"}, nil},
		{"export alone sets nothing", "export XENDOMAINS_SAVE\nexport\n", map[string]string{}, nil},
		{"expansion", "XENDOMAINS_SAVE=$XEN_LIB/save\nOTHER=$X\n", map[string]string{"XENDOMAINS_SAVE": "$XEN_LIB/save", "OTHER": "$X"},
			[]string{"f:1: XENDOMAINS_SAVE: it uses shell expansion"}},
		{"open quote", "XENDOMAINS_MIGRATE=\"host2\nXENDOMAINS_SAVE='x\n", map[string]string{"XENDOMAINS_MIGRATE": "host2", "XENDOMAINS_SAVE": "x"},
			[]string{"f:1: XENDOMAINS_MIGRATE: a double quote is left open", "f:2: XENDOMAINS_SAVE: a single quote is left open"}},
		{"a command", "XENDOMAINS_SAVE=/x echo hi\n. /etc/default/other\nif true; then XENDOMAINS_AUTO=/y; fi\n", map[string]string{},
			[]string{"f:1: not a plain VARIABLE=value", "f:3: not a plain VARIABLE=value"}},
		{"a backslash at the end", "XENDOMAINS_SAVE=/x\\\n", map[string]string{"XENDOMAINS_SAVE": "/x"}, []string{"f:1: XENDOMAINS_SAVE: a backslash ends the line"}},
		{"not text", "\x00\xff=1\nXENDOMAINS_SAVE=\xff\n", map[string]string{"XENDOMAINS_SAVE": "\xff"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ParseSettings("f", []byte(tt.src))
			got := map[string]string{}
			for n, v := range s.Vars {
				got[n] = v.Value
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("vars %q, want %q", got, tt.want)
			}
			if len(s.Problems) != len(tt.problems) {
				t.Fatalf("problems %q, want %d", s.Problems, len(tt.problems))
			}
			for i, p := range tt.problems {
				if !strings.HasPrefix(s.Problems[i], p) {
					t.Errorf("problem %q, want %q...", s.Problems[i], p)
				}
			}
		})
	}
	if s, err := ReadSettings("", filepath.Join(t.TempDir(), "absent")); err != nil || s.File != "" || len(s.Vars) != 0 {
		t.Errorf("absent: %+v %v", s, err)
	}
}

// FuzzParseSettings: no input makes the parser panic, and a value written
// in double quotes with the shell's escapes reads back as itself.
func FuzzParseSettings(f *testing.F) {
	for _, s := range []string{"XENDOMAINS_MIGRATE=\" \"", "export A=1 B='2' # c", "A=\"\\", "A='", "A=\\", "=\n=", "A=\"$(x)\"`y`"} {
		f.Add(s, "host2 --live")
	}
	root := f.TempDir()
	writeRoot(f, root, map[string]string{
		"/etc/xen/auto/00-a": "->../a.cfg", "/etc/xen/a.cfg": "name = 'a'\npci = ['0000:01:00.0']\n",
		"/etc/xen/auto/10-b": "->../b.cfg", "/etc/xen/b.cfg": "name = 'b'\nvif = ['backend=a']\n",
		"/var/lib/xen/save/b": image,
	})
	f.Fuzz(func(t *testing.T, src, value string) {
		s := ParseSettings("f", []byte(src))
		for n, v := range s.Vars {
			if n == "" || v.Line < 1 {
				t.Fatalf("%q: var %q line %d", src, n, v.Line)
			}
		}
		if strings.ContainsAny(value, "\n\r") {
			return
		}
		var q strings.Builder
		for _, c := range []byte(value) {
			if strings.IndexByte("\"\\$`", c) >= 0 {
				q.WriteByte('\\')
			}
			q.WriteByte(c)
		}
		back := ParseSettings("f", []byte("XENDOMAINS_X=\""+q.String()+"\" # comment\n"))
		if got := back.Get("XENDOMAINS_X"); got != value || len(back.Problems) != 0 {
			t.Fatalf("%q read back as %q, problems %q", value, got, back.Problems)
		}
		// Whatever the settings say, an import never panics.
		// Whatever the settings say, an import never panics, and what
		// it writes is a config xenorder takes.
		r, err := Import(Options{Root: root, Settings: s})
		if err != nil {
			var ue *UsageError
			if !errorsAs(err, &ue) {
				t.Fatalf("%q: %v", src, err)
			}
			return
		}
		if _, err := config.Parse("/etc/xen/xenorder.toml", []byte(r.Config)); err != nil {
			t.Fatalf("%q: %v\n%s", src, err, r.Config)
		}
	})
}

// writeRoot lays out files (host path → content; "->target" makes a
// symbolic link) under dir.
func writeRoot(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		real := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(content[2:], real)
		case content == "/":
			err = os.Mkdir(real, 0o755)
		default:
			err = os.WriteFile(real, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

const image = "Xen saved domain, xl format\n \x00 \r..."

func pv(name string, extra ...string) string {
	return "name = \"" + name + "\"\ntype = \"pvh\"\nkernel = \"/k\"\n" + strings.Join(extra, "\n") + "\n"
}

// numbered is a host whose auto folder encodes an order: a driver domain
// with a NIC passed through serving everyone's vifs, storage, a database,
// two applications.
func numbered() map[string]string {
	return map[string]string{
		"/etc/xen/auto/00-netdrv":  "->../netdrv.cfg",
		"/etc/xen/netdrv.cfg":      pv("netdrv", "pci = ['0000:03:00.0']"),
		"/etc/xen/auto/10-storage": "->/etc/xen/storage.cfg", // absolute: inside the root
		"/etc/xen/storage.cfg":     pv("storage", "vif = ['bridge=lan,backend=netdrv']"),
		"/etc/xen/auto/20-db":      "->../db.cfg",
		"/etc/xen/db.cfg":          pv("db", "vif = ['bridge=lan,backend=netdrv']"),
		"/etc/xen/auto/30-web":     "->../web.cfg",
		"/etc/xen/web.cfg":         pv("web", "vif = ['bridge=lan,backend=netdrv']"),
		"/etc/xen/auto/30-mail":    "->../mail.cfg",
		"/etc/xen/mail.cfg":        pv("mail", "vif = ['bridge=lan,backend=netdrv']"),
	}
}

func with(base map[string]string, more ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(more); i += 2 {
		if more[i+1] == "" {
			delete(out, more[i])
		} else {
			out[more[i]] = more[i+1]
		}
	}
	return out
}

func TestImport(t *testing.T) {
	plain := map[string]string{
		"/etc/xen/auto/web.cfg": "->../web.cfg", "/etc/xen/web.cfg": pv("web", "vif = ['backend=Domain-N']"),
		"/etc/xen/auto/Domain-N.cfg": "->../Domain-N.cfg", "/etc/xen/Domain-N.cfg": pv("Domain-N", "pci = ['00:19.0']"),
	}
	tests := []struct {
		name     string
		files    map[string]string
		settings string
		want     []string // in the config
		not      []string // not in the config
		warn     []string // each in some warning
		nowarn   bool     // no warning at all
		tiers    [][]string
	}{
		{name: "numbered names become after edges", files: numbered(), settings: "XENDOMAINS_STOP_MAXWAIT=300\n",
			want: []string{
				"[guest.storage]\nconfig = \"/etc/xen/storage.cfg\"\n# inferred: vif backend=netdrv\ndepends_on = [\"netdrv\"]\n\n",
				"# name order in /etc/xen/auto: 10-storage before 20-db\nafter = [\"storage\"]\n",
				"[guest.mail]\nconfig = \"/etc/xen/mail.cfg\"\n# inferred: vif backend=netdrv\ndepends_on = [\"netdrv\"]\n# name order in /etc/xen/auto: 20-db before 30-mail\nafter = [\"db\"]\n",
				"after orders stops too", "4 tiers × 75s = 300s", "stop_timeout = \"75s\"",
			},
			// storage's order after netdrv is its depends_on already.
			not:    []string{"00-netdrv before"},
			nowarn: true,
			tiers:  [][]string{{"mail", "web"}, {"db"}, {"storage"}, {"netdrv"}}},
		{name: "no numbers, no order", files: plain,
			want: []string{"carry no numbers here: import keeps no order", "[guest.Domain-N]\nconfig = \"/etc/xen/Domain-N.cfg\"\n\n"},
			not:  []string{"after =", "stop_action = \"shutdown\"\n\n#"}, nowarn: true},
		{name: "the backend wins over the names",
			files: with(numbered(), "/etc/xen/auto/00-netdrv", "", "/etc/xen/auto/40-netdrv", "->../netdrv.cfg"),
			want:  []string{"[guest.netdrv]\nconfig = \"/etc/xen/netdrv.cfg\"\n"},
			not:   []string{"before 40-netdrv\n"},
			warn:  []string{"30-web comes before 40-netdrv in /etc/xen/auto, so xendomains started web first; but web needs netdrv (vif backend=netdrv): the backend wins, netdrv is not ordered after web"},
			tiers: [][]string{{"mail", "web"}, {"db"}, {"storage"}, {"netdrv"}}},
		{name: "the backend wins through an after",
			// a (00) needs c (20) as its backend: c cannot come after b
			// (10), which comes after a; it still comes after nothing else.
			files: map[string]string{
				"/etc/xen/auto/00-a": "->../a.cfg", "/etc/xen/a.cfg": pv("a", "disk = ['backend=c,vdev=xvda,target=/x']"),
				"/etc/xen/auto/10-b": "->../b.cfg", "/etc/xen/b.cfg": pv("b"),
				"/etc/xen/auto/20-c": "->../c.cfg", "/etc/xen/c.cfg": pv("c"),
				"/etc/xen/auto/30-d": "->../d.cfg", "/etc/xen/d.cfg": pv("d"),
			},
			want:  []string{"[guest.b]\nconfig = \"/etc/xen/b.cfg\"\n# name order in /etc/xen/auto: 00-a before 10-b\nafter = [\"a\"]\n", "[guest.c]\nconfig = \"/etc/xen/c.cfg\"\n\n", "# name order in /etc/xen/auto: 10-b, 20-c before 30-d\nafter = [\"b\", \"c\"]"},
			warn:  []string{"10-b comes before 20-c in /etc/xen/auto, so xendomains started b first; but b comes after a, which needs c (disk backend=c): the backend wins"},
			tiers: [][]string{{"d"}, {"b"}, {"a"}, {"c"}}},
		{name: "stray files are skipped, named",
			files: with(numbered(), "/etc/xen/auto/README", "Start order: by name.\n", "/etc/xen/auto/30-web.dpkg-old", pv("web"),
				"/etc/xen/auto/20-db~", pv("db"), "/etc/xen/auto/#30-web#", pv("web"), "/etc/xen/auto/old", "/",
				"/etc/xen/auto/50-gone", "->../gone.cfg", "/etc/xen/auto/60-empty", "# nothing\n", "/etc/xen/auto/.hidden", "junk",
				"/etc/xen/auto/70-loop", "->70-loop"),
			want: []string{"[guest.web]", "[guest.db]"},
			warn: []string{"/etc/xen/auto/README: skipped: not an xl config (/etc/xen/auto/README:1: config parsing error",
				"/etc/xen/auto/30-web.dpkg-old: skipped: an editor's, dpkg's or ucf's leftover", "/etc/xen/auto/20-db~: skipped",
				"/etc/xen/auto/#30-web#: skipped", "/etc/xen/auto/old: skipped: not a file",
				"/etc/xen/auto/50-gone: skipped: /etc/xen/gone.cfg: no such file or directory",
				"/etc/xen/auto/60-empty: skipped: its xl config /etc/xen/auto/60-empty has no name = line",
				"/etc/xen/auto/70-loop: skipped: /etc/xen/auto/70-loop: more than 40 symbolic links"}},
		{name: "names the config cannot take are skipped",
			files: with(plain, "/etc/xen/auto/a", pv("3"), "/etc/xen/auto/b", pv("-x"), "/etc/xen/auto/c", pv("Domain-0"),
				"/etc/xen/auto/d", pv("a b"), "/etc/xen/auto/e", pv("mail.example.org"), "/etc/xen/auto/f", pv("web")),
			want: []string{"[guest.\"mail.example.org\"]\nconfig = \"/etc/xen/auto/e\"\n"},
			not:  []string{"[guest.3]", "[guest.-x]", "Domain-0]", "a b\"]"},
			warn: []string{`/etc/xen/auto/a: skipped: guest name "3" is all digits`, `/etc/xen/auto/b: skipped: guest name "-x" starts with '-'`,
				"/etc/xen/auto/c: skipped: Domain-0 is dom0", `/etc/xen/auto/d: skipped: guest name "a b" contains U+0020`,
				`/etc/xen/auto/web.cfg: skipped: it creates "web", as /etc/xen/auto/f does, which comes first in name order`}},
		{name: "backends outside the auto folder",
			files: map[string]string{"/etc/xen/auto/web": "->../web.cfg", "/etc/xen/web.cfg": pv("web", "vif = ['backend=drv', 'backend=0']", "disk = ['backend=3,vdev=xvda,target=/x']"),
				"/etc/xen/drv.cfg": pv("drv", "pci = ['01:00.0']", "vif = ['backend=drv2']"), "/etc/xen/drv2.cfg": pv("other")},
			settings: "XENDOMAINS_SAVE=/var/lib/xen/save\nXENDOMAINS_RESTORE=true\n",
			want: []string{"[guest.web]\nconfig = \"/etc/xen/web.cfg\"\n# inferred: vif backend=drv\ndepends_on = [\"drv\"]\n",
				"# Not in /etc/xen/auto, but serves devices of guests that are: started whenever they are.\n[guest.drv]\nconfig = \"/etc/xen/drv.cfg\"\nautostart = false\n# inferred: vif backend=drv2\ndepends_on = [\"drv2\"]\n# pci = 01:00.0",
				"[guest.drv2]\nconfig = \"/etc/xen/drv2.cfg\"\nautostart = false\n"},
			warn: []string{"guest web: its xl config /etc/xen/web.cfg says disk backend=3, a domain id",
				`guest drv2: serves devices of drv but is not in /etc/xen/auto, and /etc/xen/drv2.cfg, where it was looked for, says name = "other"`}},
		{name: "save: PCI passthrough is shut down", files: plain,
			settings: "XENDOMAINS_SAVE=/var/lib/xen/save\nXENDOMAINS_RESTORE=true\nXENDOMAINS_AUTO_ONLY=true\nXENDOMAINS_SHUTDOWN_ALL=\"--all --wait\"\n",
			want: []string{"stop_action = \"save\"\n", "[guest.Domain-N]\nconfig = \"/etc/xen/Domain-N.cfg\"\n# pci = 00:19.0 (/etc/xen/Domain-N.cfg:4): xl cannot save or migrate a\n# domain with PCI passthrough, so a stop shuts it down.\nstop_action = \"shutdown\"\n",
				"undeclared = \"stop-first\""},
			nowarn: true},
		{name: "save without restore boots fresh", files: plain, settings: "XENDOMAINS_SAVE=/var/lib/xen/save\nXENDOMAINS_RESTORE=false\n",
			want: []string{"[defaults]\n# Neither migrated nor saved", "stop_action = \"shutdown\"\n"}, not: []string{"pci = "},
			warn: []string{`f:1: XENDOMAINS_SAVE="/var/lib/xen/save" with XENDOMAINS_RESTORE "false": xendomains saved the guests at shutdown but booted them fresh`}},
		{name: "migrate", files: with(plain, "/etc/xen/auto/fs", "->../fs.cfg", "/etc/xen/fs.cfg", pv("fs"), "/etc/xen/auto/app", "->../app.cfg", "/etc/xen/app.cfg", pv("app", "disk=['backend=fs,vdev=xvda,target=/x']")),
			settings: "XENDOMAINS_MIGRATE=\"host2 --live\"\nXENDOMAINS_AUTO_ONLY=true\nXENDOMAINS_SHUTDOWN_ALL=\"\"\n",
			want: []string{"XENDOMAINS_MIGRATE=\"host2 --live\": at host shutdown each guest is migrated to host2", "--live: xl migrates live anyway",
				"stop_action = \"migrate\"\nmigrate_to = \"host2\"\n", "undeclared = \"leave\"", "[guest.Domain-N]\nconfig = \"/etc/xen/Domain-N.cfg\"\n# pci = 00:19.0"},
			warn: []string{"XENDOMAINS_MIGRATE: app has devices served by fs (backend=): xl migrate recreates them on host2 with the same backend=, so host2 must already run a domain named fs; xenorder migrates or shuts down fs only once they are gone",
				"XENDOMAINS_MIGRATE: web has devices served by Domain-N"},
			// A backend of this host goes after its frontends.
			tiers: [][]string{{"app", "web"}, {"Domain-N", "fs"}}},
		{name: "migrate with ssh options", files: plain, settings: "XENDOMAINS_MIGRATE=\"-s ssh2 --debug -ep host2 -Cx.cfg extra\"\nXENDOMAINS_SAVE=/s\n",
			want: []string{"migrate_to = \"host2\"\n"},
			warn: []string{`f:1: XENDOMAINS_MIGRATE="-s ssh2 --debug -ep host2 -Cx.cfg extra": xenorder runs xl migrate NAME host2 with no options, so -s ssh2, --debug, -ep, -Cx.cfg are not carried over; xl reaches host2 with ` + "`ssh host2`: put what -s \"ssh2\" changes (port, user, key) in root's ~/.ssh/config under Host host2",
				"the words extra after host2", `f:2: XENDOMAINS_SAVE="/s": xendomains saved a guest whose migration failed; xenorder shuts it down instead`}},
		{name: "blank migrate is unset", files: plain, settings: "XENDOMAINS_MIGRATE=\" \"\n",
			want: []string{"stop_action = \"shutdown\"\n", `XENDOMAINS_MIGRATE=" ": blank, read as unset: no migration.`}, not: []string{"migrate_to"}, nowarn: true},
		{name: "migrate with no host", files: plain, settings: "XENDOMAINS_MIGRATE=--live\n",
			want: []string{"stop_action = \"shutdown\"\n"}, warn: []string{`XENDOMAINS_MIGRATE="--live" names no host`}},
		{name: "everything else", files: plain,
			settings: "XENDOMAINS_SYSRQ=\"s e i u o\"\nXENDOMAINS_USLEEP=1200000\nXENDOMAINS_CREATE_USLEEP=2500000\nXENDOMAINS_SHUTDOWN=\"\"\nXENDOMAINS_SHUTDOWN_ALL=\"--all --wait -x\"\nXENDOMAINS_FOO=1\nXENDOMAINS_AUTO_ONLY=false\n",
			warn: []string{`f:1: XENDOMAINS_SYSRQ="s e i u o": xendomains sent each guest these SysRq keys`, "nor for XENDOMAINS_USLEEP=1200000",
				"f:3: XENDOMAINS_CREATE_USLEEP=2500000: xendomains paused 2.5s after each create", `f:4: XENDOMAINS_SHUTDOWN="": `,
				`f:5: XENDOMAINS_SHUTDOWN_ALL="--all --wait -x": -x not carried over`, `f:6: XENDOMAINS_FOO="1": not a setting import knows`},
			want: []string{"XENDOMAINS_AUTO_ONLY=false, XENDOMAINS_SHUTDOWN_ALL=\"--all --wait -x\": xendomains stopped every domain alike", "undeclared = \"stop-first\""}},
		{name: "settings that change nothing", files: plain,
			settings: "XENDOMAINS_SYSRQ=\nXENDOMAINS_USLEEP=100000\nXENDOMAINS_CREATE_USLEEP=0\nXENDOMAINS_SHUTDOWN=\"--wait\"\nXENDOMAINS_RESTORE=true\n",
			want: []string{"XENDOMAINS_CREATE_USLEEP=0: no pause", `XENDOMAINS_SYSRQ="": no SysRq keys`, "XENDOMAINS_USLEEP=100000: paces XENDOMAINS_SYSRQ",
				`XENDOMAINS_SHUTDOWN="--wait": xenorder shuts a guest down and waits`, "XENDOMAINS_RESTORE=true: no XENDOMAINS_SAVE, nothing to restore."},
			nowarn: true},
		{name: "stop_timeout: one tier", files: plain, settings: "XENDOMAINS_STOP_MAXWAIT=120\n", want: []string{"2 tiers × 60s = 120s", "stop_timeout = \"60s\""}, nowarn: true},
		{name: "stop_timeout: a short share", files: numbered(), settings: "XENDOMAINS_STOP_MAXWAIT=90\n", want: []string{"stop_timeout = \"22s\""},
			warn: []string{"f:1: XENDOMAINS_STOP_MAXWAIT=90 shared by 4 stop tiers leaves each guest 22s"}},
		{name: "stop_timeout: no limit", files: plain, settings: "XENDOMAINS_STOP_MAXWAIT=0\n", not: []string{"stop_timeout ="},
			warn: []string{"f:1: XENDOMAINS_STOP_MAXWAIT=0: xendomains waited without a limit"}},
		{name: "stop_timeout: not a number", files: plain, settings: "XENDOMAINS_STOP_MAXWAIT=5m\n", not: []string{"stop_timeout ="},
			warn: []string{`f:1: XENDOMAINS_STOP_MAXWAIT="5m" is not a number of seconds`}},
		{name: "saved images", files: with(plain, "/srv/save/web", image, "/srv/save/notes", "not an image", "/srv/save/old", image,
			"/var/lib/xen/save/Domain-N", image), settings: "XENDOMAINS_SAVE=/srv/save\nXENDOMAINS_RESTORE=true\n",
			want: []string{"# /etc/xen/auto/web.cfg\n# xendomains' saved image /srv/save/web is still there: see the warnings\n# above.\n[guest.web]"},
			not:  []string{"notes"},
			warn: []string{"/srv/save/web: an image xendomains saved of web and has not restored. A plain xenorder start boots web fresh and leaves the image: if web is not running, restore it with `xenorder restore web /srv/save/web`",
				"/srv/save/old: an image xendomains saved of old, which is not in /etc/xen/auto: restore it with `xl restore /srv/save/old`",
				"/var/lib/xen/save/Domain-N: an image xendomains saved of Domain-N"}},
		{name: "saved images after XENDOMAINS_SAVE was emptied", files: with(plain, "/var/lib/xen/save/web", image), settings: "XENDOMAINS_SAVE=\"\"\n",
			warn: []string{"/var/lib/xen/save/web: an image xendomains saved of web"}},
		{name: "settings the shell reads otherwise", files: plain, settings: "XENDOMAINS_SAVE=$LIB/save\n",
			warn: []string{"f:1: XENDOMAINS_SAVE: it uses shell expansion"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeRoot(t, root, tt.files)
			r, err := Import(Options{Root: root, Settings: ParseSettings("f", []byte(tt.settings))})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Config, w) && !strings.Contains(unwrap(r.Config), unwrap(w)) {
					t.Errorf("no %q in\n%s", w, r.Config)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(r.Config, w) {
					t.Errorf("%q in\n%s", w, r.Config)
				}
			}
			for _, w := range tt.warn {
				if !slices.ContainsFunc(r.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no warning %q in\n%s", w, strings.Join(r.Warnings, "\n"))
				}
				// ... and in the config's comments, which outlive the run.
				if !strings.Contains(unwrap(r.Config), strings.Join(strings.Fields(w), " ")) {
					t.Errorf("warning %q is not in the config's comments:\n%s", w, r.Config)
				}
			}
			if tt.nowarn && len(r.Warnings) > 0 {
				t.Errorf("warnings:\n%s", strings.Join(r.Warnings, "\n"))
			}
			// The config is one xenorder takes: valid TOML, known
			// names, no cycle.
			cfg, err := config.Parse("/etc/xen/xenorder.toml", []byte(r.Config))
			if err != nil {
				t.Fatalf("%v\n%s", err, r.Config)
			}
			if tt.tiers != nil {
				if got := cfg.Graph.StopTiers(cfg.Names()); !reflect.DeepEqual(got, tt.tiers) {
					t.Errorf("stop tiers %q, want %q", got, tt.tiers)
				}
			}
		})
	}
}

// TestImportNeverDropsASetting: every xendomains setting, set to something
// other than its default, is named in the config or in a warning.
func TestImportNeverDropsASetting(t *testing.T) {
	root := t.TempDir()
	writeRoot(t, root, map[string]string{"/etc/xen/auto/a": pv("a")})
	for _, s := range []string{"XENDOMAINS_AUTO=/etc/xen/auto", "XENDOMAINS_AUTO_ONLY=true", "XENDOMAINS_CREATE_USLEEP=1000",
		"XENDOMAINS_MIGRATE=host2", "XENDOMAINS_MIGRATE=\" \"", "XENDOMAINS_RESTORE=false", "XENDOMAINS_SAVE=/x", "XENDOMAINS_SHUTDOWN=-F",
		"XENDOMAINS_SHUTDOWN_ALL=-a", "XENDOMAINS_STOP_MAXWAIT=60", "XENDOMAINS_SYSRQ=s", "XENDOMAINS_USLEEP=1", "XENDOMAINS_NEW=1"} {
		r, err := Import(Options{Root: root, Settings: ParseSettings("f", []byte(s+"\n"))})
		if err != nil {
			t.Fatal(err)
		}
		name, _, _ := strings.Cut(s, "=")
		all := r.Config + strings.Join(r.Warnings, "\n")
		if !strings.Contains(all, name+"=") {
			t.Errorf("%s: not named:\n%s", s, all)
		}
	}
}

// unwrap joins comment lines into one line of words.
func unwrap(cfg string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(cfg, "\n#", " ")), " ")
}

func TestImportErrors(t *testing.T) {
	tests := []struct {
		name, settings, auto string
		files                map[string]string
		want                 string
	}{
		{"no auto folder", "", "", nil, "import: the auto folder: /etc/xen/auto: no such file or directory (name it with --auto-dir, or XENDOMAINS_AUTO in f)"},
		{"XENDOMAINS_AUTO empty", "XENDOMAINS_AUTO=\n", "", map[string]string{"/etc/xen/auto/a": pv("a")}, "import: f:1: XENDOMAINS_AUTO is empty: xendomains starts no guest at boot"},
		{"nothing to import", "", "", map[string]string{"/etc/xen/auto/README": "x y"}, "import: no xl config to import in /etc/xen/auto"},
		{"relative under a root", "", "auto", nil, `the auto folder "auto" is not an absolute path`},
		{"XENDOMAINS_AUTO elsewhere", "XENDOMAINS_AUTO=/srv/auto\n", "", map[string]string{"/etc/xen/auto/a": pv("a")}, "/srv/auto: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeRoot(t, root, tt.files)
			_, err := Import(Options{Root: root, AutoDir: tt.auto, Settings: ParseSettings("f", []byte(tt.settings))})
			var ue *UsageError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errorsAs(err, &ue) {
				t.Errorf("err %v, want a UsageError with %q", err, tt.want)
			}
		})
	}
}

func errorsAs(err error, ue **UsageError) bool {
	u, ok := err.(*UsageError)
	*ue = u
	return ok
}

func TestResolveInsideRoot(t *testing.T) {
	root := t.TempDir()
	writeRoot(t, root, map[string]string{
		"/etc/xen/real.cfg": "x", "/etc/xen/auto/abs": "->/etc/xen/real.cfg", "/etc/xen/auto/rel": "->../real.cfg",
		"/etc/xen/auto/escape": "->../../../../../../etc/xen/real.cfg", "/etc/xenlink": "->xen", "/etc/xen/auto/via": "->/etc/xenlink/real.cfg",
	})
	for _, p := range []string{"/etc/xen/auto/abs", "/etc/xen/auto/rel", "/etc/xen/auto/escape", "/etc/xen/auto/via"} {
		got, err := fsRoot{dir: root}.resolve(p)
		if err != nil || got != "/etc/xen/real.cfg" {
			t.Errorf("%s: %q %v", p, got, err)
		}
	}
}
