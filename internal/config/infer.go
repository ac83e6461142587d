package config

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/xlcfg"
)

// Inferred is a dependency a guest's xl config implies: a device it has
// whose backend is another domain.
type Inferred struct {
	To       string // the backend domain
	Why      string // e.g. "vif backend=Domain-N"
	Declared bool   // depends_on already says so
}

// ReadXLConfigs reads every guest's xl config: its name= must match its
// key, its pci devices are noted, and, with infer on, every backend=X
// device makes the guest depend on X. A missing xl config is skipped here
// (CheckFiles reports it). It returns the problems found; the inferred
// edges are added to the graph.
func (c *Config) ReadXLConfigs() []Problem {
	r := &xlReader{c: c}
	for _, name := range c.Names() {
		g := c.Guests[name]
		if g.External {
			continue
		}
		xc, err := xlcfg.ParseFile(g.XLConfig)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			continue
		}
		if err != nil {
			r.add(g, "xl config: %v", err)
			continue
		}
		r.facts(g, xc)
		r.pci(g, xc)
		if c.Defaults.Infer {
			r.backends(g, xc)
		}
	}
	r.contradictions()
	return r.ps
}

// xlReader is one ReadXLConfigs: the config it completes and the problems
// found so far.
type xlReader struct {
	c  *Config
	ps []Problem
}

func (r *xlReader) add(g *Guest, format string, args ...any) {
	r.ps = append(r.ps, Problem{File: r.c.File, Line: g.Line, Guest: g.Name, Msg: fmt.Sprintf(format, args...)})
}

// facts checks the xl config's name and notes on_poweroff and the memory
// of the guest and of its stub domain.
func (r *xlReader) facts(g *Guest, xc *xlcfg.Config) {
	name := g.Name
	if n, ok := xc.String("name"); !ok {
		r.add(g, "xl config %s has no name = %q", g.XLConfig, name)
	} else if n != name {
		r.add(g, "xl config %s:%d says name = %q, but the guest is [guest.%s]: xl would create a domain of another name",
			g.XLConfig, xc.Keys["name"].Line, n, name)
	}
	g.OnPoweroff = "destroy"
	if v, ok := xc.String("on_poweroff"); ok {
		g.OnPoweroff = v
	}
	g.MemoryMiB = 128
	if m, ok, err := xc.Int("memory"); err != nil {
		r.add(g, "xl config: %v", err)
	} else if ok {
		g.MemoryMiB = int(m)
	}
	if s, ok, _ := xc.Int("device_model_stubdomain_override"); ok && s != 0 {
		g.StubMemoryMiB = 32 // libxl's MiniOS stub domain: 28 MiB + 4 MiB video
		if m, ok, _ := xc.Int("stubdomain_memory"); ok {
			g.StubMemoryMiB = int(m)
		}
	}
}

// pci notes the guest's PCI devices and refuses a save or migrate stop
// action for a guest with any.
func (r *xlReader) pci(g *Guest, xc *xlcfg.Config) {
	pcis, err := xc.PCIDevices()
	if err != nil {
		r.add(g, "xl config: %v", err)
	}
	for _, p := range pcis {
		g.PCI = append(g.PCI, p.BDF)
	}
	if a := g.Stop.Action; len(g.PCI) > 0 && (a == StopSave || a == StopMigrate) {
		// Xen's log-dirty tracking, which a migration needs, does not
		// work with passthrough (docs/features/migration.pandoc), and a
		// device's state is in the hardware, not in the guest's memory.
		from := ""
		if g.Stop.ActionInDefaults {
			from = fmt.Sprintf(" from [defaults] (line %d)", g.Stop.ActionLine)
		}
		g.StopRefused = fmt.Sprintf("%q%s cannot apply to this guest: its xl config %s:%d passes PCI devices through (pci = %s), and xl cannot save or migrate a domain with PCI passthrough; "+
			"write stop_action = \"shutdown\" in [guest.%s] (until then a stop shuts it down)",
			a, from, g.XLConfig, xc.Keys["pci"].Line, strings.Join(g.PCI, ", "), g.Name)
		g.Stop.Action = StopShutdown
	}
}

// backends infers the guest's dependencies from its devices' backend=
// domains and adds the edges no depends_on declares.
func (r *xlReader) backends(g *Guest, xc *xlcfg.Config) {
	c, name := r.c, g.Name
	bs, err := xc.Backends()
	if err != nil {
		r.add(g, "xl config: %v", err)
		return
	}
	for _, b := range bs {
		why := fmt.Sprintf("%s backend=%s", b.Kind, b.Domain)
		switch {
		case xlcfg.IsDom0(b.Domain):
		case isNumber(b.Domain):
			r.add(g, "xl config %s:%d: %s names a domid, which changes at every boot: name the backend domain instead", g.XLConfig, b.Line, why)
		case b.Domain == name:
			r.add(g, "xl config %s:%d: %s: a guest cannot serve its own devices", g.XLConfig, b.Line, why)
		case c.Guests[b.Domain] == nil:
			r.add(g, "xl config %s:%d: %s, but %s is not in %s: declare [guest.%s] (or [external.%s] if it runs elsewhere), or set infer = false",
				g.XLConfig, b.Line, why, b.Domain, c.File, b.Domain, b.Domain)
		default:
			if slices.ContainsFunc(g.Inferred, func(i Inferred) bool { return i.To == b.Domain }) {
				continue
			}
			declared := slices.ContainsFunc(c.Graph.Dependencies(name), func(e graph.Edge) bool { return e.To == b.Domain && e.Kind == graph.Hard })
			g.Inferred = append(g.Inferred, Inferred{To: b.Domain, Why: why, Declared: declared})
			if !declared {
				c.Graph.AddEdge(name, b.Domain, graph.Hard, "inferred: "+why)
			}
		}
	}
}

// contradictions reports the cycles that the inferred edges close with
// the declared ones.
func (r *xlReader) contradictions() {
	c := r.c
	for _, cyc := range c.Graph.Cycles() {
		path := append(slices.Clone(cyc), cyc[0])
		var inferred []string
		for i := 0; i+1 < len(path); i++ {
			for _, e := range c.Graph.Dependencies(path[i]) {
				if e.To == path[i+1] && strings.HasPrefix(e.Why, "inferred: ") {
					inferred = append(inferred, fmt.Sprintf("%s → %s (%s)", path[i], path[i+1], e.Why))
				}
			}
		}
		r.ps = append(r.ps, Problem{File: c.File, Line: c.Guests[cyc[0]].Line, Guest: cyc[0],
			Msg: fmt.Sprintf("the xl configs contradict the declared dependencies: cycle %s, where the xl configs say %s; fix depends_on/after",
				strings.Join(path, " → "), strings.Join(inferred, ", "))})
	}
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(strings.TrimSpace(s))
	return err == nil
}

// InferredNotDeclared lists, for check, the dependencies only the xl
// configs state.
func (c *Config) InferredNotDeclared() []string {
	var out []string
	for _, n := range c.Names() {
		for _, i := range c.Guests[n].Inferred {
			if !i.Declared {
				out = append(out, fmt.Sprintf("%s depends on %s (inferred: %s)", n, i.To, i.Why))
			}
		}
	}
	return out
}
