// Package runner starts and stops guests in dependency order against a
// Hypervisor: in parallel where the graph allows, with timeouts, a
// concurrency limit, and one shared `xl list` for everything that waits.
package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/xenstore"
	"github.com/xenorder/xenorder/internal/xl"
)

// Hypervisor is what the runner needs of the toolstack. *xl.Client is one.
type Hypervisor interface {
	List(ctx context.Context) ([]xl.Domain, error)
	ListLong(ctx context.Context) ([]xl.DomainConfig, error)
	// The calls that begin a guest's start or stop take started: if not
	// nil, called once xl has started (or failed to start), which ends
	// the guest's turn to launch (launchGate).
	Create(ctx context.Context, cfgPath string, started func()) error
	Shutdown(ctx context.Context, name string, acpi bool, started func()) error
	Destroy(ctx context.Context, name string, started func()) error
	Save(ctx context.Context, name, path string, started func()) error
	Restore(ctx context.Context, path string, started func()) error
	Migrate(ctx context.Context, name, host string, started func()) error
	// PCIAssignableList lists the assignable PCI devices; pciback is false
	// when the xen-pciback driver is not loaded.
	PCIAssignableList(ctx context.Context) (bdfs []string, pciback bool, err error)
	PCIAssignableAdd(ctx context.Context, bdf string) error
	Info(ctx context.Context) (xl.Info, error)
}

// Xenstore is what a stop needs of xenstored. *xenstore.Conn is one.
type Xenstore interface {
	Directory(ctx context.Context, path string) ([]string, error)
	Read(ctx context.Context, path string) (string, error)
	Watch(ctx context.Context, path, token string) error
	// Events delivers the watches' events (dropping some when the reader
	// lags: each only says "look again"); closed when the connection ends.
	Events() <-chan xenstore.Event
	Close() error
}

// Notifier hears of progress and of long waits, for a service manager
// (systemd's STATUS= and EXTEND_TIMEOUT_USEC=). Calls come from many
// goroutines.
type Notifier interface {
	// Extend says the run needs at least d more before it finishes.
	Extend(d time.Duration)
	// Say is where the run is, in one line (systemd's STATUS=).
	Say(line string)
}

// Defaults of Options.
const (
	// DefaultDestroyWait bounds the wait for a destroyed domain to vanish.
	DefaultDestroyWait = time.Minute
	// DefaultVanishGrace is how long a starting guest may be absent from
	// `xl list` before it counts as gone for good (a reboot makes it vanish
	// and come back under a new domid).
	DefaultVanishGrace = 10 * time.Second
)

// Fate is how one guest's part of a run ended (Outcome.Status).
type Fate int

const (
	Done        Fate = iota + 1 // started and ready / stopped gracefully
	AlreadyDone                 // was already running / already stopped
	Forced                      // stopped, but only by xl destroy after its grace period
	Failed                      // its own step failed
	Skipped                     // not attempted: a dependency failed (or a dependent still runs)
	NotRun                      // not attempted: interrupted
	FellBack                    // done, but by a fallback: save → shutdown, restore → fresh create, migrate → shutdown
	Held                        // not started, on purpose: drained, or its dependency is
	Suspended                   // stop: a save or migration did not finish; the domain is left suspended, never destroyed
)

func (s Fate) String() string {
	return [...]string{"?", "done", "already done", "forced", "failed", "skipped", "not run", "fell back", "held", "suspended"}[s]
}

// Outcome is one guest's result.
type Outcome struct {
	Guest   string
	Status  Fate
	Err     error  // for Failed, Skipped, NotRun, Forced
	Cause   string // for Skipped: the guest whose failure is the root cause
	DomID   int
	Began   time.Time
	Created time.Time // start: when xl create (or restore) returned
	Elapsed time.Duration
	// Left, for NotRun: the state the interruption left the guest in
	// ("not started", "left running (domid 34), created by this start, not
	// confirmed ready: ..."); "" when only the verb says it.
	Left string

	fellBack error // set when a fallback was taken
}

// Result is the outcome of a whole start or stop.
type Result struct {
	Verb     string
	Outcomes []*Outcome // in plan order
	Elapsed  time.Duration
}

// OK reports whether everything was done as asked, with no guest failed,
// skipped, interrupted or forced.
func (r *Result) OK() bool {
	for _, o := range r.Outcomes {
		if o.Status != Done && o.Status != AlreadyDone && o.Status != Held {
			return false
		}
	}
	return true
}

// LeftOnHost lists, for a stop, the domains it left on the host: still
// running (skipped, interrupted, failed) or suspended by a save or a
// migration that did not finish. Exit code 4 says so.
func (r *Result) LeftOnHost() []string {
	if r.Verb != "stop" {
		return nil
	}
	var out []string
	for _, o := range r.Outcomes {
		switch o.Status {
		case Failed, Skipped, NotRun, Suspended:
			out = append(out, o.Guest)
		}
	}
	return out
}

// LeftIn says in what state an interruption left a guest (NotRun): what the
// run knew of it when it ended. Outcome.Left when the run said it, else
// what the verb and the domid say.
func (r *Result) LeftIn(o *Outcome) string {
	switch {
	case o.Left != "":
		return o.Left
	case r.Verb == "stop" && o.DomID > 0:
		return fmt.Sprintf("not stopped; still running (domid %d)", o.DomID)
	case r.Verb == "stop":
		return "not stopped; still running"
	case o.DomID > 0:
		return fmt.Sprintf("left running (domid %d), as it was before this start", o.DomID)
	}
	return "not started"
}

// Event is one step of one guest, reported as it happens.
type Event struct {
	Time     time.Time
	Guest    string
	Msg      string // e.g. "created (domid 7)", "ready after 41.2s"
	Err      error  // set for failures and warnings
	DomID    int
	Step     Stage         // what the event is about
	Elapsed  time.Duration // for an event that closes a step: how long it took
	Severity Severity      // the journal's priority follows it
}

// Stage is the step of a guest's start or stop an event is about; the
// journal's STEP= field.
type Stage string

// The stages, in the order a start or a stop meets them.
const (
	StageCreate    Stage = "create"
	StageReady     Stage = "ready"
	StageProbe     Stage = "probe"
	StageWait      Stage = "wait"
	StageCheck     Stage = "check"
	StageSkip      Stage = "skip"
	StageFail      Stage = "fail"
	StageHeld      Stage = "held"
	StageInterrupt Stage = "interrupt"
	StageShutdown  Stage = "shutdown"
	StageStopped   Stage = "stopped"
	StageDestroy   Stage = "destroy"
	StageSave      Stage = "save"
	StageRestore   Stage = "restore"
	StageMigrate   Stage = "migrate"
	StagePCI       Stage = "pci"
	StageMemory    Stage = "memory"
)

// Severity is how much an event matters to an admin.
type Severity int

const (
	// Info: a step as planned.
	Info Severity = iota
	// Warning: something went otherwise than asked and the run goes on
	// (a request failed, a fallback, an image set aside, a fresh boot
	// instead of a restore).
	Warning
	// Error: a guest failed.
	Error
)

// String renders the event for people: a domain's name (and whatever the
// message quotes of one) escaped, never raw on the terminal.
func (e Event) String() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %s", show(e.Guest), show(e.Msg), GuestErr(e.Guest, e.Err))
	}
	return show(e.Guest) + ": " + show(e.Msg)
}

// show renders a domain name, or a text that may quote one, for people:
// see config.Printable. xl is always given the name itself.
func show(s string) string { return config.Printable(s) }

// GuestErr renders an error next to the guest it is about, without the
// "start NAME: " (or stop, restore...) its chain begins with: the line
// (an event's, or a summary's in internal/render) names the guest already ("FAILED fileserver: xl create ...", not
// "FAILED fileserver: start fileserver: xl create ...").
func GuestErr(guest string, err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	for _, verb := range []string{"start", "stop", "restore", "save", "migrate"} {
		if rest, ok := strings.CutPrefix(s, verb+" "+guest+": "); ok {
			s = rest
			break
		}
	}
	return show(s)
}

// Step is one guest's line in a plan.
type Step struct {
	Guest  string
	Action string       // create, already running, shutdown, destroy, already stopped, wait (dying)
	Deps   []graph.Edge // its dependencies (start) or dependents (stop) within the run
	Note   string       // why it is part of the run, if not obvious
	DomID  int          // -1 when not running
	Method string       // stop: shutdown, save, migrate, destroy

	held bool // start: drained, or a dependency is: not started
	// start: the image to restore from whatever its record says (xenorder
	// restore); "": the guest's own image if its record allows.
	restoreFrom string
	waitFor     []graph.Edge // stop: every domain that must be gone first
}

// Plan is what a start or stop will do, tier by tier: tier 0 has no
// dependency (start) or no dependent (stop) within the run.
type Plan struct {
	Verb     string
	Tiers    [][]Step
	Warnings []string
}

// index returns the steps by guest and the guests in tier order.
func (p *Plan) index() (map[string]Step, []string) {
	steps := map[string]Step{}
	var order []string
	for _, s := range p.Steps() {
		steps[s.Guest] = s
		order = append(order, s.Guest)
	}
	return steps, order
}

// Steps returns every step in tier order.
func (p *Plan) Steps() []Step {
	var out []Step
	for _, t := range p.Tiers {
		out = append(out, t...)
	}
	return out
}

// Round is how a duration is shown, in events and in the summary alike:
// to 10 ms under 10 s, else to 100 ms.
func Round(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
