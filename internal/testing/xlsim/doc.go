// Package xlsim simulates the `xl` toolstack of Xen 4.17 (and
// `xenstore-read`, `xenstore-watch @releaseDomain` and a read-only
// `xenstored`) for tests: the same output, messages and exit codes as the
// real commands (testdata/xl-samples), on a simulated host whose state
// lives in a directory. internal/testing/cmd/xlsim is the binary; tests install it as `xl`,
// `xenstore-read`, `xenstore-watch` and `xenstored` (see Build).
// `xenstore-watch @releaseDomain` prints the path once when set and again
// whenever a domain has gone, looking every 20ms and at the moment a guest
// is due to go.
//
// `xenstored [-N|--no-fork]` (xenstored.go) is the one long-running
// program: it serves the simulated xenstore over the xenstore wire protocol
// (xen/include/public/io/xs_wire.h) on the unix socket $XENSTORED_PATH,
// else $XLSIM_DIR/xenstored/socket (a stale socket there is removed; the
// socket goes when the daemon does), in the foreground until SIGTERM or
// SIGINT, so that a client can list domains and watch for deaths without
// starting processes. XS_READ answers what xenstore-read does;
// XS_DIRECTORY (and XS_DIRECTORY_PART, for lists longer than a payload)
// lists /local/domain (the domids, Domain-0 included) and a domain's keys;
// XS_GET_DOMAIN_PATH gives /local/domain/<domid>. Watches fire once when
// set, as on xenstored; @releaseDomain fires again when a listed domain
// shuts down (powered off and preserved, or waiting for xl's monitor,
// crashed, suspended) and when one is gone, @introduceDomain when a new
// domid appears; other paths fire only when set (nothing writes xenstore
// through the daemon: writes, transactions and permission changes fail
// with EACCES, other requests with ENOSYS). Time stays lazy: each read
// takes a view of the state, and while someone watches @releaseDomain or
// @introduceDomain one goroutine looks every 20ms for what commands did and
// just after the moment the next thing is due, so a guest's scheduled death
// is seen within a millisecond or so; the daemon writes the state only
// when a look finds something come due, like any reading command.
//
// $XLSIM_MONITOR_DELAY (default 0): as on real Xen, a guest that powered off
// with on_poweroff = "destroy" stays listed shut down and paused (--ps--)
// this long, until the monitor process of xl create destroys it.
// $XLSIM_PCI_TEARDOWN (default 0) adds to that for a guest with
// passed-through devices, listed ---s-- meanwhile: the monitor first hands
// its devices back (10–15 s on real Xen in the lab).
//
// Apart from that optional xenstored, there is no daemon: every
// invocation takes an exclusive flock on $XLSIM_DIR/lock, brings the state
// up to the present (booting, shutting down, crashing or rebooting guests
// whose moment has come, each at the instant it was due), does its command
// and writes the state back (state.json, through a temporary file
// exchanged with it; encoding/json, statefile.go). A domain's xenstore keys are in a file of their own,
// $XLSIM_DIR/xenstore/<domid>.json, read only by what looks at them and
// written only when they change. A command that only reads (xl list,
// info, domid, xenstore-read, the waits of xl shutdown and xenstore-watch,
// xenstored's looks) takes the lock shared and writes nothing when nothing
// has come due, so readers run side by side as they do on real Xen. The
// lock is never held while sleeping.
//
// Environment:
//
//	XLSIM_DIR           the state directory (required; created if missing)
//	XLSIM_CONSOLE_DIR   where guest-<name>.log console logs go ($XLSIM_DIR/console)
//	XLSIM_ACK_TIMEOUT   how long xl shutdown waits for a guest to acknowledge (1s)
//	XLSIM_TIME_SCALE    a factor on the simulated host's durations (1): the
//	                    xlsim_*_time and xlsim_*_after keys of guests and
//	                    their defaults, XLSIM_ACK_TIMEOUT and
//	                    XLSIM_MONITOR_DELAY; 0.1 runs the host ten times as
//	                    fast, with the same output (for tests that do not
//	                    measure time). Applied when xl reads a guest's config
//	XLSIM_TOTAL_MEMORY  the host's memory in MiB for xl info and create (3071)
//	XLSIM_AUTOBALLOON   off (default) or on: whether xl balloons Domain-0
//	                    (see Host memory below)
//	XLSIM_DOM0_MIN_MEMORY
//	                    with autoballoon, the least memory in MiB xl may
//	                    balloon Domain-0 down to (512)
//	XLSIM_XL_CONF       an xl.conf the simulated xl reads like real xl reads
//	                    /etc/xen/xl.conf (unset: none); its autoballoon=
//	                    overrides XLSIM_AUTOBALLOON (see below)
//	XENSTORED_PATH      the socket of the simulated xenstored
//	                    ($XLSIM_DIR/xenstored/socket)
//
// Host memory (memory.go; tools/xl/xl_vmcontrol.c: freemem,
// tools/libs/light/libxl_mem.c). xl info shows total_memory
// (XLSIM_TOTAL_MEMORY) and free_memory: the total less the memory of every
// domain (xl list's Mem, Domain-0 and stub domains included). A domain
// holds its memory from the moment xl create (or restore) starts building
// it; when it goes away its memory is free again (Domain-0 is never
// ballooned back up). xl create's memory check and reservation happen in
// one locked step, like real xl's under its lock, so parallel creates that
// together do not fit fail for the later ones. The two modes:
//
//	off         as on a host booted with dom0_mem=1024M,max:1024M (in xl
//	            info's xen_commandline, as in the samples): Domain-0 has
//	            1024 MiB. A create whose memory (plus its stub domain's) is
//	            not free fails: "failed to free memory for the domain", rc 3
//	            (restore: 1), no domid taken, nothing left. (Real xl does
//	            not check without autoballoon and leaves it to Xen to
//	            refuse; the simulator fails early with xl's message.)
//	on          as on a host where xl.conf has autoballoon="on" (or "auto"
//	            and Xen has no dom0_mem=, which xen_commandline then lacks):
//	            Domain-0 boots with all the memory but 3 MiB (free_memory
//	            3). When free memory is short of what libxl says the domain
//	            needs (libxl_domain_need_memory: memory + 1 MiB per vcpu + 4
//	            KiB per MiB of maxmem + IOMMU tables with pci= + 1 MiB for
//	            PV or 2 MiB for HVM/PVH + an HVM stub domain's memory,
//	            rounded up to 2 MiB), xl create balloons Domain-0 down by
//	            the difference (xl list shows its new Mem; xenstore its
//	            memory/target). If that takes Domain-0 below
//	            XLSIM_DOM0_MIN_MEMORY it fails with libxl's
//	            "libxl: error: libxl_mem.c:287:libxl_set_memory_target: Domain 0:New target <KiB> for dom0 is below the minimum threshold"
//	            then "failed to free memory for the domain", rc 3 (restore:
//	            1), Domain-0 untouched, no domid taken.
//
// With XLSIM_XL_CONF, autoballoon="on" or "1" picks on and "off" or "0"
// picks off; "auto", no autoballoon= or no file leave the mode
// XLSIM_AUTOBALLOON picks, which is what xl's auto gives for the command
// line that mode shows. Like xl, every xl command first prints "Failed to
// read config file: PATH: <strerror>" when the file cannot be read, "invalid
// autoballoon option" (no newline) for another value, and exits 1 after
// "Failed to parse config file: Invalid argument" when it does not parse.
// Set the mode before the state directory is first used: Domain-0 gets its
// memory when the state is created.
//
// Files in $XLSIM_DIR besides state.json and lock:
//
//	calls.log   one JSON line when each invocation begins and one when it ends:
//	            {"ev":"begin","id":"<pid>-<n>","t":"<RFC3339Nano>","prog":"xl","args":[...]}
//	            {"ev":"end","id":"<pid>-<n>","t":"<RFC3339Nano>","rc":0}
//	events.log  one JSON line per thing that happened to a domain, at the
//	            (logical) time it happened: {"t":...,"domain":"web","domid":7,"ev":"booted"}
//	            ("rebooted" also has "prev_domid"; "migrated", logged when
//	            xl migrate succeeds, has "host": where the guest went;
//	            migrated to this host, it goes on under a new domid,
//	            logged as "received")
//	xenstore/   <domid>.json: each domain's xenstore keys (see above)
//	faults      fault injection, one word a line (FaultList*)
//	virt-caps   the virt_caps xl info shows (one line; default the sample
//	            host's, "pv hvm hap gnttab-v1 gnttab-v2"): without "shadow",
//	            xl migrate of a PV guest fails (no log-dirty mode), as on
//	            Debian's Xen 4.17
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
