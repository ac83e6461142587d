package xlsim

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// UnreachableHostsFile, in $XLSIM_DIR, lists the hosts xl migrate cannot
// reach, one a line.
const UnreachableHostsFile = "unreachable-hosts"

// Long-only options of xl migrate, with xl's values.
const (
	optMigrateDebug = rune(0x100)
	optMigrateLive  = rune(0x200)
)

// stopCopyDiv: the guest runs during the first (n-1)/n of its
// xlsim_migrate_time (the live rounds) and is suspended for the last 1/n
// (the final round).
const stopCopyDiv = 10

// cmdMigrate is `xl migrate [options] DOMAIN HOST` (tools/xl/xl_migrate.c:
// main_migrate and migrate_domain). Real xl runs `ssh HOST xl
// migrate-receive` and streams the domain to it; the simulator has no
// other host: the stream takes the guest's xlsim_migrate_time, and the
// target always accepts it unless the guest has xlsim_migrate_fail or HOST
// is in $XLSIM_DIR/unreachable-hosts. A HOST that is this one (localhost,
// a loopback address, the hostname) receives it: the guest runs on here
// under its name and a new domid, as after OSSTest's localhost migration.
// A PV guest migrates only if the host has shadow paging (its log-dirty
// mode): virt_caps in $XLSIM_DIR/virt-caps must list "shadow". What the receiver prints reaches the
// sender's stderr through ssh; the simulator prints it in one plausible
// interleaving.
func (e *Env) cmdMigrate(args []string) int {
	opts, operands, rc := e.getopt("migrate", args, "FC:s:epD", map[string]rune{
		"debug": optMigrateDebug, "live": optMigrateLive,
	}, 2)
	if rc >= 0 {
		return rc
	}
	// Like real xl, operands after <host> are ignored.
	sshCommand, cfgFile, mode := "ssh", "", cfgSave
	for _, o := range opts {
		switch o.c {
		case 'C':
			cfgFile = o.arg
		case 's':
			sshCommand = o.arg
		case 'D':
			mode = cfgSaveDomid
		}
	}
	host := operands[1]

	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	d, rc := e.savable(s, operands[0])
	if rc >= 0 {
		return rc
	}
	id := d.ID
	// The config sent ahead of the domain (save_domain_core_begin).
	sent := *d
	if cfgFile != "" {
		data, err := os.ReadFile(cfgFile)
		if err != nil {
			s.commit()
			fmt.Fprintf(e.Stderr, "unable to read overridden config file\n")
			return 1
		}
		nd, rc := e.parseGuest(cfgFile, data)
		if rc >= 0 {
			s.commit()
			return rc
		}
		sent.Name, sent.MemMiB, sent.MaxMemMiB, sent.B = nd.Name, nd.MemMiB, nd.MaxMemMiB, nd.B
	}
	optLen := 4 + len(yajlGen(configJSON(&sent, mode))) + 1
	arch := archName(d)
	migrateTime, migrateFail := d.B.MigrateTime, d.B.MigrateFail
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}

	// The transport: sh -c "exec ssh HOST xl migrate-receive" (or just
	// HOST with -s ""). xl reports its exit status when it fails.
	transportPID := os.Getpid() + 1
	childReport := func(status int) {
		fmt.Fprintf(e.Stderr, "libxl: info: libxl_exec.c:117:libxl_report_child_exitstatus: migration transport process [%d] exited with error status %d\n", transportPID, status)
	}
	if e.unreachable(host) {
		// No receiver, no banner: migrate_do_preamble gives up.
		if sshCommand == "" {
			fmt.Fprintf(e.Stderr, "sh: 1: %s: not found\n", host)
		} else {
			fmt.Fprintf(e.Stderr, "ssh: Could not resolve hostname %s: Name or service not known\n", sshHostname(host))
		}
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading banner from migration receiver stream\n")
		if sshCommand == "" {
			childReport(127)
		} else {
			childReport(255)
		}
		return 1
	}

	fmt.Fprintf(e.Stderr, "migration target: Ready to receive domain.\n")
	fmt.Fprintf(e.Stderr, "Saving to migration stream new xl format (info 0x%x/0x0/%d)\n", flagJSON|flagStreamV2, optLen)
	fmt.Fprintf(e.Stderr, "xc: info: Saving domain %d, type %s\n", id, arch)
	fmt.Fprintf(e.Stderr, "Loading new save file <incoming migration stream> (new xl fmt info 0x%x/0x0/%d)\n", flagJSON|flagStreamV2, optLen)
	fmt.Fprintf(e.Stderr, " Savefile contains xl domain config in JSON format\n")
	fmt.Fprintf(e.Stderr, "Parsing config from <saved>\n")
	fmt.Fprintf(e.Stderr, "xc: info: Found %s domain from Xen 4.17\n", arch)
	fmt.Fprintf(e.Stderr, "xc: info: Restoring domain\n")
	if d.Type == "pv" && !e.hasVirtCap("shadow") {
		// A PV guest's log-dirty mode (the live rounds need it) is
		// shadow paging's; without it (Debian's Xen 4.17, whose xl info
		// lists no "shadow") the sender fails at once and the guest runs
		// on, never suspended. The xc line is real Xen's in the lab.
		fmt.Fprintf(e.Stderr, "xc: error: Failed to enable logdirty: 95,22,0 (22 = Invalid argument): Internal error\n")
		fmt.Fprintf(e.Stderr, "migration sender: libxl_domain_suspend failed (rc=-3)\n")
		fmt.Fprintf(e.Stderr, "Migration failed, resuming at sender.\n")
		return 1
	}

	// libxl_domain_suspend failed: the guest went away (or stopped
	// running) behind our back.
	suspendFailed := func() int {
		fmt.Fprintf(e.Stderr, "xc: error: Save failed (3 = No such process): Internal error\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_stream_write.c:347:libxl__xc_domain_save_done: Domain %d:saving domain: domain responded to suspend request: No such process\n", id)
		fmt.Fprintf(e.Stderr, "migration sender: libxl_domain_suspend failed (rc=-3)\n")
		childReport(1)
		fmt.Fprintf(e.Stderr, "Migration failed, resuming at sender.\n")
		return 1
	}

	// The live rounds: the guest keeps running while all its frames go,
	// then those it dirtied meanwhile. xl's progress lines are the
	// sender's (xg_sr_save.c, send_memory_live); the receiver reports
	// none.
	frames := d.MemMiB * 256
	progress := &xcProgress{w: e.Stderr}
	progress.single("Start of stream")
	live := migrateTime - migrateTime/stopCopyDiv
	progress.pass("Frames iteration 0", frames, live-live/stopCopyDiv)
	progress.pass("Frames iteration 1", frames/64, live/stopCopyDiv)
	s, err = e.begin()
	if err != nil {
		return e.fatal(err)
	}
	d = s.st.byID(id)
	if d == nil || d.Phase != phaseRunning {
		s.commit()
		return suspendFailed()
	}
	d.Phase = phaseSuspended
	d.ShutdownReason = reasonSuspend
	d.syncCPU(s.now)
	suspendedAt := s.now
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}

	// The final round, suspended.
	progress.single("Domain now suspended")
	progress.pass("Frames iteration 2", frames/1024+1, migrateTime-live)
	progress.single("End of stream")
	progress.single("Complete")
	s, err = e.begin()
	if err != nil {
		return e.fatal(err)
	}
	d = s.st.byID(id)
	if d == nil || d.Phase != phaseSuspended {
		s.commit()
		return suspendFailed()
	}
	if migrateFail {
		// The receiver fails to build its copy; the sender finds the
		// stream closed instead of the ready message, and resumes the
		// guest (libxl_domain_resume). Time stood still for it meanwhile.
		d.Phase = phaseRunning
		d.ShutdownReason = 0
		delta := s.now.Sub(suspendedAt)
		for _, t := range []*time.Time{&d.BootDue, &d.ShutdownDue, &d.CrashDue, &d.RebootDue} {
			if !t.IsZero() {
				*t = t.Add(delta)
			}
		}
		d.syncCPU(s.now)
		if d.ShutdownPending && d.canAck() {
			s.ack(d, s.now)
		}
		if err := s.commit(); err != nil {
			return e.fatal(err)
		}
		fmt.Fprintf(e.Stderr, "xc: error: Restore failed (5 = Input/output error): Internal error\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_stream_read.c:850:libxl__xc_domain_restore_done: restoring domain: Input/output error\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain %d:cannot (re-)build domain: -3\n", id)
		fmt.Fprintf(e.Stderr, "migration target: Domain creation failed (code -3).\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading ready message from migration receiver stream\n")
		childReport(1)
		fmt.Fprintf(e.Stderr, "Migration failed, resuming at sender.\n")
		return 1
	}
	// The target has it; ours is renamed away, then destroyed ("bang!")
	// once the target reports it running: all at this one instant.
	var arrived *Domain
	if e.local(host) {
		// To this very host (OSSTest's localhost migration): the
		// receiver's copy runs here, under the same name and a new domid,
		// as it was (no boot).
		cp := *d
		arrived = &cp
	}
	n := len(s.events)
	s.removeDomain(d, s.now, GoneInfo{Why: "migrated"}, "migrated")
	for i := n; i < len(s.events); i++ {
		if s.events[i].Domid == id && s.events[i].Ev == "migrated" {
			s.events[i].Host = host
		}
	}
	if arrived != nil {
		s.arrive(arrived, id)
	}
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}
	fmt.Fprintf(e.Stderr, "xc: info: Restore successful\n")
	fmt.Fprintf(e.Stderr, "xc: info: XenStore: mfn 0xa7aab, dom 0, evt 1\n")
	fmt.Fprintf(e.Stderr, "xc: info: Console: mfn 0xa7aaa, dom 0, evt 2\n")
	fmt.Fprintf(e.Stderr, "migration target: Transfer complete, requesting permission to start domain.\n")
	fmt.Fprintf(e.Stderr, "migration sender: Target has acknowledged transfer.\n")
	fmt.Fprintf(e.Stderr, "migration sender: Giving target permission to start.\n")
	fmt.Fprintf(e.Stderr, "migration target: Got permission, starting domain.\n")
	fmt.Fprintf(e.Stderr, "migration target: Domain started successsfully.\n") // sic
	fmt.Fprintf(e.Stderr, "migration sender: Target reports successful startup.\n")
	fmt.Fprintf(e.Stderr, "Migration successful.\n")
	return 0
}

// VirtCapsFile, in $XLSIM_DIR, holds the virt_caps xl info shows (one
// line); without it the sample host's, which has no shadow paging.
const VirtCapsFile = "virt-caps"

// DefaultVirtCaps are the sample host's (Debian's Xen 4.17 on hardware
// with HAP): no "shadow".
const DefaultVirtCaps = "pv hvm hap gnttab-v1 gnttab-v2"

func (e *Env) virtCaps() string {
	b, err := os.ReadFile(filepath.Join(e.Dir, VirtCapsFile))
	if c := strings.TrimSpace(string(b)); err == nil && c != "" {
		return c
	}
	return DefaultVirtCaps
}

func (e *Env) hasVirtCap(c string) bool {
	for _, f := range strings.Fields(e.virtCaps()) {
		if f == c {
			return true
		}
	}
	return false
}

// local tells whether host (or, for "user@host", its host part) is this
// host: localhost, a loopback address, or this machine's hostname.
func (e *Env) local(host string) bool {
	h := sshHostname(host)
	switch h {
	case "localhost", "localhost.localdomain", "127.0.0.1", "::1", "[::1]":
		return true
	}
	name, err := os.Hostname()
	return err == nil && strings.EqualFold(h, name)
}

// arrive adds, running, the copy of a domain that a migration to this
// host received: a new domid, the old one's xenstore keys (not its
// identity), booted as it was, and a "received" event.
func (s *session) arrive(d *Domain, from int) {
	old := d.XS.kv()
	d.ID = s.st.NextDomid
	s.st.NextDomid++
	d.StubID, d.StubFor = 0, 0
	d.Paused = false
	d.ShutdownPending, d.ShutdownReason = false, 0
	d.PCIAttached = nil
	d.CreatedAt = s.now
	d.XS = xsOf(baseXenstore(d))
	for k, v := range old {
		switch k {
		case "name", "domid", "vm", "console/backend", "image/device-model-domid":
		default:
			d.XS.kv()[k] = v
		}
	}
	s.st.add(d)
	s.built(d, s.now)
	d.Booted, d.BootDue = true, time.Time{}
	s.event(d, s.now, "received")
}

// unreachable tells whether host (or, for "user@host", its host part) is
// listed in $XLSIM_DIR/unreachable-hosts.
func (e *Env) unreachable(host string) bool {
	f, err := os.Open(filepath.Join(e.Dir, UnreachableHostsFile))
	if err != nil {
		return false
	}
	defer f.Close()
	bare := sshHostname(host)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if l == host || strings.EqualFold(l, bare) {
			return true
		}
	}
	return false
}

// sshHostname is the name ssh resolves for a destination: without any
// "user@", in lower case.
func sshHostname(dest string) string {
	if i := strings.LastIndexByte(dest, '@'); i >= 0 {
		dest = dest[i+1:]
	}
	return strings.ToLower(dest)
}
