//go:build !xenorder_simhost

package main

// The shipped binary's host: /proc/xen, systemd and the system's clock.
// seams_simhost.go is the test suite's.

import "time"

func newHostSeams() hostSeams {
	return hostSeams{capabilities: procXenCapabilities, units: systemdUnits{}, wall: time.Now}
}
