// Package pci is dom0's side of PCI passthrough: which dom0 driver a device
// is bound to (sysfs), and loading the xen-pciback driver (modprobe). What
// xl says of a device (pci-assignable-list, -add) is internal/xl's.
package pci

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/procgroup"
)

// Defaults: where sysfs is mounted, the program that loads a module.
const (
	DefaultSysfsRoot = "/sys"
	DefaultModprobe  = "modprobe"
)

// Bounds on modprobe: its run, and its exit once interrupted.
const (
	modprobeTimeout   = 30 * time.Second
	modprobeWaitDelay = 5 * time.Second
)

// Driver names the dom0 driver device bdf is bound to ("" if none or
// unknown), from sysfs mounted at root ("": DefaultSysfsRoot): the link
// root/bus/pci/devices/BDF/driver.
func Driver(root, bdf string) string {
	if root == "" {
		root = DefaultSysfsRoot
	}
	target, err := os.Readlink(filepath.Join(root, "bus", "pci", "devices", bdf, "driver"))
	if err != nil {
		return ""
	}
	return filepath.Base(target)
}

// LoadPciback runs `modprobe xen-pciback` (modprobe: the program; "":
// DefaultModprobe), bounded by 30 s. Its error quotes what modprobe said.
func LoadPciback(ctx context.Context, modprobe string) error {
	if modprobe == "" {
		modprobe = DefaultModprobe
	}
	ctx, cancel := context.WithTimeout(ctx, modprobeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, modprobe, "xen-pciback")
	procgroup.OwnInterruptible(cmd)
	cmd.WaitDelay = modprobeWaitDelay
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s xen-pciback: %w: %s", modprobe, err, strings.TrimSpace(string(out)))
	}
	return nil
}
