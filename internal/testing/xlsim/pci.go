package xlsim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// PCI passthrough: the host's PCI devices, xen-pciback, the assignable
// devices of xl pci-assignable-{add,remove,list} and the devices of the
// guests' `pci = [...]` (tools/xl/xl_pci.c, tools/libs/light/libxl_pci.c,
// tools/libs/util/libxlu_pci.c of Xen 4.17).
//
// The simulated host has an IOMMU (passthrough and quarantine work), even
// though `xl info` shows the sample host's virt_caps.

// Files in $XLSIM_DIR about PCI.
const (
	// PCIFile lists the host's PCI devices, one a line: "BDF DRIVER",
	// DRIVER being the dom0 driver the device is bound to at boot ("none":
	// unbound; "pciback": held by xen-pciback, e.g. xen-pciback.hide).
	PCIFile = "pci"
	// PCIbackLoadedFile exists when the xen-pciback module is loaded.
	PCIbackLoadedFile = "pciback-loaded"
)

// pciback is the name of xen-pciback's driver in sysfs.
const pcibackDriver = "pciback"

// sysfs paths of libxl_osdeps.h (Linux).
const (
	sysfsPCIDev  = "/sys/bus/pci/devices"
	sysfsDrivers = "/sys/bus/pci/drivers"
)

// libxl error codes (libxl_types.idl).
const (
	errorFail     = -3
	errorInval    = -6
	errorNotFound = -23
)

// pciFuncAll is LIBXL_PCI_FUNC_ALL, the vfunc_mask of "BB:DD.*".
const pciFuncAll = 1<<32 - 1

// pciAddr is a PCI address: segment ("domain"), bus, device, function.
type pciAddr struct {
	Dom  uint32 `json:"domain"`
	Bus  uint32 `json:"bus"`
	Dev  uint32 `json:"dev"`
	Func uint32 `json:"func"`
}

// String is libxl's PCI_BDF: 0000:00:19.0.
func (a pciAddr) String() string {
	return fmt.Sprintf("%04x:%02x:%02x.%01x", a.Dom, a.Bus, a.Dev, a.Func)
}

// short is the "%x:%x:%x.%x" of some libxl messages: 0:0:19.0.
func (a pciAddr) short() string {
	return fmt.Sprintf("%x:%x:%x.%x", a.Dom, a.Bus, a.Dev, a.Func)
}

// xsNode is libxl's PCI_BDF_XSPATH, its node under /libxl/pci.
func (a pciAddr) xsNode() string {
	return fmt.Sprintf("%04x-%02x-%02x-%01x", a.Dom, a.Bus, a.Dev, a.Func)
}

func (a pciAddr) slot() pciAddr { return pciAddr{a.Dom, a.Bus, a.Dev, 0} }

// scanHex reads a number like sscanf's %x: white space, a sign, an
// optional 0x, hex digits; the value wraps like strtoul's stored in an
// unsigned int. n is how many bytes it took.
func scanHex(s string) (v uint32, n int, ok bool) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	if i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') {
		i += 2
	}
	var x uint64
	over := false
	digits := 0
	for ; i < len(s); i++ {
		d := hexVal(s[i])
		if d < 0 {
			break
		}
		if x > (1<<64-1)>>4 {
			over = true
		}
		x = x<<4 | uint64(d)
		digits++
	}
	if digits == 0 {
		if i > start { // "0x" with no digits after: the 0
			return 0, i, true
		}
		return 0, 0, false
	}
	if over {
		x = 1<<64 - 1
	} else if neg {
		x = -x
	}
	return uint32(x), i, true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func isXdigit(c byte) bool { return hexVal(c) >= 0 }

// parseBDF reads a BDF like libxlu_pci.c's parse_bdf: [DDDD:]BB:DD.F or
// [DDDD:]BB:DD.* (all functions, function 0). It returns what follows it.
func parseBDF(s string) (a pciAddr, all bool, rest string, ok bool) {
	colons := 0
	for i := 0; i < len(s) && (isXdigit(s[i]) || s[i] == ':'); i++ {
		if s[i] == ':' {
			colons++
		}
	}
	if colons != 1 && colons != 2 {
		return a, false, "", false
	}
	// sscanf "%x:%x.%n" or "%x:%x:%x.%n".
	var nums []uint32
	p := s
	for k := 0; k < colons+1; k++ {
		v, n, ok := scanHex(p)
		if !ok {
			return a, false, "", false
		}
		nums = append(nums, v)
		p = p[n:]
		sep := byte(':')
		if k == colons {
			sep = '.'
		}
		if p == "" || p[0] != sep {
			return a, false, "", false
		}
		p = p[1:]
	}
	if colons == 1 {
		a.Bus, a.Dev = nums[0], nums[1]
	} else {
		a.Dom, a.Bus, a.Dev = nums[0], nums[1], nums[2]
	}
	if a.Dom > 0xffff || a.Bus > 0xff || a.Dev > 0x1f {
		return a, false, "", false
	}
	if strings.HasPrefix(p, "*") {
		return a, true, p[1:], true
	}
	f, n, ok := scanHex(p)
	if !ok || f > 7 {
		return a, false, "", false
	}
	a.Func = f
	return a, false, p[n:], true
}

// PCISpec is a device of a guest's `pci = [...]` (a PCI_SPEC_STRING, see
// xl-pci-configuration(5)), as libxl_device_pci.
type PCISpec struct {
	Addr         pciAddr `json:"addr"`
	HasBDF       bool    `json:"has_bdf,omitempty"`
	VfuncMask    uint32  `json:"vfunc_mask,omitempty"` // 1, or pciFuncAll for "BB:DD.*"
	Vdevfn       uint32  `json:"vdevfn,omitempty"`
	Msitranslate bool    `json:"msitranslate,omitempty"`
	PowerMgmt    bool    `json:"power_mgmt,omitempty"`
	Permissive   bool    `json:"permissive,omitempty"`
	Seize        bool    `json:"seize,omitempty"`
	RdmPolicy    string  `json:"rdm_policy,omitempty"` // strict, relaxed; "" = invalid
	Name         string  `json:"name,omitempty"`
	HasName      bool    `json:"has_name,omitempty"`
}

// atoi is C's atoi.
func atoi(s string) int64 {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
		if n > 1<<40 {
			n = 1 << 40
		}
	}
	if neg {
		n = -n
	}
	return n
}

// parsePCISpec parses a PCI_SPEC_STRING like xlu_pci_parse_spec_string:
// "[DDDD:]BB:DD.F[@VSLOT][,KEY=VALUE...]" or KEY=VALUE pairs with bdf= or
// name=. Its complaints go to report, without a newline like libxlu's; it
// returns a libxl error code.
func parsePCISpec(report io.Writer, spec PCISpec, str string) (PCISpec, int) {
	p := spec
	ptr := str
	bdfPresent, namePresent := false, false
	if a, all, rest, ok := parseBDF(ptr); ok {
		p.Addr, p.HasBDF, bdfPresent = a, true, true
		p.VfuncMask = 1
		if all {
			p.VfuncMask = pciFuncAll
		}
		ptr = rest
		if strings.HasPrefix(ptr, "@") {
			v, n, ok := scanHex(ptr[1:])
			if !ok || v > 0x1f {
				return p, errorInval
			}
			p.Vdevfn = v << 3
			ptr = ptr[1+n:]
		}
		switch {
		case strings.HasPrefix(ptr, ","):
			ptr = ptr[1:]
		case ptr != "":
			return p, errorInval
		}
	}
	for ptr != "" {
		eq := strings.IndexByte(ptr, '=')
		if eq < 0 {
			return p, errorInval
		}
		key := ptr[:eq]
		ptr = ptr[eq+1:]
		val := ptr
		if c := strings.IndexByte(ptr, ','); c >= 0 {
			val, ptr = ptr[:c], ptr[c+1:]
		} else {
			ptr = ""
		}
		ret := 0
		switch key {
		case "bdf":
			if a, all, _, ok := parseBDF(val); ok {
				p.Addr, p.HasBDF, bdfPresent = a, true, true
				p.VfuncMask = 1
				if all {
					p.VfuncMask = pciFuncAll
				}
			} else {
				ret = errorInval
			}
		case "vslot":
			if v, _, ok := scanHex(val); ok && v <= 0x1f {
				p.Vdevfn = v << 3
			} else {
				ret = errorInval
			}
		case "permissive":
			p.Permissive = atoi(val) != 0
		case "msitranslate":
			p.Msitranslate = atoi(val) != 0
		case "seize":
			p.Seize = atoi(val) != 0
		case "power_mgmt":
			p.PowerMgmt = atoi(val) != 0
		case "rdm_policy":
			switch strings.ToLower(val) {
			case "strict", "relaxed":
				p.RdmPolicy = strings.ToLower(val)
			case "invalid":
				p.RdmPolicy = ""
			default:
				fmt.Fprintf(report, "Unknown RDM policy: %s", val)
				ret = errorFail
			}
		case "name":
			namePresent = true
			p.Name, p.HasName = val, true
		default:
			fmt.Fprintf(report, "Unknown PCI_SPEC_STRING option: %s", key)
			ret = errorInval
		}
		if ret != 0 {
			return p, ret
		}
	}
	if bdfPresent == namePresent {
		return p, errorInval
	}
	return p, 0
}

// pciJSON is the libxl_device_pci of a spec as libxl's JSON has it (the
// fields at their defaults left out).
func pciJSON(p PCISpec) jobj {
	var o jobj
	for _, kv := range []jkv{{"func", p.Addr.Func}, {"dev", p.Addr.Dev}, {"bus", p.Addr.Bus},
		{"domain", p.Addr.Dom}, {"vdevfn", p.Vdevfn}, {"vfunc_mask", p.VfuncMask}} {
		if kv.v.(uint32) != 0 {
			o = append(o, jkv{kv.k, int64(kv.v.(uint32))})
		}
	}
	for _, kv := range []jkv{{"msitranslate", p.Msitranslate}, {"power_mgmt", p.PowerMgmt},
		{"permissive", p.Permissive}, {"seize", p.Seize}} {
		if kv.v.(bool) {
			o = append(o, kv)
		}
	}
	if p.RdmPolicy != "" {
		o = append(o, jkv{"rdm_policy", p.RdmPolicy})
	}
	if p.HasName {
		o = append(o, jkv{"name", p.Name})
	}
	return o
}

// PCIDevState is what xl did to a host PCI device, kept in state.json
// (what libxl keeps under /libxl/pci/<bdf> in xenstore, and which dom0
// driver and which Xen domain hold the device).
type PCIDevState struct {
	// Driver is the dom0 driver the device is bound to: "" for none,
	// "pciback" for xen-pciback.
	Driver string `json:"driver"`
	// DriverPath is /libxl/pci/<bdf>/driver_path: the driver it was
	// unbound from by pci-assignable-add, to rebind it to.
	DriverPath string `json:"driver_path,omitempty"`
	// Name is /libxl/pci/<bdf>/name (pci-assignable-add -n).
	Name *string `json:"name,omitempty"`
	// Quarantined: Xen gave the device to dom_io (pci-assignable-add, or a
	// guest that had it went away).
	Quarantined bool `json:"quarantined,omitempty"`
}

// pciHost is the session's view of the host's PCI devices.
type pciHost struct {
	s      *session
	boot   map[pciAddr]string // the drivers of $XLSIM_DIR/pci
	order  []pciAddr
	loaded bool // xen-pciback is loaded
}

// readPCIFile reads $XLSIM_DIR/pci.
func (e *Env) readPCIFile() (map[pciAddr]string, []pciAddr, error) {
	name := filepath.Join(e.Dir, PCIFile)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return map[pciAddr]string{}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	devs := map[pciAddr]string{}
	var order []pciAddr
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		fields := strings.Fields(l)
		if len(fields) == 0 {
			continue
		}
		a, all, rest, ok := parseBDF(fields[0])
		if !ok || all || rest != "" || len(fields) > 2 {
			return nil, nil, fmt.Errorf("%s:%d: want \"BDF DRIVER\", got %q", name, n, sc.Text())
		}
		drv := ""
		if len(fields) == 2 && fields[1] != "none" {
			drv = fields[1]
		}
		if _, dup := devs[a]; !dup {
			order = append(order, a)
		}
		devs[a] = drv
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	sort.Slice(order, func(i, j int) bool { return order[i].String() < order[j].String() })
	return devs, order, nil
}

func (e *Env) pcibackLoaded() bool {
	_, err := os.Stat(filepath.Join(e.Dir, PCIbackLoadedFile))
	return err == nil
}

// pci reads the host's PCI devices for the session.
func (s *session) pci() (*pciHost, error) {
	boot, order, err := s.env.readPCIFile()
	if err != nil {
		return nil, err
	}
	if s.st.PCI == nil {
		s.st.PCI = map[string]*PCIDevState{}
	}
	return &pciHost{s: s, boot: boot, order: order, loaded: s.env.pcibackLoaded()}, nil
}

// exists: the device is in /sys/bus/pci/devices.
func (h *pciHost) exists(a pciAddr) bool {
	_, ok := h.boot[a]
	return ok
}

// dev is the device's state, nil for a device the host does not have.
func (h *pciHost) dev(a pciAddr) *PCIDevState {
	if !h.exists(a) {
		return nil
	}
	d := h.s.st.PCI[a.String()]
	if d == nil {
		d = &PCIDevState{Driver: h.boot[a]}
		h.s.st.PCI[a.String()] = d
	}
	return d
}

// inPciback: /sys/bus/pci/drivers/pciback/<bdf> exists.
func (h *pciHost) inPciback(a pciAddr) bool {
	d := h.dev(a)
	return h.loaded && d != nil && d.Driver == pcibackDriver
}

// user is the domain the device is passed through to, nil if none.
func (h *pciHost) user(a pciAddr) *Domain {
	return h.s.st.pciUser(a.String())
}

// pciUser is the domain that has the device bdf, nil if none.
func (st *State) pciUser(bdf string) *Domain {
	for _, d := range st.Domains {
		for _, b := range d.PCIAttached {
			if b == bdf {
				return d
			}
		}
	}
	return nil
}

// libxlLog prints a message the way libxl's logger does.
func libxlLog(w io.Writer, level string, fileLine string, fn string, domid int, format string, args ...any) {
	dom := ""
	if domid > 0 && domid < 0x7ff0 {
		dom = fmt.Sprintf("Domain %d:", domid)
	}
	fmt.Fprintf(w, "libxl: %s: %s:%s: %s%s\n", level, fileLine, fn, dom, fmt.Sprintf(format, args...))
}

func pciLog(w io.Writer, level string, line int, fn string, domid int, format string, args ...any) {
	libxlLog(w, level, fmt.Sprintf("libxl_pci.c:%d", line), fn, domid, format, args...)
}

// isAssigned is pciback_dev_is_assigned: 1 if the device is bound to
// pciback, 0 if not, -1 (with libxl's message) if pciback is not loaded.
func (h *pciHost) isAssigned(w io.Writer, a pciAddr) int {
	if !h.loaded {
		pciLog(w, "error", 693, "pciback_dev_is_assigned", 0, "Looks like pciback driver is not loaded")
		return -1
	}
	if h.inPciback(a) {
		return 1
	}
	return 0
}

// assignable is libxl_device_pci_assignable_list: the devices bound to
// pciback that no guest has, in BDF order (nil, with libxl's message, if
// pciback is not loaded).
func (h *pciHost) assignable(w io.Writer) ([]pciAddr, bool) {
	if !h.loaded {
		pciLog(w, "error", 444, "libxl_device_pci_assignable_list", 0, "Looks like pciback driver not loaded")
		return nil, false
	}
	var out []pciAddr
	for _, a := range h.order {
		if h.inPciback(a) && h.user(a) == nil {
			out = append(out, a)
		}
	}
	return out, true
}

// assignableAdd is libxl__device_pci_assignable_add; it returns a libxl
// error code.
func (h *pciHost) assignableAdd(w io.Writer, a pciAddr, name *string, rebind bool) int {
	const fn = "libxl__device_pci_assignable_add"
	if name != nil {
		if len(*name) > 64 {
			pciLog(w, "error", 777, fn, 0, "Name too long")
			return errorFail
		}
		for i := 0; i < len(*name); i++ {
			if c := (*name)[i]; c <= ' ' || c >= 0x7f {
				pciLog(w, "error", 783, fn, 0, "Names may only include printable characters")
				return errorFail
			}
		}
	}
	d := h.dev(a)
	if d == nil {
		pciLog(w, "error", 792, fn, 0, "Couldn't lstat %s/%s: No such file or directory", sysfsPCIDev, a)
		return errorFail
	}
	switch h.isAssigned(w, a) {
	case -1:
		return errorFail
	case 1:
		pciLog(w, "warning", 802, fn, 0, "%s already assigned to pciback", a)
	default:
		// Unbind it from its driver and remember that driver.
		driverPath := ""
		if d.Driver != "" {
			driverPath = path.Join(sysfsDrivers, d.Driver)
			d.Driver = ""
		}
		if rebind {
			switch {
			case driverPath != "":
				d.DriverPath = driverPath
			case d.DriverPath != "":
				pciLog(w, "info", 819, fn, 0, "%s not bound to a driver, will be rebound to %s", a, d.DriverPath)
			default:
				pciLog(w, "warning", 822, fn, 0, "%s not bound to a driver, will not be rebound.", a)
			}
		} else {
			d.DriverPath = ""
		}
		d.Driver = pcibackDriver
	}
	if name != nil {
		n := *name
		d.Name = &n
	} else {
		d.Name = nil
	}
	// Quarantine: Xen gives it to dom_io, unless a guest has it.
	if h.user(a) != nil {
		pciLog(w, "error", 848, fn, 0, "failed to quarantine %s", a)
		return errorFail
	}
	d.Quarantined = true
	return 0
}

// name2bdf finds the device named name (/libxl/pci/*/name).
func (h *pciHost) name2bdf(name string) (pciAddr, bool) {
	for _, a := range h.order {
		if d := h.s.st.PCI[a.String()]; d != nil && d.Name != nil && *d.Name == name {
			return a, true
		}
	}
	return pciAddr{}, false
}

// assignableRemove is libxl__device_pci_assignable_remove for a device
// given by its BDF; it returns a libxl error code.
func (h *pciHost) assignableRemove(w io.Writer, a pciAddr, rebind bool) int {
	const fn = "libxl__device_pci_assignable_remove"
	d := h.dev(a)
	// De-quarantine: only a device dom_io has.
	if d == nil || !d.Quarantined || h.user(a) != nil {
		pciLog(w, "error", 906, fn, 0, "failed to de-quarantine %s", a)
		return errorFail
	}
	d.Quarantined = false
	switch h.isAssigned(w, a) {
	case -1:
		return errorFail
	case 1:
		d.Driver = ""
	default:
		pciLog(w, "warning", 917, fn, 0, "Not bound to pciback")
	}
	if d.DriverPath != "" {
		if rebind {
			pciLog(w, "info", 925, fn, 0, "Rebinding to driver at %s", d.DriverPath)
			d.Driver = path.Base(d.DriverPath)
			d.DriverPath = ""
		}
	} else if rebind {
		pciLog(w, "warning", 938, fn, 0, "Couldn't find path for original driver; not rebinding")
	}
	d.Name = nil
	return 0
}

// ---- the commands ----

// cmdPCIAssignableList is `xl pci-assignable-list [-n]`.
func (e *Env) cmdPCIAssignableList(args []string) int {
	opts, _, rc := e.getopt("pci-assignable-list", args, "n", map[string]rune{"show-names": 'n'}, 0)
	if rc >= 0 {
		return rc
	}
	showNames := len(opts) > 0
	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	h, err := s.pci()
	if err != nil {
		s.abort()
		return e.fatal(err)
	}
	var out strings.Builder
	list, _ := h.assignable(e.Stderr)
	for _, a := range list {
		name := ""
		if d := s.st.PCI[a.String()]; showNames && d != nil && d.Name != nil {
			name = *d.Name
		}
		fmt.Fprintf(&out, "%s %s\n", a, name)
	}
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}
	fmt.Fprint(e.Stdout, out.String())
	return 0
}

// cmdPCIAssignableAdd is `xl pci-assignable-add [-n NAME] BDF`.
func (e *Env) cmdPCIAssignableAdd(args []string) int {
	opts, operands, rc := e.getopt("pci-assignable-add", args, "n:", map[string]rune{"name": 'n'}, 1)
	if rc >= 0 {
		return rc
	}
	var name *string
	for _, o := range opts {
		n := o.arg
		name = &n
	}
	bdf := operands[0]
	a, _, _, ok := parseBDF(bdf)
	if !ok {
		fmt.Fprintf(e.Stderr, "pci-assignable-add: malformed BDF \"%s\"\n", bdf)
		return 2
	}
	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	h, err := s.pci()
	if err != nil {
		s.abort()
		return e.fatal(err)
	}
	r := h.assignableAdd(e.Stderr, a, name, true)
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}
	if r != 0 {
		return 1
	}
	return 0
}

// cmdPCIAssignableRemove is `xl pci-assignable-remove [-r] BDF|NAME`.
func (e *Env) cmdPCIAssignableRemove(args []string) int {
	opts, operands, rc := e.getopt("pci-assignable-remove", args, "r", nil, 1)
	if rc >= 0 {
		return rc
	}
	rebind := len(opts) > 0
	ident := operands[0]
	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	h, err := s.pci()
	if err != nil {
		s.abort()
		return e.fatal(err)
	}
	// By name first, then by BDF.
	a, ok := h.name2bdf(ident)
	if !ok {
		a, _, _, ok = parseBDF(ident)
		if !ok {
			s.commit()
			fmt.Fprintf(e.Stderr, "pci-assignable-remove: malformed BDF '%s'\n", ident)
			return 2
		}
	}
	r := h.assignableRemove(e.Stderr, a, rebind)
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}
	if r != 0 {
		return 1
	}
	return 0
}

// ---- guests' devices ----

// attachPCI gives the guest d (just built, as domid d.ID) its `pci`
// devices like libxl__add_pcis during domain creation, writing libxl's
// messages to w. It tells whether all went well; if not, the caller
// destroys the domain.
func (s *session) attachPCI(w io.Writer, d *Domain) (bool, error) {
	d.PCIAttached = nil
	if len(d.PCI) == 0 {
		return true, nil
	}
	h, err := s.pci()
	if err != nil {
		return false, err
	}
	ok := true
	for _, spec := range d.PCI {
		if rc := h.pciAdd(w, d, spec); rc != 0 {
			ok = false
			if spec.HasName {
				pciLog(w, "error", 1803, "device_pci_add_done", d.ID,
					"libxl__device_pci_add failed for PCI device '%s' (rc %d)", spec.Name, rc)
			} else {
				pciLog(w, "error", 1809, "device_pci_add_done", d.ID,
					"libxl__device_pci_add failed for PCI device %s (rc %d)", spec.Addr.short(), rc)
			}
		}
	}
	if !ok {
		// The same Debian build as libxl_create.c:1296 and :1640.
		libxlLog(w, "error", "libxl_create.c:1921", "domcreate_attach_devices", d.ID, "unable to add pci devices")
	}
	return ok, nil
}

// pciAdd is libxl__device_pci_add of one device at domain creation; it
// returns a libxl error code (or -1, xc's failure).
func (h *pciHost) pciAdd(w io.Writer, d *Domain, spec PCISpec) int {
	const fn = "libxl__device_pci_add"
	a := spec.Addr
	if spec.HasName {
		var ok bool
		if a, ok = h.name2bdf(spec.Name); !ok {
			return errorNotFound
		}
	}
	if d.Type == "hvm" {
		// xc_test_assign_device: Xen refuses a device that does not exist
		// or that a guest has.
		if !h.exists(a) || h.user(a) != nil {
			pciLog(w, "error", 1658, fn, d.ID, "PCI device %s already assigned to a different guest?", a)
			return -1
		}
	}
	if spec.Seize && h.isAssigned(w, a) == 0 {
		if rc := h.assignableAdd(w, a, nil, true); rc != 0 {
			return rc
		}
	}
	list, _ := h.assignable(w)
	found := false
	for _, x := range list {
		found = found || x == a
	}
	if !found {
		pciLog(w, "error", 1677, fn, d.ID, "PCI device %s is not assignable", a.short())
		return errorFail
	}
	funcs := []pciAddr{a}
	if spec.VfuncMask == pciFuncAll {
		if spec.Vdevfn>>3 == 0 {
			pciLog(w, "error", 1756, "device_pci_add_stubdom_done", d.ID, "Must specify a v-slot for multi-function devices")
			return errorInval
		}
		// pci_multifunction_check: every function must be bound to pciback.
		funcs = nil
		for _, x := range h.order {
			if x.slot() != a.slot() {
				continue
			}
			if !h.inPciback(x) {
				pciLog(w, "error", 1008, "pci_multifunction_check", 0, "%s is not assigned to pciback driver", x)
				return errorFail
			}
			funcs = append(funcs, x)
		}
	}
	for _, x := range funcs {
		if h.user(x) != nil {
			// Another function of the device is some guest's: Xen
			// refuses to assign it (EBUSY).
			pciLog(w, "error", 1529, "pci_add_dm_done", d.ID, "xc_assign_device failed: Device or resource busy")
			return errorFail
		}
	}
	for _, x := range funcs {
		d.PCIAttached = append(d.PCIAttached, x.String())
		// When the guest goes, Xen quarantines the device (iommu=quarantine).
		h.dev(x).Quarantined = true
	}
	return 0
}

// xsReadPCI reads /libxl/pci/... of the simulated xenstore.
func (s *session) xsReadPCI(rest string) (string, bool) {
	if rest == "" {
		return "", true
	}
	node, key, _ := strings.Cut(rest, "/")
	for bdf, d := range s.st.PCI {
		a, _, _, ok := parseBDF(bdf)
		if !ok || a.xsNode() != node {
			continue
		}
		vals := map[string]string{}
		if d.DriverPath != "" {
			vals["driver_path"] = d.DriverPath
		}
		if d.Name != nil {
			vals["name"] = *d.Name
		}
		if u := s.st.pciUser(bdf); u != nil {
			vals["domid"] = fmt.Sprint(u.ID)
		}
		if len(vals) == 0 {
			return "", false
		}
		if key == "" {
			return "", true
		}
		v, ok := vals[key]
		return v, ok
	}
	return "", false
}
