package xlsim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateWithAbsentBackendDomain: as real xl 4.17 does (seen in the
// real-Xen suite), creating a guest whose vif names a backend domain that
// does not run fails with exit 3 once the domain was made, spends its
// domid and leaves nothing listed; once the backend domain runs, the same
// create succeeds.
func TestCreateWithAbsentBackendDomain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	write := func(name, body string) string {
		p := filepath.Join(dir, name+".cfg")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := "memory = 64\nxlsim_create_time = '10ms'\n"
	web := write("web", "name = 'web'\n"+base+"vif = [ 'backend=Domain-N,bridge=xenbr0' ]\n")
	dn := write("Domain-N", "name = 'Domain-N'\n"+base)
	dom0 := write("dom0vif", "name = 'dom0vif'\n"+base+"vif = [ 'bridge=xenbr0', 'backend=Domain-0,bridge=br1', 'backend=0' ]\n")
	xl := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		rc := Main(append([]string{"xl"}, args...), &out, &errb)
		return rc, out.String(), errb.String()
	}
	for _, tc := range []struct {
		name      string
		args      []string
		wantRC    int
		wantErr   []string
		wantNoErr string
		listed    []string
		notListed []string
	}{
		{name: "backend absent", args: []string{"create", web}, wantRC: 3,
			wantErr: []string{
				"Parsing config from " + web,
				"libxl: error: libxl_nic.c:520:libxl__device_nic_set_devids: Domain 1:Unable to set nic defaults for nic 0\n",
				"libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain 1:Non-existant domain\n",
				"libxl: error: libxl_domain.c:1064:domain_destroy_cb: Domain 1:Destruction of domain failed\n",
			},
			notListed: []string{"web"}},
		{name: "dom0 as backend", args: []string{"create", dom0}, wantRC: 0, wantNoErr: "libxl: error", listed: []string{"dom0vif"}},
		{name: "the backend domain", args: []string{"create", dn}, wantRC: 0, listed: []string{"Domain-N"}},
		// Domain 1 was spent by the failed create.
		{name: "backend runs", args: []string{"create", web}, wantRC: 0, wantNoErr: "libxl: error", listed: []string{"web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, _, errOut := xl(tc.args...)
			if rc != tc.wantRC {
				t.Fatalf("xl %v: exit %d, want %d: %s", tc.args, rc, tc.wantRC, errOut)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if tc.wantNoErr != "" && strings.Contains(errOut, tc.wantNoErr) {
				t.Errorf("stderr has %q:\n%s", tc.wantNoErr, errOut)
			}
			_, list, _ := xl("list")
			for _, n := range tc.listed {
				if !strings.Contains(list, "\n"+n+" ") {
					t.Errorf("%s not listed:\n%s", n, list)
				}
			}
			for _, n := range tc.notListed {
				if strings.Contains(list, "\n"+n+" ") {
					t.Errorf("%s listed:\n%s", n, list)
				}
			}
		})
	}
	if _, l, _ := xl("domid", "web"); strings.TrimSpace(l) == "1" {
		t.Errorf("web got domid 1, which the failed create spent")
	}
}
