package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

// TestPCIPassthrough: pci-assignable-{list,add,remove} and guests with
// `pci = [...]`, with and without xen-pciback.
func TestPCIPassthrough(t *testing.T) {
	h := newHost(t)
	if err := xlsim.SetHostPCI(h.dir, "# BDF DRIVER", "0000:00:19.0 e1000e", "0000:00:1f.3 snd_hda_intel", "0000:03:00.0 none"); err != nil {
		t.Fatal(err)
	}
	expect := func(r result, stdout, stderr string, rc int) {
		t.Helper()
		if r.stdout != stdout || r.stderr != stderr || r.rc != rc {
			t.Errorf("got rc %d\nstdout %q\nstderr %q\nwant rc %d\nstdout %q\nstderr %q", r.rc, r.stdout, r.stderr, rc, stdout, stderr)
		}
	}

	// No xen-pciback: the sample of real xl, and nothing can be added.
	expect(h.xl("pci-assignable-list"), "",
		"libxl: error: libxl_pci.c:444:libxl_device_pci_assignable_list: Looks like pciback driver not loaded\n", 0)
	expect(h.xl("pci-assignable-add", "00:19.0"), "",
		"libxl: error: libxl_pci.c:693:pciback_dev_is_assigned: Looks like pciback driver is not loaded\n", 1)

	if err := xlsim.SetPciback(h.dir, true); err != nil {
		t.Fatal(err)
	}
	expect(h.xl("pci-assignable-list"), "", "", 0)
	expect(h.xl("pci-assignable-add", "00:19"), "", "pci-assignable-add: malformed BDF \"00:19\"\n", 2)
	expect(h.xl("pci-assignable-add", "00:1e.0"), "",
		"libxl: error: libxl_pci.c:792:libxl__device_pci_assignable_add: Couldn't lstat /sys/bus/pci/devices/0000:00:1e.0: No such file or directory\n", 1)
	// Both forms of BDF; silent.
	expect(h.xl("pci-assignable-add", "00:19.0"), "", "", 0)
	expect(h.xl("pci-assignable-add", "-n", "sound", "0000:00:1f.3"), "", "", 0)
	expect(h.xl("pci-assignable-add", "0000:00:19.0"), "",
		"libxl: warning: libxl_pci.c:802:libxl__device_pci_assignable_add: 0000:00:19.0 already assigned to pciback\n", 0)
	// xl prints a space after the BDF, and the name with -n.
	expect(h.xl("pci-assignable-list"), "0000:00:19.0 \n0000:00:1f.3 \n", "", 0)
	expect(h.xl("pci-assignable-list", "-n"), "0000:00:19.0 \n0000:00:1f.3 sound\n", "", 0)
	if r := h.runProg("xenstore-read", "/libxl/pci/0000-00-19-0/driver_path"); r.stdout != "/sys/bus/pci/drivers/e1000e\n" {
		t.Errorf("driver_path: %+v", r)
	}

	// A guest with a device that is not assignable: no domain.
	bad := h.guest("bad", "pci = [ '03:00.0' ]")
	expect(h.xl("create", bad), "", "Parsing config from "+bad+"\n"+
		"libxl: error: libxl_pci.c:1677:libxl__device_pci_add: Domain 1:PCI device 0:3:0.0 is not assignable\n"+
		"libxl: error: libxl_pci.c:1809:device_pci_add_done: Domain 1:libxl__device_pci_add failed for PCI device 0:3:0.0 (rc -3)\n"+
		"libxl: error: libxl_create.c:1921:domcreate_attach_devices: Domain 1:unable to add pci devices\n"+
		"libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain 1:Non-existant domain\n"+
		"libxl: error: libxl_domain.c:1137:domain_destroy_callback: Domain 1:Unable to destroy guest\n"+
		"libxl: error: libxl_domain.c:1064:domain_destroy_cb: Domain 1:Destruction of domain failed\n", 3)
	if doms := h.domains(); len(doms) != 1 {
		t.Errorf("domains after the failed create: %v", doms)
	}

	// An assignable one: the guest has it, no one else can.
	web := h.guest("web", "pci = [ '0000:00:19.0,permissive=1' ]")
	expect(h.xl("create", web), "", "Parsing config from "+web+"\n", 0)
	if doms := h.domains(); doms["web"] != "2 -b----" {
		t.Errorf("domains: %v", doms)
	}
	if r := h.runProg("xenstore-read", "/libxl/pci/0000-00-19-0/domid"); r.stdout != "2\n" {
		t.Errorf("domid: %+v", r)
	}
	if r := h.mustXL("list", "-l", "web"); !strings.Contains(r.stdout, `"pcidevs": [
                {
                    "dev": 25,
                    "vfunc_mask": 1,
                    "permissive": true
                }
            ]`) {
		t.Errorf("list -l: %s", r.stdout)
	}
	expect(h.xl("pci-assignable-list"), "0000:00:1f.3 \n", "", 0)
	other := h.guest("other", "pci = [ '00:19.0' ]")
	r := h.xl("create", other)
	if r.rc != 3 || !strings.Contains(r.stderr, "Domain 3:PCI device 0:0:19.0 is not assignable\n") {
		t.Errorf("second guest: %+v", r)
	}
	hvm := h.guest("hvm", `type = "hvm"`, "pci = [ '00:19.0' ]")
	r = h.xl("create", hvm)
	if r.rc != 3 || !strings.Contains(r.stderr, "libxl: error: libxl_pci.c:1658:libxl__device_pci_add: Domain 4:PCI device 0000:00:19.0 already assigned to a different guest?\n") {
		t.Errorf("hvm guest: %+v", r)
	}
	expect(h.xl("pci-assignable-remove", "-r", "00:19.0"), "",
		"libxl: error: libxl_pci.c:906:libxl__device_pci_assignable_remove: failed to de-quarantine 0000:00:19.0\n", 1)

	// When the guest goes, the device stays assignable.
	h.mustXL("destroy", "web")
	expect(h.xl("pci-assignable-list"), "0000:00:19.0 \n0000:00:1f.3 \n", "", 0)

	// remove -r: back to its driver; by name too.
	expect(h.xl("pci-assignable-remove", "-r", "00:19.0"), "",
		"libxl: info: libxl_pci.c:925:libxl__device_pci_assignable_remove: Rebinding to driver at /sys/bus/pci/drivers/e1000e\n", 0)
	expect(h.xl("pci-assignable-remove", "-r", "sound"), "",
		"libxl: info: libxl_pci.c:925:libxl__device_pci_assignable_remove: Rebinding to driver at /sys/bus/pci/drivers/snd_hda_intel\n", 0)
	expect(h.xl("pci-assignable-list"), "", "", 0)
	expect(h.xl("pci-assignable-remove", "nosuch"), "", "pci-assignable-remove: malformed BDF 'nosuch'\n", 2)
	b, err := os.ReadFile(filepath.Join(h.dir, "state.json"))
	var st struct {
		PCI map[string]map[string]any `json:"pci"`
	}
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if want := map[string]any{"driver": "e1000e"}; err != nil || !reflect.DeepEqual(st.PCI["0000:00:19.0"], want) {
		t.Errorf("state: %v: 0000:00:19.0 is %v, want %v\n%s", err, st.PCI["0000:00:19.0"], want, b)
	}

	// Every invocation is in calls.log.
	calls, err := xlsim.ReadCalls(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range calls {
		if len(c.Args) > 0 && strings.HasPrefix(c.Args[0], "pci-assignable-") {
			n++
		}
	}
	if n != 17 {
		t.Errorf("%d pci-assignable calls logged", n)
	}
}
