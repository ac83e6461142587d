//go:build xene2e

package xen

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The systemd suite's timeouts: booting a systemd Debian under TCG takes a
// minute or two, xenorder's start of the guests another one.
var (
	systemBootTimeout = envDuration("XENORDER_E2E_SYSTEMD_BOOT_TIMEOUT", 10*time.Minute)
	poweroffTimeout   = 8 * time.Minute
)

// brokenGuest fails at boot: its xl config names a kernel that is not
// there, so xl create fails. Nothing depends on it.
const brokenGuest = "broken"

func brokenCfg() string {
	return strings.Replace(guestCfg(guest{name: brokenGuest}), "/lab/guest/vmlinux", "/lab/guest/no-such-vmlinux", 1)
}

// savedGuest has stop_action = "save" in the systemd suite: the poweroff
// saves it and the next boot of the same dom0 image restores it. Its init
// prints a heartbeat (lab.heartbeat=1) with a counter and its kernel's boot
// id, which go on across the save and restore.
const savedGuest = "monitor"

// The systemd dom0's xenorder.toml: the sample host plus the broken guest,
// and savedGuest saved at stop.
func systemdToml() string {
	toml := strings.Replace(xenorderToml(host), "[guest."+savedGuest+"]\n",
		"[guest."+savedGuest+"]\nstop_action = \"save\"   # saved at poweroff, restored at the next boot\n", 1)
	return toml + fmt.Sprintf("\n# Fails at boot (its kernel is missing): the unit must stay active.\n[guest.%s]\n", brokenGuest)
}

// sdGuestCfg is a guest's xl config in the systemd suite.
func sdGuestCfg(g guest) string {
	c := guestCfg(g)
	if g.name == savedGuest {
		c = strings.Replace(c, "lab.name="+g.name, "lab.name="+g.name+" lab.heartbeat=1", 1)
	}
	return c
}

// TestRealXenSystemd boots a real Debian bookworm dom0 (debootstrap,
// systemd, Debian's Xen packages) with xenorder installed from its .deb and
// switched to as the README says, and checks the boot and the poweroff:
// at boot xenorder.service brings the guests up in dependency order and
// stays active although one guest fails; at `systemctl poweroff` it stops
// them in reverse order, the stubborn one destroyed after its grace
// period, before systemd stops the Xen daemons and dom0 halts; monitor,
// with stop_action = "save", is saved instead, and the next boot of the
// same dom0 image restores it (saved_test.go). It prints the boot and
// poweroff timelines.
func TestRealXenSystemd(t *testing.T) {
	l := newLab(t)
	disk := l.buildSystemdDom0()
	s := &scenario{lab: l, t: t, saved: []string{savedGuest}}
	defer s.report()
	l.bootVM(disk)
	sd := &sdRun{scenario: s, disk: disk}

	sd.waitBooted()
	s.preflightRunning()
	boot := sd.bootPhase()
	sd.checkBroken(boot)
	s.checkStart(boot, nil, allNames(), 1)
	sd.checkUnitAfterBoot()
	sd.checkGuestJournal("fileserver")
	sd.checkMonitors()
	sd.cutShortStart()
	planStop := sd.plans()

	stop := sd.poweroff()
	s.checkStopCalls(stop, allNames(), -1)
	sd.checkPoweroff(stop, planStop)
	sd.timelines(boot, stop)
	sd.checkImageOnDisk()
	sd.bootAgain()
}

type sdRun struct {
	*scenario
	disk          string
	journal       []jentry
	booted        float64 // dom0 uptime when systemctl is-system-running returned
	offAt         float64 // dom0 uptime when systemctl poweroff was sent
	qemuExit      time.Duration
	readBack      string
	consoleStatus []string
}

// buildSystemdDom0 makes the disk image: the cached Debian base, copied;
// the lab's pieces (command channel, xl call recorder, guest kernel and
// initramfs, guest configs); then the README's switch steps, run in the
// copy with chroot. It sets l.img (Xen, dom0's kernel and initramfs, from
// the image's /boot) and returns the image.
func (l *lab) buildSystemdDom0() string {
	t, ctx := l.t, l.ctx
	b := &Lab{Dir: labDir(), Logf: func(f string, a ...any) { l.logf(f, a...) }}

	// The .deb, as an admin would build it (README: make deb).
	dist := filepath.Join(l.runDir, "dist")
	if _, err := run(ctx, repoRoot(t), "make", "deb", "GO="+goTool(), "BUILDDIR="+filepath.Join(l.runDir, "bin"), "DISTDIR="+dist); err != nil {
		t.Fatalf("make deb: %v", err)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "xenorder_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v, want one xenorder_*.deb", debs)
	}

	// The guests' kernel and initramfs, from the busybox lab's packages.
	pkgs, err := b.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pkgRoot, err := b.Unpack(ctx, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	vmlinux, ginitrd, err := b.guestImages(ctx, pkgRoot, debKey(pkgs))
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	base, err := b.DebianBase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.note("debian base (debootstrap + apt, or cached)", time.Since(began))

	t1 := time.Now()
	work := filepath.Join(labDir(), "debian")
	root := filepath.Join(work, "root")
	if err := CopyRoot(ctx, base.Dir, root); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	files := map[string]struct {
		mode os.FileMode
		data string
	}{
		"lab/serve":                            {0o755, string(embedded("dom0/serve"))},
		"lab/bin/xl":                           {0o755, string(embedded("dom0/xl-trace"))},
		"etc/systemd/system/lab-agent.service": {0o644, string(embedded("sdom0/lab-agent.service"))},
		"etc/fstab":                            {0o644, "/dev/vda / ext4 rw,errors=remount-ro 0 0\n"},
		"etc/hostname":                         {0o644, "dom0\n"},
		"etc/hosts":                            {0o644, "127.0.0.1 localhost\n127.0.1.1 dom0\n"},
		"var/log/lab/.keep":                    {0o644, ""},
		"var/log/journal/.keep":                {0o644, ""}, // a persistent journal, read back after poweroff
	}
	for p, f := range files {
		if err := writeFile(root, p, f.mode, f.data); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{vmlinux: "lab/guest/vmlinux", ginitrd: "lab/guest/initrd.gz"} {
		if _, err := run(ctx, "", "install", "-D", "-m", "0644", src, filepath.Join(root, dst)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chroot(ctx, root, "systemctl", "enable", "lab-agent.service"); err != nil {
		t.Fatal(err)
	}

	// The README's switch, step by step, in dom0's root.
	if _, err := run(ctx, "", "install", "-m", "0644", debs[0], filepath.Join(root, "root", filepath.Base(debs[0]))); err != nil {
		t.Fatal(err)
	}
	for i, st := range SwitchSteps {
		if i > 0 && SwitchSteps[i-1].Step == 1 && st.Step == 2 {
			// Step 2 begins with writing the config (the guests' xl
			// configs are there already on a real host).
			cfgs := map[string]string{dom0Config[1:]: systemdToml(), "etc/xen/" + brokenGuest + ".cfg": brokenCfg()}
			for _, g := range host {
				cfgs["etc/xen/"+g.name+".cfg"] = sdGuestCfg(g)
			}
			for p, data := range cfgs {
				if err := writeFile(root, p, 0o644, data); err != nil {
					t.Fatal(err)
				}
			}
		}
		out, err := chroot(ctx, root, "sh", "-c", "cd /root && "+st.Cmd)
		l.logf("README step %d in dom0's root: %s\n%s", st.Step, st.Cmd, indent(string(out)))
		if err != nil {
			t.Fatalf("README step %d: %v", st.Step, err)
		}
		if st.Cmd == "xenorder check" && strings.Contains(strings.ToLower(string(out)), "warning") {
			t.Errorf("README step %d: xenorder check warns:\n%s", st.Step, out)
		}
	}
	os.Remove(filepath.Join(root, "root", filepath.Base(debs[0])))
	os.Remove(filepath.Join(root, "usr/sbin/policy-rc.d")) // the running system is not a chroot
	if out, err := chroot(ctx, root, "sh", "-c", "systemctl is-enabled xenorder.service 2> /dev/null; systemctl is-enabled xendomains.service 2> /dev/null"); string(out) != "enabled\ndisabled\n" {
		t.Fatalf("after the README's steps: systemctl is-enabled xenorder xendomains: %q (%v), want enabled, disabled", out, err)
	}

	kv := base.KernelVersion
	img := &Images{KernelVersion: kv, Dom0Cmdline: Dom0Cmdline + " root=/dev/vda rw"}
	img.Xen = filepath.Join(work, "xen")
	if err := gunzipFile(filepath.Join(root, "boot/xen-"+xenVersion+"-amd64.gz"), img.Xen); err != nil {
		t.Fatal(err)
	}
	img.Dom0Kernel = filepath.Join(work, "vmlinuz")
	img.Dom0Initrd = filepath.Join(work, "initrd.img")
	for src, dst := range map[string]string{"boot/vmlinuz-" + kv: img.Dom0Kernel, "boot/initrd.img-" + kv: img.Dom0Initrd} {
		if _, err := run(ctx, "", "cp", filepath.Join(root, src), dst); err != nil {
			t.Fatal(err)
		}
	}
	disk := filepath.Join(work, "dom0.img")
	if err := MakeImage(ctx, root, disk, "3G"); err != nil {
		t.Fatal(err)
	}
	l.img = img
	l.prepared = time.Since(l.began)
	l.note("copy base, lab files, README steps, mke2fs -d", time.Since(t1))
	return disk
}

func gunzipFile(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// waitBooted waits until systemd says the boot is done.
func (sd *sdRun) waitBooted() {
	l := sd.lab
	began := time.Now()
	r := l.run(systemBootTimeout, "systemctl is-system-running --wait; read up _ < /proc/uptime; echo uptime=$up")
	state, up, _ := strings.Cut(strings.TrimSpace(r.Stdout), "\nuptime=")
	sd.booted, _ = strconv.ParseFloat(up, 64)
	l.note("dom0 command channel -> systemd boot done", time.Since(began))
	l.logf("systemctl is-system-running: %s at %.1fs", state, sd.booted)
	if state != "running" {
		f := l.run(time.Minute, "systemctl --failed --no-legend --no-pager; journalctl -p err -b --no-pager | tail -n 40")
		sd.errorf("boot ended %q, want running; failed units and errors:\n%s", state, indent(f.Stdout))
	}
}

// preflightRunning: the toolstack answers and runs Xen 4.17.
func (s *scenario) preflightRunning() {
	r := s.lab.must(time.Minute, "xl info")
	s.xlInfo = map[string]string{}
	for _, line := range strings.Split(r.Stdout, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			s.xlInfo[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if !strings.HasPrefix(s.xlInfo["xen_version"], xenVersion+".") {
		s.t.Fatalf("xl info: xen_version %q, want %s.x", s.xlInfo["xen_version"], xenVersion)
	}
}

// journalNow reads dom0's journal of this boot through the command channel.
func (sd *sdRun) journalNow() []jentry {
	r := sd.lab.must(2*time.Minute, "journalctl -b -o json --no-pager --all")
	es, err := parseJournal([]byte(r.Stdout))
	if err != nil {
		sd.t.Fatal(err)
	}
	return es
}

// bootPhase is xenorder.service's start at boot, as a phase: the xl calls
// it made (the recorder's log, then emptied for the poweroff) and its
// events from the journal.
func (sd *sdRun) bootPhase() *phase {
	l := sd.lab
	es := sd.journalNow()
	starting, ok1 := unitMsg(es, "xenorder.service", "Starting", 0)
	started, ok2 := unitMsg(es, "xenorder.service", "Started", 0)
	if !ok1 || !ok2 {
		sd.t.Fatalf("the journal lacks systemd's Starting/Started xenorder.service:\n%s", indent(unitText(unitLines(es, "xenorder.service", 0))))
	}
	text, evs := xenorderEvents(es, starting.Mono, started.Mono+5)
	show := sd.unitProps()
	code, _ := strconv.Atoi(show["ExecMainStatus"])
	res := &Result{Cmd: "xenorder start (xenorder.service, at boot)", Stdout: text, Code: code,
		Duration: time.Duration((started.Mono - starting.Mono) * float64(time.Second))}
	tr := l.must(time.Minute, `cd /var/log/lab; cat xl-calls.log; echo @@; cat xl-lists.log; : > xl-calls.log; : > xl-lists.log`)
	log, lists, _ := strings.Cut(tr.Stdout, "@@\n")
	calls, err := parseCalls(log)
	if err != nil {
		sd.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(l.runDir, "1-boot-xl-calls.log"), []byte(log), 0o644)
	os.WriteFile(filepath.Join(l.runDir, "1-boot-xl-lists.log"), []byte(lists), 0o644)
	p := &phase{name: "boot (xenorder.service start)", res: res, t0: starting.Mono, calls: calls, lists: parseLists(lists), evs: evs}
	sd.phases = append(sd.phases, p)
	sd.journal = es
	l.logf("xenorder.service start: exit %d after %s, %d xl calls\n%s", code, res.Duration.Round(100*time.Millisecond), len(calls), indent(text))
	return p
}

// cutShortStart: systemd cuts the unit's start short (systemctl stop while
// it starts, as poweroff does mid-boot). It then skips ExecStop; the start,
// SIGTERMed, stops nothing itself, and ExecStopPost (stop --exec-stop-post)
// stops every guest in order (and saves savedGuest). Then the unit is
// started again as at boot, for the rest of the suite, and restores it.
func (sd *sdRun) cutShortStart() {
	l := sd.lab
	l.logf("== a start cut short: systemctl stop, then a start that waits on web forever, then systemctl stop while it starts")
	l.must(5*time.Minute, "systemctl stop xenorder.service")
	never := "lab: web never ready"
	l.must(time.Minute, fmt.Sprintf("cp /etc/xen/xenorder.toml /root/xenorder.toml.orig && sed -i 's/%s/%s/' /etc/xen/xenorder.toml && : > /var/log/lab/xl-calls.log && : > /var/log/lab/xl-lists.log && systemctl start --no-block xenorder.service",
		readyPattern("web"), never))
	// Cut it short once web is created and waited on (every other guest
	// is up by then: web is created last).
	l.must(6*time.Minute, "until grep -q 'create .*web.cfg' /var/log/lab/xl-calls.log; do sleep 1; done; sleep 3; systemctl show -p ActiveState xenorder.service")
	r := l.must(time.Minute, "systemctl show -p ActiveState -p SubState xenorder.service; read up _ < /proc/uptime; echo uptime=$up; : > /var/log/lab/xl-calls.log; : > /var/log/lab/xl-lists.log")
	if !strings.Contains(r.Stdout, "ActiveState=activating") {
		sd.errorf("cut short: xenorder.service is not starting when it is stopped:\n%s", r.Stdout)
	}
	_, up, _ := strings.Cut(strings.TrimSpace(r.Stdout), "uptime=")
	cutAt, _ := strconv.ParseFloat(up, 64)
	l.must(6*time.Minute, "systemctl stop xenorder.service")
	left := l.must(time.Minute, "xl list | tail -n +2 | cut -d' ' -f1")
	if got := strings.Fields(left.Stdout); !slices.Equal(got, []string{"Domain-0"}) {
		sd.errorf("cut short: after the unit stopped xl lists %v, want Domain-0 only", got)
	}
	tr := l.must(time.Minute, `cd /var/log/lab; cat xl-calls.log; echo @@; cat xl-lists.log; echo @@; systemctl show -p ExecMainPID -p Result xenorder.service`)
	log, rest, _ := strings.Cut(tr.Stdout, "@@\n")
	lists, props, _ := strings.Cut(rest, "@@\n")
	calls, err := parseCalls(log)
	if err != nil {
		sd.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(l.runDir, "cut-short-xl-calls.log"), []byte(log), 0o644)
	es := sd.journalNow()
	text, evs := xenorderEvents(es, cutAt, 1e9)
	// Who stopped the guests: never the start (ExecMainPID), only the
	// ExecStopPost's xenorder; never ExecStop, which systemd skipped.
	mainPID := ""
	for _, line := range strings.Split(props, "\n") {
		if v, ok := strings.CutPrefix(line, "ExecMainPID="); ok {
			mainPID = v
		}
	}
	post := 0
	for _, e := range es {
		if e.Mono < cutAt || e.F["SYSLOG_IDENTIFIER"] != "xenorder" || e.F["STEP"] != "shutdown" {
			continue
		}
		switch cmd := e.F["_CMDLINE"]; {
		case e.F["_PID"] == mainPID:
			sd.errorf("cut short: the start (pid %s) stopped a guest itself: %s", mainPID, e.Msg())
		case strings.Contains(cmd, "--exec-stop-post"):
			post++
		default:
			sd.errorf("cut short: a guest stopped by %q, not the unit's ExecStopPost: %s", cmd, e.Msg())
		}
	}
	if post == 0 {
		sd.errorf("cut short: no guest was shut down by the unit's ExecStopPost:\n%s", indent(text))
	}
	p := &phase{name: "start cut short (xenorder.service ExecStopPost)", res: &Result{Cmd: "xenorder stop --exec-stop-post", Stdout: text, Code: -1},
		t0: cutAt, calls: slices.DeleteFunc(calls, func(c xlCall) bool { return c.Verb() == "create" }), lists: parseLists(lists), evs: evs}
	sd.checkStopCalls(p, allNames(), -1)
	l.logf("cut short: %d guests shut down by ExecStopPost (start pid %s)\n%s", post, mainPID, indent(text))

	// Back as at boot.
	l.must(6*time.Minute, "cp /root/xenorder.toml.orig /etc/xen/xenorder.toml && systemctl start xenorder.service && : > /var/log/lab/xl-calls.log && : > /var/log/lab/xl-lists.log")
	if m := sd.unitProps(); m["ActiveState"] != "active" {
		sd.errorf("after the cut-short start, xenorder.service started again: ActiveState=%s", m["ActiveState"])
	}
	sd.checkCutShortRestore()
}

// unitProps are `systemctl show` properties of xenorder.service.
func (sd *sdRun) unitProps() map[string]string {
	r := sd.lab.must(time.Minute, "systemctl show -p ActiveState -p SubState -p Result -p ExecMainStatus -p ExecMainCode -p StatusText -p NotifyAccess -p TimeoutStartUSec -p TimeoutStopUSec -p ControlGroup xenorder.service")
	m := map[string]string{}
	for _, l := range strings.Split(r.Stdout, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// checkBroken: the broken guest's xl create was tried once and failed;
// xenorder said so; it did not hold anything else up.
func (sd *sdRun) checkBroken(p *phase) {
	cs := filterCalls(p.calls, "create", brokenGuest)
	if len(cs) != 1 || cs[0].RC == 0 {
		sd.errorf("boot: xl create %s: %v, want one failed call", brokenGuest, cs)
	}
	if _, ok := findEvent(p.evs, brokenGuest, "failed"); !ok {
		sd.errorf("boot: the journal lacks xenorder's %q for %s:\n%s", "failed", brokenGuest, indent(p.res.Stdout))
	}
	// checkStart saw the other guests' creates only.
	p.calls = slices.DeleteFunc(p.calls, func(c xlCall) bool { return c.Target() == brokenGuest })
}

// checkUnitAfterBoot: the unit is active though a guest failed, says so in
// its status text, and xendomains stayed out of the way.
func (sd *sdRun) checkUnitAfterBoot() {
	m := sd.unitProps()
	if m["ActiveState"] != "active" || m["Result"] != "success" {
		sd.errorf("xenorder.service after boot: ActiveState=%s Result=%s, want active, success (its stop must run at poweroff)", m["ActiveState"], m["Result"])
	}
	if m["ExecMainStatus"] != "1" {
		sd.errorf("xenorder.service: ExecMainStatus=%s, want 1 (a guest failed)", m["ExecMainStatus"])
	}
	if st := m["StatusText"]; !strings.Contains(st, "started 7/8") || !strings.Contains(st, "NOT OK: "+brokenGuest+" failed") {
		sd.errorf("xenorder.service StatusText=%q, want it to say 7/8 started and %s failed", st, brokenGuest)
	}
	r := sd.lab.run(time.Minute, "systemctl is-active xenorder.service xendomains.service xen.service; systemctl is-enabled xendomains.service")
	if got := strings.Fields(r.Stdout); !slices.Equal(got, []string{"active", "inactive", "active", "disabled"}) {
		sd.errorf("systemctl is-active xenorder xendomains xen, is-enabled xendomains: %v, want active inactive active disabled", got)
	}
	sd.lab.logf("xenorder.service after boot: %s/%s, Result=%s, ExecMainStatus=%s, StatusText=%q", m["ActiveState"], m["SubState"], m["Result"], m["ExecMainStatus"], m["StatusText"])
}

// checkGuestJournal: journalctl -u xenorder GUEST=n is n's whole story at
// boot, and only n's.
func (sd *sdRun) checkGuestJournal(n string) {
	r := sd.lab.must(time.Minute, "journalctl -b -u xenorder GUEST="+n+" -o json --no-pager")
	es, err := parseJournal([]byte(r.Stdout))
	if err != nil {
		sd.t.Fatal(err)
	}
	var steps, lines []string
	for _, e := range es {
		if e.F["GUEST"] != n {
			sd.errorf("journalctl -u xenorder GUEST=%s shows an entry about %q: %s", n, e.F["GUEST"], e.Msg())
		}
		steps = append(steps, e.F["STEP"])
		lines = append(lines, e.Msg())
	}
	for _, want := range []string{"create", "ready"} {
		if !slices.Contains(steps, want) {
			sd.errorf("journalctl -u xenorder GUEST=%s: no STEP=%s entry; steps %v:\n%s", n, want, steps, indent(strings.Join(lines, "\n")))
		}
	}
	sd.lab.logf("journalctl -u xenorder GUEST=%s: %d entries, steps %v\n%s", n, len(es), steps, indent(strings.Join(lines, "\n")))
}

// checkMonitors: the xl monitor processes `xl create` leaves, one per
// guest, live in xenorder.service's cgroup (where KillMode=process keeps
// them from being signalled by the unit's bookkeeping).
func (sd *sdRun) checkMonitors() {
	r := sd.lab.must(time.Minute, `for p in /proc/[0-9]*; do
	c=$(tr '\0' ' ' < $p/cmdline 2> /dev/null) || continue
	case "$c" in */bin/xl\ create*) echo "${p#/proc/} $(cut -d: -f3 $p/cgroup) $c" ;; esac
done`)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	var guests []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		if f[1] != "/system.slice/xenorder.service" {
			sd.errorf("xl monitor %q is in cgroup %s, want /system.slice/xenorder.service", l, f[1])
		}
		guests = append(guests, strings.TrimSuffix(filepath.Base(f[len(f)-1]), ".cfg"))
	}
	slices.Sort(guests)
	want := slices.Sorted(slices.Values(allNames()))
	if !slices.Equal(guests, want) {
		sd.errorf("xl monitors for %v, want one per running guest %v:\n%s", guests, want, r.Stdout)
	}
	sd.lab.logf("xl monitors (pid, cgroup, command):\n%s", indent(r.Stdout))
}

// plans runs the README's step-2 plans in the booted dom0 and returns the
// tier plan stop puts each guest in.
func (sd *sdRun) plans() map[string]int {
	tiers := map[string]int{}
	for _, c := range PlanSteps {
		r := sd.lab.run(time.Minute, c)
		sd.lab.logf("$ %s: exit %d\n%s", c, r.Code, indent(r.Stdout+r.Stderr))
		if r.Code != 0 {
			sd.errorf("%s: exit %d\n%s", c, r.Code, r)
		}
		if c != "xenorder plan stop" {
			continue
		}
		tier := -1
		for _, l := range strings.Split(r.Stdout, "\n") {
			f := strings.Fields(l)
			if len(f) == 2 && f[0] == "tier" {
				tier, _ = strconv.Atoi(strings.TrimSuffix(f[1], ":"))
				continue
			}
			if len(f) >= 2 && tier >= 0 && slices.Contains(allNames(), f[0]) {
				tiers[f[0]] = tier
			}
		}
	}
	return tiers
}

// poweroff runs systemctl poweroff in dom0, waits for QEMU to exit, reads
// the journal, the xl call log and the guests' console logs back from the
// disk image, and returns xenorder.service's stop as a phase.
func (sd *sdRun) poweroff() *phase {
	l := sd.lab
	// The plans' xl calls are not the stop's.
	r := l.must(time.Minute, ": > /var/log/lab/xl-calls.log; : > /var/log/lab/xl-lists.log\nread up _ < /proc/uptime; echo $up; systemctl --no-block poweroff")
	sd.offAt, _ = strconv.ParseFloat(strings.TrimSpace(r.Stdout), 64)
	l.logf("== systemctl poweroff at %.1fs; waiting for qemu to exit (at most %s)", sd.offAt, poweroffTimeout)
	d, err := l.vm.WaitExit(l.ctx, poweroffTimeout)
	if err != nil {
		sd.t.Fatalf("after systemctl poweroff: %v\n--- last 60 lines of the serial console:\n%s", err, l.vm.ConsoleTail(60))
	}
	sd.qemuExit = d
	l.note("systemctl poweroff -> qemu exit", d)
	sd.readBack = filepath.Join(l.runDir, "dom0")
	if err := ReadBack(l.ctx, sd.disk, sd.readBack, "/var/log/journal", "/var/log/lab", "/var/log/xen/console"); err != nil {
		sd.t.Fatalf("reading dom0's logs back from its disk: %v", err)
	}
	es, err := readJournal(l.ctx, filepath.Join(sd.readBack, "var/log/journal"))
	if err != nil {
		sd.t.Fatal(err)
	}
	sd.journal = es
	stopping, ok1 := unitMsg(es, "xenorder.service", "Stopping", sd.offAt)
	stopped, ok2 := unitMsg(es, "xenorder.service", "Stopped", sd.offAt)
	if !ok1 || !ok2 {
		sd.t.Fatalf("the journal lacks systemd's Stopping/Stopped xenorder.service after the poweroff:\n%s", indent(unitText(unitLines(es, "xenorder.service", sd.offAt))))
	}
	text, evs := xenorderEvents(es, stopping.Mono, stopped.Mono+1)
	// systemd does not log the exit status of a control process it counts
	// as a success (SuccessExitStatus=1 covers ExecStop too): -1, unknown.
	// checkPoweroff checks the unit's result and xenorder's summary.
	code := -1
	res := &Result{Cmd: "xenorder stop --wait-lock 10m --interrupt-holder (xenorder.service, at poweroff)", Stdout: text, Code: code,
		Duration: time.Duration((stopped.Mono - stopping.Mono) * float64(time.Second))}
	log, _ := os.ReadFile(filepath.Join(sd.readBack, "var/log/lab/xl-calls.log"))
	lists, _ := os.ReadFile(filepath.Join(sd.readBack, "var/log/lab/xl-lists.log"))
	calls, err := parseCalls(string(log))
	if err != nil {
		sd.t.Fatal(err)
	}
	p := &phase{name: "poweroff (xenorder.service stop)", res: res, t0: stopping.Mono, calls: calls, lists: parseLists(string(lists)), evs: evs}
	sd.phases = append(sd.phases, p)
	l.logf("xenorder.service stop: exit %d after %s, %d xl calls\n%s", code, res.Duration.Round(100*time.Millisecond), len(calls), indent(text))
	return p
}

func unitText(es []jentry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "[%8.3f] %s\n", e.Mono, e.Msg())
	}
	return b.String()
}

// checkPoweroff: every guest was gone before systemd went on to stop the
// Xen daemons; the order is plan stop's; the unit's stop ran within its
// timeouts, heard, and left no process behind; each guest's console ends
// as it should; dom0 powered off.
func (sd *sdRun) checkPoweroff(p *phase, planStop map[string]int) {
	es := sd.journal
	stopped, _ := unitMsg(es, "xenorder.service", "Stopped", sd.offAt)
	xenStopping, ok := unitMsg(es, "xen.service", "Stopping", sd.offAt)
	if !ok {
		sd.errorf("poweroff: the journal lacks systemd's Stopping xen.service:\n%s", indent(unitText(unitLines(es, "xen.service", 0))))
	} else if stopped.Mono > xenStopping.Mono {
		sd.errorf("poweroff: xen.service began stopping at %.2fs, before xenorder.service had stopped (%.2fs)", xenStopping.Mono, stopped.Mono)
	}
	// The last xl list xenorder ran shows only Domain-0, before xen.service stops.
	if len(p.lists) == 0 {
		sd.errorf("poweroff: xenorder ran no xl list")
	} else {
		last := p.lists[len(p.lists)-1]
		var names []string
		for _, r := range last.Rows {
			names = append(names, r.Name)
		}
		if !slices.Equal(names, []string{"Domain-0"}) {
			sd.errorf("poweroff: xenorder's last xl list (%.2fs) shows %v, want only Domain-0", last.T, names)
		}
		if ok && last.T > xenStopping.Mono {
			sd.errorf("poweroff: xenorder's last xl list (%.2fs) after xen.service began stopping (%.2fs)", last.T, xenStopping.Mono)
		}
	}
	// The shutdown requests follow plan stop's tiers: each guest is asked
	// after every guest of an earlier tier, and after its dependents.
	var order []string
	for _, c := range filterCalls(p.calls, "shutdown", "") {
		order = append(order, c.Target())
	}
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	for _, g := range host {
		for _, d := range g.deps {
			if pos[d] < pos[g.name] {
				sd.errorf("poweroff: %s asked to shut down before %s, which depends on it (order %v)", d, g.name, order)
			}
			if planStop[d] <= planStop[g.name] {
				sd.errorf("xenorder plan stop puts %s (tier %d) no later than %s (tier %d), which depends on it", d, planStop[d], g.name, planStop[g.name])
			}
		}
	}
	for i, a := range order {
		for _, b := range order[i+1:] {
			if planStop[a] > planStop[b] {
				sd.errorf("poweroff: %s (plan stop tier %d) asked to shut down before %s (tier %d): order %v", a, planStop[a], b, planStop[b], order)
			}
		}
	}
	if len(planStop) != len(host) {
		sd.errorf("xenorder plan stop placed %v, want every guest", planStop)
	}
	// The unit's result, and xenorder's own summary of the stop.
	if _, ok := unitMsg(es, "xenorder.service", "xenorder.service: Deactivated successfully", sd.offAt); !ok {
		sd.errorf("poweroff: systemd did not say xenorder.service deactivated successfully:\n%s", indent(unitText(unitLines(es, "xenorder.service", sd.offAt))))
	}
	// The summary: a count line, then one entry per problem.
	summary := ""
	for _, e := range es {
		if e.Mono >= sd.offAt && e.F["SYSLOG_IDENTIFIER"] == "xenorder" && e.F["GUEST"] == "" {
			summary += e.Msg() + "\n"
		}
	}
	if !strings.Contains(summary, "stop: 7 guests in") || !strings.Contains(summary, "6 stopped, 1 destroyed after grace") || !strings.Contains(summary, "FORCED  db: destroyed after its grace period of 20s") {
		sd.errorf("poweroff: xenorder's summary %q, want 7 guests, 6 stopped, db destroyed after its grace period", summary)
	}
	// Heard, within its timeouts, nothing left behind.
	for _, e := range es {
		if e.Mono < sd.offAt || e.F["_PID"] != "1" {
			continue
		}
		m := e.Msg()
		switch {
		case strings.Contains(m, "reception only permitted for main PID"):
			sd.errorf("poweroff: systemd ignored a notification: %s", m)
		case e.F["UNIT"] == "xenorder.service" && (strings.Contains(m, "timed out") || strings.Contains(m, "Killing process")):
			sd.errorf("poweroff: xenorder.service: %s", m)
		case e.F["UNIT"] == "xenorder.service" && strings.Contains(m, "remains running after unit stopped"):
			sd.errorf("poweroff: xenorder.service left a process: %s", m)
		}
	}
	for _, n := range allNames() {
		b, err := os.ReadFile(filepath.Join(sd.readBack, "var/log/xen/console", "guest-"+n+".log"))
		if err != nil {
			sd.errorf("poweroff: %v", err)
			continue
		}
		sd.checkConsoleEnd(p, n, string(b))
	}
	sd.checkConsole()
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// checkConsole: dom0's serial console shows, in this order, the unit's
// stop with xenorder's STATUS= (heard from the stop process:
// NotifyAccess=all), the unit stopped, then the Xen daemons stopped, then
// dom0 powering off.
func (sd *sdRun) checkConsole() {
	b, err := os.ReadFile(sd.lab.vm.Console)
	if err != nil {
		sd.errorf("poweroff: %v", err)
		return
	}
	con := ansiRE.ReplaceAllString(strings.ReplaceAll(string(b), "\r", "\n"), "")
	pos := 0
	for _, want := range []string{"Stopping xenorder.service", "Job xenorder.service/stop running (", "Stopped xenorder.service", "Stopping xen.service", "Stopped xen.service", "reboot: Power down"} {
		i := strings.Index(con[pos:], want)
		if i < 0 {
			sd.errorf("poweroff: the serial console lacks %q after what came before it; its end:\n%s", want, sd.lab.vm.ConsoleTail(40))
			return
		}
		pos += i + len(want)
	}
	var status []string
	for _, m := range regexp.MustCompile(`Job xenorder\.service/stop running \(([^)\n]*\))`).FindAllStringSubmatch(con, -1) {
		if !slices.Contains(status, m[1]) {
			status = append(status, m[1])
		}
	}
	sd.consoleStatus = status
	// The guests the status named, in the order the console showed them:
	// a guest never before one that depends on it.
	first := map[string]int{}
	for i, st := range status {
		for _, n := range allNames() {
			if _, seen := first[n]; !seen && regexp.MustCompile(`\b`+regexp.QuoteMeta(n)+`\b`).MatchString(st) {
				first[n] = i
			}
		}
	}
	for _, g := range host {
		for _, d := range g.deps {
			fd, ok1 := first[d]
			fg, ok2 := first[g.name]
			if ok1 && ok2 && fd < fg {
				sd.errorf("poweroff: the console's stop status named %s before %s, which depends on it: %q", d, g.name, status)
			}
		}
	}
	if len(first) < 2 {
		sd.errorf("poweroff: the console's stop status named %d guests (%q), want at least two", len(first), status)
	}
	sd.lab.logf("the console showed the stop job's status: %q", status)
}

// recorderDelay notes when the recorder's own look (xl list, the console
// logs) held the real xl back noticeably.
func recorderDelay(c xlCall) string {
	if d := c.TX - c.T0; d >= 0.5 {
		return fmt.Sprintf(" [xl itself ran %.1fs later, after the recorder's look]", d)
	}
	return ""
}

// timelines prints what happened when, in seconds since dom0's kernel
// started.
func (sd *sdRun) timelines(boot, stop *phase) {
	es := sd.journal
	var b strings.Builder
	at := func(t float64, what string) { fmt.Fprintf(&b, "  %8.1fs  %s\n", t, what) }
	b.WriteString("boot timeline (dom0 uptime, from its journal and the xl call log; xl calls at the time xenorder made them):\n")
	first := func(unit, prefix string, from float64) {
		if e, ok := unitMsg(es, unit, prefix, from); ok {
			at(e.Mono, e.Msg())
		}
	}
	first("xen.service", "Starting", 0)
	first("xen.service", "Started", 0)
	first("xenorder.service", "Starting", 0)
	for _, c := range filterCalls(boot.calls, "create", "") {
		ready := ""
		if e, ok := findEvent(boot.evs, c.Target(), "ready after"); ok {
			ready = ", " + e.what
		}
		at(c.T0, fmt.Sprintf("  xl create %s%s (%.1fs)%s", c.Target(), recorderDelay(c), c.T1-c.TX, ready))
	}
	for _, e := range es {
		if e.Mono < sd.offAt && e.F["SYSLOG_IDENTIFIER"] == "xenorder" && e.F["STEP"] == "fail" {
			at(e.Mono, "  "+e.Msg())
		}
	}
	first("xenorder.service", "Started", 0)
	first("multi-user.target", "Reached target", 0)
	at(sd.booted, "systemctl is-system-running: done")
	b.WriteString("poweroff timeline:\n")
	at(sd.offAt, "systemctl poweroff")
	first("xenorder.service", "Stopping", sd.offAt)
	for _, c := range stop.calls {
		if v := c.Verb(); v == "shutdown" || v == "destroy" {
			at(c.T0, fmt.Sprintf("  xl %s %s%s", v, c.Target(), recorderDelay(c)))
		}
	}
	if len(stop.lists) > 0 {
		at(stop.lists[len(stop.lists)-1].T, "  last xl list: only Domain-0")
	}
	first("xenorder.service", "Stopped", sd.offAt)
	first("xen.service", "Stopping", sd.offAt)
	first("xen.service", "Stopped", sd.offAt)
	if len(es) > 0 {
		at(es[len(es)-1].Mono, "last journal entry: "+es[len(es)-1].Msg())
	}
	fmt.Fprintf(&b, "  qemu exited %.1fs after systemctl poweroff (host clock)\n", sd.qemuExit.Seconds())
	fmt.Fprintf(&b, "  the console showed the stop job's status (xenorder's STATUS=): %s\n", strings.Join(sd.consoleStatus, " | "))
	fmt.Print(b.String())
	if sd.lab.log != nil {
		fmt.Fprint(sd.lab.log, b.String())
	}
	os.WriteFile(filepath.Join(sd.lab.runDir, "timelines.txt"), []byte(b.String()), 0o644)
}
