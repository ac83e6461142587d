package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/procgroup"
)

// Defaults of the PCI step.
const (
	DefaultSysfsRoot = "/sys"
	DefaultModprobe  = "modprobe"
	modprobeTimeout  = 30 * time.Second
)

// pciStep says what the PCI step would do for a guest, for plans: ""
// when nothing.
func (r *Runner) pciStep(g *config.Guest) string {
	if !g.PCIAssignable || len(g.PCI) == 0 {
		return ""
	}
	return "pci-assignable-add " + strings.Join(g.PCI, " ") + " (if not yet)"
}

// preparePCI makes each of the guest's pci devices assignable before xl
// create: it loads xen-pciback if xl says it is missing, and refuses a
// device still bound to a dom0 driver unless the guest says pci_seize: that
// device may be the NIC dom0 itself is reached through.
func (r *Runner) preparePCI(ctx context.Context, g *config.Guest) error {
	if !g.PCIAssignable || len(g.PCI) == 0 {
		return nil
	}
	have, loaded, err := r.HV.PCIAssignableList(ctx)
	if err != nil {
		return err
	}
	if !loaded {
		r.emit("pci", g.Name, -1, nil, "xen-pciback is not loaded: loading it (%s xen-pciback)", r.modprobe())
		if err := r.loadPciback(ctx); err != nil {
			return err
		}
		if have, loaded, err = r.HV.PCIAssignableList(ctx); err != nil {
			return err
		}
		if !loaded {
			return fmt.Errorf("xl still says the pciback driver is not loaded after %s xen-pciback", r.modprobe())
		}
	}
	for _, bdf := range g.PCI {
		if slices.Contains(have, bdf) {
			continue
		}
		driver := r.pciDriver(bdf)
		if driver != "" && driver != "pciback" && !g.PCISeize {
			return fmt.Errorf("PCI device %s is bound to dom0's driver %s: dom0 may be using it (is it the NIC you reach this host through?); "+
				"make it assignable by hand (xl pci-assignable-add %s), or set pci_seize = true for guest %s", bdf, driver, bdf, g.Name)
		}
		was := ""
		if driver != "" {
			was = "; it was bound to " + driver
		}
		r.emit("pci", g.Name, -1, nil, "making PCI device %s assignable (xl pci-assignable-add%s)", bdf, was)
		if err := r.HV.PCIAssignableAdd(ctx, bdf); err != nil {
			return fmt.Errorf("PCI device %s: %w", bdf, err)
		}
	}
	return nil
}

func (r *Runner) modprobe() string {
	if r.Modprobe != "" {
		return r.Modprobe
	}
	return DefaultModprobe
}

func (r *Runner) loadPciback(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, modprobeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.modprobe(), "xen-pciback")
	procgroup.OwnInterruptible(cmd)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s xen-pciback: %w: %s", r.modprobe(), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pciDriver names the dom0 driver a device is bound to ("" if none or
// unknown), from sysfs.
func (r *Runner) pciDriver(bdf string) string {
	root := r.SysfsRoot
	if root == "" {
		root = DefaultSysfsRoot
	}
	target, err := os.Readlink(filepath.Join(root, "bus", "pci", "devices", bdf, "driver"))
	if err != nil {
		return ""
	}
	return filepath.Base(target)
}
