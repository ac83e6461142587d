package runner

import (
	"context"
	"slices"
)

// RunningDomUs names, sorted, the domains that run on the host besides
// Domain-0: what the unit's stop has to stop at poweroff. Not counted: the
// xenstore stub domain, a guest's device-model stub domain (it goes with
// its guest), and domains that are dying or shut down.
func (r *Runner) RunningDomUs(ctx context.Context) ([]string, error) {
	snap, err := r.lister().fresh(ctx)
	if err != nil {
		return nil, err
	}
	xsDom := -1
	listed := map[string]bool{}
	others := false
	for _, d := range snap.doms {
		listed[d.Name] = true
		others = others || d.ID != 0
	}
	if others {
		xsDom = r.xenstoreDomID(ctx) // a xenstore read: only when it can matter
	}
	declared := func(n string) bool { g := r.Config.Guests[n]; return g != nil && !g.External }
	var out []string
	for _, d := range snap.doms {
		if d.ID == 0 || d.Name == "Domain-0" || d.Name == "(null)" || d.ID == xsDom ||
			d.State.Dying || d.State.Shutdown || isStub(d, listed, declared) {
			continue
		}
		out = append(out, d.Name)
	}
	slices.Sort(out)
	return out, nil
}
