package pci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDriver(t *testing.T) {
	const bdf = "0000:00:19.0"
	root := t.TempDir()
	devs := filepath.Join(root, "bus", "pci", "devices")
	os.MkdirAll(filepath.Join(devs, bdf), 0o755)
	os.MkdirAll(filepath.Join(devs, "0000:00:1f.0"), 0o755) // bound to nothing
	os.MkdirAll(filepath.Join(root, "bus", "pci", "drivers", "e1000e"), 0o755)
	if err := os.Symlink("../../../../bus/pci/drivers/e1000e", filepath.Join(devs, bdf, "driver")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		root, bdf, want string
	}{
		{root, bdf, "e1000e"},
		{root, "0000:00:1f.0", ""},
		{root, "0000:03:00.0", ""}, // no such device
		{t.TempDir(), bdf, ""},     // no sysfs there
	} {
		if got := Driver(tt.root, tt.bdf); got != tt.want {
			t.Errorf("Driver(%s, %s) = %q, want %q", tt.root, tt.bdf, got, tt.want)
		}
	}
}

func TestLoadPciback(t *testing.T) {
	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	ok := filepath.Join(dir, "modprobe")
	os.WriteFile(ok, []byte("#!/bin/sh\necho \"$@\" > "+args+"\n"), 0o755)
	bad := filepath.Join(dir, "modprobe-bad")
	os.WriteFile(bad, []byte("#!/bin/sh\necho 'modprobe: FATAL: Module xen-pciback not found.' >&2\nexit 1\n"), 0o755)

	if err := LoadPciback(t.Context(), ok); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(args); strings.TrimSpace(string(b)) != "xen-pciback" {
		t.Errorf("modprobe ran with %q", b)
	}
	err := LoadPciback(t.Context(), bad)
	if err == nil || err.Error() != bad+" xen-pciback: exit status 1: modprobe: FATAL: Module xen-pciback not found." {
		t.Errorf("err %v", err)
	}
}
