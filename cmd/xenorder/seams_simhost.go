//go:build xenorder_simhost

package main

// The test suite's host (go build -tags xenorder_simhost, as TestMain
// builds it): beside the simulated xl, in $XLSIM_DIR/simhost, its
// proc/xen/capabilities and, per unit, systemd/UNIT holding the unit's
// ActiveState (no file: systemd does not know the unit). Without
// $XLSIM_DIR, the real host's. The shipped binary (seams_real.go) does not
// have this file: nothing in its environment moves what it reads.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

func newHostSeams() hostSeams {
	dir := os.Getenv("XLSIM_DIR")
	if dir == "" {
		return hostSeams{capabilities: procXenCapabilities, units: systemdUnits{}}
	}
	root := filepath.Join(dir, "simhost")
	return hostSeams{capabilities: filepath.Join(root, "proc", "xen", "capabilities"), units: simUnits(filepath.Join(root, "systemd"))}
}

// simUnits reads a unit's state from a file of that folder.
type simUnits string

func (d simUnits) ActiveState(ctx context.Context, unit string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(string(d), unit))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}
