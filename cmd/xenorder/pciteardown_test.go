package main

import (
	"strings"
	"testing"
	"time"
)

// TestStopWaitsForThePCITeardown: on real Xen a guest with a passed-through
// device that powered off (Domain-N) stays listed ---s-- for 10–15 s while
// xl's monitor hands the device back; a destroy of xenorder's in the middle
// failed in do_pci_remove. The simulated teardown takes 4 s, longer than the
// 2 s xenorder gives other guests' monitors: the stop must wait it out and
// never destroy Domain-N.
func TestStopWaitsForThePCITeardown(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	// 4 s of real time, whatever the simulated host's time scale.
	h.extraEnv = append(h.extraEnv, "XLSIM_PCI_TEARDOWN="+strings.Trim(h.realDur(4*time.Second), `"`))
	mustExit(t, h.xenorder("start"), 0)
	r := h.xenorder("stop")
	mustExit(t, r, 0)
	if _, ok := h.callsOf("shutdown")["Domain-N"]; !ok {
		t.Errorf("Domain-N was never asked to shut down:\n%s", r)
	}
	if c, ok := h.callsOf("destroy")["Domain-N"]; ok {
		t.Errorf("Domain-N destroyed during its PCI teardown (%v):\n%s", c.Args, r)
	}
	for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
		if strings.Contains(l, "Domain-N") && strings.Contains(l, "destroy") {
			t.Errorf("stop says it destroyed Domain-N: %q", l)
		}
	}
	if l := h.run("xl", "list"); strings.Contains(l.stdout, "Domain-N") {
		t.Errorf("Domain-N still listed after the stop:\n%s", l.stdout)
	}
}
