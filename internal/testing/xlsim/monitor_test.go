package xlsim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPoweredOffGuestListedUntilMonitorReaps: as on real Xen, a guest that
// powered off stays listed --ps-- until xl's monitor destroys it.
func TestPoweredOffGuestListedUntilMonitorReaps(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	t.Setenv("XLSIM_MONITOR_DELAY", "300ms")
	cfg := filepath.Join(dir, "v.cfg")
	os.WriteFile(cfg, []byte("name = 'v'\nmemory = 64\nxlsim_create_time = '10ms'\nxlsim_shutdown_time = '50ms'\n"), 0o644)
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		if rc := Main(append([]string{"xl"}, args...), &out, &errb); rc != 0 {
			t.Fatalf("xl %v: rc %d: %s", args, rc, errb.String())
		}
		return out.String()
	}
	run("create", cfg)
	run("shutdown", "v")
	time.Sleep(150 * time.Millisecond)
	if l := run("list"); !strings.Contains(l, "--ps--") {
		t.Errorf("powered-off guest not listed --ps--:\n%s", l)
	}
	time.Sleep(300 * time.Millisecond)
	if l := run("list"); strings.Contains(l, "\nv ") {
		t.Errorf("still listed after the monitor's delay:\n%s", l)
	}
	evs, err := ReadEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, e := range evs {
		seq = append(seq, e.Ev)
	}
	if got := strings.Join(seq, ","); !strings.HasSuffix(got, "shutdown-requested,shutdown,gone") {
		t.Errorf("events %s", got)
	}
}

// TestPCIGuestTeardownOutlastsTheMonitorDelay: as on real Xen, a guest with
// a passed-through device that powered off stays listed ---s-- (not
// paused) while xl's monitor hands the device back: XLSIM_PCI_TEARDOWN
// more than another guest.
func TestPCIGuestTeardownOutlastsTheMonitorDelay(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	t.Setenv("XLSIM_MONITOR_DELAY", "100ms")
	t.Setenv("XLSIM_PCI_TEARDOWN", "500ms")
	if err := SetHostPCI(dir, "0000:00:19.0 e1000e"); err != nil {
		t.Fatal(err)
	}
	if err := SetPciback(dir, true); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"plain", "nic"} {
		extra := ""
		if g == "nic" {
			extra = "pci = [ '00:19.0' ]\n"
		}
		os.WriteFile(filepath.Join(dir, g+".cfg"), []byte("name = '"+g+"'\nmemory = 64\nxlsim_create_time = '10ms'\nxlsim_shutdown_time = '50ms'\n"+extra), 0o644)
	}
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		if rc := Main(append([]string{"xl"}, args...), &out, &errb); rc != 0 {
			t.Fatalf("xl %v: rc %d: %s", args, rc, errb.String())
		}
		return out.String()
	}
	run("pci-assignable-add", "00:19.0")
	run("create", filepath.Join(dir, "plain.cfg"))
	run("create", filepath.Join(dir, "nic.cfg"))
	run("shutdown", "plain")
	run("shutdown", "nic")
	state := func(list, name string) string {
		for _, l := range strings.Split(list, "\n") {
			if f := strings.Fields(l); len(f) >= 5 && f[0] == name {
				return f[4]
			}
		}
		return "gone"
	}
	time.Sleep(300 * time.Millisecond) // past the monitor's delay, not the teardown
	l := run("list")
	if got := state(l, "plain"); got != "gone" {
		t.Errorf("plain guest after the monitor's delay: %s, want gone:\n%s", got, l)
	}
	if got := state(l, "nic"); got != "---s--" {
		t.Errorf("PCI guest during its teardown: %s, want ---s--:\n%s", got, l)
	}
	time.Sleep(500 * time.Millisecond)
	if l := run("list"); state(l, "nic") != "gone" {
		t.Errorf("PCI guest still listed after its teardown:\n%s", l)
	}
	if l := run("pci-assignable-list"); !strings.Contains(l, "0000:00:19.0") {
		t.Errorf("the NIC is not assignable again after the teardown: %q", l)
	}
}
