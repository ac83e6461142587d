package xlcfg

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDisk(t *testing.T) {
	tests := []struct {
		spec string
		want Disk
		err  string
	}{
		{"phy:/dev/vg0/web,xvda,w", Disk{Target: "phy:/dev/vg0/web", Vdev: "xvda", Access: "w"}, ""},
		{"/x.img,raw,xvdb,rw", Disk{Target: "/x.img", Format: "raw", Vdev: "xvdb", Access: "rw"}, ""},
		{"format=raw, vdev=hda, access=rw, target=/dev/vg0/opnsense", Disk{Target: "/dev/vg0/opnsense", Format: "raw", Vdev: "hda", Access: "rw"}, ""},
		{"backend=Domain-N,vdev=xvdb,target=/srv/a,b.img", Disk{Target: "/srv/a,b.img", Vdev: "xvdb", Backend: "Domain-N"}, ""},
		{"/dev/sr0,,hdc:cdrom,r", Disk{Target: "/dev/sr0", Vdev: "hdc:cdrom", Access: "r"}, ""},
		{"/dev/vg0/x", Disk{}, "no vdev"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			d, err := ParseDisk(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d.Params = nil
			if !reflect.DeepEqual(d, tt.want) {
				t.Errorf("got %+v, want %+v", d, tt.want)
			}
		})
	}
}

func TestParsePCI(t *testing.T) {
	tests := []struct {
		spec, bdf string
		opts      Spec
		err       string
	}{
		{"00:19.0", "0000:00:19.0", Spec{}, ""},
		{"0000:03:00.1,permissive=1,seize=1", "0000:03:00.1", Spec{"permissive": "1", "seize": "1"}, ""},
		{"1:0A:1f.7@0c", "0001:0a:1f.7", Spec{}, ""},
		{"bdf=00:02.0,rdm_policy=relaxed", "0000:00:02.0", Spec{"rdm_policy": "relaxed"}, ""},
		{"00:20.0", "", nil, "over 0x1f"},
		{"eth0", "", nil, "not a PCI address"},
	}
	for _, tt := range tests {
		p, err := ParsePCI(tt.spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v", tt.spec, err)
			}
			continue
		}
		if err != nil || p.BDF != tt.bdf || !reflect.DeepEqual(p.Options, tt.opts) {
			t.Errorf("%s: %+v %v", tt.spec, p, err)
		}
	}
}

func TestBackends(t *testing.T) {
	src := `name = "web"
vif = [ 'bridge=br_lan,backend=Domain-N,mac=00:16:3e:00:00:07',
        'bridge=br0' ]
disk = [ 'phy:/dev/vg0/web,xvda,w', 'backend=storage,vdev=xvdb,target=/srv/web.img' ]
vtpm = [ "backend=vtpmmgr,uuid=4a7c" ]
p9 = [ 'tag=share,backend=Domain-0,path=/srv' ]
pci = [ '00:19.0', '0000:03:00.0,permissive=1' ]
`
	c, err := Parse("/etc/xen/web.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	bs, err := c.Backends()
	if err != nil {
		t.Fatal(err)
	}
	want := []Backend{{"disk", "storage", 4}, {"p9", "Domain-0", 6}, {"vif", "Domain-N", 2}, {"vtpm", "vtpmmgr", 5}}
	if !reflect.DeepEqual(bs, want) {
		t.Errorf("backends %+v", bs)
	}
	pcis, err := c.PCIDevices()
	if err != nil || len(pcis) != 2 || pcis[0].BDF != "0000:00:19.0" {
		t.Errorf("pci %+v %v", pcis, err)
	}
	if !IsDom0("Domain-0") || !IsDom0("0") || IsDom0("Domain-N") {
		t.Error("IsDom0")
	}
}

func FuzzParseDisk(f *testing.F) {
	for _, s := range []string{"phy:/dev/vg0/web,xvda,w", "format=raw, vdev=hda, access=rw, target=/x", "a,b,c,d,e", ",,,", "target="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseDisk(s)
		ParsePCI(s)
		ParseSpec(s)
	})
}
