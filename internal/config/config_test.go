package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/graph"
)

const seedTOML = `# the seed host
[defaults]
config_dir   = "xl"
max_parallel = 3

[guest.Domain-N]
config = "/etc/xen/Domain-N.cfg"

[guest.opnsense]
depends_on   = ["Domain-N"]
stop_timeout = "5m"

[guest.fileserver]
depends_on = ["opnsense"]

[guest.backup]
autostart = false

[guest.web]
depends_on = ["fileserver"]
after      = ["backup"]
`

func TestParseSeed(t *testing.T) {
	cfg, err := Parse("/etc/xen/xenorder.toml", []byte(seedTOML))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Names(), []string{"Domain-N", "backup", "fileserver", "opnsense", "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("names %v, want %v", got, want)
	}
	d := cfg.Defaults
	if d.MaxParallel != 3 || d.StartTimeout != DefaultStartTimeout || d.StopTimeout != DefaultStopTimeout ||
		d.XL != "xl" || d.ConfigDir != "/etc/xen/xl" || d.StateDir != DefaultStateDir {
		t.Errorf("defaults %+v", d)
	}
	tests := []struct {
		guest     string
		xlcfg     string
		autostart bool
		stop      time.Duration
		line      int
	}{
		{"Domain-N", "/etc/xen/Domain-N.cfg", true, 3 * time.Minute, 6},
		{"opnsense", "/etc/xen/xl/opnsense.cfg", true, 5 * time.Minute, 9},
		{"backup", "/etc/xen/xl/backup.cfg", false, 3 * time.Minute, 16},
	}
	for _, tt := range tests {
		g := cfg.Guests[tt.guest]
		if g.XLConfig != tt.xlcfg || g.Autostart != tt.autostart || g.StopTimeout != tt.stop || g.Line != tt.line {
			t.Errorf("%s: %+v", tt.guest, g)
		}
	}
	deps := cfg.Graph.Dependencies("web")
	want := []graph.Edge{{To: "backup", Kind: graph.Soft, Why: "after"}, {To: "fileserver", Kind: graph.Hard, Why: "depends_on"}}
	if !reflect.DeepEqual(deps, want) {
		t.Errorf("web deps %+v", deps)
	}
}

func TestParseErrors(t *testing.T) {
	const file = "/etc/xen/xenorder.toml"
	tests := []struct {
		name string
		src  string
		want []string // each a whole problem line
	}{
		{"unknown guest with suggestion", `
[guest.fileserver]
[guest.web]
depends_on = ["filesrver"]`, []string{
			file + `:4: guest web: depends_on: unknown guest "filesrver" (did you mean "fileserver"?)`}},
		{"unknown guest without suggestion", `
[guest.web]
after = ["nas"]`, []string{
			file + `:3: guest web: after: unknown guest "nas" (declare it as [guest.nas] or [external.nas])`}},
		{"typo in a key", `
[guest.web]
depend_on = ["x"]`, []string{
			file + `:3: guest web: depend_on: unknown key (did you mean "depends_on"?)`}},
		{"unknown defaults key", `
[defaults]
colour = "blue"`, []string{
			file + `:3: defaults: colour: unknown key (known: xl, config_dir, start_timeout, stop_timeout, max_parallel, state_dir, poll_interval, probe_interval, console_log_dir, xenstore_read, xenstore_watch, xenstored_socket, undeclared, lock_file, stop_action, migrate_to, acpi_fallback, save_timeout, restore_fallback, infer, pci_assignable, memory_admission, xl_conf)`}},
		{"relative xenstored socket", `
[defaults]
xenstored_socket = "run/socket"`, []string{
			file + `:3: defaults: xenstored_socket: "run/socket" must be an absolute path (or "" to turn it off)`}},
		{"self dependency", `
[guest.a]
depends_on = ["a"]`, []string{
			file + `:3: guest a: depends_on: a guest cannot depend on itself`}},
		{"bad and zero durations, zero limit", `
[defaults]
max_parallel = 0
stop_timeout = "0s"
[guest.a]
start_timeout = "5 mins"`, []string{
			file + `:3: defaults: max_parallel: 0 must be at least 1`,
			file + `:4: defaults: stop_timeout: 0s must be greater than zero`,
			file + `:6: guest a: start_timeout: "5 mins" is not a duration: unknown unit "mins"; the units are ms, s or sec, m or min, h or hr, d, w (and their long forms); write a duration such as "90s", "5min", "1h30m" or "1h 30min"`}},
		{"negative duration", `
[guest.a]
stop_timeout = "-1m"`, []string{
			file + `:3: guest a: stop_timeout: -1m must be greater than zero`}},
		{"every cycle, every guest", `
[guest.a]
depends_on = ["b"]
[guest.b]
after = ["a"]
[guest.x]
depends_on = ["y"]
[guest.y]
depends_on = ["z"]
[guest.z]
depends_on = ["x"]
[guest.ok]
depends_on = ["a"]`, []string{
			file + `:2: guest a: dependency cycle: a → b → a (every guest on it: a, b; remove one depends_on or after)`,
			file + `:6: guest x: dependency cycle: x → y → z → x (every guest on it: x, y, z; remove one depends_on or after)`}},
		{"duplicate guest", `
[guest.a]
[guest.a]`, []string{
			file + `:3: Key 'guest.a' has already been defined`}},
		{"listed twice", `
[guest.a]
[guest.b]
depends_on = ["a", "a"]`, []string{
			file + `:4: guest b: depends_on: "a" is listed twice`}},
		{"wrong type", `
[guest.b]
depends_on = "a"`, []string{
			file + `:3: guest.b.depends_on: incompatible types: TOML value has type string; destination has type slice`}},
		{"probe with two kinds", `
[guest.a]
[[guest.a.ready]]
tcp = "10.0.0.1:22"
[[guest.a.ready]]
tcp = "10.0.0.1:22"
http = "http://10.0.0.1/"`, []string{
			file + `:5: guest a: ready[1]: one probe per [[ready]] table, found tcp and http: split them into several tables`}},
		{"probe errors", `
[guest.a]
[[guest.a.ready]]
tcp = "nohost"
[[guest.a.ready]]
delay = "soon"
[[guest.a.ready]]
interval = "1s"
[[guest.a.ready]]
console = "login:"
attempt_timeout = "0s"
[[guest.a.ready]]
tcpp = "x:1"`, []string{
			file + `:3: guest a: ready[0]: tcp probe`,
			file + `:5: guest a: ready[1].delay: "soon" is not a duration`,
			file + `:7: guest a: ready[2]: a probe needs one of tcp, exec, xenstore, http, console, delay`,
			file + `:9: guest a: ready[3].attempt_timeout: 0s must be greater than zero`,
			file + `:12: guest a: ready[4]: a probe needs one of`,
			file + `:13: guest a: ready.tcpp: unknown key (did you mean "tcp"?)`}},
		{"external misuse", `
[external.nas]
autostart = false
[[external.nas.ready]]
xenstore = "data/ready"
[external.bare]
[guest.nas]`, []string{
			file + `:2: external nas: "nas" is declared both as [guest.nas] and [external.nas]`,
			file + `:3: external nas: autostart: an external node is never started or stopped by xenorder; remove autostart`,
			file + `:4: external nas: ready[0]: an external node has no domain: use tcp, http, exec or delay, not xenstore`,
			file + `:6: external bare: an external node needs at least one [[external.bare.ready]] probe`}},
		{"stop policy", `
[defaults]
stop_action = "hibernate"
undeclared = "ignore"
[guest.a]
stop_action = "migrate"
[guest.b]
restore_fallback = "pray"
save_timeout = "0s"`, []string{
			file + `:3: defaults: stop_action: "hibernate" is not one of shutdown, save, migrate, destroy`,
			file + `:4: defaults: undeclared: "ignore" is not one of "stop-first", "leave"`,
			file + `:6: guest a: stop_action: migrate needs migrate_to = "host"`,
			file + `:8: guest b: restore_fallback: "pray" is not one of "create", "fail"`,
			file + `:9: guest b: save_timeout: 0s must be greater than zero`}},
		{"Domain-0", `
[guest.Domain-0]`, []string{
			file + `:2: guest Domain-0: Domain-0 is dom0 itself and cannot be managed as a guest`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(file, []byte(tt.src))
			if cfg != nil {
				t.Fatalf("config returned despite errors")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			got := strings.Split(ce.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems:\n%s\nwant:\n%s", len(got), ce, strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestProbesAndExternals(t *testing.T) {
	src := `
[defaults]
probe_interval = "3s"
console_log_dir = "console"
[external.nas]
[[external.nas.ready]]
tcp = "192.168.2.30:2049"
[guest.web]
depends_on = ["nas"]
[[guest.web.ready]]
http = "http://10.0.0.5/healthz"
status = 204
interval = "1s"
[[guest.web.ready]]
xenstore = "data/ready"
equals = "1"
[[guest.web.ready]]
console = "login:"
attempt_timeout = "2s"
`
	cfg, err := Parse("/etc/xen/xenorder.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	nas, web := cfg.Guests["nas"], cfg.Guests["web"]
	if !nas.External || nas.Kind() != "external" || web.External || len(nas.Probes) != 1 || nas.Probes[0].String() != "tcp 192.168.2.30:2049" {
		t.Errorf("nas %+v", nas)
	}
	want := []struct {
		s        string
		interval time.Duration
		attempt  time.Duration
		line     int
	}{
		{"http http://10.0.0.5/healthz status 204", time.Second, DefaultAttemptTimeout, 10},
		{"xenstore data/ready = 1", 3 * time.Second, DefaultAttemptTimeout, 14},
		{`console "login:"`, 3 * time.Second, 2 * time.Second, 17},
	}
	if len(web.Probes) != len(want) {
		t.Fatalf("web probes %v", web.Probes)
	}
	for i, w := range want {
		p := web.Probes[i]
		if p.String() != w.s || p.Interval != w.interval || p.AttemptTimeout != w.attempt || p.Line != w.line {
			t.Errorf("probe %d: %s every %s, attempt %s, line %d; want %+v", i, p, p.Interval, p.AttemptTimeout, p.Line, w)
		}
	}
	if cfg.Defaults.ConsoleLogDir != "/etc/xen/console" {
		t.Errorf("console_log_dir %s", cfg.Defaults.ConsoleLogDir)
	}
	if deps := cfg.Graph.Dependencies("web"); len(deps) != 1 || deps[0].To != "nas" {
		t.Errorf("web deps %v", deps)
	}
}

func TestStopPolicyInherits(t *testing.T) {
	cfg, err := Parse("/etc/xen/xenorder.toml", []byte(`
[defaults]
stop_action = "save"
save_timeout = "20m"
[guest.a]
[guest.b]
stop_action = "migrate"
migrate_to = "host2"
acpi_fallback = false
[guest.c]
stop_action = "destroy"
restore_fallback = "fail"
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		guest string
		want  StopPolicy
	}{
		{"a", StopPolicy{Action: "save", ACPIFallback: true, SaveTimeout: 20 * time.Minute, RestoreFallback: "create", ActionLine: 3, ActionInDefaults: true}},
		{"b", StopPolicy{Action: "migrate", MigrateTo: "host2", ACPIFallback: false, SaveTimeout: 20 * time.Minute, RestoreFallback: "create", ActionLine: 7}},
		{"c", StopPolicy{Action: "destroy", ACPIFallback: true, SaveTimeout: 20 * time.Minute, RestoreFallback: "fail", ActionLine: 11}},
	}
	for _, tt := range tests {
		if got := cfg.Guests[tt.guest].Stop; got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.guest, got, tt.want)
		}
	}
	if cfg.Defaults.Undeclared != "stop-first" || cfg.Defaults.LockFile != DefaultLockFile {
		t.Errorf("defaults %+v", cfg.Defaults)
	}
}

func TestLoadAndCheckFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.cfg"), []byte("name='a'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	toml := filepath.Join(dir, "x.toml")
	os.WriteFile(toml, []byte("[defaults]\nconfig_dir = \".\"\n[guest.a]\n[guest.b]\n"), 0o644)
	cfg, err := Load(toml)
	if err != nil {
		t.Fatal(err)
	}
	ps := cfg.CheckFiles()
	if len(ps) != 1 || ps[0].Guest != "b" || ps[0].Line != 4 ||
		!strings.Contains(ps[0].String(), filepath.Join(dir, "b.cfg")+": no such file or directory") {
		t.Errorf("problems %v", ps)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "cannot read config") {
		t.Errorf("missing file: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "fw.cfg"), []byte("name = 'fw'\ntype = 'hvm'\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pv.cfg"), []byte("name = 'pv'\ntype = 'pvh'\n"), 0o644)
	src := "[defaults]\nconfig_dir = \".\"\nconsole_log_dir = \".\"\n[guest.fw]\n[[guest.fw.ready]]\nconsole = \"login:\"\n[guest.pv]\n[[guest.pv.ready]]\nconsole = \"login:\"\n"
	toml := filepath.Join(dir, "x.toml")
	os.WriteFile(toml, []byte(src), 0o644)
	cfg, err := Load(toml)
	if err != nil {
		t.Fatal(err)
	}
	off := filepath.Join(dir, "xencommons")
	on := filepath.Join(dir, "xen")
	os.WriteFile(off, []byte("#XENCONSOLED_TRACE=guest\nXENCONSOLED_TRACE=none\n"), 0o644)
	os.WriteFile(on, []byte("export XENCONSOLED_TRACE=\"guest\"\n"), 0o644)
	debOn := filepath.Join(dir, "debian-on")
	debOff := filepath.Join(dir, "debian-off")
	// Debian's /etc/default/xen: the TRACE line is only a comment there.
	os.WriteFile(debOn, []byte("#XENCONSOLED_TRACE=[none|guest|hv|all]\nXENCONSOLED_ARGS=\"--log=guest --timestamp=all\"\n"), 0o644)
	os.WriteFile(debOff, []byte("XENCONSOLED_ARGS='--timestamp=all --log=none'\n"), 0o644)
	tests := []struct {
		name  string
		files []string
		want  []string
	}{
		{"trace on", []string{off, on}, []string{"guest fw: console probe on an HVM guest"}},
		{"trace none", []string{off}, []string{"guest fw: console probe on an HVM guest", `console probes (fw, pv) need xenconsoled to log guest consoles, but XENCONSOLED_TRACE is "none" in ` + off}},
		{"no files", []string{filepath.Join(dir, "absent")}, []string{"guest fw:", "neither XENCONSOLED_ARGS nor XENCONSOLED_TRACE asks for it in " + filepath.Join(dir, "absent") + `: on Debian set XENCONSOLED_ARGS="--log=guest"`}},
		{"debian args on", []string{off, debOn}, []string{"guest fw: console probe on an HVM guest"}},
		{"debian args off", []string{debOff}, []string{"guest fw:", "XENCONSOLED_ARGS has --log=none in " + debOff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := cfg.Warnings(tt.files)
			if len(ws) != len(tt.want) {
				t.Fatalf("warnings %q", ws)
			}
			for i := range ws {
				if !strings.Contains(ws[i], tt.want[i]) {
					t.Errorf("warning %q lacks %q", ws[i], tt.want[i])
				}
			}
		})
	}
}

func TestInferFromXLConfigs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "drv.cfg"), []byte("name = 'drv'\npci = [ '00:19.0' ]\nmemory = 512\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "web.cfg"), []byte("name = 'web'\nvif = [ 'bridge=br0,backend=drv' ]\ndisk = [ 'backend=Domain-0,vdev=xvda,target=/x' ]\n"), 0o644)
	for _, infer := range []bool{true, false} {
		toml := filepath.Join(dir, "x.toml")
		os.WriteFile(toml, []byte(fmt.Sprintf("[defaults]\nconfig_dir = \".\"\ninfer = %v\n[guest.drv]\n[guest.web]\n", infer)), 0o644)
		cfg, err := Load(toml)
		if err != nil {
			t.Fatal(err)
		}
		deps := cfg.Graph.Dependencies("web")
		if infer && (len(deps) != 1 || deps[0].To != "drv" || deps[0].Why != "inferred: vif backend=drv") {
			t.Errorf("infer on: %+v", deps)
		}
		if !infer && len(deps) != 0 {
			t.Errorf("infer off: %+v", deps)
		}
		if d := cfg.Guests["drv"]; len(d.PCI) != 1 || d.PCI[0] != "0000:00:19.0" || d.MemoryMiB != 512 || !d.PCIAssignable {
			t.Errorf("drv %+v", d)
		}
	}
}

// TestStopActionWithPCI: xl cannot save or migrate a domain with PCI
// passthrough. check refuses a stop_action that asks for it (naming file,
// line, guest and the fix); every other command takes the config, and a
// stop shuts such a guest down.
func TestStopActionWithPCI(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "drv.cfg"), []byte("name = 'drv'\n\npci = [ '00:19.0' ]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "web.cfg"), []byte("name = 'web'\nvif = [ 'backend=drv' ]\n"), 0o644)
	tests := []struct {
		name, toml string
		action     map[string]string // the action a stop applies
		problem    string            // check's, "" for none
	}{
		{"save in defaults", "[defaults]\nconfig_dir = \".\"\nstop_action = \"save\"\n[guest.drv]\n[guest.web]\n",
			map[string]string{"drv": "shutdown", "web": "save"},
			`x.toml:4: guest drv: stop_action: "save" from [defaults] (line 3) cannot apply to this guest: its xl config ` + filepath.Join(dir, "drv.cfg") +
				`:3 passes PCI devices through (pci = 0000:00:19.0), and xl cannot save or migrate a domain with PCI passthrough; write stop_action = "shutdown" in [guest.drv] (until then a stop shuts it down)`},
		{"migrate on the guest", "[defaults]\nconfig_dir = \".\"\n[guest.drv]\nmigrate_to = \"h2\"\nstop_action = \"migrate\"\n[guest.web]\n",
			map[string]string{"drv": "shutdown", "web": "shutdown"},
			`x.toml:5: guest drv: stop_action: "migrate" cannot apply to this guest: its xl config`},
		{"shutdown written for it", "[defaults]\nconfig_dir = \".\"\nstop_action = \"save\"\n[guest.drv]\nstop_action = \"shutdown\"\n[guest.web]\n",
			map[string]string{"drv": "shutdown", "web": "save"}, ""},
		{"destroy", "[defaults]\nconfig_dir = \".\"\n[guest.drv]\nstop_action = \"destroy\"\n[guest.web]\n",
			map[string]string{"drv": "destroy", "web": "shutdown"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toml := filepath.Join(dir, "x.toml")
			os.WriteFile(toml, []byte(tt.toml), 0o644)
			cfg, err := Load(toml)
			if err != nil {
				t.Fatal(err)
			}
			for g, a := range tt.action {
				if got := cfg.Guests[g].Stop.Action; got != a {
					t.Errorf("%s: a stop would %s, want %s", g, got, a)
				}
			}
			_, err = Check(toml)
			switch {
			case tt.problem == "" && err != nil:
				t.Errorf("check: %v", err)
			case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
				t.Errorf("check: %v\nwant %s", err, tt.problem)
			}
		})
	}
}

func TestWarningMissingConsoleLogDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pv.cfg"), []byte("name = 'pv'\ntype = 'pvh'\n"), 0o644)
	missing := filepath.Join(dir, "console")
	src := "[defaults]\nconfig_dir = \".\"\nconsole_log_dir = \"" + missing + "\"\n[guest.pv]\n[[guest.pv.ready]]\nconsole = \"login:\"\n"
	toml := filepath.Join(dir, "x.toml")
	os.WriteFile(toml, []byte(src), 0o644)
	cfg, err := Load(toml)
	if err != nil {
		t.Fatal(err)
	}
	on := filepath.Join(dir, "xen")
	os.WriteFile(on, []byte("XENCONSOLED_ARGS=\"--log=guest\"\n"), 0o644)
	ws := cfg.Warnings([]string{on})
	if len(ws) != 1 || !strings.Contains(ws[0], "console probes (pv) read "+missing+", which is not a folder") || !strings.Contains(ws[0], "mkdir -p "+missing) {
		t.Fatalf("warnings %q, want one about the missing %s", ws, missing)
	}
	if err := os.Mkdir(missing, 0o755); err != nil {
		t.Fatal(err)
	}
	if ws := cfg.Warnings([]string{on}); len(ws) != 0 {
		t.Fatalf("warnings %q with the folder there", ws)
	}
}
