package runner

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// RunningDomUs counts what the unit's stop has to stop at poweroff: not
// Domain-0, the xenstore domain, a stub domain, a dying or shut-down one.
func TestRunningDomUs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		doms map[string]string // name → xl list state
		xs   string            // the xenstore domain's name, if any
		want []string
	}{
		{name: "dom0 alone", want: nil},
		{name: "guests and an undeclared domain", doms: map[string]string{"b": "-b----", "a": "r-----", "other": "--p---"}, want: []string{"a", "b", "other"}},
		{name: "a stub goes with its guest", doms: map[string]string{"a": "-b----", "a-dm": "-b----"}, want: []string{"a"}},
		{name: "a stub whose guest is gone still runs", doms: map[string]string{"zz-dm": "-b----"}, want: []string{"zz-dm"}},
		{name: "dying and shut down do not run", doms: map[string]string{"a": "----cd", "b": "---sc-"}, want: nil},
		{name: "the xenstore domain does not count", doms: map[string]string{"Xenstore": "-b----"}, xs: "Xenstore", want: nil},
		{name: "the xenstore domain beside a guest", doms: map[string]string{"Xenstore": "-b----", "b": "-b----"}, xs: "Xenstore", want: []string{"b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hv := newFake()
			for _, n := range slices.Sorted(maps.Keys(tt.doms)) {
				hv.add(n, tt.doms[n])
			}
			prog := filepath.Join(t.TempDir(), "xenstore-read")
			id := -1
			if tt.xs != "" {
				id = hv.doms[tt.xs].id
			}
			os.WriteFile(prog, []byte(fmt.Sprintf("#!/bin/sh\n[ \"$1\" = /tool/xenstored/domid ] && [ %d -gt 0 ] && echo %d\n", id, id)), 0o755)
			r, _ := newRunner(t, "[defaults]\nxenstore_read = \""+prog+"\"\n[guest.a]\n[guest.b]\n", hv)
			got, err := r.RunningDomUs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("RunningDomUs = %v, want %v", got, tt.want)
			}
		})
	}
}
