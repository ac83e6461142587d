package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/pci"
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
		r.emit(StagePCI, g.Name, -1, nil, "xen-pciback is not loaded: loading it (%s xen-pciback)", r.modprobe())
		if err := pci.LoadPciback(ctx, r.modprobe()); err != nil {
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
		driver := pci.Driver(r.SysfsRoot, bdf)
		if driver != "" && driver != "pciback" && !g.PCISeize {
			return fmt.Errorf("PCI device %s is bound to dom0's driver %s: dom0 may be using it (is it the NIC you reach this host through?); "+
				"make it assignable by hand (xl pci-assignable-add %s), or set pci_seize = true for guest %s", bdf, driver, bdf, g.Name)
		}
		was := ""
		if driver != "" {
			was = "; it was bound to " + driver
		}
		r.emit(StagePCI, g.Name, -1, nil, "making PCI device %s assignable (xl pci-assignable-add%s)", bdf, was)
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
	return pci.DefaultModprobe
}
