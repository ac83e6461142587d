package runner

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/xl"
)

// fakeHV is an in-memory hypervisor that records every call with its time.
type fakeHV struct {
	mu     sync.Mutex
	doms   map[string]*fakeDom
	nextID int
	calls  []call

	createDelay    time.Duration
	infoDelay      time.Duration
	createFail     map[string]bool
	ignoreShutdown map[string]bool
	noPV           map[string]bool // needs xl shutdown -F
	saveFail       map[string]bool
	restoreFail    bool
	migrateFail    bool
	backends       map[string][]string // domain → the domains serving its devices
	assignable     []string
	pciback        bool
	totalMiB       int64 // 0: plenty
	mem            map[string]int64
	balloon        bool
	shutdownDelay  time.Duration
	inCreate, peak int
	// listLag keeps a domain that went listed as "(null)", dying, for
	// that long after it left xenstore (as libxl removes its xenstore
	// directory before the hypervisor frees it).
	listLag time.Duration
	// rebootOnShutdown: the guest comes back under a new domid when its
	// shutdown is due, that many times.
	rebootOnShutdown map[string]int
	// monitorSlow: the guest powers off when its shutdown is due but stays
	// listed --ps-- (xl's monitor has not destroyed it yet) until destroyed.
	monitorSlow map[string]bool
}

type fakeDom struct {
	id      int
	state   string
	goneAt  time.Time // zero: not going
	created time.Time
	dying   bool // out of xenstore, still listed (listLag)
}

type call struct {
	op, name   string
	begin, end time.Time
}

func newFake() *fakeHV {
	return &fakeHV{
		doms:           map[string]*fakeDom{"Domain-0": {id: 0, state: "r-----"}},
		nextID:         1,
		createFail:     map[string]bool{},
		ignoreShutdown: map[string]bool{},
		noPV:           map[string]bool{},
		saveFail:       map[string]bool{},
		backends:       map[string][]string{},
		createDelay:    20 * time.Millisecond,
		shutdownDelay:  20 * time.Millisecond,
	}
}

func (f *fakeHV) record(op, name string, begin time.Time) {
	f.mu.Lock()
	f.calls = append(f.calls, call{op: op, name: name, begin: begin, end: time.Now()})
	f.mu.Unlock()
}

func (f *fakeHV) add(name, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.doms[name] = &fakeDom{id: f.nextID, state: state, created: time.Now()}
	f.nextID++
}

func noSuch(name string) error {
	return &xl.Error{Args: []string{"x", name}, ExitCode: 1, Stderr: name + " is an invalid domain identifier (rc=-6)"}
}

func (f *fakeHV) List(ctx context.Context) ([]xl.Domain, error) {
	defer f.record("list", "", time.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance(time.Now())
	var out []xl.Domain
	for name, d := range f.doms {
		if d.dying {
			out = append(out, xl.Domain{Name: "(null)", ID: d.id, MemMiB: 96, VCPUs: 1, State: stateOf("--ps-d")})
			continue
		}
		out = append(out, xl.Domain{Name: name, ID: d.id, MemMiB: 96, VCPUs: 1, State: stateOf(d.state)})
	}
	return out, nil
}

// advance carries out what is due: deaths, reboots. f.mu is held.
func (f *fakeHV) advance(now time.Time) {
	for name, d := range f.doms {
		if d.goneAt.IsZero() || now.Before(d.goneAt) {
			continue
		}
		switch {
		case f.rebootOnShutdown[name] > 0:
			f.rebootOnShutdown[name]--
			f.doms[name] = &fakeDom{id: f.nextID, state: "-b----", created: now}
			f.nextID++
		case f.monitorSlow[name]:
			d.state, d.goneAt = "--ps--", time.Time{}
		case now.Before(d.goneAt.Add(f.listLag)):
			d.dying = true
		default:
			delete(f.doms, name)
		}
	}
}

func (f *fakeHV) Create(ctx context.Context, cfg string, started func()) error {
	callStarted(started) // like xl.Client: the fake "process" runs from here
	begin := time.Now()
	defer func() { f.record("create", nameOf(cfg), begin) }()
	name := nameOf(cfg)
	f.mu.Lock()
	f.inCreate++
	f.peak = max(f.peak, f.inCreate)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inCreate--; f.mu.Unlock() }()
	select {
	case <-time.After(f.createDelay):
	case <-ctx.Done():
		return ctx.Err()
	}
	if f.createFail[name] {
		return &xl.Error{Args: []string{"create", cfg}, ExitCode: 3, Stderr: "libxl: error: cannot make domain: -3"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.doms[name]; ok {
		return &xl.Error{Args: []string{"create", cfg}, ExitCode: 3, Stderr: `Domain with name "` + name + `" already exists.`}
	}
	f.doms[name] = &fakeDom{id: f.nextID, state: "-b----", created: time.Now()}
	f.nextID++
	return nil
}

func nameOf(cfg string) string { return strings.TrimSuffix(filepath.Base(cfg), ".cfg") }

func (f *fakeHV) Shutdown(ctx context.Context, name string, acpi bool, started func()) error {
	callStarted(started) // like xl.Client: the fake "process" runs from here
	defer f.record("shutdown", name, time.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	name = f.resolve(name)
	d, ok := f.doms[name]
	if !ok {
		return noSuch(name)
	}
	if f.noPV[name] && !acpi {
		return &xl.Error{Args: []string{"shutdown", name}, ExitCode: 1, Stderr: "PV control interface not available: external graceful shutdown not possible.\nUse \"-F\" to fallback to ACPI power event."}
	}
	if !f.ignoreShutdown[name] && d.goneAt.IsZero() {
		d.goneAt = time.Now().Add(f.shutdownDelay)
	}
	return nil
}

func (f *fakeHV) Destroy(ctx context.Context, name string, started func()) error {
	callStarted(started) // like xl.Client: the fake "process" runs from here
	defer f.record("destroy", name, time.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	name = f.resolve(name)
	if _, ok := f.doms[name]; !ok {
		return noSuch(name)
	}
	delete(f.doms, name)
	return nil
}

// resolve reads an xl domain identifier as xl does: all digits is a
// domid. Called with f.mu held.
func (f *fakeHV) resolve(ident string) string {
	if id, err := strconv.Atoi(ident); err == nil {
		for name, d := range f.doms {
			if d.id == id {
				return name
			}
		}
	}
	return ident
}

func (f *fakeHV) ListLong(ctx context.Context) ([]xl.DomainConfig, error) {
	defer f.record("list-l", "", time.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []xl.DomainConfig
	for name, d := range f.doms {
		dc := xl.DomainConfig{DomID: d.id, Name: name}
		for _, b := range f.backends[name] {
			dc.Backends = append(dc.Backends, xl.Backend{Kind: "disk", DomID: -1, DomName: b})
		}
		out = append(out, dc)
	}
	return out, nil
}

func (f *fakeHV) Save(ctx context.Context, name, path string, started func()) error {
	callStarted(started) // like xl.Client: the fake "process" runs from here
	defer f.record("save", name, time.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.doms[name]; !ok {
		return noSuch(name)
	}
	if f.saveFail[name] {
		os.WriteFile(path, []byte("partial"), 0o600)
		return &xl.Error{Args: []string{"save", name, path}, ExitCode: 1, Stderr: "xc: error: Save failed (28 = No space left on device)"}
	}
	if err := os.WriteFile(path, []byte("Xen saved domain, xl format\n"+name), 0o600); err != nil {
		return err
	}
	delete(f.doms, name)
	return nil
}

func (f *fakeHV) Restore(ctx context.Context, path string, started func()) error {
	callStarted(started) // like xl.Client: the fake "process" runs from here
	defer f.record("restore", filepath.Base(path), time.Now())
	b, err := os.ReadFile(path)
	if err != nil || f.restoreFail || !strings.HasPrefix(string(b), "Xen saved domain, xl format\n") {
		return &xl.Error{Args: []string{"restore", path}, ExitCode: 1, Stderr: "libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading header from " + path}
	}
	name := strings.TrimPrefix(string(b), "Xen saved domain, xl format\n")
	f.add(name, "-b----")
	return nil
}

func (f *fakeHV) Migrate(ctx context.Context, name, host string, started func()) error {
	callStarted(started) // like xl.Client: the fake "process" runs from here
	defer f.record("migrate", name, time.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.migrateFail {
		return &xl.Error{Args: []string{"migrate", name, host}, ExitCode: 1, Stderr: "ssh: Could not resolve hostname " + host}
	}
	old := f.doms[name]
	delete(f.doms, name)
	if host == "localhost" {
		// To this very host: the copy runs on here under a new domid.
		f.doms[name] = &fakeDom{id: f.nextID, state: "-b----", created: old.created}
		f.nextID++
	}
	return nil
}

// callsOf returns the recorded calls of one operation, in order.
func (f *fakeHV) callsOf(op string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.op == op {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeHV) first(op, name string) (call, bool) {
	for _, c := range f.callsOf(op) {
		if c.name == name {
			return c, true
		}
	}
	return call{}, false
}

func mustConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("/etc/xen/xenorder.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// collector gathers events for assertions.
type collector struct {
	mu     sync.Mutex
	events []Event
}

func (c *collector) report(e Event) { c.mu.Lock(); c.events = append(c.events, e); c.mu.Unlock() }

func (c *collector) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		out = append(out, e.String())
	}
	return out
}

// stateOf builds an xl.State from its six letters.
func stateOf(raw string) xl.State {
	return xl.State{
		Raw: raw, Running: raw[0] == 'r', Blocked: raw[1] == 'b', Paused: raw[2] == 'p',
		Shutdown: raw[3] == 's', Reason: xl.ShutdownReason(raw[4]), Dying: raw[5] == 'd',
	}
}

func (f *fakeHV) PCIAssignableList(ctx context.Context) ([]string, bool, error) {
	defer f.record("pci-assignable-list", "", time.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.assignable...), f.pciback, nil
}

func (f *fakeHV) PCIAssignableAdd(ctx context.Context, bdf string) error {
	defer f.record("pci-assignable-add", bdf, time.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.pciback {
		return &xl.Error{Args: []string{"pci-assignable-add", bdf}, ExitCode: 1, Stderr: "libxl: error: libxl_pci.c:693:pciback_dev_is_assigned: Looks like pciback driver is not loaded"}
	}
	f.assignable = append(f.assignable, bdf)
	return nil
}

func (f *fakeHV) Info(ctx context.Context) (xl.Info, error) {
	defer f.record("info", "", time.Now())
	time.Sleep(f.infoDelay)
	f.mu.Lock()
	defer f.mu.Unlock()
	total := f.totalMiB
	if total == 0 {
		total = 1 << 20
	}
	used := int64(0)
	for name := range f.doms {
		used += f.memOf(name)
	}
	cmdline := "dom0_mem=1024M,max:1024M"
	if f.balloon {
		cmdline = "console=com1"
	}
	return xl.Info{TotalMemoryMiB: total, FreeMemoryMiB: total - used, XenCommandline: cmdline}, nil
}

func (f *fakeHV) memOf(name string) int64 {
	if m, ok := f.mem[name]; ok {
		return m
	}
	return 96
}

// listCalls is how many `xl list` calls the runner has made.
func (r *Runner) listCalls() int {
	l := r.lister()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.callCount
}

// callStarted calls a launch's started, if any, as xl.Client does once xl
// runs: the fake "process" runs from there.
func callStarted(started func()) {
	if started != nil {
		started()
	}
}
