package runner

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/probe"
	"github.com/xenorder/xenorder/internal/saves"
	"golang.org/x/sync/errgroup"
)

// GuestStatus is one row of `xenorder status`. Its JSON is the documented
// schema of `status --json` (README, "status --json").
type GuestStatus struct {
	Name      string   `json:"name"`
	Declared  bool     `json:"declared"`
	Kind      string   `json:"kind"`  // guest, external, undeclared, dom0, stub
	State     string   `json:"state"` // running, blocked, runnable, paused, shutdown, crashed, dying, stopped; external: ready, not ready
	Ready     *bool    `json:"ready"` // last probe result; null when not probed (not running, no probes to run now)
	Probe     string   `json:"probe,omitempty"`
	DomID     int      `json:"domid"` // -1 when not running
	MemoryMiB int      `json:"memory_mib"`
	Autostart bool     `json:"autostart"`
	DependsOn []string `json:"depends_on"`
	After     []string `json:"after"`
	StubOf    string   `json:"stub_of,omitempty"`
	// DrainedSince is set for a drained guest.
	DrainedSince *time.Time `json:"drained_since,omitempty"`
	// UpSince is when xenorder last saw the guest ready, if this domid is
	// the one it started.
	UpSince *time.Time `json:"up_since,omitempty"`
	// LastStartMS is how long its last start took, create to ready.
	LastStartMS *int64 `json:"last_start_ms,omitempty"`
	// Progress is set while another xenorder starts or stops the guest.
	Progress *GuestInProgress `json:"progress,omitempty"`
}

// GuestInProgress is what another xenorder's start or stop does with a
// guest, as status saw it.
type GuestInProgress struct {
	Action string    `json:"action"` // starting, stopping
	Doing  string    `json:"doing"`  // waiting for shutdown, xl save, creating (xl create), ...
	Since  time.Time `json:"since"`  // when the time counted against the limit began
	UsedMS int64     `json:"used_ms"`
	// LeftMS is what is left of the limit (0 once it is over: an xl save
	// goes on past save_timeout); null with no limit.
	LeftMS   *int64     `json:"left_ms"`
	Limit    string     `json:"limit,omitempty"` // "grace 3m0s", "start_timeout 1m0s", "save_timeout 10m0s"
	Deadline *time.Time `json:"deadline,omitempty"`
}

// RunInProgress is another xenorder's start or stop, as status saw it.
type RunInProgress struct {
	Verb    string    `json:"verb"` // start, stop
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Began   time.Time `json:"began"`
	Done    int       `json:"done"`
	Total   int       `json:"total"`
	Queued  []string  `json:"queued"` // its guests not begun yet
}

// InProgress is a run another xenorder publishes, once cmd/xenorder has
// made sure its writer still runs and holds the host's lock.
type InProgress struct {
	PID     int
	Command string
	Progress
}

// StatusReport is the whole of `xenorder status`.
type StatusReport struct {
	Config string        `json:"config"`
	OK     bool          `json:"ok"` // every autostart guest that is not drained runs and is ready
	Guests []GuestStatus `json:"guests"`
	Others []GuestStatus `json:"others"` // running domains the config does not name
	Now    time.Time     `json:"now"`
	// DrainsUnknown, when set, says why the drain record could not be
	// read: no guest is shown drained, whichever is.
	DrainsUnknown string `json:"drains_unknown,omitempty"`
	// SaveImages lists every image in the save folder, the kept-aside
	// ones (.old-, .failed-, .stale-) included: never forgotten.
	SaveImages []saves.Kept `json:"save_images"`
	// InProgress is set while another xenorder starts or stops guests:
	// each of its guests in flight has its row's progress.
	InProgress *RunInProgress `json:"in_progress,omitempty"`
}

// StatusOptions add what xenorder remembers to what xl says.
type StatusOptions struct {
	Drained map[string]time.Time
	// DrainsUnknown says why the drain record could not be read ("" when
	// it was).
	DrainsUnknown string
	LastStart     map[string]LastStart
	// InProgress is another xenorder's start or stop under way, if any.
	InProgress *InProgress
}

// LastStart is one guest's part of the last recorded start.
type LastStart struct {
	DomID int
	Ready time.Time
	Took  time.Duration
}

// Up reports whether a state of `xl list` counts as running for status.
func Up(state string) bool {
	return state == "running" || state == "blocked" || state == "runnable"
}

// statusProbeParallel bounds the probes status runs at once.
const statusProbeParallel = 8

// Status reads `xl list` once, probes the running guests once (without
// console and delay probes, which need to see a create), and reports every
// declared guest and every other running domain.
func (r *Runner) Status(ctx context.Context, opts StatusOptions) (*StatusReport, error) {
	snap, err := r.lister().fresh(ctx)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	cfg := r.Config
	rep := &StatusReport{Config: cfg.File, OK: true, Guests: []GuestStatus{}, Others: []GuestStatus{}, Now: r.wallNow(), DrainsUnknown: opts.DrainsUnknown}
	for _, n := range cfg.Names() {
		g := cfg.Guests[n]
		row := GuestStatus{Name: n, Declared: true, Kind: g.Kind(), State: "stopped", DomID: -1,
			Autostart: g.Autostart && !g.External, DependsOn: edgesOf(cfg.Graph, n, graph.Hard), After: edgesOf(cfg.Graph, n, graph.Soft)}
		if since, ok := opts.Drained[n]; ok {
			row.DrainedSince = &since
		}
		if d, ok := snap.find(n); ok && !g.External {
			row.State, row.DomID, row.MemoryMiB = d.State.String(), d.ID, d.MemMiB
			if ls, ok := opts.LastStart[n]; ok && ls.DomID == d.ID {
				t, ms := ls.Ready, ls.Took.Milliseconds()
				row.UpSince, row.LastStartMS = &t, &ms
			}
		}
		rep.Guests = append(rep.Guests, row)
	}
	r.probeRows(ctx, rep.Guests)
	for _, row := range rep.Guests {
		if row.Autostart && row.DrainedSince == nil && (!Up(row.State) || (row.Ready != nil && !*row.Ready)) {
			rep.OK = false
		}
	}
	listed := map[string]bool{}
	for _, d := range snap.doms {
		listed[d.Name] = true
	}
	declared := func(n string) bool { return cfg.Guests[n] != nil && !cfg.Guests[n].External }
	for _, d := range snap.doms {
		if declared(d.Name) || d.Name == "(null)" {
			continue // a dying domain that lost its name is already going
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
	imgs, err := r.saves().List()
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	rep.SaveImages = append([]saves.Kept{}, imgs...)
	rep.addProgress(opts.InProgress)
	return rep, nil
}

// addProgress marks the rows of the guests another xenorder starts or
// stops, with the time used and left.
func (s *StatusReport) addProgress(ip *InProgress) {
	if ip == nil {
		return
	}
	s.InProgress = &RunInProgress{Verb: ip.Verb, PID: ip.PID, Command: ip.Command, Began: ip.Began, Done: ip.Done, Total: ip.Total,
		Queued: append([]string{}, ip.Queued...)}
	rows := map[string]*GuestStatus{}
	for i := range s.Guests {
		rows[s.Guests[i].Name] = &s.Guests[i]
	}
	for i := range s.Others {
		rows[s.Others[i].Name] = &s.Others[i]
	}
	for _, g := range ip.Guests {
		row := rows[g.Guest]
		if row == nil {
			continue // gone from xl list meanwhile, and not in the config
		}
		p := &GuestInProgress{Action: g.Action, Doing: g.Doing, Since: g.Since, UsedMS: max(s.Now.Sub(g.Since), 0).Milliseconds(), Limit: g.Limit, Deadline: g.Deadline}
		if g.Deadline != nil {
			left := max(g.Deadline.Sub(s.Now), 0).Milliseconds()
			p.LeftMS = &left
		}
		row.Progress = p
	}
}

// probeRows runs, once and concurrently, the probes of every running guest
// and external node, and fills in Ready and Probe.
func (r *Runner) probeRows(ctx context.Context, rows []GuestStatus) {
	// errgroup with a limit: a probe that fails is a row's answer, not the
	// group's error, so every goroutine returns nil and none cancels another.
	var eg errgroup.Group
	eg.SetLimit(statusProbeParallel)
	for i := range rows {
		row := &rows[i]
		g := r.Config.Guests[row.Name]
		if !g.External && !Up(row.State) {
			continue
		}
		probes := g.Probes
		if !g.External {
			probes = withoutKinds(probes, probe.KindConsole, probe.KindDelay)
		}
		if len(probes) == 0 {
			if !g.External {
				t := true // running, nothing else to ask
				row.Ready = &t
			}
			continue
		}
		eg.Go(func() error {
			failed := ""
			for _, p := range probes {
				actx, cancel := context.WithTimeout(ctx, p.AttemptTimeout)
				err := p.Check(actx, probe.Target{Name: g.Name, DomID: row.DomID, Since: r.now()})
				cancel()
				if err != nil {
					failed = fmt.Sprintf("%s: %v", p, err)
					break
				}
			}
			ok := failed == ""
			row.Ready, row.Probe = &ok, failed
			if g.External {
				row.State = "ready"
				if !ok {
					row.State = "not ready"
				}
			}
			return nil
		})
	}
	_ = eg.Wait() // every probe's goroutine returns nil
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
