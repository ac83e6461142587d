package runner

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/probe"
)

// GuestStatus is one row of `xenorder status`.
type GuestStatus struct {
	Name      string   `json:"name"`
	Declared  bool     `json:"declared"`
	Kind      string   `json:"kind"`            // guest, external, undeclared, dom0, stub
	State     string   `json:"state"`           // running, blocked, runnable, paused, shutdown, crashed, dying, stopped; external: ready, not ready
	Probe     string   `json:"probe,omitempty"` // external: the first failing probe and why
	DomID     int      `json:"domid"`           // -1 when not running
	MemoryMiB int      `json:"memory_mib"`
	Autostart bool     `json:"autostart"`
	DependsOn []string `json:"depends_on"`
	After     []string `json:"after"`
	StubOf    string   `json:"stub_of,omitempty"`
}

// StatusReport is the whole of `xenorder status`.
type StatusReport struct {
	Config string        `json:"config"`
	OK     bool          `json:"ok"` // every autostart guest is up
	Guests []GuestStatus `json:"guests"`
	Others []GuestStatus `json:"others"` // running domains the config does not name
}

// up reports whether a state counts as running for status.
func up(state string) bool {
	return state == "running" || state == "blocked" || state == "runnable"
}

// Status reads `xl list` once and reports every declared guest and every
// other running domain.
func (r *Runner) Status(ctx context.Context) (*StatusReport, error) {
	snap, err := r.lister().fresh(ctx)
	if err == nil {
		err = snap.err
	}
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	cfg := r.Config
	rep := &StatusReport{Config: cfg.File, OK: true, Guests: []GuestStatus{}, Others: []GuestStatus{}}
	for _, n := range cfg.Names() {
		g := cfg.Guests[n]
		row := GuestStatus{Name: n, Declared: true, Kind: "guest", State: "stopped", DomID: -1,
			Autostart: g.Autostart, DependsOn: edgesOf(cfg.Graph, n, graph.Hard), After: edgesOf(cfg.Graph, n, graph.Soft)}
		if g.External {
			row.Kind, row.State, row.Probe = "external", "ready", r.probeOnce(ctx, g)
			if row.Probe != "" {
				row.State = "not ready"
			}
			rep.Guests = append(rep.Guests, row)
			continue
		}
		if d, ok := snap.find(n); ok {
			row.State, row.DomID, row.MemoryMiB = d.State.String(), d.ID, d.MemMiB
		}
		if g.Autostart && !up(row.State) {
			rep.OK = false
		}
		rep.Guests = append(rep.Guests, row)
	}
	listed := map[string]bool{}
	for _, d := range snap.doms {
		listed[d.Name] = true
	}
	declared := func(n string) bool { return cfg.Guests[n] != nil && !cfg.Guests[n].External }
	for _, d := range snap.doms {
		if declared(d.Name) {
			continue
		}
		row := GuestStatus{Name: d.Name, Kind: "undeclared", State: d.State.String(), DomID: d.ID,
			MemoryMiB: d.MemMiB, DependsOn: []string{}, After: []string{}}
		switch {
		case d.ID == 0:
			row.Kind = "dom0"
		case isStub(d, listed, declared):
			row.Kind, row.StubOf = "stub", strings.TrimSuffix(d.Name, StubSuffix)
		}
		rep.Others = append(rep.Others, row)
	}
	sort.Slice(rep.Others, func(i, j int) bool { return rep.Others[i].DomID < rep.Others[j].DomID })
	return rep, nil
}

// probeOnce makes one attempt of each of an external node's probes and
// returns "" when all pass, else the first failure.
func (r *Runner) probeOnce(ctx context.Context, g *config.Guest) string {
	for _, p := range g.Probes {
		actx, cancel := context.WithTimeout(ctx, p.AttemptTimeout)
		err := p.Check(actx, probe.Target{Name: g.Name, Since: time.Now()})
		cancel()
		if err != nil {
			return fmt.Sprintf("%s: %v", p, err)
		}
	}
	return ""
}

func edgesOf(g *graph.Graph, n string, kind graph.Kind) []string {
	out := []string{}
	for _, e := range g.Dependencies(n) {
		if e.Kind == kind {
			out = append(out, e.To)
		}
	}
	return out
}

// String renders the report as a table.
func (s *StatusReport) String() string {
	var b strings.Builder
	width := 10
	for _, g := range append(append([]GuestStatus{}, s.Guests...), s.Others...) {
		width = max(width, len(g.Name))
	}
	row := func(name, state, domid, mem, deps string) {
		fmt.Fprintf(&b, "%-*s  %-9s %5s %7s  %s", width, name, state, domid, mem, deps)
		trimLine(&b)
	}
	row("GUEST", "STATE", "DOMID", "MEM", "DEPENDS ON")
	for _, g := range s.Guests {
		domid, mem := "-", "-"
		if g.DomID >= 0 {
			domid, mem = fmt.Sprint(g.DomID), fmt.Sprintf("%dM", g.MemoryMiB)
		}
		deps := strings.Join(g.DependsOn, ", ")
		if len(g.After) > 0 {
			deps = strings.TrimPrefix(deps+", after "+strings.Join(g.After, ", "), ", ")
		}
		if !g.Autostart && g.Kind == "guest" {
			deps = strings.TrimPrefix(deps+"  (autostart off)", "  ")
		}
		if g.Kind == "external" {
			deps = strings.TrimPrefix(deps+"  (external", "  ")
			if g.Probe != "" {
				deps += ": " + g.Probe
			}
			deps += ")"
		}
		row(g.Name, g.State, domid, mem, deps)
	}
	if len(s.Others) > 0 {
		b.WriteString("\nnot in the config:\n")
		for _, g := range s.Others {
			note := ""
			switch g.Kind {
			case "dom0":
				note = "dom0"
			case "stub":
				note = "device model of " + g.StubOf
			default:
				note = "undeclared: stopped first by a bare stop"
			}
			row(g.Name, g.State, fmt.Sprint(g.DomID), fmt.Sprintf("%dM", g.MemoryMiB), note)
		}
	}
	return b.String()
}
