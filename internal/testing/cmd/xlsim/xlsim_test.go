package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

// binDir holds the simulator built once for all tests, as xl and
// xenstore-read (and xlsim).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xlsim-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if err := xlsim.Build(binDir); err == nil {
		err = os.Symlink("xl", filepath.Join(binDir, "xlsim"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// host is one simulated host: a state directory and a place for configs.
type host struct {
	t   *testing.T
	dir string // XLSIM_DIR
	cfg string // config files
	env []string
}

func newHost(t *testing.T) *host {
	t.Helper()
	root := t.TempDir()
	h := &host{t: t, dir: filepath.Join(root, "state"), cfg: filepath.Join(root, "etc")}
	os.MkdirAll(h.cfg, 0o755)
	h.env = append(os.Environ(), "XLSIM_DIR="+h.dir, "XLSIM_CONSOLE_DIR=", "XLSIM_ACK_TIMEOUT=", "XLSIM_TOTAL_MEMORY=",
		"XLSIM_AUTOBALLOON=", "XLSIM_DOM0_MIN_MEMORY=", "XLSIM_XL_CONF=")
	return h
}

type result struct {
	stdout, stderr string
	rc             int
}

func (h *host) command(prog string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, prog), args...)
	cmd.Env = h.env
	return cmd
}

func (h *host) runProg(prog string, args ...string) result {
	h.t.Helper()
	cmd := h.command(prog, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	rc := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			h.t.Fatalf("run %s %q: %v", prog, args, err)
		}
		rc = ee.ExitCode()
	}
	return result{out.String(), errb.String(), rc}
}

func (h *host) xl(args ...string) result { h.t.Helper(); return h.runProg("xl", args...) }

// mustXL runs xl and fails the test unless it exits 0.
func (h *host) mustXL(args ...string) result {
	h.t.Helper()
	r := h.xl(args...)
	if r.rc != 0 {
		h.t.Fatalf("xl %q: rc %d\nstdout: %s\nstderr: %s", args, r.rc, r.stdout, r.stderr)
	}
	return r
}

func (h *host) writeCfg(name, body string) string {
	h.t.Helper()
	p := filepath.Join(h.cfg, name+".cfg")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// guest writes a config for a fast guest named name with extra lines.
func (h *host) guest(name string, extra ...string) string {
	h.t.Helper()
	body := fmt.Sprintf("name = %q\nmemory = 96\nxlsim_create_time = \"10ms\"\nxlsim_shutdown_time = \"20ms\"\n", name)
	return h.writeCfg(name, body+strings.Join(extra, "\n")+"\n")
}

// domains returns name -> "domid state" from xl list.
func (h *host) domains() map[string]string {
	h.t.Helper()
	r := h.mustXL("list")
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(l)
		m[f[0]] = f[1] + " " + f[4]
	}
	return m
}

// waitFor polls cond every 10ms up to 5s.
func (h *host) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- the samples of real xl ----

type sample struct {
	cmd, stdout, stderr string
	rc                  int
}

func loadSamples(t *testing.T) []sample {
	t.Helper()
	b, err := os.ReadFile("../../../../testdata/xl-samples/xen-4.17-xl.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	var cur *sample
	var sect *string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "### $ "):
			out = append(out, sample{cmd: strings.TrimSpace(l[len("### $ "):])})
			cur = &out[len(out)-1]
			sect = nil
		case cur == nil:
		case l == "--- stdout\n":
			sect = &cur.stdout
		case l == "--- stderr\n":
			sect = &cur.stderr
		case strings.HasPrefix(l, "--- rc="):
			cur.rc, _ = strconv.Atoi(strings.TrimSpace(l[len("--- rc="):]))
			sect = nil
		case sect != nil:
			*sect += l
		}
	}
	// The "head -c" sample has no final newline: its stdout runs into the
	// "--- stderr" line.
	for i := range out {
		if s, ok := strings.CutSuffix(out[i].stdout, "--- stderr\n"); ok {
			out[i].stdout = s
		}
	}
	return out
}

// theSample returns the n-th (0-based) sample of cmd.
func theSample(t *testing.T, samples []sample, cmd string, n int) sample {
	t.Helper()
	for _, s := range samples {
		if s.cmd == cmd {
			if n == 0 {
				return s
			}
			n--
		}
	}
	t.Fatalf("no sample %q", cmd)
	return sample{}
}

var (
	reTime = regexp.MustCompile(`(?m)^(\S+ +\d+ +\d+ +\d+ +[-rbpscwSd?]{6}) +\d+\.\d`)
	reUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
)

// norm blanks what differs from run to run: CPU times and UUIDs.
func norm(s string) string {
	s = reTime.ReplaceAllString(s, "$1 <time>")
	return reUUID.ReplaceAllString(s, "<uuid>")
}

// TestSampleSession replays the session of the samples of real xl 4.17
// and compares output and exit codes.
func TestSampleSession(t *testing.T) {
	samples := loadSamples(t)
	h := newHost(t)
	saveDir := filepath.Join(h.cfg, "save")
	os.MkdirAll(saveDir, 0o755)
	paths := strings.NewReplacer("/etc/xen/", h.cfg+"/", "/var/lib/xen/save/", saveDir+"/")

	labGuest := func(name string, extra ...string) {
		h.writeCfg(name, fmt.Sprintf(`name = "%s"
memory = 96
kernel = "/lab/guest/vmlinux.gz"
ramdisk = "/lab/guest/initrd.gz"
extra = "console=hvc0 quiet lab.name=%s"
on_reboot = "destroy"
on_crash = "preserve"
xlsim_create_time = "10ms"
xlsim_save_time = "20ms"
xlsim_restore_time = "20ms"
xlsim_shutdown_time = "10ms"
%s
`, name, name, strings.Join(extra, "\n")))
	}
	labGuest("Domain-N")
	labGuest("fileserver")
	labGuest("a-guest-with-a-very-long-name-exceeding-forty-characters")
	labGuest("keeper", `on_poweroff = "preserve"`)
	h.writeCfg("web", `name = "web"
memory = 96
kernel = "/lab/guest/vmlinux.gz"
disk = [ 'phy:/dev/vg/web,xvda,w', 'file:/x.img,xvdb,r,backend=Domain-N' ]
vif = [ 'bridge=br_lan,vifname=vif_web,backend=Domain-N' ]
`)
	os.WriteFile(filepath.Join(saveDir, "corrupt"), []byte("Xen saved"), 0o644)

	check := func(cmd string, n int, r result, normalize bool) {
		t.Helper()
		want := theSample(t, samples, cmd, n)
		wantOut, wantErr := paths.Replace(want.stdout), paths.Replace(want.stderr)
		gotOut, gotErr := r.stdout, r.stderr
		if normalize {
			wantOut, gotOut = norm(wantOut), norm(gotOut)
		}
		if gotOut != wantOut {
			t.Errorf("%s: stdout\n got: %q\nwant: %q", cmd, gotOut, wantOut)
		}
		if gotErr != wantErr {
			t.Errorf("%s: stderr\n got: %q\nwant: %q", cmd, gotErr, wantErr)
		}
		if r.rc != want.rc {
			t.Errorf("%s: rc %d, want %d", cmd, r.rc, want.rc)
		}
	}
	run := func(cmd string, n int, normalize bool) result {
		t.Helper()
		args := strings.Fields(paths.Replace(cmd))
		r := h.runProg(args[0], args[1:]...)
		check(cmd, n, r, normalize)
		return r
	}

	run("xl create /etc/xen/Domain-N.cfg", 0, false)
	run("xl create /etc/xen/Domain-N.cfg", 1, false)
	run("xl create /etc/xen/fileserver.cfg", 0, false)
	run("xl create /etc/xen/a-guest-with-a-very-long-name-exceeding-forty-characters.cfg", 0, false)
	run("xl create /etc/xen/keeper.cfg", 0, false)
	run("xl list", 0, true)
	run("xl list -v", 0, true)
	run("xl list nosuch", 0, false)
	run("xl list Domain-N", 0, true)
	run("xl domid Domain-N", 0, false)
	run("xl domid nosuch", 0, false)
	run("xl shutdown nosuch", 0, false)
	run("xl destroy nosuch", 0, false)
	run("xl pause fileserver", 0, false)
	run("xl list fileserver", 0, true)
	run("xl unpause fileserver", 0, false)
	run("xl shutdown keeper", 0, false)
	h.waitFor("keeper to shut down", func() bool { return strings.HasSuffix(h.domains()["keeper"], "---s--") })
	run("xl list keeper", 0, true)
	h.env = append(h.env, "XLSIM_ACK_TIMEOUT=50ms")
	run("xl shutdown keeper", 1, false)
	run("xl destroy keeper", 0, false)
	run("xenstore-read /local/domain/1/control/feature-poweroff", 0, false)
	run("xl save fileserver /var/lib/xen/save/fileserver", 0, false)

	// The first 64 bytes of the save file, as the sample renders them
	// (\0 and \xNN escapes; the \r of the magic shows as a line break).
	b, err := os.ReadFile(filepath.Join(saveDir, "fileserver"))
	if err != nil {
		t.Fatal(err)
	}
	want := theSample(t, samples, "head -c 64 /var/lib/xen/save/fileserver", 0).stdout
	if got := renderBytes(b[:64]); got != want {
		t.Errorf("save file head\n got: %q\nwant: %q", got, want)
	}
	run("xl list", 1, true)
	run("xl restore /var/lib/xen/save/fileserver", 0, false)
	run("xl restore /var/lib/xen/save/corrupt", 0, false)
	run("xl -N create /etc/xen/web.cfg", 0, true)
	run("xl pci-assignable-list", 0, false)

	// xl info: all but free_memory, which is what the domains leave.
	r := h.mustXL("info")
	info := theSample(t, samples, "xl info", 0).stdout
	info = strings.Replace(info, "free_memory            : 1726\n",
		fmt.Sprintf("free_memory            : %d\n", 3071-1024-3*96), 1)
	if r.stdout != info {
		t.Errorf("xl info\n got: %q\nwant: %q", r.stdout, info)
	}
	run("xl list -l", 0, true)
}

// renderBytes shows bytes like the sample file does.
func renderBytes(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		switch {
		case c == 0:
			s.WriteString(`\0`)
		case c == '\n' || c == '\r':
			s.WriteByte('\n')
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(&s, `\x%02x`, c)
		default:
			s.WriteByte(c)
		}
	}
	return s.String()
}

func TestFreshListExact(t *testing.T) {
	h := newHost(t)
	r := h.mustXL("list")
	lines := strings.Split(r.stdout, "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("xl list = %q", r.stdout)
	}
	if lines[0] != "Name                                        ID   Mem VCPUs\tState\tTime(s)" {
		t.Errorf("header %q", lines[0])
	}
	var cpu float64
	if _, err := fmt.Sscanf(lines[1][len(lines[1])-8:], "%f", &cpu); err != nil {
		t.Fatalf("row %q: %v", lines[1], err)
	}
	if want := fmt.Sprintf("%-40s %5d %5d %5d     %s  %8.1f", "Domain-0", 0, 1024, 1, "r-----", cpu); lines[1] != want {
		t.Errorf("row\n got %q\nwant %q", lines[1], want)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestNoStateDir(t *testing.T) {
	h := newHost(t)
	var env []string
	for _, e := range h.env {
		if !strings.HasPrefix(e, "XLSIM_DIR=") {
			env = append(env, e)
		}
	}
	h.env = env
	r := h.xl("list")
	if r.rc != 2 || r.stderr != "xlsim: XLSIM_DIR is not set\n" || r.stdout != "" {
		t.Errorf("got %+v", r)
	}
}

func TestCreateErrors(t *testing.T) {
	h := newHost(t)
	missing := filepath.Join(h.cfg, "missing.cfg")
	r := h.xl("create", missing)
	if r.rc != 3 || r.stderr != "Failed to read config file: "+missing+": No such file or directory\n" {
		t.Errorf("missing file: %+v", r)
	}
	noname := h.writeCfg("noname", "memory = 96\n")
	r = h.xl("create", noname)
	if r.rc != 1 || r.stderr != "Parsing config from "+noname+"\nDomain name must be specified.\n" {
		t.Errorf("no name: %+v", r)
	}
	bad := h.writeCfg("bad", "name = 'x'\nmemory = \n")
	r = h.xl("create", bad)
	want := "Parsing config from " + bad + "\n" + bad + ":2: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['\nFailed to parse config: Invalid argument\n"
	if r.rc != 1 || r.stderr != want {
		t.Errorf("parse error: %+v\nwant stderr %q", r, want)
	}
	r = h.xl("create", "-q", h.guest("quiet"))
	if r.rc != 0 || r.stderr != "" {
		t.Errorf("create -q: %+v", r)
	}
	r = h.xl("nosuchcommand")
	if r.rc != 1 || r.stderr != "command not implemented\n" {
		t.Errorf("unknown command: %+v", r)
	}
	r = h.xl("destroy")
	if r.rc != 2 || !strings.HasPrefix(r.stderr, "'xl destroy' requires at least 1 argument.\n\n") ||
		!strings.HasPrefix(r.stdout, "Usage: xl [-vtTf] destroy [options] <Domain>\n") {
		t.Errorf("destroy without args: %+v", r)
	}
	// xl's unambiguous prefixes.
	if r := h.xl("li"); r.rc != 0 || !strings.HasPrefix(r.stdout, "Name ") {
		t.Errorf("xl li: %+v", r)
	}
}

func TestCreateFailAndMemory(t *testing.T) {
	h := newHost(t)
	cfg := h.guest("broken", "xlsim_create_fail = 1")
	r := h.xl("create", cfg)
	want := "Parsing config from " + cfg + "\n" +
		"xc: error: panic: xg_dom_core.c:690: xc_dom_find_loader: no loader found: Invalid kernel\n" +
		"libxl: error: libxl_dom.c:571:libxl__build_dom: xc_dom_parse_image failed\n" +
		"libxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain 1:cannot (re-)build domain: -3\n"
	if r.rc != 3 || r.stderr != want {
		t.Errorf("create_fail: %+v", r)
	}
	if _, ok := h.domains()["broken"]; ok {
		t.Error("failed domain listed")
	}
	big := h.guest("big", "memory = 4096")
	r = h.xl("create", big)
	if r.rc != 3 || r.stderr != "Parsing config from "+big+"\nfailed to free memory for the domain\n" {
		t.Errorf("too big: %+v", r)
	}
	// The domid of the failed create is not reused.
	h.mustXL("create", h.guest("ok"))
	if got := h.domains()["ok"]; got != "2 -b----" {
		t.Errorf("ok = %q", got)
	}
}

func TestConcurrentCreates(t *testing.T) {
	h := newHost(t)
	const n = 10
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := 0; i < n; i++ {
		cfg := h.guest(fmt.Sprintf("c%d", i), `memory = 64`)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.xl("create", cfg)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.rc != 0 {
			t.Errorf("create %d: %+v", i, r)
		}
	}
	doms := h.domains()
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		v, ok := doms[fmt.Sprintf("c%d", i)]
		if !ok {
			t.Fatalf("c%d not listed: %v", i, doms)
		}
		id := strings.Fields(v)[0]
		if seen[id] {
			t.Errorf("domid %s twice", id)
		}
		seen[id] = true
	}
	calls, err := xlsim.ReadCalls(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, c := range calls {
		if len(c.Args) > 0 && c.Args[0] == "create" {
			creates++
			if !c.Ended || c.RC != 0 || c.End.Before(c.Begin) {
				t.Errorf("call %+v", c)
			}
		}
	}
	if creates != n {
		t.Errorf("%d create calls logged", creates)
	}
}

func TestLazyBoot(t *testing.T) {
	h := newHost(t)
	cfg := h.guest("web", `xlsim_boot_time = "300ms"`, `xlsim_xenstore = ["data/ready=1", "data/role=web"]`,
		`xlsim_console = ["login:"]`)
	h.mustXL("create", cfg)
	r := h.runProg("xenstore-read", "/local/domain/1/data/ready")
	if r.rc != 1 || r.stderr != "xenstore-read: couldn't read path /local/domain/1/data/ready\n" {
		t.Errorf("before boot: %+v", r)
	}
	console := filepath.Join(h.dir, "console", "guest-web.log")
	if b, _ := os.ReadFile(console); string(b) != "Linux version 6.1 (xlsim)\n" {
		t.Errorf("console before boot %q", b)
	}
	h.waitFor("boot", func() bool { return h.runProg("xenstore-read", "/local/domain/1/data/ready").rc == 0 })
	r = h.runProg("xenstore-read", "/local/domain/1/data/ready", "/local/domain/1/data/role", "/local/domain/1/name", "/local/domain/1/domid")
	if r.rc != 0 || r.stdout != "1\nweb\nweb\n1\n" {
		t.Errorf("after boot: %+v", r)
	}
	if b, _ := os.ReadFile(console); string(b) != "Linux version 6.1 (xlsim)\nlogin:\n" {
		t.Errorf("console after boot %q", b)
	}
	evs, err := xlsim.ReadEvents(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Ev != "created" || evs[1].Ev != "booted" || evs[1].Domid != 1 {
		t.Fatalf("events %+v", evs)
	}
	if d := evs[1].T.Sub(evs[0].T); d != 300*time.Millisecond {
		t.Errorf("booted %v after created", d)
	}
	// Reads stop at the first missing path, printing what came before.
	r = h.runProg("xenstore-read", "/local/domain/1/name", "/local/domain/1/nope", "/local/domain/1/domid")
	if r.rc != 1 || r.stdout != "web\n" || r.stderr != "xenstore-read: couldn't read path /local/domain/1/nope\n" {
		t.Errorf("partial read: %+v", r)
	}
	// Also as `xlsim xenstore-read`.
	if r := h.runProg("xlsim", "xenstore-read", "/local/domain/0/name"); r.rc != 0 || r.stdout != "Domain-0\n" {
		t.Errorf("xlsim xenstore-read: %+v", r)
	}
}

func TestShutdownAndDestroy(t *testing.T) {
	h := newHost(t)
	h.mustXL("create", h.guest("p1", `xlsim_shutdown_time = "1s"`))
	h.mustXL("create", h.guest("p2"))
	start := time.Now()
	r := h.mustXL("shutdown", "p1", "p2")
	if r.stderr != "Shutting down domain 1\n" || time.Since(start) > 800*time.Millisecond {
		t.Errorf("shutdown: %+v after %v", r, time.Since(start))
	}
	if _, ok := h.domains()["p1"]; !ok {
		t.Error("p1 gone at once")
	}
	h.waitFor("p1 gone", func() bool { _, ok := h.domains()["p1"]; return !ok })
	if _, ok := h.domains()["p2"]; !ok {
		t.Error("p2 went down too")
	}
	r = h.mustXL("shutdown", "-w", "p2")
	if r.stderr != "Shutting down domain 2\nWaiting for 1 domains\nDomain 2 has been shut down, reason code 0\n" {
		t.Errorf("shutdown -w: %q", r.stderr)
	}
	if _, ok := h.domains()["p2"]; ok {
		t.Error("p2 still there after shutdown -w")
	}

	h.mustXL("create", h.guest("stubborn", "xlsim_ignore_shutdown = 1"))
	r = h.mustXL("shutdown", "stubborn")
	if r.stderr != "Shutting down domain 3\n" {
		t.Errorf("stubborn: %+v", r)
	}
	time.Sleep(60 * time.Millisecond)
	if got := h.domains()["stubborn"]; got != "3 -b----" {
		t.Errorf("stubborn = %q", got)
	}
	h.mustXL("destroy", "stubborn")
	if _, ok := h.domains()["stubborn"]; ok {
		t.Error("stubborn survived destroy")
	}
	evs, _ := xlsim.ReadEvents(h.dir)
	var got []string
	for _, e := range evs {
		if e.Ev != "booted" {
			got = append(got, fmt.Sprintf("%s/%d/%s", e.Domain, e.Domid, e.Ev))
		}
	}
	want := []string{"p1/1/created", "p2/2/created", "p1/1/shutdown-requested", "p1/1/shutdown", "p1/1/gone",
		"p2/2/shutdown-requested", "p2/2/shutdown", "p2/2/gone", "stubborn/3/created",
		"stubborn/3/shutdown-requested", "stubborn/3/destroyed"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}

func TestShutdownPausedTimesOut(t *testing.T) {
	h := newHost(t)
	h.env = append(h.env, "XLSIM_ACK_TIMEOUT=100ms")
	h.mustXL("create", h.guest("sleepy"))
	h.mustXL("pause", "sleepy")
	if got := h.domains()["sleepy"]; got != "1 --p---" {
		t.Errorf("paused: %q", got)
	}
	start := time.Now()
	r := h.xl("shutdown", "sleepy")
	if r.rc != 1 || r.stderr != "Shutting down domain 1\n"+
		"libxl: error: libxl_domain.c:854:pvcontrol_cb: guest didn't acknowledge control request: -9\n"+
		"shutdown failed (rc=-9)\n" {
		t.Errorf("shutdown paused: %+v", r)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("gave up after %v", el)
	}
	// The request stays in xenstore: once running, the guest obeys it.
	h.mustXL("unpause", "sleepy")
	h.waitFor("sleepy gone", func() bool { _, ok := h.domains()["sleepy"]; return !ok })
}

func TestNeedsACPI(t *testing.T) {
	h := newHost(t)
	h.mustXL("create", h.guest("win", `type = "hvm"`, "xlsim_needs_acpi = 1"))
	r := h.xl("shutdown", "win")
	want := "Shutting down domain 1\n" +
		"PV control interface not available: external graceful shutdown not possible.\n" +
		"Use \"-F\" to fallback to ACPI power event.\n" +
		"shutdown failed (rc=-10)\n"
	if r.rc != 1 || r.stderr != want {
		t.Errorf("shutdown: %+v", r)
	}
	if r := h.runProg("xenstore-read", "/local/domain/1/control/feature-poweroff"); r.rc != 1 {
		t.Errorf("an ACPI-only guest has feature-poweroff: %+v", r)
	}
	r = h.mustXL("shutdown", "-F", "-w", "win")
	want = "Shutting down domain 1\n" +
		"PV control interface not available: sending ACPI power button event.\n" +
		"Waiting for 1 domains\n" +
		"Domain 1 has been shut down, reason code 0\n"
	if r.stderr != want {
		t.Errorf("shutdown -F: %q", r.stderr)
	}
}

func TestStubDomain(t *testing.T) {
	h := newHost(t)
	cfg := h.guest("win", `type = "hvm"`, "device_model_stubdomain_override = 1", `memory = 256`)
	h.mustXL("create", cfg)
	r := h.mustXL("list")
	if !strings.Contains(r.stdout, fmt.Sprintf("%-40s %5d %5d %5d     %s", "win-dm", 2, 32, 1, "-b----")) {
		t.Errorf("no stub domain:\n%s", r.stdout)
	}
	if r := h.runProg("xenstore-read", "/local/domain/2/target", "/local/domain/2/name"); r.stdout != "1\nwin-dm\n" {
		t.Errorf("stub xenstore: %+v", r)
	}
	if r := h.mustXL("info"); !strings.Contains(r.stdout, fmt.Sprintf("free_memory            : %d\n", 3071-1024-256-32)) {
		t.Errorf("info:\n%s", r.stdout)
	}
	h.mustXL("destroy", "win")
	if d := h.domains(); len(d) != 1 {
		t.Errorf("after destroy: %v", d)
	}
	h.mustXL("create", cfg)
	h.mustXL("shutdown", "-w", "win")
	if d := h.domains(); len(d) != 1 {
		t.Errorf("after shutdown: %v", d)
	}
	h.mustXL("create", h.guest("win", `type = "hvm"`, "device_model_stubdomain_override = 1", `xlsim_crash_after = "30ms"`))
	h.waitFor("crash", func() bool { return len(h.domains()) == 1 })
}

func TestCrashAndReboot(t *testing.T) {
	h := newHost(t)
	h.mustXL("create", h.guest("crashy", `xlsim_crash_after = "50ms"`, `on_crash = "preserve"`))
	h.mustXL("create", h.guest("gone", `xlsim_crash_after = "50ms"`))
	h.mustXL("create", h.guest("rb", `xlsim_reboot_after = "50ms"`, `xlsim_boot_time = "20ms"`, `xlsim_xenstore = ["data/up=1"]`))
	h.waitFor("crash", func() bool { return strings.HasSuffix(h.domains()["crashy"], "---sc-") })
	h.waitFor("reboot", func() bool { return h.domains()["rb"] == "4 -b----" })
	if _, ok := h.domains()["gone"]; ok {
		t.Error("crashed guest without preserve still listed")
	}
	h.waitFor("reboot boot", func() bool { return h.runProg("xenstore-read", "/local/domain/4/data/up").rc == 0 })
	time.Sleep(80 * time.Millisecond)
	if got := h.domains()["rb"]; got != "4 -b----" {
		t.Errorf("rebooted twice? %q", got)
	}
	evs, _ := xlsim.ReadEvents(h.dir)
	var rb []string
	for _, e := range evs {
		if e.Domain == "rb" {
			rb = append(rb, fmt.Sprintf("%d/%s/%d", e.Domid, e.Ev, e.PrevDomid))
		}
	}
	if want := "3/created/0 3/booted/0 3/gone/0 4/rebooted/3 4/booted/0"; strings.Join(rb, " ") != want {
		t.Errorf("rb events %q, want %q", rb, want)
	}
	console, _ := os.ReadFile(filepath.Join(h.dir, "console", "guest-rb.log"))
	if string(console) != "Linux version 6.1 (xlsim)\nLinux version 6.1 (xlsim)\n" {
		t.Errorf("console %q", console)
	}
}

func TestSaveRestore(t *testing.T) {
	h := newHost(t)
	cfg := h.guest("db", `xlsim_save_time = "20ms"`, `xlsim_restore_time = "20ms"`, `xlsim_xenstore = ["data/ready=1"]`,
		`xlsim_console = ["login:"]`)
	h.mustXL("create", cfg)
	file := filepath.Join(h.cfg, "db.save")
	r := h.mustXL("save", "db", file)
	if !strings.HasPrefix(r.stderr, "Saving to "+file+" new xl format (info 0x3/0x0/") ||
		!strings.Contains(r.stderr, "xc: info: Saving domain 1, type x86 PV\n") ||
		!strings.HasSuffix(r.stderr, "xc: progress: Frames: 24576/24576  100%\nxc: progress: End of stream: 0/0    0%\n") {
		t.Errorf("save stderr %q", r.stderr)
	}
	if _, ok := h.domains()["db"]; ok {
		t.Error("db still there after save")
	}
	b, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(b), "Xen saved domain, xl format\n") {
		t.Errorf("save file starts %q", b[:40])
	}
	r = h.mustXL("restore", file)
	if !strings.Contains(r.stderr, "Parsing config from <saved>\nxc: info: Found x86 PV domain from Xen 4.17\n") {
		t.Errorf("restore stderr %q", r.stderr)
	}
	if got := h.domains()["db"]; got != "2 -b----" {
		t.Errorf("restored db = %q", got)
	}
	if r := h.runProg("xenstore-read", "/local/domain/2/data/ready"); r.stdout != "1\n" {
		t.Errorf("restored xenstore: %+v", r)
	}
	console, _ := os.ReadFile(filepath.Join(h.dir, "console", "guest-db.log"))
	if string(console) != "Linux version 6.1 (xlsim)\nlogin:\n" {
		t.Errorf("console after restore %q", console)
	}
	// Restoring again: the name is taken (real xl exits 1 for restore).
	r = h.xl("restore", file)
	if r.rc != 1 || !strings.Contains(r.stderr, "Domain 3:Domain with name \"db\" already exists.\n") {
		t.Errorf("second restore: %+v", r)
	}
	// Save failures keep the guest running.
	h.mustXL("create", h.guest("nosave", "xlsim_save_fail = 1", `xlsim_save_time = "20ms"`))
	r = h.xl("save", "nosave", filepath.Join(h.cfg, "nosave.save"))
	if r.rc != 1 || !strings.Contains(r.stderr, "\nxc: error: Save failed (5 = Input/output error): Internal error\n") ||
		!strings.HasSuffix(r.stderr, "Failed to save domain, resuming domain\n") {
		t.Errorf("save fail: %+v", r)
	}
	if got := h.domains()["nosave"]; got != "4 -b----" {
		t.Errorf("nosave = %q", got)
	}
	evs, _ := xlsim.ReadEvents(h.dir)
	var got []string
	for _, e := range evs {
		if e.Domain == "db" {
			got = append(got, fmt.Sprintf("%d/%s", e.Domid, e.Ev))
		}
	}
	if want := "1/created 1/booted 1/saved 2/restored"; strings.Join(got, " ") != want {
		t.Errorf("db events %q", got)
	}
}

func TestCreateHangSIGTERM(t *testing.T) {
	h := newHost(t)
	cmd := h.command("xl", "create", h.guest("hang", "xlsim_create_hang = 1"))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.waitFor("hang being built", func() bool { return h.domains()["hang"] == "1 --p---" })
	time.Sleep(100 * time.Millisecond)
	if got := h.domains()["hang"]; got != "1 --p---" {
		t.Errorf("hang = %q", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("xl create: %v", err)
	}
	if _, ok := h.domains()["hang"]; ok {
		t.Error("half-built domain left behind")
	}
}

func TestFaults(t *testing.T) {
	h := newHost(t)
	xlsim.SetFaults(h.dir, xlsim.FaultListGarbage)
	r := h.xl("list")
	if r.rc != 0 || strings.HasPrefix(r.stdout, "Name                                        ID") || r.stdout == "" {
		t.Errorf("garbage: %+v", r)
	}
	xlsim.SetFaults(h.dir, xlsim.FaultListEmpty)
	if r := h.xl("list"); r.rc != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("empty: %+v", r)
	}
	xlsim.SetFaults(h.dir, xlsim.FaultListFailOnce)
	r = h.xl("list")
	if r.rc != 1 || r.stdout != "" || !strings.HasSuffix(r.stderr, "libxl_list_domain failed.\n") {
		t.Errorf("fail-once: %+v", r)
	}
	if r := h.xl("list"); r.rc != 0 || !strings.HasPrefix(r.stdout, "Name ") {
		t.Errorf("after fail-once: %+v", r)
	}
	xlsim.SetFaults(h.dir, xlsim.FaultListHang)
	cmd := h.command("xl", "list")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("xl list returned under list-hang: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cmd.Process.Kill()
	<-done
	xlsim.SetFaults(h.dir)
	// Other commands are not affected.
	if r := h.xl("list"); r.rc != 0 {
		t.Errorf("after faults: %+v", r)
	}
	calls, _ := xlsim.ReadCalls(h.dir)
	hung := 0
	for _, c := range calls {
		if !c.Ended {
			hung++
		}
	}
	if hung != 1 {
		t.Errorf("%d calls without end, want 1 (the hung list)", hung)
	}
}

// A shutdown request made while the guest is still being built waits for
// the guest to come up and see it (libxl waits up to the ack timeout).
func TestShutdownWhileBuilding(t *testing.T) {
	h := newHost(t)
	cmd := h.command("xl", "create", h.guest("slow", `xlsim_create_time = "150ms"`, `xlsim_boot_time = "50ms"`))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.waitFor("slow being built", func() bool { return h.domains()["slow"] == "1 --p---" })
	r := h.mustXL("shutdown", "slow")
	if r.stderr != "Shutting down domain 1\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xl create: %v", err)
	}
	h.waitFor("slow gone", func() bool { _, ok := h.domains()["slow"]; return !ok })
	evs, _ := xlsim.ReadEvents(h.dir)
	at := map[string]time.Time{}
	for _, e := range evs {
		at[e.Ev] = e.T
	}
	if !at["shutdown-requested"].Before(at["booted"]) || at["shutdown"].Sub(at["booted"]) != 20*time.Millisecond {
		t.Errorf("events %+v", evs)
	}
	// A stub domain can be shut down on its own.
	h.mustXL("create", h.guest("win", `type = "hvm"`, "device_model_stubdomain_override = 1"))
	h.mustXL("shutdown", "-w", "win-dm")
	if d := h.domains(); d["win"] != "2 -b----" || len(d) != 2 {
		t.Errorf("after stub shutdown: %v", d)
	}
}

var rePID = regexp.MustCompile(`migration transport process \[\d+\]`)

// migrateOK is what a successful xl migrate of a 96 MiB PV guest prints.
// The progress lines are the sender's live rounds and final round, in the
// format and with the rate limit of the real save sample; the receiver
// prints none, as xl restore does not.
const migrateOK = `migration target: Ready to receive domain.
Saving to migration stream new xl format (info 0x3/0x0/<n>)
xc: info: Saving domain <id>, type x86 PV
Loading new save file <incoming migration stream> (new xl fmt info 0x3/0x0/<n>)
 Savefile contains xl domain config in JSON format
Parsing config from <saved>
xc: info: Found x86 PV domain from Xen 4.17
xc: info: Restoring domain
xc: progress: Frames iteration 0: 2048/24576    8%
xc: progress: Frames iteration 0: 4096/24576   16%
xc: progress: Frames iteration 0: 6144/24576   25%
xc: progress: Frames iteration 0: 8192/24576   33%
xc: progress: Frames iteration 0: 10240/24576   41%
xc: progress: Frames iteration 0: 12288/24576   50%
xc: progress: Frames iteration 0: 14336/24576   58%
xc: progress: Frames iteration 0: 16384/24576   66%
xc: progress: Frames iteration 0: 18432/24576   75%
xc: progress: Frames iteration 0: 20480/24576   83%
xc: progress: Frames iteration 0: 22528/24576   91%
xc: progress: Frames iteration 0: 24576/24576  100%
xc: progress: Frames iteration 1: 0/384    0%
xc: progress: Frames iteration 1: 384/384  100%
xc: progress: Domain now suspended: 0/0    0%
xc: progress: Frames iteration 2: 25/25  100%
xc: progress: End of stream: 0/0    0%
xc: info: Restore successful
xc: info: XenStore: mfn 0xa7aab, dom 0, evt 1
xc: info: Console: mfn 0xa7aaa, dom 0, evt 2
migration target: Transfer complete, requesting permission to start domain.
migration sender: Target has acknowledged transfer.
migration sender: Giving target permission to start.
migration target: Got permission, starting domain.
migration target: Domain started successsfully.
migration sender: Target reports successful startup.
Migration successful.
`

var reInfo = regexp.MustCompile(`0x3/0x0/\d+\)`)

// withShadowPaging gives the host shadow paging (virt_caps lists
// "shadow"): PV guests can be migrated live.
func (h *host) withShadowPaging() {
	h.t.Helper()
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, xlsim.VirtCapsFile), []byte("pv hvm hap shadow gnttab-v1 gnttab-v2\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// Without shadow paging (the sample host's xl info, Debian's Xen), a PV
// guest cannot be migrated live: xl fails at once and the guest runs on,
// never suspended; a PVH guest migrates (its log-dirty mode is HAP's).
func TestMigrateWithoutShadowPaging(t *testing.T) {
	h := newHost(t)
	h.mustXL("create", h.guest("pv", `xlsim_migrate_time = "20ms"`))
	h.mustXL("create", h.guest("pvh", `type = "pvh"`, `xlsim_migrate_time = "20ms"`))
	if r := h.mustXL("info"); !strings.Contains(r.stdout, "virt_caps              : pv hvm hap gnttab-v1 gnttab-v2\n") {
		t.Errorf("xl info: %s", r.stdout)
	}
	r := h.xl("migrate", "pv", "host2")
	if r.rc != 1 || !strings.Contains(r.stderr, "xc: error: Failed to enable logdirty: 95,22,0 (22 = Invalid argument): Internal error\n") ||
		!strings.HasSuffix(r.stderr, "Migration failed, resuming at sender.\n") {
		t.Errorf("migrate pv: %+v", r)
	}
	if got := h.domains()["pv"]; got != "1 -b----" {
		t.Errorf("pv after the failed migration: %q, want it running", got)
	}
	if r := h.xl("migrate", "pvh", "host2"); r.rc != 0 {
		t.Errorf("migrate pvh: %+v", r)
	}
	if _, ok := h.domains()["pvh"]; ok {
		t.Errorf("pvh still here after migrating")
	}
	h.withShadowPaging()
	if r := h.mustXL("info"); !strings.Contains(r.stdout, "virt_caps              : pv hvm hap shadow gnttab-v1 gnttab-v2\n") {
		t.Errorf("xl info with shadow paging: %s", r.stdout)
	}
	if r := h.xl("migrate", "pv", "host2"); r.rc != 0 {
		t.Errorf("migrate pv with shadow paging: %+v", r)
	}
}

func TestMigrate(t *testing.T) {
	h := newHost(t)
	h.withShadowPaging()
	h.mustXL("create", h.guest("web", `xlsim_migrate_time = "1s"`))
	h.mustXL("create", h.guest("db"))

	// The guest runs during the live rounds (900ms), then is suspended for
	// the last one (100ms), then is gone.
	cmd := h.command("xl", "migrate", "-e", "--debug", "--live", "-s", "ssh -p 2222", "web", "host2")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := h.domains()["web"]; got != "1 -b----" {
		t.Errorf("web while migrating = %q", got)
	}
	h.waitFor("web suspended", func() bool { return h.domains()["web"] == "1 ---ss-" })
	if err := cmd.Wait(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("migrate took %v", took)
	}
	want := strings.ReplaceAll(migrateOK, "<id>", "1")
	if got := reInfo.ReplaceAllString(errb.String(), "0x3/0x0/<n>)"); got != want {
		t.Errorf("migrate stderr\n got: %q\nwant: %q", got, want)
	}
	if d := h.domains(); len(d) != 2 || d["db"] != "2 -b----" {
		t.Errorf("after migrate: %v", d)
	}
	// The default time, by domid, and the options real xl accepts.
	start = time.Now()
	if r := h.mustXL("migrate", "-F", "-p", "-D", "2", "root@host2", "ignored"); r.stdout != "" {
		t.Errorf("migrate 2: %+v", r)
	}
	if took := time.Since(start); took < xlsim.DefaultMigrateTime {
		t.Errorf("default migrate took %v", took)
	}
	evs, _ := xlsim.ReadEvents(h.dir)
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s/%d/%s/%s", e.Domain, e.Domid, e.Ev, e.Host))
	}
	if want := "web/1/created/ web/1/booted/ db/2/created/ db/2/booted/ web/1/migrated/host2 db/2/migrated/root@host2"; strings.Join(got, " ") != want {
		t.Errorf("events %q\nwant %q", got, want)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "events.log"))
	if !strings.Contains(string(b), `"domain":"web","domid":1,"ev":"migrated","host":"host2"}`) {
		t.Errorf("events.log:\n%s", b)
	}
}

// To this very host (OSSTest's localhost migration), the guest runs on
// here under its name, with a new domid, booted as it was; the old domid
// is gone.
func TestMigrateLocalhost(t *testing.T) {
	for _, host := range []string{"localhost", "root@127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			h := newHost(t)
			h.withShadowPaging()
			h.mustXL("create", h.guest("web", `xlsim_migrate_time = "20ms"`, `xlsim_boot_time = "1ms"`))
			h.waitFor("web booted", func() bool { return h.domains()["web"] == "1 -b----" })
			if r := h.mustXL("migrate", "web", host); !strings.Contains(r.stderr, "Migration successful.") {
				t.Errorf("migrate to %s: %+v", host, r)
			}
			if got := h.domains()["web"]; got != "2 -b----" {
				t.Errorf("web after migrating to %s: %q, want domid 2 running", host, got)
			}
			evs, _ := xlsim.ReadEvents(h.dir)
			var got []string
			for _, e := range evs {
				got = append(got, fmt.Sprintf("%s/%d/%s/%s", e.Domain, e.Domid, e.Ev, e.Host))
			}
			if want := "web/1/created/ web/1/booted/ web/1/migrated/" + host + " web/2/received/"; strings.Join(got, " ") != want {
				t.Errorf("events %q\nwant %q", got, want)
			}
			// The copy runs as it was: no second boot.
			r := h.mustXL("shutdown", "-w", "web")
			if !strings.Contains(r.stderr, "Domain 2 has been shut down") {
				t.Errorf("shutdown of the received copy: %+v", r)
			}
		})
	}
}

func TestMigrateStubDomain(t *testing.T) {
	h := newHost(t)
	h.mustXL("create", h.guest("win", `type = "hvm"`, "device_model_stubdomain_override = 1", `xlsim_migrate_time = "20ms"`))
	if d := h.domains(); d["win-dm"] != "2 -b----" {
		t.Fatalf("no stub domain: %v", d)
	}
	r := h.mustXL("migrate", "win", "host2")
	if !strings.Contains(r.stderr, "xc: info: Saving domain 1, type x86 HVM\n") || !strings.HasSuffix(r.stderr, "\nMigration successful.\n") {
		t.Errorf("migrate stderr %q", r.stderr)
	}
	if d := h.domains(); len(d) != 1 {
		t.Errorf("after migrate: %v", d)
	}
	evs, _ := xlsim.ReadEvents(h.dir)
	var got []string
	for _, e := range evs[len(evs)-2:] {
		got = append(got, fmt.Sprintf("%s/%d/%s/%s", e.Domain, e.Domid, e.Ev, e.Host))
	}
	if want := "win/1/migrated/host2 win-dm/2/gone/"; strings.Join(got, " ") != want {
		t.Errorf("events %q", got)
	}
	if r := h.runProg("xenstore-read", "/local/domain/2/name"); r.rc == 0 {
		t.Errorf("stub domain still in xenstore: %+v", r)
	}
}

func TestMigrateFailures(t *testing.T) {
	h := newHost(t)
	h.withShadowPaging()
	h.mustXL("create", h.guest("web", `xlsim_migrate_time = "20ms"`, `xlsim_xenstore = ["data/ready=1"]`))
	h.mustXL("create", h.guest("bad", `xlsim_migrate_time = "20ms"`, "xlsim_migrate_fail = 1"))
	os.WriteFile(filepath.Join(h.dir, xlsim.UnreachableHostsFile), []byte("# down\n\nnowhere\n  Gone.example  \n"), 0o644)
	unchanged := func(what string) {
		t.Helper()
		if d := h.domains(); len(d) != 3 || d["web"] != "1 -b----" || d["bad"] != "2 -b----" {
			t.Errorf("%s: %v", what, d)
		}
	}

	// The target fails.
	r := h.xl("migrate", "bad", "host2")
	want := strings.Replace(strings.ReplaceAll(migrateOK, "<id>", "2"), `xc: info: Restore successful
xc: info: XenStore: mfn 0xa7aab, dom 0, evt 1
xc: info: Console: mfn 0xa7aaa, dom 0, evt 2
migration target: Transfer complete, requesting permission to start domain.
migration sender: Target has acknowledged transfer.
migration sender: Giving target permission to start.
migration target: Got permission, starting domain.
migration target: Domain started successsfully.
migration sender: Target reports successful startup.
Migration successful.
`, `xc: error: Restore failed (5 = Input/output error): Internal error
libxl: error: libxl_stream_read.c:850:libxl__xc_domain_restore_done: restoring domain: Input/output error
libxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain 2:cannot (re-)build domain: -3
migration target: Domain creation failed (code -3).
libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading ready message from migration receiver stream
libxl: info: libxl_exec.c:117:libxl_report_child_exitstatus: migration transport process [PID] exited with error status 1
Migration failed, resuming at sender.
`, 1)
	got := rePID.ReplaceAllString(reInfo.ReplaceAllString(r.stderr, "0x3/0x0/<n>)"), "migration transport process [PID]")
	if r.rc != 1 || got != want {
		t.Errorf("target failure: rc %d\n got: %q\nwant: %q", r.rc, got, want)
	}
	unchanged("after target failure")

	// ssh cannot reach the host.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"web", "nowhere"}, "ssh: Could not resolve hostname nowhere: Name or service not known\n"},
		{[]string{"-s", "ssh -o BatchMode=yes", "web", "root@gone.EXAMPLE"}, "ssh: Could not resolve hostname gone.example: Name or service not known\n"},
		{[]string{"-s", "", "web", "nowhere"}, "sh: 1: nowhere: not found\n"},
	} {
		status := "255"
		if strings.HasPrefix(tc.want, "sh:") {
			status = "127"
		}
		r := h.xl(append([]string{"migrate"}, tc.args...)...)
		want := tc.want + "libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading banner from migration receiver stream\n" +
			"libxl: info: libxl_exec.c:117:libxl_report_child_exitstatus: migration transport process [PID] exited with error status " + status + "\n"
		if got := rePID.ReplaceAllString(r.stderr, "migration transport process [PID]"); r.rc != 1 || got != want || r.stdout != "" {
			t.Errorf("%q: rc %d\n got: %q\nwant: %q", tc.args, r.rc, got, want)
		}
		unchanged(fmt.Sprint(tc.args))
	}
	if r := h.runProg("xenstore-read", "/local/domain/1/data/ready"); r.stdout != "1\n" {
		t.Errorf("web's xenstore after failures: %+v", r)
	}
	evs, _ := xlsim.ReadEvents(h.dir)
	for _, e := range evs {
		if e.Ev != "created" && e.Ev != "booted" {
			t.Errorf("event %+v", e)
		}
	}

	// Usage errors and unknown domains.
	if r := h.xl("migrate", "nosuch", "host2"); r.rc != 1 || r.stderr != "nosuch is an invalid domain identifier (rc=-6)\n" {
		t.Errorf("unknown domain: %+v", r)
	}
	if r := h.xl("migrate", "9", "host2"); r.rc != 1 || r.stderr != "unable to retrieve domain configuration\n" {
		t.Errorf("domid 9: %+v", r)
	}
	if r := h.xl("migrate", "Domain-0", "host2"); r.rc != 1 || r.stderr != "unable to retrieve domain configuration\n" {
		t.Errorf("Domain-0: %+v", r)
	}
	r = h.xl("migrate", "web")
	if r.rc != 2 || r.stderr != "'xl migrate' requires at least 2 arguments.\n\n" ||
		!strings.HasPrefix(r.stdout, "Usage: xl [-vtTf] migrate [options] <Domain> <host>\n\nMigrate a domain to another host.\n\nOptions:\n\n-h ") ||
		!strings.HasSuffix(r.stdout, "-D              Preserve the domain id\n") {
		t.Errorf("one argument: %+v", r)
	}
	if r := h.xl("migrate", "-h"); r.rc != 0 || !strings.HasPrefix(r.stdout, "Usage: xl [-vtTf] migrate ") {
		t.Errorf("-h: %+v", r)
	}
	if r := h.xl("migrate", "-x", "web", "host2"); r.rc != 2 || r.stderr != "option `x' not supported.\n" {
		t.Errorf("-x: %+v", r)
	}
	if r := h.xl("migrate", "-C", filepath.Join(h.cfg, "none.cfg"), "web", "host2"); r.rc != 1 || r.stderr != "unable to read overridden config file\n" {
		t.Errorf("-C none: %+v", r)
	}
	if r := h.xl("-N", "migrate", "web", "host2"); r.rc != 1 || r.stderr != "command does not implement -N (dryrun) option\n" {
		t.Errorf("-N: %+v", r)
	}
	unchanged("after usage errors")
	// -C sends another config; the guest still goes.
	if r := h.mustXL("migrate", "-C", h.guest("web2"), "web", "host2"); !strings.HasSuffix(r.stderr, "\nMigration successful.\n") {
		t.Errorf("-C: %+v", r)
	}
	if _, ok := h.domains()["web"]; ok {
		t.Error("web still there after migrate -C")
	}
}
