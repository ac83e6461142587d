package packaging

// The unit around the guests: it runs in dom0 only, its exit codes, and the
// storage drop-in the README and xenorder(1) show.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// unitLines returns the values of a key of the unit file, in order.
func unitLines(t *testing.T, key string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(readFile(t, "contrib/systemd/xenorder.service"), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// The unit runs in dom0 only, and its exit statuses say what doc.go says:
// 1 keeps it active, 2 to 5 fail it.
func TestUnitDom0AndExitStatus(t *testing.T) {
	t.Parallel()
	if got := unitLines(t, "ConditionPathExists"); !slices.Equal(got, []string{"/proc/xen/xsd_kva"}) {
		t.Errorf("ConditionPathExists=%q, want only /proc/xen/xsd_kva (xenfs makes it in the initial domain alone: dom0)", got)
	}
	success := strings.Fields(strings.Join(unitLines(t, "SuccessExitStatus"), " "))
	if !slices.Equal(success, []string{"1"}) {
		t.Errorf("SuccessExitStatus=%v, want 1 alone: 2 (config, off dom0), 3 (lock), 4 (guests left) and 5 (no guest runs) must fail the unit", success)
	}
	// systemd applies SuccessExitStatus= to ExecCondition= too: a check
	// that says "no" with exit 1 (grep -q) would let the unit start.
	if ec := unitLines(t, "ExecCondition"); len(ec) > 0 && slices.Contains(success, "1") {
		t.Errorf("ExecCondition=%q beside SuccessExitStatus=1: its exit 1 would count as success", ec)
	}
	doc := readFile(t, "cmd/xenorder/doc.go")
	for _, code := range []string{"2", "3", "4", "5"} {
		if !regexp.MustCompile(`(?m)^//\t` + code + `  `).MatchString(doc) {
			t.Errorf("doc.go's exit codes have no %s", code)
		}
	}
}

// The shipped binary (make build, no test tags) reads the real
// /proc/xen/capabilities whatever its environment says: the test suite's
// simulated host ($XLSIM_DIR/simhost) is not in it.
func TestShippedBinaryChecksDom0(t *testing.T) {
	t.Parallel()
	if b, err := os.ReadFile("/proc/xen/capabilities"); err == nil && strings.Contains(string(b), "control_d") {
		t.Skip("this machine is a Xen dom0")
	}
	build(t)
	sim := t.TempDir()
	caps := filepath.Join(sim, "simhost", "proc", "xen", "capabilities")
	os.MkdirAll(filepath.Dir(caps), 0o755)
	os.WriteFile(caps, []byte("control_d\n"), 0o444)
	cmd := exec.Command(filepath.Join(workDir, "bin", "xenorder"), "-c", filepath.Join(sim, "none.toml"), "start")
	cmd.Env = append(os.Environ(), "XLSIM_DIR="+sim)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "/proc/xen/capabilities ") ||
		!strings.Contains(string(out), "from dom0 only") {
		t.Errorf("the shipped xenorder start off dom0, with XLSIM_DIR set: %v\n%s\nwant exit 2 naming /proc/xen/capabilities", err, out)
	}
}

// storageDropIns returns the storage drop-ins the docs show: the README's
// (an ini block that begins with its path) and xenorder(1)'s (the .nf
// block under its path).
func storageDropIns(t *testing.T) map[string]string {
	t.Helper()
	const path = "/etc/systemd/system/xenorder.service.d/storage.conf"
	out := map[string]string{}
	readme := readFile(t, "README.md")
	if _, rest, ok := strings.Cut(readme, "```ini\n# "+path+"\n"); ok {
		if block, _, ok := strings.Cut(rest, "```"); ok {
			out["README"] = block
		}
	}
	man := readFile(t, "man/xenorder.1")
	if _, rest, ok := strings.Cut(man, ".I "+path+"\n"); ok {
		if _, rest, ok := strings.Cut(rest, ".nf\n"); ok {
			if block, _, ok := strings.Cut(rest, ".fi\n"); ok {
				out["xenorder.1"] = roffUnescape(block)
			}
		}
	}
	for _, doc := range []string{"README", "xenorder.1"} {
		if out[doc] == "" {
			t.Fatalf("%s shows no drop-in %s", doc, path)
		}
	}
	return out
}

// storageStubs stand in for the storage units a build host lacks, with the
// ordering their Debian packages give them: an ordering cycle with them is
// one a real host would have.
var storageStubs = map[string]string{
	"iscsid.service":           "DefaultDependencies=no\nWants=network-online.target remote-fs-pre.target\nAfter=network.target network-online.target\nBefore=remote-fs-pre.target shutdown.target\nConflicts=shutdown.target\n",
	"open-iscsi.service":       "DefaultDependencies=no\nWants=network-online.target remote-fs-pre.target iscsid.service\nAfter=network-online.target iscsid.service\nBefore=remote-fs-pre.target shutdown.target\nConflicts=shutdown.target\n",
	"multipathd.service":       "DefaultDependencies=no\nWants=local-fs-pre.target\nAfter=systemd-udev-trigger.service\nBefore=local-fs-pre.target blk-availability.service shutdown.target\nConflicts=shutdown.target\n",
	"drbd.service":             "Wants=network-online.target\nAfter=network.target network-online.target\n",
	"zfs-import.target":        "",
	"zfs-volumes.target":       "After=zfs-import.target\n",
	"zfs-mount.service":        "DefaultDependencies=no\nAfter=systemd-udev-settle.service zfs-import.target systemd-remount-fs.service\nBefore=local-fs.target\n",
	"blk-availability.service": "DefaultDependencies=no\nAfter=iscsid.service iscsi.service iscsi-shutdown.service\nBefore=shutdown.target\nConflicts=shutdown.target\n",
}

func writeStub(t *testing.T, dir, unit, ordering string) {
	t.Helper()
	text := "[Unit]\nDescription=stub of " + unit + " (xenorder's packaging test)\n" + ordering
	if strings.HasSuffix(unit, ".service") {
		text += "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/libexec/xenorder-test/stub\n"
	}
	if err := os.WriteFile(filepath.Join(dir, unit), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dropInUnits lists the units a drop-in's Wants= and After= name.
func dropInUnits(dropIn string) (wants, after []string) {
	for _, l := range strings.Split(dropIn, "\n") {
		if v, ok := strings.CutPrefix(l, "Wants="); ok {
			wants = append(wants, strings.Fields(v)...)
		}
		if v, ok := strings.CutPrefix(l, "After="); ok {
			after = append(after, strings.Fields(v)...)
		}
	}
	return wants, after
}

// The storage drop-in the docs show: systemd-analyze verify accepts the
// unit with it, enabled, and multi-user.target starts with no ordering
// cycle; a storage unit ordered after multi-user.target (a cycle a real
// host would hit) is caught.
func TestSystemdStorageDropIn(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on PATH")
	}
	units := hostUnitDir()
	if units == "" {
		t.Skip("no systemd units on this machine (no sysinit.target)")
	}
	dropIns := storageDropIns(t)
	for doc, d := range dropIns {
		wants, after := dropInUnits(d)
		if len(wants) == 0 || len(after) == 0 {
			t.Errorf("%s's drop-in has no Wants= or no After=:\n%s", doc, d)
		}
		for _, w := range wants {
			if !slices.Contains(after, w) {
				t.Errorf("%s's drop-in wants %s without ordering after it", doc, w)
			}
		}
		for _, key := range []string{"Requires=", "BindsTo=", "PartOf=", "Requisite="} {
			if strings.Contains(d, key) {
				t.Errorf("%s's drop-in has %s: restarting the storage unit would restart xenorder.service, stopping every guest", doc, key)
			}
		}
		for _, u := range []string{"iscsid.service", "open-iscsi.service", "multipathd.service", "drbd.service", "zfs-import.target", "zfs-mount.service"} {
			if !slices.Contains(after, u) {
				t.Errorf("%s's drop-in does not order after %s", doc, u)
			}
		}
	}
	build(t)
	dest := t.TempDir()
	runMake(t, "install", "DESTDIR="+dest)
	unitDir := filepath.Join(dest, "lib/systemd/system")
	if err := copyUnits(units, unitDir); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(dest, "etc/systemd/system")
	os.MkdirAll(filepath.Join(etc, "xenorder.service.d"), 0o755)
	os.MkdirAll(filepath.Join(etc, "multi-user.target.wants"), 0o755)
	// Enabled, as on a host that runs it.
	if err := os.Symlink("/lib/systemd/system/xenorder.service", filepath.Join(etc, "multi-user.target.wants", "xenorder.service")); err != nil {
		t.Fatal(err)
	}
	stub := filepath.Join(dest, "usr/libexec/xenorder-test/stub")
	os.MkdirAll(filepath.Dir(stub), 0o755)
	os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755)
	var stubbed []string
	for u, ordering := range storageStubs {
		if _, err := os.Stat(filepath.Join(unitDir, u)); err == nil {
			continue // the build host has the real one
		}
		writeStub(t, etc, u, ordering)
		stubbed = append(stubbed, u)
	}
	slices.Sort(stubbed)
	t.Logf("stubbed: %v", stubbed)

	verify := func(dropIn string) (string, error) {
		if err := os.WriteFile(filepath.Join(etc, "xenorder.service.d", "storage.conf"), []byte(dropIn), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", "--root="+dest, filepath.Join(unitDir, "xenorder.service"), "multi-user.target")
		cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, doc := range []string{"README", "xenorder.1"} {
		d := dropIns[doc]
		wants, after := dropInUnits(d)
		out, err := verify(d)
		t.Logf("%s's drop-in: systemd-analyze verify: %v\n%s", doc, err, out)
		if err != nil {
			t.Errorf("%s's drop-in: systemd-analyze verify: %v\n%s", doc, err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "cycle") || strings.Contains(line, "xenorder") || strings.Contains(line, "storage.conf") ||
				slices.ContainsFunc(append(wants, after...), func(u string) bool { return strings.Contains(line, u) }) {
				t.Errorf("%s's drop-in: systemd-analyze verify complains: %s", doc, line)
			}
		}
	}

	// The check is real: the drop-in's ordering is in the transaction, and
	// a storage unit ordered after multi-user.target makes a cycle.
	if !slices.Contains(stubbed, "drbd.service") {
		t.Skip("the build host has a real drbd.service: no stub to turn into a cycle")
	}
	writeStub(t, etc, "drbd.service", "After=multi-user.target\n")
	out, _ := verify(dropIns["README"])
	if !strings.Contains(out, "ordering cycle") || !strings.Contains(out, "drbd.service") {
		t.Errorf("a drbd.service ordered after multi-user.target: systemd-analyze verify found no cycle through it:\n%s", out)
	}
}
