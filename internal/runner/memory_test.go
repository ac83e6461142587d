package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func memRunner(t *testing.T, hv *fakeHV, xlconf string) (*Runner, *collector) {
	conf := filepath.Join(t.TempDir(), "xl.conf")
	os.WriteFile(conf, []byte(xlconf), 0o644)
	r, c := newRunner(t, "[defaults]\nmax_parallel = 4\nxl_conf = \""+conf+"\"\n[guest.a]\n[guest.b]\n[guest.huge]\nautostart = false\n", hv)
	for n, m := range map[string]int{"a": 200, "b": 200, "huge": 5000} {
		r.Config.Guests[n].MemoryMiB = m
	}
	hv.mem = map[string]int64{"Domain-0": 96, "a": 200, "b": 200, "huge": 5000}
	return r, c
}

func TestMemoryAdmissionWaitsForRoom(t *testing.T) {
	t.Parallel()
	hv := newFake()
	hv.totalMiB = 96 + 200 + 150 // room for one of a, b, not both
	hv.createDelay = 150 * time.Millisecond
	r, c := memRunner(t, hv, "autoballoon = \"off\"\n")
	res := start(t, r)
	// a fits; b would too on its own, but a's create is under way: b waits,
	// then finds 150 MiB free and cannot fit.
	got := statusOf(res)
	if (got["a"] == Done) == (got["b"] == Done) {
		t.Fatalf("statuses %v: exactly one of a, b fits", got)
	}
	failed := "a"
	if got["a"] == Done {
		failed = "b"
	}
	if !slices.ContainsFunc(c.lines(), func(l string) bool { return strings.HasPrefix(l, failed+": waiting for memory: needs 200 MiB") }) {
		t.Errorf("no wait said: %v", c.lines())
	}
	o := res.Outcomes[slices.IndexFunc(res.Outcomes, func(o *Outcome) bool { return o.Guest == failed })]
	if o.Err == nil || !strings.Contains(o.Err.Error(), "needs 200 MiB (memory 200) but the host has 150 MiB free of 446 (xl info): it cannot fit") {
		t.Errorf("err %v", o.Err)
	}
	if _, ok := hv.first("create", failed); ok {
		t.Errorf("%s was created without room", failed)
	}
}

func TestMemoryAdmissionNeverFitsFailsAtOnce(t *testing.T) {
	t.Parallel()
	hv := newFake()
	hv.totalMiB = 2048
	r, _ := memRunner(t, hv, "")
	began := time.Now()
	res := start(t, r, "huge")
	if o := res.Outcomes[0]; o.Status != Failed || !strings.Contains(o.Err.Error(), "needs 5000 MiB") || time.Since(began) > time.Second {
		t.Errorf("%+v after %s", o, time.Since(began))
	}
	if _, ok := hv.first("create", "huge"); ok {
		t.Error("created")
	}
}

func TestMemoryAdmissionStandsAsideWhenXLBalloons(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, conf string
		balloon    bool
	}{{"autoballoon on", "autoballoon=\"on\"\n", false}, {"auto without dom0_mem", "", true}} {
		t.Run(tt.name, func(t *testing.T) {
			hv := newFake()
			hv.totalMiB = 2048
			hv.balloon = tt.balloon
			r, _ := memRunner(t, hv, tt.conf)
			start(t, r, "huge")
			if _, ok := hv.first("create", "huge"); !ok {
				t.Error("admission did not stand aside: xl makes room itself when it balloons dom0")
			}
		})
	}
}

func TestMemoryAdmissionSharesXLInfo(t *testing.T) {
	t.Parallel()
	// A tier of guests admitted at once reads xl info once, not once each.
	hv := newFake()
	hv.infoDelay = 30 * time.Millisecond
	conf := filepath.Join(t.TempDir(), "xl.conf")
	os.WriteFile(conf, []byte("autoballoon = \"off\"\n"), 0o644)
	var b strings.Builder
	fmt.Fprintf(&b, "[defaults]\nmax_parallel = 12\nxl_conf = %q\n", conf)
	for i := range 12 {
		fmt.Fprintf(&b, "[guest.g%d]\n", i)
	}
	r, _ := newRunner(t, b.String(), hv)
	r.PollInterval = time.Second
	for _, g := range r.Config.Guests {
		g.MemoryMiB = 64
	}
	if res := start(t, r); !res.OK() {
		t.Fatal(summary(res))
	}
	if n := len(hv.callsOf("info")); n != 1 {
		t.Errorf("%d xl info calls for 12 admissions at once, want 1", n)
	}
}
