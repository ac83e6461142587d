package xlsim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPoweredOffGuestListedUntilMonitorReaps: as on real Xen, a guest that
// powered off stays listed --ps-- until xl's monitor destroys it.
func TestPoweredOffGuestListedUntilMonitorReaps(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XLSIM_DIR", dir)
	t.Setenv("XLSIM_MONITOR_DELAY", "300ms")
	cfg := filepath.Join(dir, "v.cfg")
	os.WriteFile(cfg, []byte("name = 'v'\nmemory = 64\nxlsim_create_time = '10ms'\nxlsim_shutdown_time = '50ms'\n"), 0o644)
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		if rc := Main(append([]string{"xl"}, args...), &out, &errb); rc != 0 {
			t.Fatalf("xl %v: rc %d: %s", args, rc, errb.String())
		}
		return out.String()
	}
	run("create", cfg)
	run("shutdown", "v")
	time.Sleep(150 * time.Millisecond)
	if l := run("list"); !strings.Contains(l, "--ps--") {
		t.Errorf("powered-off guest not listed --ps--:\n%s", l)
	}
	time.Sleep(300 * time.Millisecond)
	if l := run("list"); strings.Contains(l, "\nv ") {
		t.Errorf("still listed after the monitor's delay:\n%s", l)
	}
	evs, err := ReadEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, e := range evs {
		seq = append(seq, e.Ev)
	}
	if got := strings.Join(seq, ","); !strings.HasSuffix(got, "shutdown-requested,shutdown,gone") {
		t.Errorf("events %s", got)
	}
}
