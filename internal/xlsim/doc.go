// Package xlsim simulates the `xl` toolstack of Xen 4.17 (and
// `xenstore-read`) for tests: the same output, messages and exit codes as
// the real commands (testdata/xl-samples), on a simulated host whose state
// lives in a directory. cmd/xlsim is the binary; tests install it as `xl`
// and `xenstore-read` (see Build).
//
// There is no daemon: every invocation takes an exclusive flock on
// $XLSIM_DIR/lock, brings the state up to the present (booting, shutting
// down, crashing or rebooting guests whose moment has come, each at the
// instant it was due), does its command and writes the state back
// (state.json, through a temporary file and a rename). The lock is never
// held while sleeping.
//
// Environment:
//
//	XLSIM_DIR           the state directory (required; created if missing)
//	XLSIM_CONSOLE_DIR   where guest-<name>.log console logs go ($XLSIM_DIR/console)
//	XLSIM_ACK_TIMEOUT   how long xl shutdown waits for a guest to acknowledge (1s)
//	XLSIM_TOTAL_MEMORY  the host's memory in MiB for xl info and create (3071)
//
// Files in $XLSIM_DIR besides state.json and lock:
//
//	calls.log   one JSON line when each invocation begins and one when it ends:
//	            {"ev":"begin","id":"<pid>-<n>","t":"<RFC3339Nano>","prog":"xl","args":[...]}
//	            {"ev":"end","id":"<pid>-<n>","t":"<RFC3339Nano>","rc":0}
//	events.log  one JSON line per thing that happened to a domain, at the
//	            (logical) time it happened: {"t":...,"domain":"web","domid":7,"ev":"booted"}
//	            ("rebooted" also has "prev_domid"; "migrated", logged when
//	            xl migrate succeeds, has "host": where the guest went)
//	faults      fault injection, one word a line (FaultList*)
//	unreachable-hosts
//	            hosts xl migrate cannot reach, one a line ("#" starts a
//	            comment): migrating to one fails as when ssh cannot resolve
//	            the name, and the guest keeps running here
//	pci         the host's PCI devices, one a line: "BDF DRIVER", e.g.
//	            "0000:00:19.0 e1000e" ("#" starts a comment; the BDF in any
//	            form xl accepts). DRIVER is the dom0 driver the device is
//	            bound to at boot: "none" for none, "pciback" for one
//	            xen-pciback holds from boot (xen-pciback.hide). No file, no
//	            devices. What xl does to them later is kept in state.json.
//	pciback-loaded
//	            exists when the xen-pciback module is loaded (a test or a
//	            fake modprobe creates it); without it pciback has no
//	            /sys/bus/pci/drivers/pciback and nothing is assignable
//
// PCI passthrough (pci.go; tools/xl/xl_pci.c and
// tools/libs/light/libxl_pci.c): the simulated host has an IOMMU.
//
//	xl pci-assignable-list [-n]
//	            the devices bound to pciback that no guest has, as
//	            "0000:00:19.0 \n" (xl prints the name after the space with
//	            -n, nothing without); without pciback libxl's error and rc 0
//	xl pci-assignable-add [-n NAME] BDF
//	            unbinds the device from its driver (remembered in
//	            /libxl/pci/<bdf>/driver_path), binds it to pciback and
//	            quarantines it (Xen's dom_io); silent, rc 0. A device
//	            already bound to pciback: a warning, rc 0. libxl's errors
//	            and rc 1 without pciback, for a device the host lacks, for a
//	            bad name, or for a device a guest has; a BDF xl cannot parse:
//	            rc 2
//	xl pci-assignable-remove [-r] BDF|NAME
//	            takes it out of quarantine and off pciback, with -r rebinds
//	            it to its remembered driver (libxl's info message); only a
//	            quarantined device no guest has, else libxl's error, rc 1
//	pci = [ 'BDF[@VSLOT][,KEY=VALUE...]', 'name=NAME', ... ] in a guest's
//	            config (and pci_permissive, pci_msitranslate, pci_power_mgmt,
//	            pci_seize): xl create (and restore) attach the devices when
//	            the domain is built; a device that is not assignable (not
//	            bound to pciback, or some guest's) fails it like libxl, rc 3
//	            (restore: 1), the domain destroyed. A guest has its devices
//	            while it exists (/libxl/pci/<bdf>/domid); when it goes they
//	            stay quarantined and assignable.
//
// Guests behave as their xl config files ask with simulator-only keys
// (real xl ignores unknown keys); see guestFromConfig for the list.
package xlsim
