package xlsim

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/xlcfg"
)

func TestYajlGen(t *testing.T) {
	got := yajlGen(jarr{
		jobj{{"a", 1}, {"s", `x/"y"`}, {"e", jobj{}}, {"l", jarr{}}, {"n", jobj{{"u", uint32(1<<32 - 1)}, {"l", jarr{0, 1}}}}},
	})
	want := `[
    {
        "a": 1,
        "s": "x/\"y\"",
        "e": {

        },
        "l": [

        ],
        "n": {
            "u": 4294967295,
            "l": [
                0,
                1
            ]
        }
    }
]
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		d    Domain
		want string
	}{
		{Domain{ID: 0, Phase: phaseRunning}, "r-----"},
		{Domain{ID: 3, Phase: phaseBuilding}, "--p---"},
		{Domain{ID: 3, Phase: phaseRunning}, "-b----"},
		{Domain{ID: 3, Phase: phaseRunning, Paused: true}, "--p---"},
		{Domain{ID: 3, Phase: phaseShutdown, ShutdownReason: reasonPoweroff}, "---s--"},
		{Domain{ID: 3, Phase: phaseShutdown, ShutdownReason: reasonCrash}, "---sc-"},
		{Domain{ID: 3, Phase: phaseShutdown, ShutdownReason: reasonReboot}, "---sr-"},
		{Domain{ID: 3, Phase: phaseSuspended, ShutdownReason: reasonSuspend}, "---ss-"},
		{Domain{ID: 3, Phase: phaseShutdown, ShutdownReason: 9}, "---s?-"},
	}
	for _, tc := range tests {
		if got := tc.d.flags(); got != tc.want {
			t.Errorf("%+v: flags %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestParseDisk(t *testing.T) {
	tests := []struct {
		spec string
		want Disk
	}{
		{"phy:/dev/vg/web,xvda,w", Disk{PdevPath: "/dev/vg/web", Vdev: "xvda", Format: "raw", Readwrite: true}},
		{"file:/x.img,xvdb,r,backend=Domain-N", Disk{BackendDomname: "Domain-N", PdevPath: "/x.img", Vdev: "xvdb", Format: "raw"}},
		{"tap:qcow2:/img/a.qcow2,xvdc,w", Disk{PdevPath: "/img/a.qcow2", Vdev: "xvdc", Format: "qcow2", Readwrite: true}},
		{"format=raw, vdev=xvda, access=ro, backend=dd, target=/dev/a,b", Disk{BackendDomname: "dd", PdevPath: "/dev/a,b", Vdev: "xvda", Format: "raw"}},
		{"/dev/sr0,hdc:cdrom,r", Disk{PdevPath: "/dev/sr0", Vdev: "hdc", Format: "raw"}},
		{"/img/d.vhd,vhd,xvde,rw", Disk{PdevPath: "/img/d.vhd", Vdev: "xvde", Format: "vhd", Readwrite: true}},
	}
	for _, tc := range tests {
		if got := parseDisk(tc.spec); got != tc.want {
			t.Errorf("parseDisk(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}

func TestParseVif(t *testing.T) {
	got := parseVif("bridge=br_lan, vifname=vif_web,backend=Domain-N,mac=00:16:3e:01:02:03,type=vif,junk", 2)
	want := Nic{BackendDomname: "Domain-N", Devid: 2, Mac: "00:16:3e:01:02:03", Bridge: "br_lan", Ifname: "vif_web", Nictype: "vif"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestSanitise(t *testing.T) {
	if got := sanitise("a b\\c\td\ne\x01\x1b~"); got != `a b\\c\td\ne\001\x1b~` {
		t.Errorf("got %q", got)
	}
}

func TestLookupCommand(t *testing.T) {
	for in, want := range map[string]string{
		"list": "list", "li": "list", "l": "", "sh": "", "shu": "shutdown", "de": "", "des": "destroy",
		"domid": "domid", "dom": "", "cr": "create", "create": "create", "nosuch": "", "info": "info",
	} {
		if got := lookupCommand(in); got != want {
			t.Errorf("lookupCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGetopt(t *testing.T) {
	var out, errb bytes.Buffer
	e := &Env{Stdout: &out, Stderr: &errb}
	opts, operands, rc := e.getopt("shutdown", []string{"web", "-wF", "--all", "x", "--", "-w"}, "awF", map[string]rune{"all": 'a', "wait": 'w'}, 1)
	if rc != -1 || !reflect.DeepEqual(opts, []opt{{'w', ""}, {'F', ""}, {'a', ""}}) || !reflect.DeepEqual(operands, []string{"web", "x", "-w"}) {
		t.Errorf("got %v %q %d", opts, operands, rc)
	}
	opts, _, rc = e.getopt("create", []string{"-fweb.cfg", "-q", "--defconfig=b.cfg", "-f", "c.cfg"}, "Fnqf:pcdeVA", map[string]rune{"defconfig": 'f'}, 0)
	if rc != -1 || !reflect.DeepEqual(opts, []opt{{'f', "web.cfg"}, {'q', ""}, {'f', "b.cfg"}, {'f', "c.cfg"}}) {
		t.Errorf("got %v %d", opts, rc)
	}
	errb.Reset()
	if _, _, rc = e.getopt("list", []string{"-x"}, "lv", nil, 0); rc != 2 || errb.String() != "option `x' not supported.\n" {
		t.Errorf("unknown option: rc %d, %q", rc, errb.String())
	}
	out.Reset()
	if _, _, rc = e.getopt("pause", []string{"-h"}, "", nil, 1); rc != 0 || out.String() != "Usage: xl [-vtTf] pause <Domain>\n\nPause execution of a domain.\n\n" {
		t.Errorf("-h: rc %d, %q", rc, out.String())
	}
	errb.Reset()
	out.Reset()
	if _, _, rc = e.getopt("save", []string{"web"}, "cpD", nil, 2); rc != 2 || errb.String() != "'xl save' requires at least 2 arguments.\n\n" ||
		!strings.HasPrefix(out.String(), "Usage: xl [-vtTf] save [options] <Domain> <CheckpointFile> [<ConfigFile>]\n") {
		t.Errorf("reqargs: rc %d, %q, %q", rc, errb.String(), out.String())
	}
}

func parseCfg(t *testing.T, src string) (*Domain, int, string) {
	t.Helper()
	c, err := xlcfg.Parse("g.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	e := &Env{Stdout: &bytes.Buffer{}, Stderr: &errb}
	d, rc := e.guestFromConfig(c)
	return d, rc, errb.String()
}

func TestGuestFromConfig(t *testing.T) {
	d, rc, msg := parseCfg(t, "name='a'\n")
	if rc != -1 || msg != "" || d.Type != "pv" || d.MemMiB != 128 || d.MaxMemMiB != 128 || d.VCPUs != 1 ||
		d.OnPoweroff != "destroy" || d.OnReboot != "restart" || d.OnCrash != "destroy" ||
		d.B.CreateTime != 200*time.Millisecond || d.B.ShutdownTime != 500*time.Millisecond || d.B.BootTime != 0 ||
		d.B.SaveTime != 300*time.Millisecond || d.B.MigrateTime != 500*time.Millisecond || d.B.MigrateFail || len(d.UUID) != 36 {
		t.Errorf("defaults: %+v rc %d %q", d, rc, msg)
	}
	d, rc, _ = parseCfg(t, `name='w'
type = "h"
memory = 512
maxmem = 1024
vcpus = 2
device_model_stubdomain_override = 1
on_poweroff = "preserve"
xlsim_boot_time = "1.5s"
xlsim_shutdown_time = 2
xlsim_ignore_shutdown = 1
xlsim_needs_acpi = "true"
xlsim_xenstore = "data/x=1"
xlsim_console = ["a", "b"]
uuid = "B612A70E-3FD8-4F89-8125-D9E5E17D1DCE"
`)
	if rc != -1 || d.Type != "hvm" || d.MemMiB != 512 || d.MaxMemMiB != 1024 || d.VCPUs != 2 || !d.WantStub || d.StubMemMiB != 32 ||
		d.OnPoweroff != "preserve" || d.B.BootTime != 1500*time.Millisecond || d.B.ShutdownTime != 2*time.Second ||
		!d.B.IgnoreShutdown || !d.B.NeedsACPI || !reflect.DeepEqual(d.B.Xenstore, []string{"data/x=1"}) ||
		!reflect.DeepEqual(d.B.Console, []string{"a", "b"}) || d.UUID != "b612a70e-3fd8-4f89-8125-d9e5e17d1dce" {
		t.Errorf("full: %+v rc %d", d, rc)
	}
	d, _, _ = parseCfg(t, "name='w'\nbuilder='hvm'\ndevice_model_stubdomain_override=1\ndevice_model_version='qemu-xen'\n")
	if d.Type != "hvm" || d.StubMemMiB != 136 {
		t.Errorf("linux stubdom: %+v", d)
	}
	errs := []struct{ src, msg string }{
		{"memory = 1\n", "Domain name must be specified.\n"},
		{"name='a'\ntype='xen'\n", "Invalid domain type xen.\n"},
		{"name='a'\ntype='pv'\nbuilder='hvm'\n", "Contradicting \"builder\" and \"type\" options specified.\n"},
		{"name='a'\non_crash='explode'\n", "Unknown on_crash action \"explode\" specified\n"},
		{"name='a'\nuuid='nope'\n", "Failed to parse UUID: nope\n"},
		{"name='a'\n\nxlsim_boot_time = 'soon'\n", "xlsim: g.cfg:3: bad xlsim_boot_time \"soon\": time: invalid duration \"soon\"\n"},
		{"name='a'\nxlsim_save_fail = 'maybe'\n", "xlsim: g.cfg:2: bad xlsim_save_fail \"maybe\": not a boolean\n"},
		{"name='a'\nxlsim_migrate_time = '-1s'\n", "xlsim: g.cfg:2: bad xlsim_migrate_time \"-1s\": negative\n"},
		{"name='a'\nxlsim_migrate_fail = ['1']\n", "xlsim: g.cfg:2: bad xlsim_migrate_fail \"\": a list\n"},
	}
	for _, tc := range errs {
		_, rc, msg := parseCfg(t, tc.src)
		if rc != 1 || msg != tc.msg {
			t.Errorf("%q: rc %d, %q; want %q", tc.src, rc, msg, tc.msg)
		}
	}
	// Bad numbers are warned about and left at their defaults, like xl.
	d, rc, msg = parseCfg(t, "name='a'\nmemory='lots'\n")
	if rc != -1 || d.MemMiB != 128 || msg != "g.cfg:2: warning: parameter `memory' is not a valid number\n" {
		t.Errorf("bad memory: %+v %d %q", d, rc, msg)
	}
}

// testSession is a session without the lock, at a chosen instant.
func testSession(t *testing.T, now time.Time) *session {
	dir := t.TempDir()
	return &session{env: &Env{Dir: dir, ConsoleDir: filepath.Join(dir, "console")}, st: newState(now), now: now}
}

func (s *session) addGuest(name string, b Behaviour, at time.Time) *Domain {
	d := &Domain{ID: s.st.NextDomid, Name: name, UUID: newUUID(), Type: "pv", MemMiB: 96, MaxMemMiB: 96, VCPUs: 1,
		OnPoweroff: "destroy", OnReboot: "restart", OnWatchdog: "destroy", OnCrash: "destroy", OnSoftReset: "soft-reset",
		B: b, CreatedAt: at}
	s.st.NextDomid++
	s.st.add(d)
	s.built(d, at)
	return d
}

func evString(evs []Event, t0 time.Time) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf("%v:%s/%d/%s", e.T.Sub(t0), e.Domain, e.Domid, e.Ev))
	}
	return strings.Join(parts, " ")
}

func TestAdvanceInTimeOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := testSession(t, t0)
	a := s.addGuest("a", Behaviour{BootTime: 3 * time.Second, CrashAfter: 5 * time.Second, Xenstore: []string{"data/ready=1"}}, t0)
	s.addGuest("b", Behaviour{BootTime: time.Second, RebootAfter: 2 * time.Second}, t0)
	a.OnCrash = "preserve"
	s.now = t0.Add(10 * time.Second)
	s.advance()
	want := "3s:a/1/booted 5s:a/1/crashed 1s:b/2/booted 2s:b/2/gone 2s:b/3/rebooted 3s:b/3/booted"
	// Events are appended as applied, which is in time order.
	got := evString(s.events, t0)
	wantOrdered := "1s:b/2/booted 2s:b/2/gone 2s:b/3/rebooted 3s:a/1/booted 3s:b/3/booted 5s:a/1/crashed"
	if got != wantOrdered {
		t.Errorf("events\n got %s\nwant %s (as a set: %s)", got, wantOrdered, want)
	}
	if a.flags() != "---sc-" || a.XS.kv()["data/ready"] != "1" || a.XS.kv()["control/feature-poweroff"] != "1" {
		t.Errorf("a: %s %v", a.flags(), a.XS.kv())
	}
	if b := s.st.byName("b"); b.ID != 3 || !b.Booted || !b.RebootDue.IsZero() || b.XS.kv()["domid"] != "3" {
		t.Errorf("b: %+v", b)
	}
	if s.st.Gone[2] != (GoneInfo{Why: "shutdown", Reason: reasonReboot}) {
		t.Errorf("gone: %+v", s.st.Gone)
	}
}

func TestShutdownActions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		action, flags string
		newID         int
	}{
		{"destroy", "", 0},
		{"preserve", "---s--", 1},
		{"restart", "-b----", 2},
	} {
		s := testSession(t, t0)
		d := s.addGuest("g", Behaviour{ShutdownTime: time.Second}, t0)
		d.OnPoweroff = tc.action
		s.advance()
		s.ack(d, t0)
		s.now = t0.Add(time.Second)
		s.advance()
		g := s.st.byName("g")
		switch {
		case tc.newID == 0 && g != nil:
			t.Errorf("%s: still there", tc.action)
		case tc.newID != 0 && (g == nil || g.ID != tc.newID || g.flags() != tc.flags):
			t.Errorf("%s: %+v", tc.action, g)
		}
	}
}

func TestCPUTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &Domain{ID: 5, Phase: phaseRunning}
	d.syncCPU(t0)
	if c := d.cpuAt(t0.Add(100 * time.Second)); c != 2 {
		t.Errorf("cpu %v", c)
	}
	d.Paused = true
	d.syncCPU(t0.Add(100 * time.Second))
	if c := d.cpuAt(t0.Add(200 * time.Second)); c != 2 {
		t.Errorf("paused cpu %v", c)
	}
}

func TestXsRead(t *testing.T) {
	t0 := time.Now()
	s := testSession(t, t0)
	d := s.addGuest("web", Behaviour{}, t0)
	s.advance()
	for path, want := range map[string]string{
		"/local/domain/1/name": "web", "/local/domain/1/domid": "1", "/local/domain/1/control": "",
		"/local/domain/1/control/feature-poweroff": "1", "/local/domain/1/": "", "/local/domain/0/name": "Domain-0",
		"name": "Domain-0", "/": "", "/vm/" + d.UUID + "/name": "web", "/local/domain/1/memory/target": "98304",
	} {
		if got, ok := s.xsRead(path); !ok || got != want {
			t.Errorf("xsRead(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, path := range []string{"/local/domain/2/name", "/local/domain/01/name", "/local/domain/1/nope", "/nope", "/local/domain/x"} {
		if got, ok := s.xsRead(path); ok {
			t.Errorf("xsRead(%q) = %q, true", path, got)
		}
	}
}

// runMain runs Main in this process with a state directory.
func runMain(t *testing.T, argv ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc := Main(argv, &out, &errb)
	return out.String(), errb.String(), rc
}

func TestMainInProcess(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	t.Setenv("XLSIM_CONSOLE_DIR", "")
	t.Setenv("XLSIM_ACK_TIMEOUT", "")
	t.Setenv("XLSIM_TOTAL_MEMORY", "2048")
	t.Setenv("XLSIM_AUTOBALLOON", "")
	t.Setenv("XLSIM_DOM0_MIN_MEMORY", "")
	t.Setenv("XLSIM_XL_CONF", "")
	cfg := filepath.Join(dir, "web.cfg")
	os.WriteFile(cfg, []byte("name='web'\nxlsim_create_time='5ms'\nxlsim_shutdown_time='5ms'\n"), 0o644)
	if _, errOut, rc := runMain(t, "/usr/sbin/xl", "create", cfg); rc != 0 || errOut != "Parsing config from "+cfg+"\n" {
		t.Fatalf("create: %d %q", rc, errOut)
	}
	out, _, rc := runMain(t, "xl", "info")
	if rc != 0 || !strings.Contains(out, "total_memory           : 2048\nfree_memory            : 896\n") {
		t.Errorf("info: %q", out)
	}
	if out, _, rc := runMain(t, "/usr/bin/xenstore-read", "/local/domain/1/name"); rc != 0 || out != "web\n" {
		t.Errorf("xenstore-read: %d %q", rc, out)
	}
	if out, _, rc := runMain(t, "/x/xlsim", "xenstore-read", "-p", "/local/domain/1/domid"); rc != 0 || out != "/local/domain/1/domid: 1\n" {
		t.Errorf("xlsim xenstore-read: %d %q", rc, out)
	}
	if _, errOut, rc := runMain(t, "xenstore-read"); rc != 1 || errOut != "xenstore-read: Usage: xenstore-read [-h] [-p] [-s] [-R] key [...]\n" {
		t.Errorf("xenstore-read usage: %d %q", rc, errOut)
	}
	if out, _, rc := runMain(t, "/x/xlsim", "xl", "domid", "web"); rc != 0 || out != "1\n" {
		t.Errorf("xlsim xl domid: %d %q", rc, out)
	}
	if _, errOut, rc := runMain(t, "xl", "-N", "list"); rc != 1 || errOut != "command does not implement -N (dryrun) option\n" {
		t.Errorf("-N list: %d %q", rc, errOut)
	}
	if out, _, rc := runMain(t, "xl", "list", "web", "other"); rc != 1 || !strings.HasPrefix(out, "Usage: xl [-vtT] list [options] [Domain]\n\n\n") {
		t.Errorf("list two names: %d %q", rc, out)
	}
	if _, errOut, rc := runMain(t, "xl", "list", "7"); rc != 1 || errOut != "Error: Domain '7' does not exist.\n" {
		t.Errorf("list 7: %d %q", rc, errOut)
	}
	if out, _, rc := runMain(t, "xl", "list", "-Zc", "1"); rc != 0 || !strings.HasSuffix(out, " -b----       0.0                -          Pool-0\n") {
		t.Errorf("list -Zc: %d %q", rc, out)
	}
	if _, errOut, rc := runMain(t, "xl", "shutdown", "-w", "web"); rc != 0 || errOut != "Shutting down domain 1\nWaiting for 1 domains\nDomain 1 has been shut down, reason code 0\n" {
		t.Errorf("shutdown -w: %d %q", rc, errOut)
	}
	if _, errOut, rc := runMain(t, "xl", "shutdown"); rc != 1 || errOut != "You must specify -a or a domain id.\n\n" {
		t.Errorf("shutdown: %d %q", rc, errOut)
	}
	calls, err := ReadCalls(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 12 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if c.Prog != "xl" || !reflect.DeepEqual(c.Args, []string{"create", cfg}) || !c.Ended || c.RC != 0 || c.Begin.IsZero() || c.End.Before(c.Begin) {
		t.Errorf("call 0: %+v", c)
	}
	if c := calls[2]; c.Prog != "xenstore-read" || !reflect.DeepEqual(c.Args, []string{"/local/domain/1/name"}) {
		t.Errorf("call 2: %+v", c)
	}
	if c := calls[len(calls)-1]; c.RC != 1 || !c.Ended {
		t.Errorf("last call: %+v", c)
	}
}

func TestReadLogs(t *testing.T) {
	dir := t.TempDir()
	if c, err := ReadCalls(dir); c != nil || err != nil {
		t.Errorf("no log: %v %v", c, err)
	}
	if e, err := ReadEvents(dir); e != nil || err != nil {
		t.Errorf("no log: %v %v", e, err)
	}
	os.WriteFile(filepath.Join(dir, "calls.log"), []byte(`{"ev":"begin","id":"1-1","t":"2026-01-01T00:00:00Z","prog":"xl","args":["list"]}
{"ev":"begin","id":"2-1","t":"2026-01-01T00:00:01Z","args":["create","/a.cfg"]}
{"ev":"end","id":"1-1","t":"2026-01-01T00:00:02Z","rc":0}
`), 0o644)
	calls, err := ReadCalls(dir)
	if err != nil || len(calls) != 2 {
		t.Fatalf("%v %v", calls, err)
	}
	if !calls[0].Ended || calls[0].End.Sub(calls[0].Begin) != 2*time.Second || calls[1].Ended || calls[1].Args[1] != "/a.cfg" {
		t.Errorf("calls %+v", calls)
	}
	os.WriteFile(filepath.Join(dir, "events.log"), []byte(`{"t":"2026-01-01T00:00:05Z","domain":"a","domid":1,"ev":"booted"}
{"t":"2026-01-01T00:00:01Z","domain":"a","domid":1,"ev":"created"}
{"t":"2026-01-01T00:00:05Z","domain":"b","domid":2,"ev":"created"}
`), 0o644)
	evs, err := ReadEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := evString(evs, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); got != "1s:a/1/created 5s:a/1/booted 5s:b/2/created" {
		t.Errorf("events %s", got)
	}
	os.WriteFile(filepath.Join(dir, "events.log"), []byte("{bad\n"), 0o644)
	if _, err := ReadEvents(dir); err == nil {
		t.Error("bad events log read")
	}
}

func TestMigrateKeys(t *testing.T) {
	d, rc, msg := parseCfg(t, "name='m'\nxlsim_migrate_time = \"1.5s\"\nxlsim_migrate_fail = 1\n")
	if rc != -1 || msg != "" || d.B.MigrateTime != 1500*time.Millisecond || !d.B.MigrateFail {
		t.Errorf("%+v rc %d %q", d.B, rc, msg)
	}
	d, _, _ = parseCfg(t, "name='m'\nxlsim_migrate_time = 2\n")
	if d.B.MigrateTime != 2*time.Second || d.B.MigrateFail {
		t.Errorf("plain seconds: %+v", d.B)
	}
}

func TestUnreachableHosts(t *testing.T) {
	e := &Env{Dir: t.TempDir()}
	if e.unreachable("anything") {
		t.Error("unreachable without the file")
	}
	os.WriteFile(filepath.Join(e.Dir, UnreachableHostsFile), []byte("# comment\n\n  down.example \nroot@jump\nOFF\n"), 0o644)
	for host, want := range map[string]bool{
		"down.example": true, "admin@down.example": true, "DOWN.example": true, "off": true,
		"root@jump": true, "jump": false, "up.example": false, "# comment": false, "": false,
	} {
		if got := e.unreachable(host); got != want {
			t.Errorf("unreachable(%q) = %v", host, got)
		}
	}
	if got := sshHostname("Admin@Host.Example"); got != "host.example" {
		t.Errorf("sshHostname %q", got)
	}
}

func TestMigratedEventJSON(t *testing.T) {
	dir := t.TempDir()
	e := &Env{Dir: dir}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := e.appendEvents([]Event{{T: t0, Domain: "a", Domid: 1, Ev: "created"}, {T: t0, Domain: "a", Domid: 1, Ev: "migrated", Host: "h2"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "events.log"))
	want := `{"t":"2026-01-01T00:00:00Z","domain":"a","domid":1,"ev":"created"}
{"t":"2026-01-01T00:00:00Z","domain":"a","domid":1,"ev":"migrated","host":"h2"}
`
	if string(b) != want {
		t.Errorf("events.log %q", b)
	}
	evs, err := ReadEvents(dir)
	if err != nil || len(evs) != 2 || evs[1].Host != "h2" || evs[0].Host != "" {
		t.Errorf("%+v %v", evs, err)
	}
}

func TestNeedMemKiB(t *testing.T) {
	for _, tc := range []struct {
		d    Domain
		want int64
	}{
		// memory + 4*(256*vcpus + maxmem) KiB + 1 MiB (PV) or 2 MiB, rounded to 2 MiB
		{Domain{Type: "pv", MemMiB: 96, MaxMemMiB: 96, VCPUs: 1, MaxVCPUs: 1}, 100 << 10},
		// 1048576 + 12288 + 1024 = 1061888 KiB, rounded up
		{Domain{Type: "pv", MemMiB: 1024, MaxMemMiB: 2048, VCPUs: 2, MaxVCPUs: 4}, 1062912},
		// 524288 + 3072 + 2048 = 529408 KiB, rounded up
		{Domain{Type: "pvh", MemMiB: 512, MaxMemMiB: 512, VCPUs: 1, MaxVCPUs: 1}, 518 << 10},
		{Domain{Type: "hvm", MemMiB: 64, MaxMemMiB: 64, VCPUs: 1, MaxVCPUs: 1, WantStub: true, StubMemMiB: 32}, 100 << 10},
		// 524280 + 1024 + 1024 = 526328 KiB; with PCI passthrough plus
		// IOMMU page tables for 510 MiB: 255 + 1 + 1 + 1 pages.
		{Domain{Type: "pv", MemMiB: 510, MaxMemMiB: 510, VCPUs: 1, MaxVCPUs: 1}, 514 << 10},
		{Domain{Type: "pv", MemMiB: 510, MaxMemMiB: 510, VCPUs: 1, MaxVCPUs: 1, PCI: []PCISpec{{}}}, 516 << 10},
	} {
		if got := needMemKiB(&tc.d); got != tc.want || got%2048 != 0 {
			t.Errorf("%s %d/%d MiB %d vcpus pci %d: %d KiB, want %d", tc.d.Type, tc.d.MemMiB, tc.d.MaxMemMiB, tc.d.MaxVCPUs, len(tc.d.PCI), got, tc.want)
		}
	}
}

func TestDom0MemRE(t *testing.T) {
	for s, want := range map[string]bool{
		cmdlineDom0Mem: true, cmdlineNoMem: false,
		"dom0_mem=2G": true, "x dom0_mem=min:512M,max:2G": true, "dom0_mem=-512M": true,
		"dom0_mem=10%": true, "dom0_mem=1G+10%": true, "xdom0_mem=1G": false, "dom0_mem=": false,
		"dom0_mem=lots": false, "dom0_max_vcpus=1": false,
	} {
		if got := dom0MemRE().MatchString(s); got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}

func TestEnvAutoballoon(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	t.Setenv("XLSIM_TOTAL_MEMORY", "")
	conf := filepath.Join(dir, "xl.conf")
	for _, tc := range []struct {
		env, conf string // conf "-": no XLSIM_XL_CONF
		want      bool
		msgs      string
		fail      bool
	}{
		{"", "-", false, "", false},
		{"off", "-", false, "", false},
		{"on", "-", true, "", false},
		{"on", "", true, "", false},
		{"off", `autoballoon="auto"`, false, "", false},
		{"on", `autoballoon="auto"`, true, "", false},
		{"off", `autoballoon="on"`, true, "", false},
		{"on", `autoballoon='off'`, false, "", false},
		{"off", `autoballoon=1`, true, "", false},
		{"off", `autoballoon="bogus"`, false, "invalid autoballoon option", false},
		{"on", `autoballoon="bogus"`, true, "invalid autoballoon option", false},
		{"on", `autoballoon=`, true, conf + ":1: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['\nFailed to parse config file: Invalid argument\n", true},
	} {
		t.Setenv("XLSIM_AUTOBALLOON", tc.env)
		if tc.conf == "-" {
			t.Setenv("XLSIM_XL_CONF", "")
		} else {
			t.Setenv("XLSIM_XL_CONF", conf)
			os.WriteFile(conf, []byte(tc.conf+"\n"), 0o644)
		}
		e, err := EnvFromOS(io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if e.Autoballoon != tc.want || e.xlConfMsgs != tc.msgs || e.xlConfFail != tc.fail || e.Dom0MinMiB != 512 {
			t.Errorf("%q %q: %v %q %v %d", tc.env, tc.conf, e.Autoballoon, e.xlConfMsgs, e.xlConfFail, e.Dom0MinMiB)
		}
	}
	t.Setenv("XLSIM_AUTOBALLOON", "")
	t.Setenv("XLSIM_XL_CONF", filepath.Join(dir, "none"))
	if e, err := EnvFromOS(io.Discard, io.Discard); err != nil || e.Autoballoon || e.xlConfMsgs != "Failed to read config file: "+filepath.Join(dir, "none")+": No such file or directory\n" {
		t.Errorf("no xl.conf: %v %+v", err, e)
	}
	t.Setenv("XLSIM_XL_CONF", "")
	for k, v := range map[string]string{"XLSIM_AUTOBALLOON": "auto", "XLSIM_DOM0_MIN_MEMORY": "x"} {
		t.Setenv(k, v)
		if _, err := EnvFromOS(io.Discard, io.Discard); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
		t.Setenv(k, "")
	}
}

func TestTimeScale(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	t.Setenv("XLSIM_ACK_TIMEOUT", "")
	t.Setenv("XLSIM_MONITOR_DELAY", "300ms")
	for _, tc := range []struct {
		env          string
		scale        float64
		ack, monitor time.Duration
	}{
		{"", 1, time.Second, 300 * time.Millisecond},
		{"1", 1, time.Second, 300 * time.Millisecond},
		{"0.1", 0.1, 100 * time.Millisecond, 30 * time.Millisecond},
		{"2", 2, 2 * time.Second, 600 * time.Millisecond},
	} {
		t.Setenv("XLSIM_TIME_SCALE", tc.env)
		e, err := EnvFromOS(io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if e.TimeScale != tc.scale || e.AckTimeout != tc.ack || e.MonitorDelay != tc.monitor {
			t.Errorf("%q: scale %v, ack %s, monitor %s", tc.env, e.TimeScale, e.AckTimeout, e.MonitorDelay)
		}
		c, err := xlcfg.Parse("g.cfg", []byte("name='a'\nxlsim_boot_time = 2\nxlsim_crash_after = '4s'\nxlsim_reboot_after = '6s'\n"))
		if err != nil {
			t.Fatal(err)
		}
		d, rc := e.guestFromConfig(c)
		s := func(d time.Duration) time.Duration { return time.Duration(float64(d) * tc.scale) }
		want := Behaviour{CreateTime: s(DefaultCreateTime), BootTime: s(2 * time.Second), ShutdownTime: s(DefaultShutdownTime),
			SaveTime: s(DefaultSaveTime), RestoreTime: s(DefaultRestoreTime), MigrateTime: s(DefaultMigrateTime),
			CrashAfter: s(4 * time.Second), RebootAfter: s(6 * time.Second)}
		if rc != -1 || !reflect.DeepEqual(d.B, want) {
			t.Errorf("%q: rc %d, behaviour %+v, want %+v", tc.env, rc, d.B, want)
		}
	}
	for _, bad := range []string{"0", "-0.5", "fast", "NaN", "Inf"} {
		t.Setenv("XLSIM_TIME_SCALE", bad)
		if _, err := EnvFromOS(io.Discard, io.Discard); err == nil {
			t.Errorf("XLSIM_TIME_SCALE=%s accepted", bad)
		}
	}

	// On the simulated host's own clock (events.log's logical times) a
	// guest boots and shuts down in its times scaled, with xl's output.
	t.Setenv("XLSIM_TIME_SCALE", "0.01")
	t.Setenv("XLSIM_MONITOR_DELAY", "")
	cfg := filepath.Join(dir, "web.cfg")
	// The power button (no PV drivers): the guest reacts once booted,
	// without a wait for an acknowledgement.
	os.WriteFile(cfg, []byte("name='web'\nxlsim_create_time='5s'\nxlsim_boot_time='20s'\nxlsim_shutdown_time='30s'\nxlsim_needs_acpi=1\n"), 0o644)
	if _, errOut, rc := runMain(t, "xl", "create", cfg); rc != 0 || errOut != "Parsing config from "+cfg+"\n" {
		t.Fatalf("create: %d %q", rc, errOut)
	}
	if _, errOut, rc := runMain(t, "xl", "shutdown", "-F", "-w", "web"); rc != 0 || errOut != "Shutting down domain 1\nPV control interface not available: sending ACPI power button event.\nWaiting for 1 domains\nDomain 1 has been shut down, reason code 0\n" {
		t.Errorf("shutdown -F -w: %d %q", rc, errOut)
	}
	evs, err := ReadEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]time.Time{}
	for _, ev := range evs {
		at[ev.Ev] = ev.T
	}
	if boot := at["booted"].Sub(at["created"]); boot != 200*time.Millisecond {
		t.Errorf("booted %s after created, want 200ms", boot)
	}
	if down := at["gone"].Sub(at["booted"]); down != 300*time.Millisecond {
		t.Errorf("gone %s after it booted (and saw the power button), want 300ms", down)
	}
	calls, err := ReadCalls(dir)
	if err != nil {
		t.Fatal(err)
	}
	if took := calls[0].End.Sub(calls[0].Begin); took < 50*time.Millisecond || took > 5*time.Second {
		t.Errorf("xl create took %s for 5s scaled by 0.01", took)
	}
}
