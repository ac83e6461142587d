package xlsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Domain phases.
const (
	phaseBuilding  = "building"  // xl create/restore still running: --p---
	phaseRunning   = "running"   // -b---- (or --p--- when paused)
	phaseShutdown  = "shutdown"  // shut down and preserved: ---s<reason>-
	phaseSuspended = "suspended" // being saved: ---ss-
)

// Xen shutdown reason codes (xen/include/public/sched.h), as xl prints them.
const (
	reasonPoweroff = 0
	reasonReboot   = 1
	reasonSuspend  = 2
	reasonCrash    = 3
)

// Behaviour is what the simulator-only xlsim_* keys of a guest's config
// asked for.
type Behaviour struct {
	CreateTime     time.Duration `json:"create_time"`
	BootTime       time.Duration `json:"boot_time"`
	ShutdownTime   time.Duration `json:"shutdown_time"`
	SaveTime       time.Duration `json:"save_time"`
	RestoreTime    time.Duration `json:"restore_time"`
	MigrateTime    time.Duration `json:"migrate_time"`
	CrashAfter     time.Duration `json:"crash_after,omitempty"`
	RebootAfter    time.Duration `json:"reboot_after,omitempty"`
	IgnoreShutdown bool          `json:"ignore_shutdown,omitempty"`
	NeedsACPI      bool          `json:"needs_acpi,omitempty"`
	CreateFail     bool          `json:"create_fail,omitempty"`
	CreateHang     bool          `json:"create_hang,omitempty"`
	SaveFail       bool          `json:"save_fail,omitempty"`
	MigrateFail    bool          `json:"migrate_fail,omitempty"`
	Xenstore       []string      `json:"xenstore,omitempty"`
	Console        []string      `json:"console,omitempty"`
}

// Disk is a disk of a guest, as much of it as `xl list -l` shows.
type Disk struct {
	BackendDomname string `json:"backend_domname,omitempty"`
	PdevPath       string `json:"pdev_path,omitempty"`
	Vdev           string `json:"vdev,omitempty"`
	Format         string `json:"format,omitempty"`
	Readwrite      bool   `json:"readwrite,omitempty"`
}

// Nic is a network interface of a guest.
type Nic struct {
	BackendDomname string `json:"backend_domname,omitempty"`
	Devid          int    `json:"devid"`
	Model          string `json:"model,omitempty"`
	Mac            string `json:"mac,omitempty"`
	IP             string `json:"ip,omitempty"`
	Bridge         string `json:"bridge,omitempty"`
	Ifname         string `json:"ifname,omitempty"`
	Script         string `json:"script,omitempty"`
	Nictype        string `json:"nictype,omitempty"`
}

// Domain is one domain of the simulated host.
type Domain struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	UUID      string `json:"uuid"`
	Type      string `json:"type"` // pv, pvh, hvm
	MemMiB    int64  `json:"mem_mib"`
	MaxMemMiB int64  `json:"maxmem_mib"`
	VCPUs     int    `json:"vcpus"`
	MaxVCPUs  int    `json:"maxvcpus"`
	CfgPath   string `json:"cfg,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	Ramdisk   string `json:"ramdisk,omitempty"`
	Cmdline   string `json:"cmdline,omitempty"`
	Disks     []Disk `json:"disks,omitempty"`
	Nics      []Nic  `json:"nics,omitempty"`
	// PCI are the devices of its `pci = [...]`; PCIAttached the BDFs of
	// the host devices it has (once built).
	PCI         []PCISpec `json:"pci,omitempty"`
	PCIAttached []string  `json:"pci_attached,omitempty"`
	// What the cfg gave explicitly (for `xl -N create`).
	MemGiven   bool `json:"mem_given,omitempty"`
	VCPUsGiven bool `json:"vcpus_given,omitempty"`

	// Actions, with xl's names: destroy, restart, rename-restart, preserve,
	// coredump-destroy, coredump-restart, soft-reset.
	OnPoweroff  string `json:"on_poweroff"`
	OnReboot    string `json:"on_reboot"`
	OnWatchdog  string `json:"on_watchdog"`
	OnCrash     string `json:"on_crash"`
	OnSoftReset string `json:"on_soft_reset"`

	B Behaviour `json:"behaviour"`

	WantStub   bool  `json:"want_stub,omitempty"`    // a guest with a stub domain
	StubMemMiB int64 `json:"stub_mem_mib,omitempty"` // its memory
	StubID     int   `json:"stub_id,omitempty"`      // its domid, 0 if none now
	StubFor    int   `json:"stub_for,omitempty"`     // for a stub domain: its guest

	Phase          string    `json:"phase"`
	ShutdownReason int       `json:"shutdown_reason,omitempty"`
	Paused         bool      `json:"paused,omitempty"`
	PausedAt       time.Time `json:"paused_at,omitzero"`
	CreatedAt      time.Time `json:"created_at"`
	BuiltAt        time.Time `json:"built_at,omitzero"`
	Booted         bool      `json:"booted,omitempty"`
	BootDue        time.Time `json:"boot_due,omitzero"`
	CrashDue       time.Time `json:"crash_due,omitzero"`
	RebootDue      time.Time `json:"reboot_due,omitzero"`
	CrashDone      bool      `json:"crash_done,omitempty"`
	RebootDone     bool      `json:"reboot_done,omitempty"`
	ShutdownDue    time.Time `json:"shutdown_due,omitzero"`
	ReapDue        time.Time `json:"reap_due,omitzero"` // xl's monitor destroys the shut-down domain then
	// ShutdownPending: a PV shutdown request is written in xenstore and the
	// guest has not acknowledged it yet (it is not up, or paused, or dead).
	ShutdownPending bool `json:"shutdown_pending,omitempty"`

	CPU      float64   `json:"cpu"`                // CPU seconds up to RunSince
	RunSince time.Time `json:"run_since,omitzero"` // zero when not running

	XS xenstore `json:"xenstore"` // relative to /local/domain/<id>/
}

// xenstore is a domain's xenstore keys. Most commands never look at them,
// so they are not in state.json: each domain's are in a file of their own,
// $XLSIM_DIR/xenstore/<domid>.json (encodeXS), read the first time they
// are used (kv) and written back by a commit only when they changed.
// Decoded from a save file, they stay as read until used.
type xenstore struct {
	m    map[string]string // once used or set
	raw  []byte            // as read from a save file (JSON), until used
	dir  string            // the state's folder of the keys' files ("" if none)
	id   int               // whose file in dir holds the keys, read when first used
	kept []byte            // what the file held when read
	read bool              // the file has been read
}

func xsOf(m map[string]string) xenstore { return xenstore{m: m} }

// unset reports whether the domain has no xenstore keys yet (nil).
func (x *xenstore) unset() bool { return x.m == nil && x.raw == nil && x.dir == "" }

// in tells whether the keys are those of domain id's file in dir.
func (x *xenstore) in(dir string, id int) bool { return x.dir == dir && x.id == id }

// kv returns the keys to read or change, decoding them on first use.
func (x *xenstore) kv() map[string]string {
	if x.m == nil {
		x.m = map[string]string{}
		if x.raw != nil {
			json.Unmarshal(x.raw, &x.m) // the decoder of the save file checked it
			x.raw = nil
		} else if x.dir != "" && !x.read {
			x.kept, _ = os.ReadFile(xsFile(x.dir, x.id)) // none yet: no keys
			x.read = true
			decodeXS(x.kept, x.m)
		}
	}
	return x.m
}

func (x *xenstore) UnmarshalJSON(b []byte) error {
	*x = xenstore{}
	if string(b) != "null" {
		x.raw = append([]byte(nil), b...)
	}
	return nil
}

// MarshalJSON is for save files (json.Marshal of the Domain).
func (x xenstore) MarshalJSON() ([]byte, error) {
	if x.m == nil && x.raw != nil {
		return x.raw, nil
	}
	if x.m == nil && x.dir == "" {
		return []byte("null"), nil
	}
	return json.Marshal(x.kv())
}

// xsDir is the folder of the files of the domains' xenstore keys.
func (e *Env) xsDir() string { return filepath.Join(e.Dir, "xenstore") }

// xsFile is where the xenstore keys of domain id are kept.
func xsFile(dir string, id int) string {
	return dir + string(filepath.Separator) + strconv.Itoa(id) + ".json"
}

// writeXS writes d's keys to their file in dir if they changed since read
// (or were never there).
func (s *session) writeXS(d *Domain, dir string) error {
	x := &d.XS
	if x.m == nil && x.raw == nil && x.in(dir, d.ID) {
		return nil // not even looked at
	}
	b := encodeXS(x.kv())
	if x.in(dir, d.ID) && x.read && bytes.Equal(b, x.kept) {
		return nil
	}
	path := xsFile(dir, d.ID)
	err := s.replaceFile(path, b)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			err = s.replaceFile(path, b)
		}
	}
	if err != nil {
		return err
	}
	x.dir, x.id, x.kept, x.read = dir, d.ID, b, true
	return nil
}

// tmpSeq tells apart the temporary files of sessions of one process (the
// simulated xenstored's), which another may remove after its lock.
var tmpSeq atomic.Int64

// replaceFile replaces a file with one holding b, atomically: it writes a
// temporary file and exchanges it with the file (renameat2
// RENAME_EXCHANGE), or renames it when there is no file yet. Unlike a
// rename over a file, the exchange does not make ext4 start writing the
// new file out (auto_da_alloc), which cost more than the rest of a
// commit; the temporary file, with what the file held, is removed once
// the lock is released (abort).
func (s *session) replaceFile(path string, b []byte) error {
	tmp := fmt.Sprintf("%s.tmp.%d.%d", path, os.Getpid(), tmpSeq.Add(1))
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
	if err == nil {
		s.trash = append(s.trash, tmp)
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// GoneInfo remembers why a domain went away, for `xl shutdown -w`.
type GoneInfo struct {
	Why    string `json:"why"` // shutdown, destroyed, migrated
	Reason int    `json:"reason"`
}

// State is the whole simulated host, kept in $XLSIM_DIR/state.json.
type State struct {
	NextDomid int              `json:"next_domid"`
	Domains   []*Domain        `json:"domains"`
	Gone      map[int]GoneInfo `json:"gone,omitempty"`
	// PCI is what xl did to the host's PCI devices ($XLSIM_DIR/pci), by
	// BDF: a device not here is as the file says.
	PCI map[string]*PCIDevState `json:"pci,omitempty"`
}

// newState is a freshly booted host: Domain-0 alone, with the 1024 MiB of
// dom0_mem= (Env.bootDom0 resizes it for autoballoon).
func newState(now time.Time) *State {
	d0 := &Domain{
		ID: 0, Name: "Domain-0", UUID: "00000000-0000-0000-0000-000000000000", Type: "pv",
		MemMiB: dom0FixedMiB, MaxMemMiB: dom0FixedMiB, VCPUs: 1, MaxVCPUs: 1,
		Phase: phaseRunning, Booted: true, CreatedAt: now, BuiltAt: now,
		CPU: 12.0, RunSince: now,
		OnPoweroff: "destroy", OnReboot: "restart", OnWatchdog: "destroy", OnCrash: "destroy", OnSoftReset: "soft-reset",
		XS: xsOf(map[string]string{"name": "Domain-0", "domid": "0"}),
	}
	return &State{NextDomid: 1, Domains: []*Domain{d0}, Gone: map[int]GoneInfo{}}
}

func (s *State) byID(id int) *Domain {
	for _, d := range s.Domains {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (s *State) byName(name string) *Domain {
	for _, d := range s.Domains {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (s *State) add(d *Domain) {
	s.Domains = append(s.Domains, d)
	sort.Slice(s.Domains, func(i, j int) bool { return s.Domains[i].ID < s.Domains[j].ID })
}

func (s *State) remove(id int) {
	out := s.Domains[:0]
	for _, d := range s.Domains {
		if d.ID != id {
			out = append(out, d)
		}
	}
	s.Domains = out
}

// usedMiB is the memory of all domains, Domain-0 included.
func (s *State) usedMiB() int64 {
	var n int64
	for _, d := range s.Domains {
		n += d.MemMiB
	}
	return n
}

// running tells whether the domain's vcpus run (for its CPU time).
func (d *Domain) running() bool {
	return d.Phase == phaseRunning && !d.Paused
}

func (d *Domain) cpuRate() float64 {
	if d.ID == 0 {
		return 0.05
	}
	return 0.02
}

// cpuAt is the domain's CPU time in seconds at t.
func (d *Domain) cpuAt(t time.Time) float64 {
	c := d.CPU
	if !d.RunSince.IsZero() && t.After(d.RunSince) {
		c += d.cpuRate() * t.Sub(d.RunSince).Seconds()
	}
	return c
}

// syncCPU must be called after any change of Phase or Paused at time t.
func (d *Domain) syncCPU(t time.Time) {
	d.CPU = d.cpuAt(t)
	if d.running() {
		d.RunSince = t
	} else {
		d.RunSince = time.Time{}
	}
}

// flags is the State column of xl list.
func (d *Domain) flags() string {
	const reasons = "-rscwS"
	f := []byte("------")
	if d.ID == 0 {
		f[0] = 'r'
	}
	switch d.Phase {
	case phaseBuilding:
		f[2] = 'p'
	case phaseRunning:
		if d.Paused {
			f[2] = 'p'
		} else if d.ID != 0 {
			f[1] = 'b'
		}
	case phaseShutdown, phaseSuspended:
		if d.Paused {
			f[2] = 'p'
		}
		f[3] = 's'
		if d.ShutdownReason >= 0 && d.ShutdownReason < len(reasons) {
			f[4] = reasons[d.ShutdownReason]
		} else {
			f[4] = '?'
		}
	}
	return string(f)
}

// ---- the locked session ----

// session is one locked read-modify-write of the state, or a read of it
// (view). Everything it does happens at the single instant now.
type session struct {
	env    *Env
	lockf  *os.File
	st     *State
	now    time.Time
	events []Event
	shared bool // a view: the lock is shared and nothing is written

	loadedIDs []int    // the domains as loaded, whose xenstore files a commit removes once they are gone
	trash     []string // files to remove once the lock is released
}

// begin takes the lock, loads the state and advances it to now.
func (e *Env) begin() (*session, error) {
	s, err := e.lock(syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	s.advance()
	return s, nil
}

// view is begin for commands that only read: when nothing is due, it
// holds the lock shared, so that readers run side by side, and its commit
// writes nothing. When something is due it is begin, which applies it and
// writes it back. A view must change nothing.
func (e *Env) view() (*session, error) {
	if _, err := os.Stat(filepath.Join(e.Dir, "state.json")); err != nil {
		return e.begin() // the host boots: the first state is written
	}
	s, err := e.lock(syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	if d, _, _ := s.nextDue(); d == nil {
		s.shared = true
		return s, nil
	}
	s.abort()
	return e.begin()
}

// lock takes the lock (how: LOCK_EX or LOCK_SH) and loads the state.
func (e *Env) lock(how int) (*session, error) {
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(e.Dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	s := &session{env: e, lockf: f, now: time.Now()}
	s.st, err = e.loadState(s.now)
	if err != nil {
		s.abort()
		return nil, err
	}
	s.loadedIDs = make([]int, len(s.st.Domains))
	for i, d := range s.st.Domains {
		s.loadedIDs[i] = d.ID
	}
	return s, nil
}

// loadState reads state.json (a new host if there is none).
func (e *Env) loadState(now time.Time) (*State, error) {
	path := filepath.Join(e.Dir, "state.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		st := newState(now)
		e.bootDom0(st.Domains[0])
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Gone == nil {
		st.Gone = map[int]GoneInfo{}
	}
	xsDir := e.xsDir()
	for _, d := range st.Domains {
		d.XS = xenstore{dir: xsDir, id: d.ID}
	}
	if st.byID(0) == nil {
		d0 := newState(now).Domains[0]
		e.bootDom0(d0)
		st.add(d0)
	}
	if st.NextDomid < 1 {
		st.NextDomid = 1
	}
	return st, nil
}

// commit writes the state and the events and releases the lock; a view's
// only releases it.
func (s *session) commit() error {
	defer s.abort()
	if s.shared {
		if len(s.events) > 0 {
			return fmt.Errorf("a read-only session changed the state (%d events)", len(s.events))
		}
		return nil
	}
	xsDir := s.env.xsDir()
	for _, d := range s.st.Domains {
		if err := s.writeXS(d, xsDir); err != nil {
			return err
		}
	}
	if err := s.replaceFile(filepath.Join(s.env.Dir, "state.json"), encodeState(s.st)); err != nil {
		return err
	}
	for _, id := range s.loadedIDs {
		if s.st.byID(id) == nil {
			os.Remove(xsFile(xsDir, id))
		}
	}
	return s.env.appendEvents(s.events)
}

// abort releases the lock without writing anything.
func (s *session) abort() {
	if s.lockf != nil {
		syscall.Flock(int(s.lockf.Fd()), syscall.LOCK_UN)
		s.lockf.Close()
		s.lockf = nil
	}
	for _, f := range s.trash {
		os.Remove(f)
	}
	s.trash = nil
}

func (s *session) event(d *Domain, t time.Time, ev string) {
	s.events = append(s.events, Event{T: t, Domain: d.Name, Domid: d.ID, Ev: ev})
}
