package xlsim

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/xlcfg"
)

// Defaults of the simulator-only keys.
const (
	DefaultCreateTime   = 200 * time.Millisecond
	DefaultShutdownTime = 500 * time.Millisecond
	DefaultSaveTime     = 300 * time.Millisecond
	DefaultRestoreTime  = 300 * time.Millisecond
	DefaultMigrateTime  = 500 * time.Millisecond
	DefaultMemoryMiB    = 128
)

// Stub domain memory as libxl sizes it (libxl_create.c): a MiniOS stub
// domain for qemu-xen-traditional (the default with stubdomains) gets 28
// MiB plus the 4 MiB of cirrus video memory; a Linux stub domain for
// qemu-xen gets 128 MiB plus 8 MiB of video memory.
const (
	stubMiniOSMiB = 28 + 4
	stubLinuxMiB  = 128 + 8
)

func newUUID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// validActions are xl's names of the on_* actions.
var validActions = map[string]bool{
	"destroy": true, "restart": true, "rename-restart": true, "preserve": true,
	"coredump-destroy": true, "coredump-restart": true, "soft-reset": true,
}

// guestFromConfig interprets a parsed guest config the way xl's
// parse_config_data does, as far as the simulator cares, and reads the
// simulator-only keys:
//
//	xlsim_create_time = "200ms"   how long xl create takes (--p--- meanwhile)
//	xlsim_boot_time = "0s"        from create's return until the OS is up
//	xlsim_xenstore = ["data/ready=1"]   keys the OS writes when up
//	xlsim_console = ["login:"]    lines the OS writes on its console when up
//	xlsim_shutdown_time = "500ms" from a shutdown request until it is down
//	xlsim_ignore_shutdown = 1     acknowledges shutdown requests, stays up
//	xlsim_needs_acpi = 1          no PV drivers: xl shutdown needs -F
//	xlsim_create_fail = 1         xl create fails (libxl error, rc 3)
//	xlsim_create_hang = 1         xl create never returns
//	xlsim_crash_after = "2s"      crashes that long after create returned
//	xlsim_reboot_after = "1s"     reboots once that long after create
//	xlsim_save_time = "300ms"     how long xl save takes
//	xlsim_restore_time = "300ms"  how long xl restore takes
//	xlsim_save_fail = 1           xl save fails, the guest keeps running
//	xlsim_migrate_time = "500ms"  how long xl migrate takes (the guest runs
//	                              meanwhile, suspended for the last tenth)
//	xlsim_migrate_fail = 1        xl migrate fails at the target (rc 1), the
//	                              guest keeps running here
//
// It prints xl's messages for what it rejects and returns rc >= 0 then.
func (e *Env) guestFromConfig(c *xlcfg.Config) (*Domain, int) {
	d := &Domain{
		Type: "pv", MemMiB: DefaultMemoryMiB, VCPUs: 1,
		OnPoweroff: "destroy", OnReboot: "restart", OnWatchdog: "destroy", OnCrash: "destroy", OnSoftReset: "soft-reset",
		B: Behaviour{CreateTime: DefaultCreateTime, ShutdownTime: DefaultShutdownTime,
			SaveTime: DefaultSaveTime, RestoreTime: DefaultRestoreTime, MigrateTime: DefaultMigrateTime},
	}
	if t, ok := c.String("type"); ok {
		switch {
		case strings.HasPrefix("hvm", t):
			d.Type = "hvm"
		case strings.HasPrefix("pv", t):
			d.Type = "pv"
		case strings.HasPrefix("pvh", t):
			d.Type = "pvh"
		default:
			fmt.Fprintf(e.Stderr, "Invalid domain type %s.\n", t)
			return nil, 1
		}
	}
	if b, ok := c.String("builder"); ok {
		var bt string
		switch {
		case strings.HasPrefix("hvm", b):
			bt = "hvm"
		case strings.HasPrefix("generic", b):
			bt = "pv"
		default:
			fmt.Fprintf(e.Stderr, "Invalid domain type %s.\n", b)
			return nil, 1
		}
		if _, hasType := c.String("type"); hasType && bt != d.Type {
			fmt.Fprintf(e.Stderr, "Contradicting \"builder\" and \"type\" options specified.\n")
			return nil, 1
		}
		d.Type = bt
	}
	name, ok := c.String("name")
	if !ok {
		fmt.Fprintf(e.Stderr, "Domain name must be specified.\n")
		return nil, 1
	}
	d.Name = name
	d.UUID = newUUID()
	if u, ok := c.String("uuid"); ok {
		if !validUUID(u) {
			fmt.Fprintf(e.Stderr, "Failed to parse UUID: %s\n", u)
			return nil, 1
		}
		d.UUID = strings.ToLower(u)
	}

	getLong := func(key string) (int64, bool) {
		n, ok, err := c.Int(key)
		if err != nil {
			fmt.Fprintln(e.Stderr, err)
			return 0, false
		}
		return n, ok
	}
	if n, ok := getLong("vcpus"); ok && n > 0 {
		d.VCPUs, d.VCPUsGiven = int(n), true
	}
	d.MaxVCPUs = d.VCPUs
	if n, ok := getLong("maxvcpus"); ok && int(n) > d.VCPUs {
		d.MaxVCPUs, d.VCPUsGiven = int(n), true
	}
	if n, ok := getLong("memory"); ok {
		d.MemMiB, d.MemGiven = n, true
	}
	d.MaxMemMiB = d.MemMiB
	if n, ok := getLong("maxmem"); ok {
		d.MemGiven = true
		if n > d.MemMiB {
			d.MaxMemMiB = n
		}
	}
	d.Kernel, _ = c.String("kernel")
	d.Ramdisk, _ = c.String("ramdisk")
	if cl, ok := c.String("cmdline"); ok {
		d.Cmdline = cl
	} else {
		var parts []string
		if r, ok := c.String("root"); ok {
			parts = append(parts, "root="+r)
		}
		if x, ok := c.String("extra"); ok {
			parts = append(parts, x)
		}
		d.Cmdline = strings.Join(parts, " ")
	}

	for _, a := range []struct {
		key string
		dst *string
	}{{"on_poweroff", &d.OnPoweroff}, {"on_reboot", &d.OnReboot}, {"on_watchdog", &d.OnWatchdog},
		{"on_crash", &d.OnCrash}, {"on_soft_reset", &d.OnSoftReset}} {
		if v, ok := c.String(a.key); ok {
			if !validActions[v] {
				fmt.Fprintf(e.Stderr, "Unknown %s action \"%s\" specified\n", a.key, v)
				return nil, 1
			}
			*a.dst = v
		}
	}

	// PCI passthrough (after the actions, before the disks, like xl).
	var pciDefaults PCISpec
	for _, k := range []struct {
		key string
		dst *bool
	}{{"pci_msitranslate", &pciDefaults.Msitranslate}, {"pci_power_mgmt", &pciDefaults.PowerMgmt},
		{"pci_permissive", &pciDefaults.Permissive}, {"pci_seize", &pciDefaults.Seize}} {
		if n, ok := getLong(k.key); ok {
			*k.dst = n != 0
		}
	}
	if v, ok := c.Keys["pci"]; ok {
		if !v.IsList {
			fmt.Fprintf(e.Stderr, "%s:%d: warning: parameter `pci' is a single value but should be a list\n", c.File, v.Line)
		} else {
			for _, str := range v.List {
				p, ret := parsePCISpec(e.Stderr, pciDefaults, str)
				if ret != 0 {
					fmt.Fprintf(e.Stderr, "unable to parse PCI_SPEC_STRING `%s' for passthrough\n", str)
					return nil, -ret
				}
				d.PCI = append(d.PCI, p)
			}
		}
	}

	for _, spec := range c.List("disk") {
		d.Disks = append(d.Disks, parseDisk(spec))
	}
	for i, spec := range c.List("vif") {
		d.Nics = append(d.Nics, parseVif(spec, i))
	}

	if d.Type == "hvm" {
		if n, ok := getLong("device_model_stubdomain_override"); ok && n != 0 {
			d.WantStub = true
			d.StubMemMiB = stubMiniOSMiB
			if v, _ := c.String("device_model_version"); v == "qemu-xen" {
				d.StubMemMiB = stubLinuxMiB
			}
			if n, ok := getLong("stubdomain_memory"); ok && n > 0 {
				d.StubMemMiB = n
				if v, _ := c.String("device_model_version"); v == "qemu-xen" {
					d.StubMemMiB += 8
				} else {
					d.StubMemMiB += 4
				}
			}
		}
	}

	// The simulator-only keys.
	bad := func(key string, err error) int {
		v := c.Keys[key]
		fmt.Fprintf(e.Stderr, "xlsim: %s:%d: bad %s %q: %v\n", c.File, v.Line, key, v.Str, err)
		return 1
	}
	durs := []struct {
		key string
		dst *time.Duration
	}{
		{"xlsim_create_time", &d.B.CreateTime}, {"xlsim_boot_time", &d.B.BootTime},
		{"xlsim_shutdown_time", &d.B.ShutdownTime}, {"xlsim_save_time", &d.B.SaveTime},
		{"xlsim_restore_time", &d.B.RestoreTime}, {"xlsim_crash_after", &d.B.CrashAfter},
		{"xlsim_reboot_after", &d.B.RebootAfter}, {"xlsim_migrate_time", &d.B.MigrateTime},
	}
	for _, k := range durs {
		v, ok := c.Keys[k.key]
		if ok && v.IsList {
			return nil, bad(k.key, fmt.Errorf("a list"))
		}
		if ok {
			dur, err := parseDuration(v.Str)
			if err != nil {
				return nil, bad(k.key, err)
			}
			*k.dst = dur
		}
		*k.dst = e.scaled(*k.dst) // the defaults too
	}
	bools := []struct {
		key string
		dst *bool
	}{
		{"xlsim_ignore_shutdown", &d.B.IgnoreShutdown}, {"xlsim_needs_acpi", &d.B.NeedsACPI},
		{"xlsim_create_fail", &d.B.CreateFail}, {"xlsim_create_hang", &d.B.CreateHang},
		{"xlsim_save_fail", &d.B.SaveFail}, {"xlsim_migrate_fail", &d.B.MigrateFail},
	}
	for _, k := range bools {
		v, ok := c.Keys[k.key]
		if !ok {
			continue
		}
		b, err := parseBool(v)
		if err != nil {
			return nil, bad(k.key, err)
		}
		*k.dst = b
	}
	d.B.Xenstore = c.List("xlsim_xenstore")
	d.B.Console = c.List("xlsim_console")
	return d, -1
}

// parseDuration reads a Go duration ("1.5s", "200ms"); a plain number is
// seconds.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("negative")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative")
	}
	return d, nil
}

func parseBool(v xlcfg.Value) (bool, error) {
	if v.IsList {
		return false, fmt.Errorf("a list")
	}
	switch strings.ToLower(strings.TrimSpace(v.Str)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off", "":
		return false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.Str), 0, 64)
	if err != nil {
		return false, fmt.Errorf("not a boolean")
	}
	return n != 0, nil
}

func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i, c := range u {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// parseVif reads a vif spec ("bridge=br0,mac=...,backend=dom") minimally:
// comma-separated key=value pairs.
func parseVif(spec string, devid int) Nic {
	n := Nic{Devid: devid}
	for _, f := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch strings.TrimSpace(k) {
		case "backend":
			n.BackendDomname = v
		case "bridge":
			n.Bridge = v
		case "mac":
			n.Mac = v
		case "ip":
			n.IP = v
		case "vifname":
			n.Ifname = v
		case "script":
			n.Script = v
		case "model":
			n.Model = v
		case "type":
			switch v {
			case "ioemu":
				n.Nictype = "vif_ioemu"
			case "vif":
				n.Nictype = "vif"
			}
		}
	}
	return n
}

// parseDisk reads a disk spec minimally: key=value pairs (target= takes
// the rest of the spec) and positional target[,vdev[,access]] or
// target,format,vdev,access, with the legacy "phy:"/"file:"/"qcow2:"...
// prefixes on the target.
func parseDisk(spec string) Disk {
	k := Disk{Format: "raw", Readwrite: true}
	var pos []string
	access := ""
	rest := spec
	for rest != "" {
		var f string
		if strings.HasPrefix(strings.TrimSpace(rest), "target=") {
			f, rest = strings.TrimSpace(rest), ""
		} else {
			f, rest, _ = strings.Cut(rest, ",")
			f = strings.TrimSpace(f)
		}
		key, val, isKV := strings.Cut(f, "=")
		if !isKV {
			pos = append(pos, f)
			continue
		}
		switch key {
		case "target":
			k.PdevPath = val
		case "vdev":
			k.Vdev = val
		case "access", "mode":
			access = val
		case "format":
			k.Format = val
		case "backend":
			k.BackendDomname = val
		case "devtype":
			if val == "cdrom" {
				k.Readwrite = false
			}
		}
	}
	switch len(pos) {
	case 0:
	case 1:
		k.PdevPath = pos[0]
	case 2:
		k.PdevPath, k.Vdev = pos[0], pos[1]
	case 3:
		k.PdevPath, k.Vdev, access = pos[0], pos[1], pos[2]
	default:
		k.PdevPath, k.Format, k.Vdev, access = pos[0], pos[1], pos[2], pos[3]
	}
	// Legacy prefixes: "phy:", "file:", "tap:aio:", "qcow2:", ...
prefixes:
	for {
		p, r, ok := strings.Cut(k.PdevPath, ":")
		if !ok {
			break
		}
		switch p {
		case "phy", "file", "tap", "tap2", "aio":
		case "raw", "qcow", "qcow2", "vhd", "qed":
			k.Format = p
		default:
			break prefixes
		}
		k.PdevPath = r
	}
	if strings.HasSuffix(k.Vdev, ":cdrom") {
		k.Vdev = strings.TrimSuffix(k.Vdev, ":cdrom")
		k.Readwrite = false
	}
	switch access {
	case "r", "ro":
		k.Readwrite = false
	case "w", "rw":
		k.Readwrite = true
	}
	return k
}
