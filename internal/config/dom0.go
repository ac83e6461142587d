package config

import (
	"fmt"
	"strings"
)

// IsDom0 reports whether a name given on the command line means dom0: as
// xl names it (Domain-0, or its domid, 0), or as admins say it (dom0).
func IsDom0(name string) bool {
	return name == "Domain-0" || strings.EqualFold(name, "domain-0") || strings.EqualFold(name, "dom0") ||
		(name != "" && strings.Trim(name, "0") == "")
}

// UnknownGuest says why a name given on the command line is no guest of
// the config in file, with the closest guest's name when one is close. A
// name that means dom0 is never taken for another guest (Domain-0 is not a
// typo of Domain-N): it is said to be dom0, which xenorder never starts or
// stops. A domid is said to be one.
func UnknownGuest(name string, names []string, file string) string {
	switch {
	case IsDom0(name):
		return fmt.Sprintf("%q is dom0, the control domain (domid 0) that xl and xenorder run in: xenorder never starts, stops, drains or restores it; name guests of %s", name, file)
	case name != "" && strings.Trim(name, "0123456789") == "":
		return fmt.Sprintf("%q is a domain id: xenorder takes the names of guests of %s (xl list shows each domain's name)", name, file)
	}
	msg := fmt.Sprintf("unknown guest %q", name)
	if s := Suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + " in " + file
}
