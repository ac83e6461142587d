// Package config reads xenorder's TOML file into a validated model: the
// defaults, the guests, and their dependency graph.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/probe"
)

// DefaultPath is where the config lives unless -c or XENORDER_CONFIG says
// otherwise.
const DefaultPath = "/etc/xen/xenorder.toml"

// Defaults of [defaults] keys.
const (
	DefaultXL             = "xl"
	DefaultConfigDir      = "/etc/xen"
	DefaultStartTimeout   = 5 * time.Minute
	DefaultStopTimeout    = 3 * time.Minute
	DefaultMaxParallel    = 4
	DefaultStateDir       = "/var/lib/xenorder"
	DefaultPollInterval   = time.Second
	DefaultProbeInterval  = 2 * time.Second
	DefaultAttemptTimeout = 5 * time.Second
	DefaultConsoleLogDir  = "/var/log/xen/console"
	DefaultXenstoreRead   = "xenstore-read"
	DefaultXenstoreWatch  = "xenstore-watch"
	// DefaultXenstoredSocket is where libxenstore finds xenstored on Xen
	// 4.17 ($XENSTORED_PATH overrides it, as for xl and the xenstore-*
	// tools).
	DefaultXenstoredSocket = "/var/run/xenstored/socket"
	DefaultXLConf          = "/etc/xen/xl.conf"
	DefaultSaveTimeout     = 10 * time.Minute
	DefaultLockFile        = "/run/xenorder.lock"
)

// Stop actions: what a bare stop (the host going down) does to a guest.
const (
	StopShutdown = "shutdown" // xl shutdown, wait stop_timeout, then xl destroy
	StopSave     = "save"     // xl save to <state_dir>/save/NAME.save; restored by the next start
	StopMigrate  = "migrate"  // xl migrate NAME <migrate_to>
	StopDestroy  = "destroy"  // xl destroy at once: scratch guests only
)

// Undeclared domains: what a bare stop does with running domains the config
// does not name.
const (
	UndeclaredStopFirst = "stop-first"
	UndeclaredLeave     = "leave"
)

// Restore fallbacks: what start does when xl restore fails.
const (
	RestoreCreate = "create" // boot the guest fresh (the image is kept aside)
	RestoreFail   = "fail"   // fail the guest
)

// Config is a loaded, validated configuration.
type Config struct {
	File     string // absolute path of the TOML file
	Defaults Defaults
	Guests   map[string]*Guest
	Graph    *graph.Graph // every guest; edges depends_on (Hard) and after (Soft)
}

// Defaults holds the [defaults] table after defaulting.
type Defaults struct {
	XL            string
	ConfigDir     string // absolute
	StartTimeout  time.Duration
	StopTimeout   time.Duration
	MaxParallel   int
	StateDir      string
	PollInterval  time.Duration // how often `xl list` is read while waiting
	ProbeInterval time.Duration
	ConsoleLogDir string // absolute
	XenstoreRead  string
	XenstoreWatch string // "" when off
	// XenstoredSocket is xenstored's socket, for a stop's @releaseDomain
	// watch and its looks at /local/domain; "" when off.
	XenstoredSocket string
	Undeclared      string // UndeclaredStopFirst or UndeclaredLeave
	LockFile        string // absolute
	Infer           bool   // add the dependencies the xl configs imply (backend=)
	// MemoryAdmission: create a guest only when xl info shows room for it.
	MemoryAdmission bool
	XLConf          string // xl's own config, for autoballoon
	Stop            StopPolicy
}

// StopPolicy is how a guest is stopped; [defaults] and each guest have one.
type StopPolicy struct {
	Action          string // StopShutdown, StopSave, StopMigrate, StopDestroy
	MigrateTo       string
	ACPIFallback    bool // retry xl shutdown -F when the PV control interface is missing
	SaveTimeout     time.Duration
	RestoreFallback string // RestoreCreate or RestoreFail
	// ActionLine is the line of the stop_action key that chose Action (0:
	// xenorder's default), in [defaults] when ActionInDefaults.
	ActionLine       int
	ActionInDefaults bool
}

// Guest is one [guest.NAME] table after defaulting.
type Guest struct {
	Name         string
	Line         int    // line of its table in the file
	XLConfig     string // absolute path of its xl config file
	DependsOn    []string
	After        []string
	Autostart    bool
	StartTimeout time.Duration
	StopTimeout  time.Duration
	Stop         StopPolicy
	Probes       []Probe
	// PCIAssignable: make the xl config's pci devices assignable before
	// xl create. PCISeize: even when dom0's own driver holds one.
	PCIAssignable bool
	PCISeize      bool
	// From the xl config (when it could be read): its pci devices (as
	// normalised BDFs) and the dependencies its backend= devices imply.
	PCI      []string
	Inferred []Inferred
	// MemoryMiB is the guest's memory (xl config `memory`, default 128 as
	// libxl's); StubMemoryMiB its device-model stub domain's, if any.
	MemoryMiB     int
	StubMemoryMiB int
	// OnPoweroff is the xl config's on_poweroff (default "destroy"): then
	// xl's own monitor destroys the guest once its OS has shut down.
	OnPoweroff string
	// External is a node xenorder never starts or stops, only waits for
	// (something on the network, a guest on another host).
	External bool
	// StopRefused says why the save or migrate its stop_action asks for
	// cannot apply (PCI passthrough); Stop.Action is then shutdown, and
	// check reports it (CheckStopActions).
	StopRefused string
}

// Probe is one readiness probe of a guest, with its timing.
type Probe struct {
	probe.Probe
	Interval       time.Duration
	AttemptTimeout time.Duration
	Line           int
}

// Kind says "guest" or "external".
func (g *Guest) Kind() string {
	if g.External {
		return "external"
	}
	return "guest"
}

// Names returns the guests' names, sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Guests))
	for n := range c.Guests {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Problem is one thing wrong with a config file.
type Problem struct {
	File       string
	Line       int    // 0 if unknown
	Guest      string // "" for [defaults] or the file as a whole
	InDefaults bool   // the key is in [defaults]
	External   bool   // Guest names an [external.NAME] node
	Key        string // "" if not about one key
	Msg        string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Guest != "" && p.External {
		fmt.Fprintf(&b, "external %s: ", p.Guest)
	} else if p.Guest != "" {
		fmt.Fprintf(&b, "guest %s: ", p.Guest)
	} else if p.InDefaults {
		b.WriteString("defaults: ")
	}
	if p.Key != "" {
		fmt.Fprintf(&b, "%s: ", p.Key)
	}
	b.WriteString(p.Msg)
	return Printable(b.String()) // a name or key may hold anything
}

// Error lists every problem found in a config.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// raw mirrors the file; pointers tell "absent" from "zero".
type rawFile struct {
	Defaults rawDefaults         `toml:"defaults"`
	Guest    map[string]rawGuest `toml:"guest"`
	External map[string]rawGuest `toml:"external"`
}

type rawDefaults struct {
	XL              *string   `toml:"xl"`
	ConfigDir       *string   `toml:"config_dir"`
	StartTimeout    *Duration `toml:"start_timeout"`
	StopTimeout     *Duration `toml:"stop_timeout"`
	MaxParallel     *int      `toml:"max_parallel"`
	StateDir        *string   `toml:"state_dir"`
	PollInterval    *Duration `toml:"poll_interval"`
	ProbeInterval   *Duration `toml:"probe_interval"`
	ConsoleLogDir   *string   `toml:"console_log_dir"`
	XenstoreRead    *string   `toml:"xenstore_read"`
	XenstoreWatch   *string   `toml:"xenstore_watch"`
	XenstoredSocket *string   `toml:"xenstored_socket"`
	Undeclared      *string   `toml:"undeclared"`
	LockFile        *string   `toml:"lock_file"`
	rawStop
	Infer           *bool   `toml:"infer"`
	PCIAssignable   *bool   `toml:"pci_assignable"`
	MemoryAdmission *bool   `toml:"memory_admission"`
	XLConf          *string `toml:"xl_conf"`
}

// rawStop holds the stop keys that [defaults] and a guest share.
type rawStop struct {
	StopAction      *string   `toml:"stop_action"`
	MigrateTo       *string   `toml:"migrate_to"`
	ACPIFallback    *bool     `toml:"acpi_fallback"`
	SaveTimeout     *Duration `toml:"save_timeout"`
	RestoreFallback *string   `toml:"restore_fallback"`
}

type rawGuest struct {
	Config       *string    `toml:"config"`
	DependsOn    []string   `toml:"depends_on"`
	After        []string   `toml:"after"`
	Autostart    *bool      `toml:"autostart"`
	StartTimeout *Duration  `toml:"start_timeout"`
	StopTimeout  *Duration  `toml:"stop_timeout"`
	Ready        []rawProbe `toml:"ready"`
	rawStop
	PCIAssignable *bool `toml:"pci_assignable"`
	PCISeize      *bool `toml:"pci_seize"`
}

type rawProbe struct {
	TCP            *string   `toml:"tcp"`
	Exec           []string  `toml:"exec"`
	Xenstore       *string   `toml:"xenstore"`
	Equals         *string   `toml:"equals"`
	HTTP           *string   `toml:"http"`
	Status         *int      `toml:"status"`
	Console        *string   `toml:"console"`
	Delay          *Duration `toml:"delay"`
	Interval       *Duration `toml:"interval"`
	AttemptTimeout *Duration `toml:"attempt_timeout"`
}

// decodeErrRE matches BurntSushi/toml's type errors, which carry a line but
// are not ParseErrors.
var decodeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// Load reads and validates the config file at path, and, with infer on,
// every guest's xl config. Any problem yields an *Error listing all of them
// (or, for a TOML syntax error, the first).
func Load(path string) (*Config, error) {
	cfg, err := LoadTOML(path)
	if err != nil {
		return nil, err
	}
	if ps := cfg.ReadXLConfigs(); len(ps) > 0 {
		return nil, &Error{Problems: ps}
	}
	return cfg, nil
}

// LoadTOML reads and validates the TOML file alone.
func LoadTOML(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	src, err := readSource(abs) // refuses a file over the size or depth limit unparsed
	if err != nil {
		return nil, err
	}
	return Parse(abs, src)
}

// Parse validates src as the config file named file (an absolute path;
// relative paths inside are relative to its folder).
func Parse(file string, src []byte) (*Config, error) {
	if p := checkLimits(file, src); p != nil {
		return nil, &Error{Problems: []Problem{*p}}
	}
	var raw rawFile
	md, err := toml.Decode(string(src), &raw)
	if err != nil {
		p := Problem{File: file, Msg: err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line, p.Msg = pe.Position.Line, pe.Message
			switch {
			case pe.LastKey != "" && strings.Contains(pe.Message, durationTypeHint):
				// A duration key given another type (stop_timeout = 5):
				// said as the validator says its problems.
				p = keyProblem(file, pe.Position.Line, splitKey(pe.LastKey), pe.Message)
			case pe.LastKey != "":
				p.Msg = fmt.Sprintf("%s (at key %s)", pe.Message, pe.LastKey)
			}
		}
		if m := decodeErrRE.FindStringSubmatch(p.Msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Msg = fmt.Sprintf("%s: %s", m[2], m[3])
		}
		p.Msg = strings.TrimPrefix(p.Msg, "toml: ")
		return nil, &Error{Problems: []Problem{p}}
	}
	cfg, problems := parse(file, src, raw, md)
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return cfg, nil
}

// keyProblem is a problem of the key at path (as BurntSushi/toml names it).
func keyProblem(file string, line int, path []string, msg string) Problem {
	p := Problem{File: file, Line: line, Msg: msg}
	switch {
	case len(path) == 2 && path[0] == "defaults":
		p.InDefaults, p.Key = true, path[1]
	case len(path) >= 3 && (path[0] == "guest" || path[0] == "external"):
		p.Guest, p.External, p.Key = path[1], path[0] == "external", strings.Join(path[2:], ".")
	default:
		p.Key = strings.Join(path, ".")
	}
	return p
}

func parse(file string, src []byte, raw rawFile, md toml.MetaData) (*Config, []Problem) {
	v := &validator{file: file, loc: newLocator(string(src))}
	cfg := v.build(&raw, md)
	sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
	return cfg, v.problems
}

// Check loads the config at path and also checks every guest's xl config
// file, returning every problem found (nil when there is none) and the
// config when it is usable.
func Check(path string) (*Config, error) {
	cfg, err := Load(path)
	var ce *Error
	if err != nil && !errors.As(err, &ce) {
		return nil, err
	}
	if ce != nil {
		// Report the file problems of a config with other problems too.
		abs, _ := filepath.Abs(path)
		src, rerr := readSource(abs) // never parses what Load refused as too big or deep
		var raw rawFile
		md, derr := toml.Decode(string(src), &raw)
		if rerr == nil && derr == nil {
			partial, _ := parse(abs, src, raw, md)
			ce.Problems = append(ce.Problems, partial.CheckFiles()...)
		}
		return nil, ce
	}
	ps := append(cfg.CheckFiles(), cfg.CheckStopActions()...)
	if len(ps) > 0 {
		return nil, &Error{Problems: ps}
	}
	return cfg, nil
}

// CheckStopActions reports the guests whose stop_action asks for a save or
// a migration that xl cannot do (ReadXLConfigs found PCI passthrough). The
// other commands do not refuse such a config: a stop shuts those guests
// down, so that a host going down with this config still stops them.
func (c *Config) CheckStopActions() []Problem {
	var ps []Problem
	for _, name := range c.Names() {
		g := c.Guests[name]
		if g.StopRefused == "" {
			continue
		}
		line := g.Line
		if g.Stop.ActionLine > 0 && !g.Stop.ActionInDefaults {
			line = g.Stop.ActionLine
		}
		ps = append(ps, Problem{File: c.File, Line: line, Guest: name, Key: "stop_action", Msg: g.StopRefused})
	}
	return ps
}

type validator struct {
	file     string
	loc      *locator
	problems []Problem
	external map[string]bool
	// suggested counts the unknown dependencies given a "did you mean":
	// at most maxSuggestions, so that a file of many guests with unknown
	// dependencies does not take a time in their number squared.
	suggested int
}

const maxSuggestions = 50

// add records a problem of a node (guest == "": of [defaults]) and key.
func (v *validator) add(guest, key, format string, args ...any) {
	v.addAt(0, guest, key, format, args...)
}

// addAt records a problem at a given line (0: look the key up).
func (v *validator) addAt(line int, guest, key, format string, args ...any) {
	path := []string{"defaults", key}
	if guest != "" {
		path = []string{v.table(guest), guest, key}
	}
	if key == "" {
		path = path[:len(path)-1]
	}
	if line == 0 {
		line = v.loc.line(path...)
	}
	v.problems = append(v.problems, Problem{
		File: v.file, Line: line, Guest: guest, Key: key, External: v.external[guest],
		InDefaults: guest == "", Msg: fmt.Sprintf(format, args...),
	})
}

func (v *validator) table(name string) string {
	if v.external[name] {
		return "external"
	}
	return "guest"
}

func (v *validator) duration(guest, key string, s *Duration, def time.Duration) time.Duration {
	return v.durationAt(0, guest, key, s, def)
}

func (v *validator) durationAt(line int, guest, key string, s *Duration, def time.Duration) time.Duration {
	if s == nil {
		return def
	}
	switch {
	case s.Err != nil:
		v.addAt(line, guest, key, "%q is not a duration: %v", s.Text, s.Err)
	case s.D <= 0:
		v.addAt(line, guest, key, "%s must be greater than zero", s.Text)
	}
	return s.D
}

// build validates raw into a Config, in phases: membership (which tables
// are nodes, which keys are unknown), the defaults, each node, the
// dependencies.
func (v *validator) build(raw *rawFile, md toml.MetaData) *Config {
	dir := filepath.Dir(v.file)
	v.membership(raw, md)
	d := v.defaults(raw, dir)
	cfg := &Config{File: v.file, Defaults: d, Guests: map[string]*Guest{}, Graph: graph.New()}
	names := v.nodes(cfg, raw, dir)
	v.dependencies(cfg, names)
	return cfg
}

// membership reports the unknown keys, drops the guests only a dotted
// header made, and records which nodes are external.
func (v *validator) membership(raw *rawFile, md toml.MetaData) {
	undecoded := map[string]bool{}
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	var own map[string]bool // the guests with a key or header of their own
	for _, k := range md.Undecoded() {
		if hasUndecodedParent(k, undecoded) {
			continue
		}
		if len(k) >= 3 && own == nil {
			own = ownTables(md)
		}
		if !v.dottedName(k, md, own) {
			v.unknownKey(k)
			continue
		}
		// A guest only the dotted header made ([guest.mail.example.org]
		// makes a guest "mail"): not a guest; its problems would be noise.
		if !own[k[0]+"\x00"+k[1]] {
			delete(raw.Guest, k[1])
			delete(raw.External, k[1])
		}
	}
	v.external = map[string]bool{}
	for n := range raw.External {
		v.external[n] = true
	}
}

// defaults validates [defaults] over xenorder's own defaults; relative
// paths are relative to dir.
func (v *validator) defaults(raw *rawFile, dir string) Defaults {
	d := Defaults{
		XL:              DefaultXL,
		ConfigDir:       DefaultConfigDir,
		StartTimeout:    v.duration("", "start_timeout", raw.Defaults.StartTimeout, DefaultStartTimeout),
		StopTimeout:     v.duration("", "stop_timeout", raw.Defaults.StopTimeout, DefaultStopTimeout),
		MaxParallel:     DefaultMaxParallel,
		StateDir:        DefaultStateDir,
		PollInterval:    v.duration("", "poll_interval", raw.Defaults.PollInterval, DefaultPollInterval),
		ProbeInterval:   v.duration("", "probe_interval", raw.Defaults.ProbeInterval, DefaultProbeInterval),
		ConsoleLogDir:   DefaultConsoleLogDir,
		XenstoreRead:    DefaultXenstoreRead,
		XenstoreWatch:   DefaultXenstoreWatch,
		XenstoredSocket: DefaultXenstoredSocket,
		Undeclared:      UndeclaredStopFirst,
		LockFile:        DefaultLockFile,
		Infer:           raw.Defaults.Infer == nil || *raw.Defaults.Infer,
		MemoryAdmission: raw.Defaults.MemoryAdmission == nil || *raw.Defaults.MemoryAdmission,
		XLConf:          DefaultXLConf,
	}
	d.Stop = v.stopPolicy("", raw.Defaults.rawStop, StopPolicy{
		Action: StopShutdown, ACPIFallback: true, SaveTimeout: DefaultSaveTimeout, RestoreFallback: RestoreCreate,
	})
	v.defaultStrings(raw, &d)
	d.ConfigDir = absFrom(dir, d.ConfigDir)
	d.StateDir = absFrom(dir, d.StateDir)
	d.ConsoleLogDir = absFrom(dir, d.ConsoleLogDir)
	d.LockFile = absFrom(dir, d.LockFile)
	if d.Undeclared != UndeclaredStopFirst && d.Undeclared != UndeclaredLeave {
		v.add("", "undeclared", "%q is not one of %q, %q", d.Undeclared, UndeclaredStopFirst, UndeclaredLeave)
	}
	if p := raw.Defaults.XenstoreWatch; p != nil {
		d.XenstoreWatch = *p // "" turns the watch off
	}
	if p := raw.Defaults.XenstoredSocket; p != nil {
		d.XenstoredSocket = *p // "" turns the socket off
		if *p != "" && !filepath.IsAbs(*p) {
			v.add("", "xenstored_socket", "%q must be an absolute path (or \"\" to turn it off)", *p)
		}
	}
	if p := raw.Defaults.MaxParallel; p != nil {
		if *p <= 0 {
			v.add("", "max_parallel", "%d must be at least 1", *p)
		}
		d.MaxParallel = *p
	}
	return d
}

// defaultStrings sets the string keys of [defaults] that must not be empty.
func (v *validator) defaultStrings(raw *rawFile, d *Defaults) {
	for _, s := range []struct {
		key string
		in  *string
		out *string
	}{{"xl", raw.Defaults.XL, &d.XL}, {"config_dir", raw.Defaults.ConfigDir, &d.ConfigDir},
		{"state_dir", raw.Defaults.StateDir, &d.StateDir}, {"console_log_dir", raw.Defaults.ConsoleLogDir, &d.ConsoleLogDir},
		{"xenstore_read", raw.Defaults.XenstoreRead, &d.XenstoreRead}, {"undeclared", raw.Defaults.Undeclared, &d.Undeclared},
		{"lock_file", raw.Defaults.LockFile, &d.LockFile}, {"xl_conf", raw.Defaults.XLConf, &d.XLConf}} {
		if s.in == nil {
			continue
		}
		if *s.in == "" {
			v.add("", s.key, "must not be empty")
		}
		*s.out = *s.in
	}
}

// nodes validates every [guest.NAME] and [external.NAME] into cfg (its
// graph gets them without edges) and returns their names, sorted.
func (v *validator) nodes(cfg *Config, raw *rawFile, dir string) []string {
	for _, name := range sortedKeys(raw.External) {
		if _, dup := raw.Guest[name]; dup {
			v.add(name, "", "%q is declared both as [%s] and [%s]", name, TableName("guest", name), TableName("external", name))
		}
	}
	all := map[string]rawGuest{}
	for n, g := range raw.Guest {
		all[n] = g
	}
	for n, g := range raw.External {
		all[n] = g
	}
	names := sortedKeys(all)
	for _, name := range names {
		g := v.node(cfg.Defaults, raw, name, all[name], dir)
		cfg.Guests[name] = g
		cfg.Graph.Add(name)
	}
	return names
}

// node validates one guest or external node.
func (v *validator) node(d Defaults, raw *rawFile, name string, rg rawGuest, dir string) *Guest {
	ext := v.external[name]
	if err := validName(name, ext); err != nil && name == "" {
		// No name to show: show the table.
		v.problems = append(v.problems, Problem{File: v.file, Line: v.loc.line(v.table(name), name),
			Msg: fmt.Sprintf("[%s.\"\"]: %v; name it as its xl config's name = line", v.table(name), err)})
	} else if err != nil {
		v.add(name, "", "%v", err)
	}
	g := &Guest{
		Name:         name,
		Line:         v.loc.line(v.table(name), name),
		XLConfig:     filepath.Join(d.ConfigDir, name+".cfg"),
		DependsOn:    rg.DependsOn,
		After:        rg.After,
		Autostart:    rg.Autostart == nil || *rg.Autostart,
		StartTimeout: v.duration(name, "start_timeout", rg.StartTimeout, d.StartTimeout),
		StopTimeout:  v.duration(name, "stop_timeout", rg.StopTimeout, d.StopTimeout),
		External:     ext,
	}
	if !ext {
		g.Stop = v.stopPolicy(name, rg.rawStop, d.Stop)
		g.PCIAssignable = raw.Defaults.PCIAssignable == nil || *raw.Defaults.PCIAssignable
		if rg.PCIAssignable != nil {
			g.PCIAssignable = *rg.PCIAssignable
		}
		g.PCISeize = rg.PCISeize != nil && *rg.PCISeize
	}
	if ext {
		g.XLConfig = ""
		v.externalKeys(name, rg)
	} else if rg.Config != nil {
		if *rg.Config == "" {
			v.add(name, "config", "must not be empty")
		}
		g.XLConfig = absFrom(dir, *rg.Config)
	}
	for i, rp := range rg.Ready {
		if p, ok := v.probe(d, name, i, rp); ok {
			g.Probes = append(g.Probes, p)
		}
	}
	return g
}

// externalKeys reports the keys an external node must not have, and a
// missing probe.
func (v *validator) externalKeys(name string, rg rawGuest) {
	for _, k := range []struct {
		key string
		set bool
	}{{"config", rg.Config != nil}, {"autostart", rg.Autostart != nil}, {"stop_timeout", rg.StopTimeout != nil},
		{"stop_action", rg.StopAction != nil}, {"migrate_to", rg.MigrateTo != nil}, {"acpi_fallback", rg.ACPIFallback != nil},
		{"save_timeout", rg.SaveTimeout != nil}, {"restore_fallback", rg.RestoreFallback != nil},
		{"pci_assignable", rg.PCIAssignable != nil}, {"pci_seize", rg.PCISeize != nil}} {
		if k.set {
			v.add(name, k.key, "an external node is never started or stopped by xenorder; remove %s", k.key)
		}
	}
	if len(rg.Ready) == 0 {
		v.add(name, "", "an external node needs at least one [[%s.ready]] probe: it is only waited for", TableName("external", name))
	}
}

// dependencies adds the depends_on and after edges of every node (in names'
// order) and reports the cycles.
func (v *validator) dependencies(cfg *Config, names []string) {
	for _, name := range names {
		g := cfg.Guests[name]
		v.edges(cfg, g, "depends_on", g.DependsOn, graph.Hard, names)
		v.edges(cfg, g, "after", g.After, graph.Soft, names)
	}
	for _, cyc := range cfg.Graph.Cycles() {
		path := append(slices.Clone(cyc), cyc[0])
		v.add(cyc[0], "", "dependency cycle: %s (every guest on it: %s; remove one depends_on or after)",
			strings.Join(path, " → "), strings.Join(sortedCopy(cyc), ", "))
	}
}

// stopPolicy applies raw stop keys over a default policy.
func (v *validator) stopPolicy(guest string, raw rawStop, def StopPolicy) StopPolicy {
	p := def
	if raw.StopAction != nil {
		p.Action = *raw.StopAction
		p.ActionInDefaults = guest == ""
		if guest == "" {
			p.ActionLine = v.loc.line("defaults", "stop_action")
		} else {
			p.ActionLine = v.loc.line(v.table(guest), guest, "stop_action")
		}
		switch p.Action {
		case StopShutdown, StopSave, StopMigrate, StopDestroy:
		default:
			v.add(guest, "stop_action", "%q is not one of shutdown, save, migrate, destroy", p.Action)
		}
	}
	if raw.MigrateTo != nil {
		p.MigrateTo = *raw.MigrateTo
		if p.MigrateTo == "" || strings.HasPrefix(p.MigrateTo, "-") || strings.ContainsAny(p.MigrateTo, " \t\n") {
			v.add(guest, "migrate_to", "%q is not a host name", p.MigrateTo)
		}
	}
	if p.Action == StopMigrate && p.MigrateTo == "" && (guest != "" || raw.StopAction != nil) {
		v.add(guest, "stop_action", "migrate needs migrate_to = \"host\"")
	}
	if raw.ACPIFallback != nil {
		p.ACPIFallback = *raw.ACPIFallback
	}
	p.SaveTimeout = v.duration(guest, "save_timeout", raw.SaveTimeout, p.SaveTimeout)
	if raw.RestoreFallback != nil {
		p.RestoreFallback = *raw.RestoreFallback
		if p.RestoreFallback != RestoreCreate && p.RestoreFallback != RestoreFail {
			v.add(guest, "restore_fallback", "%q is not one of %q, %q", p.RestoreFallback, RestoreCreate, RestoreFail)
		}
	}
	return p
}

// probe validates the i-th [[guest.NAME.ready]] table.
func (v *validator) probe(d Defaults, name string, i int, rp rawProbe) (Probe, bool) {
	line := v.loc.element(i, v.table(name), name, "ready")
	key := fmt.Sprintf("ready[%d]", i)
	p := Probe{
		Line:           line,
		Interval:       v.durationAt(line, name, key+".interval", rp.Interval, d.ProbeInterval),
		AttemptTimeout: v.durationAt(line, name, key+".attempt_timeout", rp.AttemptTimeout, DefaultAttemptTimeout),
	}
	var kinds []string
	var err error
	if rp.TCP != nil {
		kinds = append(kinds, "tcp")
		p.Probe, err = probe.TCP(*rp.TCP)
	}
	if rp.Exec != nil {
		kinds = append(kinds, "exec")
		p.Probe, err = probe.Exec(rp.Exec)
	}
	if rp.Xenstore != nil {
		kinds = append(kinds, "xenstore")
		p.Probe, err = probe.Xenstore(d.XenstoreRead, *rp.Xenstore, rp.Equals)
	}
	if rp.HTTP != nil {
		kinds = append(kinds, "http")
		status := 0
		if rp.Status != nil {
			status = *rp.Status
		}
		p.Probe, err = probe.HTTP(*rp.HTTP, status)
	}
	if rp.Console != nil {
		kinds = append(kinds, "console")
		p.Probe, err = probe.Console(d.ConsoleLogDir, *rp.Console)
	}
	if rp.Delay != nil {
		kinds = append(kinds, "delay")
		dd := v.durationAt(line, name, key+".delay", rp.Delay, 0)
		if dd > 0 {
			p.Probe, err = probe.Delay(dd)
		}
	}
	switch {
	case len(kinds) == 0:
		v.addAt(line, name, key, "a probe needs one of tcp, exec, xenstore, http, console, delay")
		return p, false
	case len(kinds) > 1:
		v.addAt(line, name, key, "one probe per [[ready]] table, found %s: split them into several tables", strings.Join(kinds, " and "))
		return p, false
	case err != nil:
		v.addAt(line, name, key, "%v", err)
		return p, false
	case rp.Equals != nil && rp.Xenstore == nil:
		v.addAt(line, name, key, "equals goes with xenstore")
	case rp.Status != nil && rp.HTTP == nil:
		v.addAt(line, name, key, "status goes with http")
	case v.external[name] && (kinds[0] == "xenstore" || kinds[0] == "console"):
		v.addAt(line, name, key, "an external node has no domain: use tcp, http, exec or delay, not %s", kinds[0])
	}
	return p, p.Probe != nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (v *validator) edges(cfg *Config, g *Guest, key string, deps []string, kind graph.Kind, names []string) {
	seen := map[string]bool{}
	for _, dep := range deps {
		switch {
		case dep == g.Name:
			v.add(g.Name, key, "a guest cannot depend on itself")
		case seen[dep]:
			v.add(g.Name, key, "%q is listed twice", dep)
		case cfg.Guests[dep] == nil:
			msg := fmt.Sprintf("unknown guest %q", dep)
			s := ""
			if v.suggested < maxSuggestions { // each compares against every name
				v.suggested++
				s = Suggest(dep, names)
			}
			if s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += " (declare it as [" + TableName("guest", dep) + "] or [" + TableName("external", dep) + "])"
			}
			v.add(g.Name, key, "%s", msg)
		default:
			cfg.Graph.AddEdge(g.Name, dep, kind, key)
		}
		seen[dep] = true
	}
}

// knownKeys lists the keys of each table, for "did you mean": the toml
// tags of the structs the file decodes into, so a new key cannot be
// forgotten here.
var knownKeys = map[string][]string{
	"":         tomlKeys(reflect.TypeFor[rawFile]()),
	"defaults": tomlKeys(reflect.TypeFor[rawDefaults]()),
	"guest":    tomlKeys(reflect.TypeFor[rawGuest]()),
	"ready":    tomlKeys(reflect.TypeFor[rawProbe]()),
}

// Keys lists the keys a table of the file takes: "" (the top level),
// "defaults", "guest" (and "external") or "ready".
func Keys(table string) []string { return slices.Clone(knownKeys[table]) }

// tomlKeys returns the toml tags of a struct's fields, in field order,
// those of an embedded struct at its place.
func tomlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			keys = append(keys, tomlKeys(f.Type)...)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

func hasUndecodedParent(k toml.Key, undecoded map[string]bool) bool {
	for i := 1; i < len(k); i++ {
		if undecoded[k[:i].String()] {
			return true
		}
	}
	return false
}

// dottedName reports (as a problem) a table header such as
// [guest.mail.example.org], which TOML reads as guest "mail" holding a
// table "example": guests named like hosts are common, and their names need
// quotes ([guest."mail.example.org"]). k is an undecoded key; false when it
// is not such a table. own is ownTables' answer.
func (v *validator) dottedName(k toml.Key, md toml.MetaData, own map[string]bool) bool {
	if len(k) < 3 || (k[0] != "guest" && k[0] != "external") || slices.Contains(knownKeys["guest"], k[2]) {
		return false
	}
	var name, header, fixed string
	switch md.Type(k...) {
	case "Hash":
		name = strings.Join(k[1:], ".")
		header, fixed = "["+k.String()+"]", "["+TableName(k[0], name)+"]"
	case "ArrayHash":
		if len(k) < 4 || k[len(k)-1] != "ready" {
			return false
		}
		name = strings.Join(k[1:len(k)-1], ".")
		header, fixed = "[["+k.String()+"]]", "[["+TableName(k[0], name)+".ready]]"
	default:
		return false
	}
	msg := fmt.Sprintf("%s is read as %s %q holding a table %q: TOML splits a table's name at its dots. Quote a name with dots: %s",
		header, k[0], k[1], k[2], fixed)
	if own[k[0]+"\x00"+k[1]] {
		// The guest is real: the table may be a mistake of another kind.
		msg = fmt.Sprintf("%s is read as %s %q holding a table %q, which is not a key of a %s (known: %s). If %q is one name, quote it: %s",
			header, k[0], k[1], k[2], k[0], strings.Join(knownKeys["guest"], ", "), name, fixed)
	}
	v.problems = append(v.problems, Problem{File: v.file, Line: v.loc.line(k...), Msg: msg})
	return true
}

// ownTables lists the guests and external nodes ("guest\x00NAME") that have
// a header or a key of their own in the file.
func ownTables(md toml.MetaData) map[string]bool {
	own := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) >= 2 && (k[0] == "guest" || k[0] == "external") && (len(k) == 2 || slices.Contains(knownKeys["guest"], k[2])) {
			own[k[0]+"\x00"+k[1]] = true
		}
	}
	return own
}

// TableName is how the table of a guest (kind "guest") or an external node
// (kind "external") is written: guest.web, or guest."mail.example.org" when
// the name is not a bare TOML key.
func TableName(kind, name string) string {
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return kind + "." + strconv.Quote(name)
		}
	}
	if name == "" {
		return kind + `.""`
	}
	return kind + "." + name
}

func (v *validator) unknownKey(k toml.Key) {
	var guest, table, key string
	switch {
	case len(k) == 1:
		key = k[0]
	case k[0] == "defaults" && len(k) >= 2:
		table, key = "defaults", k[1]
	case (k[0] == "guest" || k[0] == "external") && len(k) >= 4 && k[2] == "ready":
		table, guest, key = "ready", k[1], "ready."+k[3]
	case (k[0] == "guest" || k[0] == "external") && len(k) >= 3:
		table, guest, key = "guest", k[1], k[2]
	default:
		key = k.String()
	}
	msg := "unknown key"
	if s := Suggest(strings.TrimPrefix(key, "ready."), knownKeys[table]); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(knownKeys[table]) > 0 {
		msg += " (known: " + strings.Join(knownKeys[table], ", ") + ")"
	}
	v.problems = append(v.problems, Problem{
		File: v.file, Line: v.loc.line(k...), Guest: guest, Key: key, Msg: msg,
		InDefaults: table == "defaults", External: k[0] == "external",
	})
}

// ValidGuestName says why a guest cannot be named name in the config (nil
// when it can): see validName. `xenorder import` skips such guests.
func ValidGuestName(name string) error { return validName(name, false) }

// validName accepts the names xl reads as the name they are. xenorder gives
// xl a guest's name (xl shutdown NAME), and Xen 4.17's xl reads a domain
// argument through libxl_domain_qualifier_to_domid: a string of digits is a
// domid, whatever domain has that name; and xl's getopt takes an argument
// starting with '-' as options. Also refused: Domain-0 (dom0), "(null)"
// (what xl list shows for a domain without a name), whitespace, control
// and invisible characters (they garble xl list's columns and the
// terminal), and '/' (xenorder names files after guests).
func validName(name string, external bool) error {
	fix := "rename the guest, here and in its xl config's name = line"
	if external {
		fix = "rename the node"
	}
	if name == "" {
		return errors.New("empty guest name")
	}
	if strings.Trim(name, "0123456789") == "" {
		return fmt.Errorf("guest name %q is all digits: xl reads it as a domain id (xl shutdown %s would stop domain id %s, whatever its name); %s (for example \"guest%s\")",
			name, name, name, fix, name)
	}
	if strings.HasPrefix(name, "-") {
		return fmt.Errorf("guest name %q starts with '-': xl reads it as options; %s", name, fix)
	}
	if name == "Domain-0" {
		return errors.New("Domain-0 is dom0 itself and cannot be managed as a guest")
	}
	if name == "(null)" {
		return fmt.Errorf("guest name %q is what xl list shows for a domain without a name; %s", name, fix)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("guest name %q is not UTF-8; %s", name, fix)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("guest name %q contains %U, a space, control or invisible character: xl list's columns and the terminal would show it wrong; %s, with letters, digits, '-', '_' or '.'",
				name, r, fix)
		}
	}
	if strings.Contains(name, "/") {
		return fmt.Errorf("guest name %q may not contain a slash: xenorder names files after guests; %s", name, fix)
	}
	return nil
}

func absFrom(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// CheckFiles reports guests whose xl config file is missing or unreadable.
func (c *Config) CheckFiles() []Problem {
	var ps []Problem
	for _, name := range c.Names() {
		g := c.Guests[name]
		f, err := os.Open(g.XLConfig)
		if err == nil {
			var st os.FileInfo
			st, err = f.Stat()
			f.Close()
			if err == nil && st.IsDir() {
				err = errors.New("is a directory")
			}
		}
		if err != nil {
			ps = append(ps, Problem{File: c.File, Line: g.Line, Guest: name, Key: "config",
				Msg: fmt.Sprintf("xl config %s: %v", g.XLConfig, unwrapPath(err))})
		}
	}
	return ps
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
