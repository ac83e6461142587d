package config

import (
	"strings"
	"testing"
)

// TestUnknownGuest: a name for dom0 is said to be dom0, never taken for a
// typo of another guest (Domain-0 is one letter from Domain-N); a domid is
// said to be one; other names get the closest guest's.
func TestUnknownGuest(t *testing.T) {
	const file = "/etc/xen/xenorder.toml"
	names := []string{"Domain-N", "Domain-1", "dom1", "fileserver", "web"}
	dom0 := `is dom0, the control domain (domid 0) that xl and xenorder run in: xenorder never starts, stops, drains or restores it; name guests of ` + file
	tests := []struct {
		name string
		want string
	}{
		{"Domain-0", `"Domain-0" ` + dom0},
		{"domain-0", `"domain-0" ` + dom0},
		{"dom0", `"dom0" ` + dom0},
		{"Dom0", `"Dom0" ` + dom0},
		{"0", `"0" ` + dom0},
		{"00", `"00" ` + dom0},
		{"7", `"7" is a domain id: xenorder takes the names of guests of ` + file + ` (xl list shows each domain's name)`},
		{"filesrver", `unknown guest "filesrver" (did you mean "fileserver"?) in ` + file},
		{"nosuch", `unknown guest "nosuch" in ` + file},
	}
	for _, tt := range tests {
		got := UnknownGuest(tt.name, names, file)
		if got != tt.want {
			t.Errorf("UnknownGuest(%q):\n got %s\nwant %s", tt.name, got, tt.want)
		}
		if IsDom0(tt.name) && strings.Contains(got, "did you mean") {
			t.Errorf("UnknownGuest(%q) suggests another guest for dom0: %s", tt.name, got)
		}
	}
	for _, n := range []string{"", "Domain-00", "dom00", "10", "Domain-N"} {
		if IsDom0(n) {
			t.Errorf("IsDom0(%q)", n)
		}
	}
}
