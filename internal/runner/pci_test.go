package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSysfs makes SYSFS/bus/pci/devices/BDF/driver point at a driver.
func fakeSysfs(t *testing.T, bdf, driver string) string {
	root := t.TempDir()
	dev := filepath.Join(root, "bus", "pci", "devices", bdf)
	os.MkdirAll(dev, 0o755)
	os.MkdirAll(filepath.Join(root, "bus", "pci", "drivers", driver), 0o755)
	if err := os.Symlink("../../../../bus/pci/drivers/"+driver, filepath.Join(dev, "driver")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestPCIStep(t *testing.T) {
	t.Parallel()
	const bdf = "0000:00:19.0"
	tests := []struct {
		name     string
		pciback  bool
		driver   string // dom0 driver bound now
		seize    bool
		want     Fate
		adds     bool
		modprobe bool
		msg      string
	}{
		{"unbound device is made assignable", true, "", false, Done, true, false, "making PCI device 0000:00:19.0 assignable"},
		{"pciback is loaded first", false, "", false, Done, true, true, "xen-pciback is not loaded: loading it"},
		{"a device dom0 uses is refused", true, "e1000e", false, Failed, false, false, "PCI device 0000:00:19.0 is bound to dom0's driver e1000e"},
		{"pci_seize takes it", true, "e1000e", true, Done, true, false, "it was bound to e1000e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hv := newFake()
			hv.pciback = tt.pciback
			r, c := newRunner(t, "[guest.drv]\n[guest.fw]\ndepends_on = [\"drv\"]\n", hv)
			g := r.Config.Guests["drv"]
			g.PCI, g.PCIAssignable, g.PCISeize = []string{bdf}, true, tt.seize
			if tt.driver != "" {
				r.SysfsRoot = fakeSysfs(t, bdf, tt.driver)
			} else {
				r.SysfsRoot = t.TempDir()
			}
			marker := filepath.Join(t.TempDir(), "modprobed")
			script := filepath.Join(t.TempDir(), "modprobe")
			os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" > "+marker+"\n"), 0o755)
			r.Modprobe = script
			// The fake's pciback comes up once modprobe ran.
			lister := &modprobeHV{fakeHV: hv, marker: marker}
			r.HV = lister
			plan, _ := r.PlanStart(t.Context(), nil, StartOptions{})
			if s, _ := stepOf(plan, "drv"); !strings.Contains(s.Note, "first pci-assignable-add 0000:00:19.0") {
				t.Errorf("plan:\n%s", planText(plan))
			}
			res := r.Start(t.Context(), plan)
			if got := statusOf(res)["drv"]; got != tt.want {
				t.Fatalf("status %v\n%s", got, summary(res))
			}
			add, added := hv.first("pci-assignable-add", bdf)
			if added != tt.adds {
				t.Errorf("pci-assignable-add called: %v", added)
			}
			if cr, ok := hv.first("create", "drv"); added && ok && !cr.begin.After(add.end) {
				t.Error("created before the device was assignable")
			}
			b, _ := os.ReadFile(marker)
			if ran := strings.TrimSpace(string(b)) == "xen-pciback"; ran != tt.modprobe {
				t.Errorf("modprobe xen-pciback ran: %v", ran)
			}
			all := strings.Join(c.lines(), "\n")
			for _, o := range res.Outcomes {
				if o.Err != nil {
					all += "\n" + o.Err.Error()
				}
			}
			if !strings.Contains(all, tt.msg) {
				t.Errorf("no %q in\n%s", tt.msg, all)
			}
			if tt.want == Failed && statusOf(res)["fw"] != Skipped {
				t.Error("the dependent of a refused guest was not skipped")
			}
		})
	}
}

type modprobeHV struct {
	*fakeHV
	marker string
}

func (m *modprobeHV) PCIAssignableList(ctx context.Context) ([]string, bool, error) {
	if _, err := os.Stat(m.marker); err == nil {
		m.mu.Lock()
		m.pciback = true
		m.mu.Unlock()
	}
	return m.fakeHV.PCIAssignableList(ctx)
}
