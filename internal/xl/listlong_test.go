package xl

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseListLongSample(t *testing.T) {
	t.Parallel()
	s := findSample(t, readSamples(t, "xen-4.17-xl.txt"), "xl list -l", 0)
	got, err := ParseListLong([]byte(s.stdout))
	if err != nil {
		t.Fatal(err)
	}
	want := []DomainConfig{
		{DomID: 0, Name: "Domain-0", Type: "pv", MaxMemKB: 1048576, TargetMemKB: 1048575},
		{DomID: 1, Name: "Domain-N", Type: "pv", MaxMemKB: 98304, TargetMemKB: 98304},
		{DomID: 4, Name: longName, Type: "pv", MaxMemKB: 98304, TargetMemKB: 98304},
		{DomID: 6, Name: "fileserver", Type: "pv", MaxMemKB: 98304, TargetMemKB: 98304},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseListLongCreateSample(t *testing.T) {
	t.Parallel()
	// `xl -N create` prints one domain's config; `xl list -l` prints the
	// same shape inside {"domid", "config"} in an array.
	s := findSample(t, readSamples(t, "xen-4.17-xl.txt"), "xl -N create /etc/xen/web.cfg", 0)
	out := `[{"domid": 7, "config": ` + s.stdout + `}]`
	got, err := ParseListLong([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []DomainConfig{{
		DomID: 7, Name: "web", Type: "pv", MaxMemKB: 98304, TargetMemKB: 98304,
		Backends: []Backend{
			{Kind: "disk", DomID: -1, DomName: "Domain-N"},
			{Kind: "nic", DomID: -1, DomName: "Domain-N"},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseListLongShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		out  string
		want []DomainConfig
	}{
		{"empty array", "[\n]\n", []DomainConfig{}},
		{
			"stubdom and every kind of backend",
			`[{"domid": 12, "config": {
				"c_info": {"type": "hvm", "name": "win", "domid": 4294967295, "new_field": {"x": 1}},
				"b_info": {"max_memkb": 4194304, "target_memkb": 2097152, "device_model_stubdomain": "True"},
				"vtpms": [{"backend_domname": "vtpmmgr", "devid": 0}],
				"p9s": [{"tag": "share", "backend_domid": 3}],
				"nics": [{"backend_domid": 2, "backend_domname": "netdom", "mac": "00:16:3e:00:00:01"}, {"bridge": "br0"}],
				"disks": [{"vdev": "xvda"}],
				"pcidevs": [{"func": 1, "dev": 2, "bus": 3}],
				"vkbs": [{"backend_domname": "Domain-0"}],
				"on_reboot": "restart",
				"strings": ["not", "devices"],
				"empty": [],
				"nothing": null
			}}]`,
			[]DomainConfig{{
				DomID: 12, Name: "win", Type: "hvm", MaxMemKB: 4194304, TargetMemKB: 2097152, Stubdom: true,
				Backends: []Backend{
					{Kind: "nic", DomID: 2, DomName: "netdom"},
					{Kind: "p9", DomID: 3},
					{Kind: "vkb", DomID: -1, DomName: "Domain-0"},
					{Kind: "vtpm", DomID: -1, DomName: "vtpmmgr"},
				},
			}},
		},
		{
			"stubdom False, default memory",
			`[{"domid": 3, "config": {"c_info": {"type": "pvh", "name": "p"}, "b_info": {"max_memkb": 18446744073709551615, "device_model_stubdomain": "False"}}}]`,
			[]DomainConfig{{DomID: 3, Name: "p", Type: "pvh"}},
		},
		{"no c_info or b_info", `[{"domid": 5, "config": {}}]`, []DomainConfig{{DomID: 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseListLong([]byte(tc.out))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestParseListLongErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, out, wantErr string
	}{
		{"empty", "", "xl list -l printed nothing"},
		{"blank", "\n \n", "xl list -l printed nothing"},
		{"truncated", "[\n    {\n        \"domid\": 0,\n", "xl list -l: invalid JSON: "},
		{"text", "libxl: error: something\n", "xl list -l: invalid JSON: "},
		{"plain list", listHeader, "xl list -l: invalid JSON: "},
		{"trailing garbage", "[] x", "xl list -l: invalid JSON: "},
		{"two arrays", "[] []", "xl list -l: invalid JSON: "},
		{"null", "null", "xl list -l: want an array"},
		{"object", `{"domid": 1, "config": {}}`, "xl list -l: want an array"},
		{"array of numbers", `[1, 2]`, "xl list -l: want an array"},
		{"no domid", `[{"config": {}}]`, `xl list -l: domain #0: no "domid"`},
		{"negative domid", `[{"domid": -1, "config": {}}]`, "xl list -l: domain #0: domid -1"},
		{"fractional domid", `[{"domid": 1.5, "config": {}}]`, "xl list -l: domain #0: domid 1.5"},
		{"no config", `[{"domid": 0, "config": {}}, {"domid": 1}]`, `xl list -l: domain #1: domid 1: no "config"`},
		{"c_info not an object", `[{"domid": 1, "config": {"c_info": 3}}]`, "xl list -l: domain #0: domid 1: c_info: "},
		{"memory as text", `[{"domid": 1, "config": {"b_info": {"max_memkb": "lots"}}}]`, "xl list -l: domain #0: domid 1: b_info: "},
		{"negative memory", `[{"domid": 1, "config": {"b_info": {"target_memkb": -5}}}]`, "xl list -l: domain #0: domid 1: b_info.target_memkb: "},
		{"bad backend_domid", `[{"domid": 1, "config": {"disks": [{"backend_domid": "two"}]}}]`, "xl list -l: domain #0: domid 1: disks[0]: backend_domid"},
		{"bad backend_domname", `[{"domid": 1, "config": {"nics": [{}, {"backend_domname": 2}]}}]`, "xl list -l: domain #0: domid 1: nics[1]: backend_domname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseListLong([]byte(tc.out))
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to begin with %q", err, tc.wantErr)
			}
		})
	}
}
