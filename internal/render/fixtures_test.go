package render

import (
	"errors"
	"time"

	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/runner"
	"github.com/xenorder/xenorder/internal/saves"
)

// The reports the tests render: every kind of line each renderer writes.
// The expected outputs in the tests are what the runner's methods wrote
// for the same values before rendering left it (byte for byte).

func fixturePlans() []*runner.Plan {
	start := &runner.Plan{Verb: "start", Warnings: []string{"web's \x1b[31mconfig is odd"}, Tiers: [][]runner.Step{
		{{Guest: "fileserver", Action: "create", DomID: -1}, {Guest: "a-very-long-guest-name", Action: "already running", DomID: 3, Note: "listed as -b----"}},
		{{Guest: "web", Action: "create", DomID: -1, Deps: []graph.Edge{
			{To: "fileserver", Kind: graph.Hard},
			{To: "a-very-long-guest-name", Kind: graph.Soft},
			{To: "stor\x1bage", Kind: graph.Hard, Why: "inferred: disk backend"},
		}, Note: "required by mail; autostart = false, pulled in by depends_on"}},
	}}
	stop := &runner.Plan{Verb: "stop", Tiers: [][]runner.Step{
		{{Guest: "web", Action: "shutdown", DomID: 4}},
		{{Guest: "fs", Action: "save", DomID: 2, Deps: []graph.Edge{{To: "web", Kind: graph.Hard}}}},
	}}
	return []*runner.Plan{start, stop, {Verb: "stop"}}
}

func fixtureResults() []*runner.Result {
	start := &runner.Result{Verb: "start", Elapsed: 41234 * time.Millisecond, Outcomes: []*runner.Outcome{
		{Guest: "base", Status: runner.Done},
		{Guest: "up", Status: runner.AlreadyDone},
		{Guest: "fileserver", Status: runner.Failed, Err: errors.New("start fileserver: xl create /etc/xen/fileserver.cfg: exit status 3")},
		{Guest: "fs", Status: runner.FellBack, Err: errors.New("restore fs: image stale")},
		{Guest: "web", Status: runner.Skipped, Cause: "fileserver"},
		{Guest: "mail", Status: runner.Skipped, Cause: "fileserver"},
		{Guest: "db", Status: runner.Skipped, Cause: "base\x9b"},
		{Guest: "slow", Status: runner.NotRun, DomID: 9, Left: "left running (domid 9), created by this start, not confirmed ready: waiting for delay 1h0m0s"},
		{Guest: "late", Status: runner.NotRun, DomID: 5},
		{Guest: "after", Status: runner.NotRun, DomID: -1},
		{Guest: "kept", Status: runner.Held},
	}}
	stop := &runner.Result{Verb: "stop", Elapsed: 3456 * time.Millisecond, Outcomes: []*runner.Outcome{
		{Guest: "web", Status: runner.Done},
		{Guest: "gone", Status: runner.AlreadyDone},
		{Guest: "hung", Status: runner.Forced, Err: errors.New("stop hung: did not shut down within grace 3m0s")},
		{Guest: "vm", Status: runner.Suspended, Err: errors.New("save vm: xl save: exit status 1")},
		{Guest: "base", Status: runner.Skipped, Cause: "vm"},
		{Guest: "db", Status: runner.NotRun, DomID: 7},
		{Guest: "ghost", Status: runner.NotRun, DomID: -1},
	}}
	return []*runner.Result{start, stop, {Verb: "start"}, {Verb: "stop", Outcomes: []*runner.Outcome{{Guest: "a", Status: runner.Done}}}}
}

// fixtureNow is the reports' now: times are in the local zone, as the
// text shows them.
var fixtureNow = time.Date(2026, 1, 14, 15, 9, 26, 0, time.Local)

func fixtureReports() []*runner.StatusReport {
	now := fixtureNow
	yes, no := true, false
	drained := now.Add(-26 * time.Hour)
	up := now.Add(-3*time.Hour - 7*time.Minute)
	took := int64(41234)
	left := int64(168_000)
	deadline := now.Add(168 * time.Second)
	full := &runner.StatusReport{Config: "/etc/xenorder.toml", Now: now,
		Guests: []runner.GuestStatus{
			{Name: "base", Declared: true, Kind: "guest", State: "blocked", Ready: &yes, DomID: 1, MemoryMiB: 1024, Autostart: true, DependsOn: []string{}, After: []string{}, UpSince: &up, LastStartMS: &took},
			{Name: "db", Declared: true, Kind: "guest", State: "running", Ready: &no, Probe: "tcp 10.0.0.5:5432: connection \x1b[2Jrefused", DomID: 2, MemoryMiB: 2048, Autostart: true, DependsOn: []string{"base"}, After: []string{"nas"},
				Progress: &runner.GuestInProgress{Action: "stopping", Doing: "waiting for shutdown", Since: now.Add(-12 * time.Second), UsedMS: 12_000, LeftMS: &left, Limit: "grace 3m0s", Deadline: &deadline}},
			{Name: "nas", Declared: true, Kind: "external", State: "not ready", Ready: &no, Probe: "tcp nas:2049: timeout", DomID: -1, DependsOn: []string{}, After: []string{}},
			{Name: "backup", Declared: true, Kind: "guest", State: "stopped", DomID: -1, Autostart: false, DependsOn: []string{"base"}, After: []string{}, DrainedSince: &drained},
			{Name: "lab", Declared: true, Kind: "guest", State: "stopped", DomID: -1, Autostart: true, DependsOn: []string{}, After: []string{"base", "db"},
				Progress: &runner.GuestInProgress{Action: "starting", Doing: "creating (xl create)", Since: now.Add(-75 * time.Second), UsedMS: 75_000}},
			{Name: "a-rather-long-name", Declared: true, Kind: "guest", State: "paused", DomID: 6, MemoryMiB: 512, Autostart: true, DependsOn: []string{}, After: []string{}},
		},
		Others: []runner.GuestStatus{
			{Name: "Domain-0", Kind: "dom0", State: "running", DomID: 0, MemoryMiB: 4096, DependsOn: []string{}, After: []string{}},
			{Name: "web-dm", Kind: "stub", StubOf: "web", State: "blocked", DomID: 8, MemoryMiB: 32, DependsOn: []string{}, After: []string{}},
			{Name: "stray\x07\x7f\u009b", Kind: "undeclared", State: "crashed", DomID: 11, MemoryMiB: 256, DependsOn: []string{}, After: []string{},
				Progress: &runner.GuestInProgress{Action: "stopping", Doing: "xl destroy", Since: now.Add(-2 * time.Hour), UsedMS: 7_384_000}},
		},
		SaveImages: []saves.Kept{
			{Guest: "fs", Path: "/var/lib/xenorder/save/fs.save", Kind: "restorable", Bytes: 3 << 30, Time: now.Add(-5 * time.Minute)},
			{Guest: "fs", Path: "/var/lib/xenorder/save/fs.save.stale-20260301T101010", Kind: "stale", Bytes: 1, Time: now.Add(-13 * 24 * time.Hour)},
		},
		InProgress: &runner.RunInProgress{Verb: "stop", PID: 4242, Command: "xenorder stop", Began: now.Add(-3 * time.Minute), Done: 1, Total: 9, Queued: []string{"base", "web\x1b"}},
	}
	unknown := &runner.StatusReport{Config: "/etc/xenorder.toml", Now: now, OK: true,
		DrainsUnknown: "drains.json: line 3: damaged",
		Guests: []runner.GuestStatus{
			{Name: "web", Declared: true, Kind: "guest", State: "stopped", DomID: -1, Autostart: true, DependsOn: []string{"base"}, After: []string{}},
			{Name: "base", Declared: true, Kind: "guest", State: "running", DomID: 1, MemoryMiB: 64, Autostart: true, DependsOn: []string{}, After: []string{}},
		},
		Others: []runner.GuestStatus{}, SaveImages: []saves.Kept{}}
	return []*runner.StatusReport{full, unknown, {Guests: []runner.GuestStatus{}, Others: []runner.GuestStatus{}, Now: now}}
}

// fixtureGraph is the graph of fixtureReports()[0]'s guests.
func fixtureGraph() *graph.Graph {
	g := graph.New()
	for _, n := range []string{"base", "db", "nas", "backup", "lab", "a-rather-long-name"} {
		g.Add(n)
	}
	g.AddEdge("db", "base", graph.Hard, "depends_on")
	g.AddEdge("db", "nas", graph.Soft, "after")
	g.AddEdge("backup", "base", graph.Hard, "inferred: disk backend")
	g.AddEdge("lab", "base", graph.Soft, "after")
	g.AddEdge("lab", "db", graph.Soft, "after")
	return g
}
