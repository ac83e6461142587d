package xlsim

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseBDF(t *testing.T) {
	good := []struct {
		in, want, rest string
		all            bool
	}{
		{"00:19.0", "0000:00:19.0", "", false},
		{"0000:00:19.0", "0000:00:19.0", "", false},
		{"0000:03:00.1", "0000:03:00.1", "", false},
		{"1:2:3.4", "0001:02:03.4", "", false},
		{"00:1F.7", "0000:00:1f.7", "", false},
		{"03:00.*", "0000:03:00.0", "", true},
		{"00:19.0,permissive=1", "0000:00:19.0", ",permissive=1", false},
		{"00:19.0@3", "0000:00:19.0", "@3", false},
		{"00: 19.0", "0000:00:19.0", "", false}, // sscanf's %x skips white space
		{"00:0x19.0", "0000:00:19.0", "", false},
	}
	for _, tc := range good {
		a, all, rest, ok := parseBDF(tc.in)
		if !ok || a.String() != tc.want || rest != tc.rest || all != tc.all {
			t.Errorf("parseBDF(%q) = %v %v %q %v; want %s %v %q", tc.in, a, all, rest, ok, tc.want, tc.all, tc.rest)
		}
	}
	for _, in := range []string{"", "zz", "00:19", "0019.0", "00:20.0", "00:19.8", "100:00.0", "10000:00:00.0",
		"0:0:0:0.0", "00:19.x", "nic", " 00:19.0", "00-19.0"} {
		if a, _, _, ok := parseBDF(in); ok {
			t.Errorf("parseBDF(%q) = %v, want malformed", in, a)
		}
	}
	a := pciAddr{0, 0, 0x19, 0}
	if a.short() != "0:0:19.0" || a.xsNode() != "0000-00-19-0" {
		t.Errorf("short %q, xsNode %q", a.short(), a.xsNode())
	}
}

func TestParsePCISpec(t *testing.T) {
	good := []struct {
		in   string
		want PCISpec
	}{
		{"00:19.0", PCISpec{Addr: pciAddr{0, 0, 0x19, 0}, HasBDF: true, VfuncMask: 1}},
		{"0000:03:00.0@5,permissive=1,msitranslate=0,seize=1,power_mgmt=2,rdm_policy=Relaxed",
			PCISpec{Addr: pciAddr{0, 3, 0, 0}, HasBDF: true, VfuncMask: 1, Vdevfn: 5 << 3, Permissive: true,
				Seize: true, PowerMgmt: true, RdmPolicy: "relaxed"}},
		{"03:00.*@2", PCISpec{Addr: pciAddr{0, 3, 0, 0}, HasBDF: true, VfuncMask: pciFuncAll, Vdevfn: 2 << 3}},
		{"bdf=00:19.0,vslot=4", PCISpec{Addr: pciAddr{0, 0, 0x19, 0}, HasBDF: true, VfuncMask: 1, Vdevfn: 4 << 3}},
		{"name=nic", PCISpec{Name: "nic", HasName: true}},
	}
	for _, tc := range good {
		var report bytes.Buffer
		got, ret := parsePCISpec(&report, PCISpec{}, tc.in)
		if ret != 0 || !reflect.DeepEqual(got, tc.want) || report.Len() > 0 {
			t.Errorf("%q: %+v %d %q; want %+v", tc.in, got, ret, report.String(), tc.want)
		}
	}
	bad := []struct {
		in, report string
		ret        int
	}{
		{"00:19.0,foo=1", "Unknown PCI_SPEC_STRING option: foo", errorInval},
		{"00:19.0,rdm_policy=lax", "Unknown RDM policy: lax", errorFail},
		{"00:19.0y", "", errorInval},
		{"00:19.0@20", "", errorInval},
		{"00:19.0,permissive", "", errorInval},
		{"name=nic,bdf=00:19.0", "", errorInval},
		{"permissive=1", "", errorInval},
		{"bdf=00:19", "", errorInval},
	}
	for _, tc := range bad {
		var report bytes.Buffer
		_, ret := parsePCISpec(&report, PCISpec{}, tc.in)
		if ret != tc.ret || report.String() != tc.report {
			t.Errorf("%q: %d %q; want %d %q", tc.in, ret, report.String(), tc.ret, tc.report)
		}
	}
	// The pci_* keys are the defaults of every device.
	got, _ := parsePCISpec(&bytes.Buffer{}, PCISpec{Permissive: true}, "00:19.0,msitranslate=1")
	if !got.Permissive || !got.Msitranslate {
		t.Errorf("defaults: %+v", got)
	}
}

func TestGuestPCIConfig(t *testing.T) {
	d, rc, msg := parseCfg(t, "name='a'\npci_permissive=1\npci = [ '00:19.0', '0000:03:00.0,seize=1' ]\n")
	if rc != -1 || msg != "" || len(d.PCI) != 2 || !d.PCI[0].Permissive || !d.PCI[1].Seize || d.PCI[1].Addr.Bus != 3 {
		t.Errorf("pci: %+v %d %q", d.PCI, rc, msg)
	}
	js := yajlGen(configJSON(d, cfgDryrun))
	if !strings.Contains(js, `"type.pv": {
            "e820_host": "True"
        },`) || !strings.Contains(js, `"pcidevs": [
        {
            "dev": 25,
            "vfunc_mask": 1,
            "permissive": true
        },
        {
            "bus": 3,
            "vfunc_mask": 1,
            "permissive": true,
            "seize": true
        }
    ],`) {
		t.Errorf("json:\n%s", js)
	}
	_, rc, msg = parseCfg(t, "name='a'\npci = [ '00:19.0,foo=1' ]\n")
	if rc != 6 || msg != "Unknown PCI_SPEC_STRING option: foounable to parse PCI_SPEC_STRING `00:19.0,foo=1' for passthrough\n" {
		t.Errorf("bad option: %d %q", rc, msg)
	}
	_, rc, msg = parseCfg(t, "name='a'\npci = [ '00:19.0,rdm_policy=x' ]\n")
	if rc != 3 || msg != "Unknown RDM policy: xunable to parse PCI_SPEC_STRING `00:19.0,rdm_policy=x' for passthrough\n" {
		t.Errorf("bad rdm_policy: %d %q", rc, msg)
	}
	d, rc, msg = parseCfg(t, "name='a'\npci = '00:19.0'\n")
	if rc != -1 || len(d.PCI) != 0 || msg != "g.cfg:2: warning: parameter `pci' is a single value but should be a list\n" {
		t.Errorf("pci not a list: %+v %d %q", d.PCI, rc, msg)
	}
}

// pciSession is a test session on a host with PCI devices.
func pciSession(t *testing.T, pciback bool, devices ...string) *session {
	t.Helper()
	s := testSession(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := SetHostPCI(s.env.Dir, devices...); err != nil {
		t.Fatal(err)
	}
	if err := SetPciback(s.env.Dir, pciback); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAssignableAddRemove(t *testing.T) {
	s := pciSession(t, true, "0000:00:19.0 e1000e", "# the sound card", "00:1f.3 none", "0000:04:00.0 pciback")
	h, err := s.pci()
	if err != nil {
		t.Fatal(err)
	}
	nic, snd, hidden := pciAddr{0, 0, 0x19, 0}, pciAddr{0, 0, 0x1f, 3}, pciAddr{0, 4, 0, 0}
	var w bytes.Buffer
	list := func() []pciAddr {
		l, ok := h.assignable(&w)
		if !ok {
			t.Fatal("pciback not loaded")
		}
		return l
	}
	if l := list(); !reflect.DeepEqual(l, []pciAddr{hidden}) {
		t.Errorf("at boot: %v", l)
	}
	name := "nic"
	if rc := h.assignableAdd(&w, nic, &name, true); rc != 0 || w.Len() > 0 {
		t.Errorf("add nic: %d %q", rc, w.String())
	}
	if d := s.st.PCI[nic.String()]; d.Driver != "pciback" || d.DriverPath != "/sys/bus/pci/drivers/e1000e" || !d.Quarantined || *d.Name != "nic" {
		t.Errorf("nic: %+v", d)
	}
	if rc := h.assignableAdd(&w, snd, nil, true); rc != 0 || w.String() !=
		"libxl: warning: libxl_pci.c:822:libxl__device_pci_assignable_add: 0000:00:1f.3 not bound to a driver, will not be rebound.\n" {
		t.Errorf("add snd: %d %q", rc, w.String())
	}
	w.Reset()
	if l := list(); !reflect.DeepEqual(l, []pciAddr{nic, snd, hidden}) {
		t.Errorf("after add: %v", l)
	}
	if a, ok := h.name2bdf("nic"); !ok || a != nic {
		t.Errorf("name2bdf: %v %v", a, ok)
	}
	// A guest has it: not assignable, not removable, not re-addable.
	g := s.addGuest("g", Behaviour{}, s.now)
	g.PCI = []PCISpec{{Addr: nic, HasBDF: true, VfuncMask: 1}}
	if ok, err := s.attachPCI(&w, g); !ok || err != nil || w.Len() > 0 || !reflect.DeepEqual(g.PCIAttached, []string{"0000:00:19.0"}) {
		t.Errorf("attach: %v %v %q %v", ok, err, w.String(), g.PCIAttached)
	}
	if l := list(); !reflect.DeepEqual(l, []pciAddr{snd, hidden}) {
		t.Errorf("in use: %v", l)
	}
	if v, ok := s.xsRead("/libxl/pci/0000-00-19-0/domid"); !ok || v != "1" {
		t.Errorf("xenstore domid: %q %v", v, ok)
	}
	if rc := h.assignableRemove(&w, nic, true); rc != errorFail || w.String() !=
		"libxl: error: libxl_pci.c:906:libxl__device_pci_assignable_remove: failed to de-quarantine 0000:00:19.0\n" {
		t.Errorf("remove in use: %d %q", rc, w.String())
	}
	w.Reset()
	s.removeDomain(g, s.now, GoneInfo{Why: "destroyed"}, "destroyed")
	if l := list(); !reflect.DeepEqual(l, []pciAddr{nic, snd, hidden}) {
		t.Errorf("after the guest: %v", l)
	}
	if rc := h.assignableRemove(&w, nic, true); rc != 0 || w.String() !=
		"libxl: info: libxl_pci.c:925:libxl__device_pci_assignable_remove: Rebinding to driver at /sys/bus/pci/drivers/e1000e\n" {
		t.Errorf("remove -r: %d %q", rc, w.String())
	}
	if d := s.st.PCI[nic.String()]; d.Driver != "e1000e" || d.DriverPath != "" || d.Quarantined || d.Name != nil {
		t.Errorf("nic after remove -r: %+v", d)
	}
	w.Reset()
	// Never quarantined: Xen's dom_io does not have it.
	if rc := h.assignableRemove(&w, hidden, false); rc != errorFail || !strings.Contains(w.String(), "failed to de-quarantine 0000:04:00.0") {
		t.Errorf("remove hidden: %d %q", rc, w.String())
	}
	w.Reset()
	if rc := h.assignableRemove(&w, snd, true); rc != 0 || w.String() !=
		"libxl: warning: libxl_pci.c:938:libxl__device_pci_assignable_remove: Couldn't find path for original driver; not rebinding\n" {
		t.Errorf("remove snd: %d %q", rc, w.String())
	}
	w.Reset()
	long := strings.Repeat("n", 65)
	if rc := h.assignableAdd(&w, snd, &long, true); rc != errorFail || w.String() !=
		"libxl: error: libxl_pci.c:777:libxl__device_pci_assignable_add: Name too long\n" {
		t.Errorf("long name: %d %q", rc, w.String())
	}
}

func TestAttachPCIErrors(t *testing.T) {
	s := pciSession(t, false, "0000:00:19.0 e1000e", "0000:03:00.0 none", "0000:03:00.1 none")
	g := s.addGuest("g", Behaviour{}, s.now)
	g.PCI = []PCISpec{{Addr: pciAddr{0, 0, 0x19, 0}, HasBDF: true, VfuncMask: 1, Seize: true}}
	var w bytes.Buffer
	if ok, _ := s.attachPCI(&w, g); ok || w.String() != "libxl: error: libxl_pci.c:693:pciback_dev_is_assigned: Looks like pciback driver is not loaded\n"+
		"libxl: error: libxl_pci.c:444:libxl_device_pci_assignable_list: Looks like pciback driver not loaded\n"+
		"libxl: error: libxl_pci.c:1677:libxl__device_pci_add: Domain 1:PCI device 0:0:19.0 is not assignable\n"+
		"libxl: error: libxl_pci.c:1809:device_pci_add_done: Domain 1:libxl__device_pci_add failed for PCI device 0:0:19.0 (rc -3)\n"+
		"libxl: error: libxl_create.c:1921:domcreate_attach_devices: Domain 1:unable to add pci devices\n" {
		t.Errorf("no pciback: %v %q", ok, w.String())
	}
	// With pciback, seize=1 makes it assignable.
	SetPciback(s.env.Dir, true)
	w.Reset()
	if ok, _ := s.attachPCI(&w, g); !ok || w.Len() > 0 || s.st.PCI["0000:00:19.0"].DriverPath != "/sys/bus/pci/drivers/e1000e" {
		t.Errorf("seize: %v %q", ok, w.String())
	}
	// Multi-function: a v-slot, and every function on pciback.
	g.PCI = []PCISpec{{Addr: pciAddr{0, 3, 0, 0}, HasBDF: true, VfuncMask: pciFuncAll, Seize: true}}
	w.Reset()
	if ok, _ := s.attachPCI(&w, g); ok || !strings.Contains(w.String(), "libxl_pci.c:1756:device_pci_add_stubdom_done: Domain 1:Must specify a v-slot for multi-function devices\n") ||
		!strings.Contains(w.String(), "(rc -6)") {
		t.Errorf("no vslot: %v %q", ok, w.String())
	}
	g.PCI[0].Vdevfn = 2 << 3
	w.Reset()
	if ok, _ := s.attachPCI(&w, g); ok || !strings.Contains(w.String(), "libxl: error: libxl_pci.c:1008:pci_multifunction_check: 0000:03:00.1 is not assigned to pciback driver\n") {
		t.Errorf("function 1 not on pciback: %v %q", ok, w.String())
	}
	var sink bytes.Buffer
	h, _ := s.pci()
	h.assignableAdd(&sink, pciAddr{0, 3, 0, 1}, nil, false)
	w.Reset()
	if ok, _ := s.attachPCI(&w, g); !ok || w.Len() > 0 || !reflect.DeepEqual(g.PCIAttached, []string{"0000:03:00.0", "0000:03:00.1"}) {
		t.Errorf("multi-function: %v %q %v", ok, w.String(), g.PCIAttached)
	}
	// A name nobody gave.
	g.PCI = []PCISpec{{Name: "gpu", HasName: true}}
	w.Reset()
	if ok, _ := s.attachPCI(&w, g); ok || !strings.Contains(w.String(), "Domain 1:libxl__device_pci_add failed for PCI device 'gpu' (rc -23)\n") {
		t.Errorf("unknown name: %v %q", ok, w.String())
	}
	// A bad device file.
	os.WriteFile(filepath.Join(s.env.Dir, PCIFile), []byte("00:19 e1000e\n"), 0o644)
	if _, err := s.attachPCI(&w, g); err == nil || !strings.Contains(err.Error(), "/pci:1: want \"BDF DRIVER\"") {
		t.Errorf("bad file: %v", err)
	}
}
