//go:build xenorder_simhost

package main

// The test suite's host (go build -tags xenorder_simhost, as TestMain
// builds it): beside the simulated xl, in $XLSIM_DIR/simhost, its
// proc/xen/capabilities; per unit, systemd/UNIT holding the unit's
// ActiveState (no file: systemd does not know the unit); and clock, an
// offset of its wall clock from the real one ("-1h", "+90m"; no file: none),
// read at every reading of the wall clock, so that a test jumps the host's
// clock while xenorder runs, as NTP at boot or an admin's date -s does.
// Without $XLSIM_DIR, the real host's. The shipped binary (seams_real.go)
// does not have this file: nothing in its environment moves what it reads.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func newHostSeams() hostSeams {
	dir := os.Getenv("XLSIM_DIR")
	if dir == "" {
		return hostSeams{capabilities: procXenCapabilities, units: systemdUnits{}, wall: time.Now}
	}
	root := filepath.Join(dir, "simhost")
	return hostSeams{capabilities: filepath.Join(root, "proc", "xen", "capabilities"), units: simUnits(filepath.Join(root, "systemd")),
		wall: simClock(filepath.Join(root, "clock"))}
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

// simClock is a wall clock the offset in the file at path moves from the
// real one, read afresh at every reading. Its readings carry no monotonic
// reading (a real clock's jump does not move the monotonic clock, and an
// offset added to a time.Now would move both): a duration taken from them
// jumps with the clock, as one taken from stored wall times would.
func simClock(path string) func() time.Time {
	return func() time.Time {
		now := time.Now().Round(0)
		b, err := os.ReadFile(path)
		if err != nil {
			return now
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(b)))
		if err != nil {
			// A test's typo must not pass as an unmoved clock.
			panic(fmt.Sprintf("simulated host's clock %s: %v", path, err))
		}
		return now.Add(d)
	}
}
