//go:build !xenorder_simhost

package main

// The shipped binary's host: /proc/xen and systemd. seams_simhost.go is the
// test suite's.

func newHostSeams() hostSeams {
	return hostSeams{capabilities: procXenCapabilities, units: systemdUnits{}}
}
