package main

// The command line as an admin meets it (issue 17): dom0 named as a guest.

import (
	"strings"
	"testing"
)

// TestDom0IsNeverAGuest: naming dom0 (Domain-0, domid 0, dom0) to a
// command that starts or stops guests says it is dom0, which xenorder
// never starts or stops; it never suggests another guest (Domain-N, the
// driver domain, is one letter away), exits 2 and runs no xl.
func TestDom0IsNeverAGuest(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	const dom0 = `is dom0, the control domain (domid 0) that xl and xenorder run in: xenorder never starts, stops, drains or restores it`
	tests := [][]string{
		{"stop", "Domain-0"},
		{"stop", "0"},
		{"stop", "--dry-run", "Domain-0"},
		{"start", "Domain-0"},
		{"restart", "Domain-0"},
		{"drain", "dom0"},
		{"drain", "web", "Domain-0"},
		{"resume", "Domain-0"},
		{"restore", "Domain-0"},
		{"plan", "stop", "Domain-0"},
		{"drains", "--set", "Domain-0"},
	}
	for _, args := range tests {
		r := h.xenorder(args...)
		name := args[len(args)-1]
		if r.code != 2 || !strings.Contains(r.stderr, `"`+name+`" `+dom0) || strings.Contains(r.stdout+r.stderr, "did you mean") {
			t.Errorf("xenorder %s: want exit 2 saying %q is dom0, got %s", strings.Join(args, " "), name, r)
		}
	}
	r := h.xenorder("stop", "34")
	if r.code != 2 || !strings.Contains(r.stderr, `"34" is a domain id: xenorder takes the names of guests of `) {
		t.Errorf("stop 34: %s", r)
	}
	if cs := h.calls(); len(cs) != 0 {
		t.Errorf("naming dom0 ran xl: %v", cs)
	}
}
