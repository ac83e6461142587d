// Package xdimport writes a xenorder.toml for a host that xendomains runs
// today: one guest per xl config in its auto folder, the order their file
// names encode, the dependencies their backend= devices imply, and what
// /etc/default/xendomains says about stopping them. Whatever xenorder has
// no equivalent for is a warning naming it; nothing is dropped silently.
//
// xendomains (upstream's tools/hotplug/Linux/xendomains.in and Debian's
// own script) starts `$XENDOMAINS_AUTO/*` one at a time in name order (xl
// create on every file there), restores the images of XENDOMAINS_SAVE
// first, and at shutdown tries, per domain, XENDOMAINS_MIGRATE (`xl
// migrate ID $XENDOMAINS_MIGRATE`, unquoted), then XENDOMAINS_SAVE (`xl
// save ID $XENDOMAINS_SAVE/NAME`), then a shutdown, waiting
// XENDOMAINS_STOP_MAXWAIT seconds.
package xdimport

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/xlcfg"
)

// Defaults of the paths xendomains uses on Debian.
const (
	DefaultAutoDir  = "/etc/xen/auto"
	DefaultDefaults = "/etc/default/xendomains"
	// DefaultSaveDir is XENDOMAINS_SAVE as Debian ships it; import looks
	// there for images even when XENDOMAINS_SAVE is now empty.
	DefaultSaveDir = "/var/lib/xen/save"
)

// xlSaveMagic starts every image xl save writes ("Xen saved domain, xl
// format\n..."); xendomains restores the files of its folder that start so.
const xlSaveMagic = "Xen saved domain"

// minTierSeconds: a stop tier's share of XENDOMAINS_STOP_MAXWAIT below it
// is said to be short.
const minTierSeconds = 30

// maxXLConfigSize bounds an xl config import reads (a stray file in the
// auto folder may be anything).
const maxXLConfigSize = 1 << 20

// Options say what to import.
type Options struct {
	// Root is where the host's files are ("" or "/": this machine's).
	// Every other path is the host's, read under Root.
	Root string
	// AutoDir is xendomains' auto folder: "" = XENDOMAINS_AUTO, else
	// DefaultAutoDir.
	AutoDir  string
	Settings Settings
}

// Result is an import's output.
type Result struct {
	Config   string   // the xenorder.toml
	Warnings []string // what was not carried over, in the order import found it
}

// UsageError is an import that cannot be done as asked (nothing to read).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

type guest struct {
	name   string
	config string // host path of its xl config
	entry  string // its file in the auto folder; "" for a backend outside it
	group  int    // index of its group of numbered entries; -1 outside the auto folder
	deps   []dep  // backend= domains, by name
	after  []string
	// afterWhy are the auto entries the after edges stand for.
	afterWhy []string
	pci      []string // its xl config's pci devices, as written
	pciLine  int
	stop     string // its own stop_action ("" = [defaults]')
	stopWhy  string
}

type dep struct{ to, why string }

type importer struct {
	o        Options
	root     fsRoot
	autoDir  string // host path, as named
	warnings []string
	guests   map[string]*guest
	order    []*guest // the auto folder's, then the backends outside it, sorted
	numbered bool     // some auto entries carry a number
	// undeclared is what to do with the domains the config does not
	// name, and why.
	undeclared, undeclaredWhy string
}

func (im *importer) warn(format string, args ...any) {
	im.warnings = append(im.warnings, fmt.Sprintf(format, args...))
}

// Import reads xendomains' setup and returns the config and the warnings.
func Import(o Options) (*Result, error) {
	im := &importer{o: o, guests: map[string]*guest{}}
	if o.Root != "" && o.Root != "/" {
		abs, err := filepath.Abs(o.Root)
		if err != nil {
			return nil, err
		}
		im.root = fsRoot{dir: abs}
	}
	set := o.Settings
	im.autoDir = o.AutoDir
	if im.autoDir == "" {
		if v, ok := set.Lookup("XENDOMAINS_AUTO"); ok {
			if strings.TrimSpace(v.Value) == "" {
				return nil, &UsageError{Msg: fmt.Sprintf("import: %s: XENDOMAINS_AUTO is empty: xendomains starts no guest at boot; name the folder of xl configs to import with --auto-dir", set.where(v))}
			}
			im.autoDir = v.Value
		} else {
			im.autoDir = DefaultAutoDir
		}
	}
	if !filepath.IsAbs(im.autoDir) {
		if im.root.dir != "" {
			return nil, &UsageError{Msg: fmt.Sprintf("import: the auto folder %q is not an absolute path (with --root, paths are the host's)", im.autoDir)}
		}
		abs, err := filepath.Abs(im.autoDir)
		if err != nil {
			return nil, err
		}
		im.autoDir = abs
	}
	im.autoDir = filepath.Clean(im.autoDir)
	if err := im.readAuto(); err != nil {
		return nil, err
	}
	im.readBackends()
	im.orderByNames()
	st := im.stopSettings()
	im.pciGuests(st.action)
	images := im.savedImages()
	var b strings.Builder
	im.write(&b, st, images)
	ws := slices.Clone(im.warnings)
	return &Result{Config: b.String(), Warnings: ws}, nil
}

// Write writes the config for the guests in autoDir and the settings to w,
// and the warnings, one "warning: " line each, to warnings.
func Write(w, warnings io.Writer, o Options) error {
	r, err := Import(o)
	if err != nil {
		return err
	}
	for _, x := range r.Warnings {
		if _, err := fmt.Fprintf(warnings, "warning: %s\n", config.Printable(x)); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, r.Config)
	return err
}

// ---- the auto folder ----

// backupSuffixes mark the files editors, dpkg and ucf leave beside a
// config: not guests, even though xendomains runs xl create on them too.
var backupSuffixes = []string{"~", ".bak", ".old", ".orig", ".rej", ".swp", ".swo", ".tmp",
	".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-bak", ".dpkg-tmp", ".ucf-old", ".ucf-new", ".ucf-dist",
	".rpmsave", ".rpmnew"}

func isBackup(name string) bool {
	if strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#") {
		return true // emacs' autosave
	}
	for _, s := range backupSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

func (im *importer) readAuto() error {
	resolved, err := im.root.resolve(im.autoDir)
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("import: the auto folder: %v (name it with --auto-dir, or XENDOMAINS_AUTO in %s)", err, orDefault(im.o.Settings.File, DefaultDefaults))}
	}
	entries, err := os.ReadDir(im.root.real(resolved))
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("import: the auto folder %s: %v", im.autoDir, unwrapPath(err))}
	}
	// xendomains takes $XENDOMAINS_AUTO/*: every name but the hidden ones,
	// in the shell's order (os.ReadDir's: by bytes, as in the C locale).
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		im.readEntry(e.Name())
	}
	if len(im.order) == 0 {
		return &UsageError{Msg: fmt.Sprintf("import: no xl config to import in %s", im.autoDir)}
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// readEntry reads one file of the auto folder, or says why it skips it.
func (im *importer) readEntry(name string) {
	link := filepath.Join(im.autoDir, name)
	if isBackup(name) {
		im.warn("%s: skipped: an editor's, dpkg's or ucf's leftover, not a guest's config (xendomains ran xl create on it too; rename it if it is a guest)", link)
		return
	}
	target, err := im.root.resolve(link)
	if err != nil {
		im.warn("%s: skipped: %v", link, err)
		return
	}
	c, size, err := im.readXL(target)
	switch {
	case errors.Is(err, errNotFile):
		im.warn("%s: skipped: not a file", link)
		return
	case err != nil && size > maxXLConfigSize:
		im.warn("%s: skipped: larger than %d bytes, not an xl config", link, maxXLConfigSize)
		return
	case err != nil:
		im.warn("%s: skipped: not an xl config (%v)", link, err)
		return
	}
	gname, ok := c.String("name")
	if !ok || gname == "" {
		im.warn("%s: skipped: its xl config %s has no name = line (xl create refuses it)", link, target)
		return
	}
	if err := config.ValidGuestName(gname); err != nil {
		im.warn("%s: skipped: %v", link, err)
		return
	}
	if other := im.guests[gname]; other != nil {
		im.warn("%s: skipped: it creates %q, as %s does, which comes first in name order (xendomains found %s running and skipped it)",
			link, gname, filepath.Join(im.autoDir, other.entry), gname)
		return
	}
	if _, ok := tomlString(target); !ok {
		im.warn("%s: skipped: its path %q is not UTF-8, which a TOML file cannot hold", link, target)
		return
	}
	g := &guest{name: gname, config: target, entry: name, group: -1}
	im.readDevices(g, c)
	im.guests[gname] = g
	im.order = append(im.order, g)
}

var errNotFile = errors.New("not a file")

// readXL reads and parses an xl config (a host path).
func (im *importer) readXL(host string) (*xlcfg.Config, int64, error) {
	real := im.root.real(host)
	fi, err := os.Stat(real)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", host, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fi.Size(), errNotFile
	}
	if fi.Size() > maxXLConfigSize {
		return nil, fi.Size(), errors.New("too large")
	}
	src, err := os.ReadFile(real)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", host, unwrapPath(err))
	}
	c, err := xlcfg.Parse(host, src)
	return c, fi.Size(), err
}

// readDevices notes a guest's backend= domains and pci devices.
func (im *importer) readDevices(g *guest, c *xlcfg.Config) {
	bs, err := c.Backends()
	if err != nil {
		im.warn("guest %s: its backend= devices cannot be read, so no dependency is inferred from them (xenorder check will say the same): %v", g.name, err)
	}
	for _, b := range bs {
		if xlcfg.IsDom0(b.Domain) || slices.ContainsFunc(g.deps, func(d dep) bool { return d.to == b.Domain }) {
			continue
		}
		g.deps = append(g.deps, dep{to: b.Domain, why: fmt.Sprintf("%s backend=%s", b.Kind, b.Domain)})
	}
	sort.Slice(g.deps, func(i, j int) bool { return g.deps[i].to < g.deps[j].to })
	if v, ok := c.Keys["pci"]; ok && len(c.List("pci")) > 0 {
		g.pci, g.pciLine = c.List("pci"), v.Line
	}
}

// readBackends declares the backend domains that are not in the auto
// folder (their xl configs are looked for beside their frontends'), and
// drops the dependencies the config cannot take.
func (im *importer) readBackends() {
	var extra []*guest
	for i := 0; i < len(im.order); i++ {
		g := im.order[i]
		kept := g.deps[:0]
		for _, d := range g.deps {
			switch {
			case d.to == g.name:
				im.warn("guest %s: its xl config %s says %s: a domain cannot serve its own devices (xenorder check refuses it): fix the xl config", g.name, g.config, d.why)
				continue
			case isDigits(d.to):
				im.warn("guest %s: its xl config %s says %s, a domain id, which changes at every boot (xenorder check refuses it): name the backend domain instead", g.name, g.config, d.why)
				continue
			}
			if err := config.ValidGuestName(d.to); err != nil {
				im.warn("guest %s: %s: the backend cannot be declared: %v", g.name, d.why, err)
				continue
			}
			kept = append(kept, d)
			if im.guests[d.to] != nil {
				continue
			}
			b := &guest{name: d.to, config: filepath.Join(filepath.Dir(g.config), d.to+".cfg"), group: -1}
			im.guests[d.to] = b
			extra = append(extra, b)
			im.order = append(im.order, b) // its own backends are read in turn
			c, _, err := im.readXL(b.config)
			if err != nil {
				im.warn("guest %s: serves devices of %s (%s) but is not in %s, and %v: set its config = by hand", b.name, g.name, d.why, im.autoDir, err)
				continue
			}
			if n, _ := c.String("name"); n != b.name {
				im.warn("guest %s: serves devices of %s but is not in %s, and %s, where it was looked for, says name = %q: set its config = by hand", b.name, g.name, im.autoDir, b.config, n)
				continue
			}
			im.readDevices(b, c)
		}
		g.deps = kept
	}
	// The auto folder's guests in its order, then the others by name.
	im.order = im.order[:len(im.order)-len(extra)]
	sort.Slice(extra, func(i, j int) bool { return extra[i].name < extra[j].name })
	im.order = append(im.order, extra...)
}

func isDigits(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// ---- the order of the file names ----

// numberPrefix returns the number an auto entry's name starts with, without
// leading zeros ("" when there is none).
func numberPrefix(name string) (string, bool) {
	i := 0
	for i < len(name) && name[i] >= '0' && name[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", false
	}
	n := strings.TrimLeft(name[:i], "0")
	if n == "" {
		n = "0"
	}
	return n, true
}

// orderByNames turns the auto folder's name order into after edges: the
// entries form groups, runs of neighbours in name order with the same
// number (those without a number form runs of their own), and each guest
// comes after the group before its own, unless a backend= dependency says
// the opposite (the backend wins) or already implies it. With no number in
// any name, the order is alphabetical by accident: no group, no edge.
func (im *importer) orderByNames() {
	var auto []*guest
	for _, g := range im.order {
		if g.entry != "" {
			auto = append(auto, g)
		}
	}
	for _, g := range auto {
		if _, ok := numberPrefix(g.entry); ok {
			im.numbered = true
		}
	}
	if !im.numbered {
		return
	}
	var groups [][]*guest
	prev := "\x00" // no key
	for _, g := range auto {
		key, ok := numberPrefix(g.entry)
		if !ok {
			key = "-"
		}
		if key != prev || len(groups) == 0 {
			groups = append(groups, nil)
			prev = key
		}
		g.group = len(groups) - 1
		groups[g.group] = append(groups[g.group], g)
	}
	for i := 1; i < len(groups); i++ {
		for _, g := range groups[i] {
			// Everything of the earlier groups should come first: the
			// group before directly, the others through it, or directly
			// where the group before cannot (a backend said otherwise).
			for j := i - 1; j >= 0; j-- {
				for _, h := range groups[j] {
					if im.reaches(g.name, h.name) {
						continue // already implied
					}
					if path := im.path(h.name, g.name); path != nil {
						if j == i-1 {
							im.warn("%s comes before %s in %s, so xendomains started %s first; but %s: the backend wins, %s is not ordered after %s",
								h.entry, g.entry, im.autoDir, h.name, im.describe(path), g.name, h.name)
						}
						continue
					}
					g.after = append(g.after, h.name)
					g.afterWhy = append(g.afterWhy, h.entry)
				}
			}
		}
	}
}

// edges returns a guest's dependencies, hard and after.
func (im *importer) edges(name string) []string {
	g := im.guests[name]
	if g == nil {
		return nil
	}
	out := make([]string, 0, len(g.deps)+len(g.after))
	for _, d := range g.deps {
		out = append(out, d.to)
	}
	return append(out, g.after...)
}

// reaches reports whether from depends on to, through any edges.
func (im *importer) reaches(from, to string) bool { return im.path(from, to) != nil }

// path returns a chain of dependencies from → ... → to, or nil.
func (im *importer) path(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n == to {
			var p []string
			for ; n != ""; n = prev[n] {
				p = append(p, n)
			}
			slices.Reverse(p)
			return p
		}
		for _, m := range im.edges(n) {
			if _, seen := prev[m]; !seen {
				prev[m] = n
				queue = append(queue, m)
			}
		}
	}
	return nil
}

// describe words a chain of dependencies: "db needs storage (vif
// backend=storage)".
func (im *importer) describe(path []string) string {
	var parts []string
	for i := 0; i+1 < len(path); i++ {
		a, b := im.guests[path[i]], path[i+1]
		why := "comes after " + b
		for _, d := range a.deps {
			if d.to == b {
				why = fmt.Sprintf("needs %s (%s)", b, d.why)
			}
		}
		parts = append(parts, why)
	}
	return path[0] + " " + strings.Join(parts, ", which ")
}

// ---- stopping: /etc/default/xendomains ----

type stopSettings struct {
	action    string // config.StopShutdown, StopSave or StopMigrate
	migrateTo string
	comments  []string // above stop_action
	// The settings' other lines, as comments.
	also []string
}

// stopSettings reads what xendomains did at shutdown.
func (im *importer) stopSettings() stopSettings {
	set := im.o.Settings
	st := stopSettings{action: config.StopShutdown}
	// A problem line of the settings file is a warning of its own.
	for _, p := range set.Problems {
		im.warn("%s", p)
	}
	val := func(name string) (Var, bool) { return set.Lookup(name) }

	save, hasSave := val("XENDOMAINS_SAVE")
	saving := hasSave && strings.TrimSpace(save.Value) != ""
	restore, hasRestore := val("XENDOMAINS_RESTORE")
	migrate, hasMigrate := val("XENDOMAINS_MIGRATE")
	if hasMigrate && strings.TrimSpace(migrate.Value) != "" {
		m := parseMigrate(migrate.Value)
		_, hostOK := tomlString(m.host)
		switch {
		case m.host == "" || strings.HasPrefix(m.host, "-"):
			im.warn("%s: XENDOMAINS_MIGRATE=%q names no host: every migration of xendomains failed (falling back to a save or a shutdown); import does not migrate", set.where(migrate), migrate.Value)
		case !hostOK:
			im.warn("%s: XENDOMAINS_MIGRATE=%q: the host is not UTF-8, which a TOML file cannot hold; import does not migrate", set.where(migrate), migrate.Value)
		default:
			st.action, st.migrateTo = config.StopMigrate, m.host
			c := fmt.Sprintf("XENDOMAINS_MIGRATE=%q: at host shutdown each guest is migrated to %s (xl migrate NAME %s); a failed migration falls back to a shutdown.", migrate.Value, m.host, m.host)
			if m.live {
				c += " --live: xl migrates live anyway (it ignores the option), and so does xenorder."
			}
			st.comments = append(st.comments, c)
			if len(m.unsupported) > 0 {
				w := fmt.Sprintf("%s: XENDOMAINS_MIGRATE=%q: xenorder runs xl migrate NAME %s with no options, so %s %s not carried over",
					set.where(migrate), migrate.Value, m.host, strings.Join(m.unsupported, ", "), plural(len(m.unsupported), "is", "are"))
				if m.ssh != "" {
					w += fmt.Sprintf("; xl reaches %s with `ssh %s`: put what -s %q changes (port, user, key) in root's ~/.ssh/config under Host %s", m.host, m.host, m.ssh, m.host)
				}
				im.warn("%s", w)
			}
			if strings.ContainsAny(migrate.Value, `'"`) {
				im.warn("%s: XENDOMAINS_MIGRATE=%q: xendomains passes it to xl unquoted, split at blanks: its quotes reach xl as they are; import reads its words as xl did",
					set.where(migrate), migrate.Value)
			}
			if len(m.extra) > 0 {
				im.warn("%s: XENDOMAINS_MIGRATE=%q: xl takes one host; the words %s after %s made every migration of xendomains fail (xl migrate refuses them): import migrates to %s",
					set.where(migrate), migrate.Value, strings.Join(m.extra, " "), m.host, m.host)
			}
			if saving {
				im.warn("%s: XENDOMAINS_SAVE=%q: xendomains saved a guest whose migration failed; xenorder shuts it down instead (stop_action has one fallback)", set.where(save), save.Value)
			}
		}
	} else if hasMigrate && migrate.Value == "" {
		st.also = append(st.also, `XENDOMAINS_MIGRATE="": no migration.`)
	} else if hasMigrate {
		// Blank: xendomains ran xl migrate ID with no host, which failed.
		st.also = append(st.also, fmt.Sprintf("XENDOMAINS_MIGRATE=%q: blank, read as unset: no migration.", migrate.Value))
	}
	if st.action != config.StopMigrate && saving {
		if hasRestore && restore.Value == "true" {
			st.action = config.StopSave
			st.comments = append(st.comments, fmt.Sprintf("XENDOMAINS_SAVE=%s with XENDOMAINS_RESTORE=true: at host shutdown each guest is saved, and the next start restores it. xenorder keeps its images in state_dir/save (%s/save), not in XENDOMAINS_SAVE. A failed save falls back to a shutdown.",
				save.Value, config.DefaultStateDir))
		} else {
			r := "unset"
			if hasRestore {
				r = fmt.Sprintf("%q", restore.Value)
			}
			im.warn("%s: XENDOMAINS_SAVE=%q with XENDOMAINS_RESTORE %s: xendomains saved the guests at shutdown but booted them fresh, never restoring the images; xenorder restores every image it saves, so import writes stop_action = \"shutdown\" (fresh boots, as before); write \"save\" to have them saved and restored",
				set.where(save), save.Value, r)
		}
	}
	if hasRestore && !saving {
		st.also = append(st.also, fmt.Sprintf("XENDOMAINS_RESTORE=%s: no XENDOMAINS_SAVE, nothing to restore.", restore.Value))
	}
	if st.action == config.StopShutdown {
		st.comments = append(st.comments, "Neither migrated nor saved: at host shutdown each guest is shut down (xl shutdown, then xl destroy after stop_timeout).")
	}
	if a := val2(set, "XENDOMAINS_AUTO"); a != "" && filepath.Clean(a) == im.autoDir {
		st.also = append(st.also, fmt.Sprintf("XENDOMAINS_AUTO=%s: the guests below.", a))
	} else if a != "" {
		st.also = append(st.also, fmt.Sprintf("XENDOMAINS_AUTO=%s: import read %s instead, as asked.", a, im.autoDir))
	}
	im.shutdownSettings(&st)
	im.otherSettings(&st)
	return st
}

func val2(s Settings, name string) string {
	v, ok := s.Lookup(name)
	if !ok {
		return ""
	}
	return v.Value
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// migrateSpec is XENDOMAINS_MIGRATE read as xl migrate reads its words
// (xendomains passes them unquoted: split at blanks, quotes kept).
type migrateSpec struct {
	host        string
	live        bool
	ssh         string   // -s's command
	unsupported []string // options xenorder cannot pass
	extra       []string // words after the host
}

func parseMigrate(v string) migrateSpec {
	var m migrateSpec
	words := strings.Fields(v)
	var positional []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--":
			positional = append(positional, words[i+1:]...)
			i = len(words)
		case w == "--live":
			m.live = true
		case strings.HasPrefix(w, "--"):
			m.unsupported = append(m.unsupported, w)
		case strings.HasPrefix(w, "-") && len(w) > 1:
			// A cluster of short options (-ep); -s and -C take the rest
			// of the word, or the next word, as their argument.
			opt := w
			if j := strings.IndexAny(w, "sC"); j > 0 {
				arg := w[j+1:]
				if arg == "" && i+1 < len(words) {
					i++
					arg = words[i]
					opt += " " + arg
				}
				if w[j] == 's' {
					m.ssh = arg
				}
			}
			m.unsupported = append(m.unsupported, opt)
		default:
			positional = append(positional, w)
		}
	}
	if len(positional) > 0 {
		m.host, m.extra = positional[0], positional[1:]
	}
	return m
}

// shutdownSettings reads XENDOMAINS_SHUTDOWN, XENDOMAINS_SHUTDOWN_ALL and
// XENDOMAINS_AUTO_ONLY: how xendomains stopped the guests and the domains
// it did not start.
func (im *importer) shutdownSettings(st *stopSettings) {
	set := im.o.Settings
	if v, ok := set.Lookup("XENDOMAINS_SHUTDOWN"); ok {
		var odd []string
		for _, w := range strings.Fields(v.Value) {
			switch w {
			case "--wait", "-w", "-F":
			default:
				odd = append(odd, w)
			}
		}
		switch {
		case strings.TrimSpace(v.Value) == "":
			im.warn("%s: XENDOMAINS_SHUTDOWN=%q: xendomains asked the guests it neither migrated nor saved to shut down only through XENDOMAINS_SHUTDOWN_ALL, or let them die with the host; xenorder always shuts them down (xl shutdown, xl destroy after stop_timeout)", set.where(v), v.Value)
		case len(odd) > 0:
			im.warn("%s: XENDOMAINS_SHUTDOWN=%q: xenorder runs xl shutdown NAME (xl shutdown -F after it when the guest has no PV drivers, acpi_fallback) and waits stop_timeout: %s not carried over", set.where(v), v.Value, strings.Join(odd, " "))
		default:
			st.also = append(st.also, fmt.Sprintf("XENDOMAINS_SHUTDOWN=%q: xenorder shuts a guest down and waits for it too (stop_timeout; acpi_fallback for -F).", v.Value))
		}
	}
	all, hasAll := set.Lookup("XENDOMAINS_SHUTDOWN_ALL")
	shutdownAll := hasAll && strings.TrimSpace(all.Value) != ""
	if shutdownAll {
		var odd []string
		for _, w := range strings.Fields(all.Value) {
			switch w {
			case "--all", "-a", "--wait", "-w", "-F":
			default:
				odd = append(odd, w)
			}
		}
		if len(odd) > 0 {
			im.warn("%s: XENDOMAINS_SHUTDOWN_ALL=%q: %s not carried over (xenorder shuts every remaining domain down as for XENDOMAINS_SHUTDOWN)", set.where(all), all.Value, strings.Join(odd, " "))
		}
	}
	only, hasOnly := set.Lookup("XENDOMAINS_AUTO_ONLY")
	autoOnly := hasOnly && only.Value == "true"
	onlyText := "XENDOMAINS_AUTO_ONLY unset"
	if hasOnly {
		onlyText = fmt.Sprintf("XENDOMAINS_AUTO_ONLY=%s", only.Value)
	}
	allText := "XENDOMAINS_SHUTDOWN_ALL unset"
	if hasAll {
		allText = fmt.Sprintf("XENDOMAINS_SHUTDOWN_ALL=%q", all.Value)
	}
	switch {
	case autoOnly && !shutdownAll:
		im.undeclared = config.UndeclaredLeave
		im.undeclaredWhy = fmt.Sprintf("%s, %s: domains not started from %s were left running (and died with the host); so here. \"stop-first\" shuts them down before the guests below.", onlyText, allText, im.autoDir)
	case autoOnly:
		im.undeclared = config.UndeclaredStopFirst
		im.undeclaredWhy = fmt.Sprintf("%s, %s: domains not started from %s were shut down, never migrated or saved; so here, but first, before the guests below (unless they serve one).", onlyText, allText, im.autoDir)
	default:
		im.undeclared = config.UndeclaredStopFirst
		texts := onlyText
		if hasAll {
			texts += ", " + allText
		}
		im.undeclaredWhy = fmt.Sprintf("%s: xendomains stopped every domain alike, those not started from %s too. xenorder shuts those down first, before the guests below (unless they serve one).", texts, im.autoDir)
		if st.action != config.StopShutdown {
			where := orDefault(set.File, DefaultDefaults)
			if hasOnly {
				where = set.where(only)
			}
			im.warn("%s: %s: xendomains also %s the domains not started from %s; xenorder never saves or migrates a domain its config does not name (nothing could restore it): it shuts them down; declare each with autostart = false to have it %s",
				where, onlyText, pastTense(st.action), im.autoDir, pastTense(st.action))
		}
	}
}

func pastTense(action string) string {
	if action == config.StopMigrate {
		return "migrated"
	}
	return "saved"
}

// otherSettings reads the settings xenorder has no key for.
func (im *importer) otherSettings(st *stopSettings) {
	set := im.o.Settings
	sysrq, hasSysrq := set.Lookup("XENDOMAINS_SYSRQ")
	usleep, hasUsleep := set.Lookup("XENDOMAINS_USLEEP")
	if hasSysrq && strings.TrimSpace(sysrq.Value) != "" {
		w := fmt.Sprintf("%s: XENDOMAINS_SYSRQ=%q: xendomains sent each guest these SysRq keys before stopping it; xenorder has no equivalent (a guest's own shutdown syncs and unmounts its disks)", set.where(sysrq), sysrq.Value)
		if hasUsleep {
			w += fmt.Sprintf(", nor for XENDOMAINS_USLEEP=%s (the pause after each key)", usleep.Value)
		}
		im.warn("%s", w)
	} else {
		if hasSysrq {
			st.also = append(st.also, fmt.Sprintf("XENDOMAINS_SYSRQ=%q: no SysRq keys were sent.", sysrq.Value))
		}
		if hasUsleep {
			st.also = append(st.also, fmt.Sprintf("XENDOMAINS_USLEEP=%s: paces XENDOMAINS_SYSRQ, which sends nothing.", usleep.Value))
		}
	}
	if v, ok := set.Lookup("XENDOMAINS_CREATE_USLEEP"); ok {
		us, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64)
		switch {
		case err != nil || us < 0:
			im.warn("%s: XENDOMAINS_CREATE_USLEEP=%q is not a number of microseconds; xenorder has no pause after a create anyway", set.where(v), v.Value)
		case us == 0:
			st.also = append(st.also, "XENDOMAINS_CREATE_USLEEP=0: no pause after a create, as in xenorder.")
		default:
			im.warn("%s: XENDOMAINS_CREATE_USLEEP=%s: xendomains paused %s after each create; xenorder has no such pause: it creates a guest once what it needs is ready, at most max_parallel (%d) at a time; lower max_parallel if boots thrash the disks, or hold a guest's dependents back with a [[guest.NAME.ready]] probe",
				set.where(v), v.Value, microseconds(us), config.DefaultMaxParallel)
		}
	}
	known := map[string]bool{}
	for _, k := range []string{"XENDOMAINS_AUTO", "XENDOMAINS_AUTO_ONLY", "XENDOMAINS_CREATE_USLEEP", "XENDOMAINS_MIGRATE",
		"XENDOMAINS_RESTORE", "XENDOMAINS_SAVE", "XENDOMAINS_SHUTDOWN", "XENDOMAINS_SHUTDOWN_ALL", "XENDOMAINS_STOP_MAXWAIT",
		"XENDOMAINS_SYSRQ", "XENDOMAINS_USLEEP"} {
		known[k] = true
	}
	for _, n := range set.Names() {
		if strings.HasPrefix(n, "XENDOMAINS_") && !known[n] {
			v := set.Vars[n]
			im.warn("%s: %s=%q: not a setting import knows (xendomains' are XENDOMAINS_AUTO, _AUTO_ONLY, _CREATE_USLEEP, _MIGRATE, _RESTORE, _SAVE, _SHUTDOWN, _SHUTDOWN_ALL, _STOP_MAXWAIT, _SYSRQ, _USLEEP): not carried over",
				set.where(v), n, v.Value)
		}
	}
}

func microseconds(us int64) string {
	if us%1000000 == 0 {
		return fmt.Sprintf("%ds", us/1000000)
	}
	return strconv.FormatFloat(float64(us)/1e6, 'f', -1, 64) + "s"
}

// ---- PCI passthrough ----

// pciGuests gives the guests with PCI passthrough stop_action = "shutdown"
// when [defaults] saves or migrates: xl cannot save or migrate them (Xen's
// log-dirty tracking, which a save and a migration need, does not work with
// passthrough; the device's state is in the hardware).
func (im *importer) pciGuests(action string) {
	if action != config.StopSave && action != config.StopMigrate {
		return
	}
	for _, g := range im.order {
		if len(g.pci) == 0 {
			continue
		}
		g.stop = config.StopShutdown
		g.stopWhy = fmt.Sprintf("pci = %s (%s:%d): xl cannot save or migrate a domain with PCI passthrough, so a stop shuts it down.",
			strings.Join(g.pci, ", "), g.config, g.pciLine)
	}
	if action != config.StopMigrate {
		return
	}
	// A guest migrated away takes its backend= devices to a host that
	// must run its backends too; xenorder migrates (or shuts down) a
	// backend of this host only once its frontends are gone.
	byBackend := map[string][]string{}
	for _, g := range im.order {
		if g.stop != "" {
			continue
		}
		for _, d := range g.deps {
			byBackend[d.to] = append(byBackend[d.to], g.name)
		}
	}
	for _, b := range sortedKeys(byBackend) {
		fs := byBackend[b]
		sort.Strings(fs)
		im.warn("XENDOMAINS_MIGRATE: %s %s devices served by %s (backend=): xl migrate recreates them on %s with the same backend=, so %s must already run a domain named %s; xenorder migrates or shuts down %s only once they are gone",
			strings.Join(fs, ", "), plural(len(fs), "has", "have"), b, im.migrateHost(), im.migrateHost(), b, b)
	}
}

func (im *importer) migrateHost() string {
	return parseMigrate(im.o.Settings.Get("XENDOMAINS_MIGRATE")).host
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- saved images ----

type savedImage struct {
	path  string // host path
	guest string
}

// savedImages finds the images xendomains saved and has not restored: the
// files of XENDOMAINS_SAVE (and of Debian's default folder) that xl save
// wrote, one per domain, named after it. Each is a warning saying how to
// restore it.
func (im *importer) savedImages() []savedImage {
	dirs := []string{}
	if v := strings.TrimSpace(im.o.Settings.Get("XENDOMAINS_SAVE")); v != "" && filepath.IsAbs(v) {
		dirs = append(dirs, filepath.Clean(v))
	}
	if !slices.Contains(dirs, DefaultSaveDir) {
		dirs = append(dirs, DefaultSaveDir)
	}
	var out []savedImage
	for _, d := range dirs {
		resolved, err := im.root.resolve(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		var entries []os.DirEntry
		if err == nil {
			entries, err = os.ReadDir(im.root.real(resolved))
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			im.warn("%s: cannot look for the images xendomains saved there (%v): look yourself (ls -l %s) before switching; restore each with xenorder restore GUEST IMAGE", d, unwrapPath(err), d)
			continue
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			if !im.isImage(filepath.Join(resolved, e.Name())) {
				continue
			}
			img := savedImage{path: p, guest: e.Name()}
			out = append(out, img)
			n := img.guest
			if im.guests[n] != nil {
				im.warn("%s: an image xendomains saved of %s and has not restored. A plain xenorder start boots %s fresh and leaves the image: if %s is not running, restore it with `xenorder restore %s %s` once this config is in place (or `xl restore %s` before switching); if %s runs, the image is older than its disks: never restore it, move it aside",
					p, n, n, n, n, p, p, n)
			} else {
				im.warn("%s: an image xendomains saved of %s, which is not in %s: restore it with `xl restore %s` (and declare [guest.%s] for xenorder to manage it), or, if %s runs or is gone for good, move it aside",
					p, n, im.autoDir, p, n, n)
			}
		}
	}
	return out
}

// isImage reports whether a file (a host path) is an xl save image.
func (im *importer) isImage(host string) bool {
	f, err := os.Open(im.root.real(host))
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	head := make([]byte, len(xlSaveMagic))
	_, err = io.ReadFull(f, head)
	return err == nil && string(head) == xlSaveMagic
}

// ---- the config ----

func (im *importer) write(b *strings.Builder, st stopSettings, images []savedImage) {
	set := im.o.Settings
	defaultsFile := orDefault(set.File, DefaultDefaults+" (absent)")
	b.WriteString("# xenorder.toml written by `xenorder import` from xendomains' setup:\n")
	fmt.Fprintf(b, "# the xl configs in %s and %s.\n", im.autoDir, defaultsFile)
	b.WriteString("# Check it before use: xenorder check; xenorder plan; xenorder plan stop.\n")
	if len(im.warnings) > 0 {
		b.WriteString("#\n# Not carried over (import printed these warnings too):\n")
		for _, w := range im.warnings {
			comment(b, "- "+w, "  ")
		}
	}
	b.WriteString("#\n")
	if im.numbered {
		comment(b, fmt.Sprintf("Order: xendomains started the guests of %s one at a time, in the order of their file names. "+
			"The numbers in those names are kept as `after`: a guest is created once the guests numbered before it are ready, "+
			"and at a stop it goes before them (after orders stops too). "+
			"What a guest cannot run without is in depends_on (its backend= devices) and stays. "+
			"Deleting an `after` line lets that guest start and stop alongside the others: a shorter boot and shutdown, "+
			"and fewer tiers to share XENDOMAINS_STOP_MAXWAIT (see stop_timeout). Delete those your guests do not need, "+
			"and add what they do need that xendomains' order only happened to give (a database before its application).", im.autoDir), "")
	} else {
		comment(b, fmt.Sprintf("Order: xendomains started the guests of %s one at a time in the order of their file names, "+
			"which carry no numbers here: import keeps no order from them, only what the backend= devices imply (depends_on). "+
			"Add the rest by hand, e.g. the firewall before the fileserver.", im.autoDir), "")
	}
	b.WriteString("\n[defaults]\n")
	im.writeStopTimeout(b)
	for _, c := range st.comments {
		comment(b, c, "")
	}
	fmt.Fprintf(b, "stop_action = %q\n", st.action)
	if st.action == config.StopMigrate {
		s, _ := tomlString(st.migrateTo)
		fmt.Fprintf(b, "migrate_to = %s\n", s)
	}
	comment(b, im.undeclaredWhy, "")
	fmt.Fprintf(b, "undeclared = %q\n", im.undeclared)
	if len(st.also) > 0 {
		comment(b, "Also in "+defaultsFile+":", "")
		for _, a := range st.also {
			comment(b, "- "+a, "  ")
		}
	}
	saved := map[string][]string{}
	for _, img := range images {
		saved[img.guest] = append(saved[img.guest], img.path)
	}
	for _, g := range im.order {
		b.WriteString("\n")
		if g.entry != "" {
			fmt.Fprintf(b, "# %s\n", printable(filepath.Join(im.autoDir, g.entry)))
		} else {
			fmt.Fprintf(b, "# Not in %s, but serves devices of guests that are: started whenever they are.\n", printable(im.autoDir))
		}
		for _, p := range saved[g.name] {
			comment(b, fmt.Sprintf("xendomains' saved image %s is still there: see the warnings above.", p), "")
		}
		cfg, _ := tomlString(g.config)
		fmt.Fprintf(b, "[guest.%s]\nconfig = %s\n", tomlKey(g.name), cfg)
		if g.entry == "" {
			b.WriteString("autostart = false\n")
		}
		if len(g.deps) > 0 {
			var names []string
			for _, d := range g.deps {
				fmt.Fprintf(b, "# inferred: %s\n", printable(d.why))
				names = append(names, d.to)
			}
			fmt.Fprintf(b, "depends_on = [%s]\n", tomlList(names))
		}
		if len(g.after) > 0 {
			why := slices.Clone(g.afterWhy)
			sort.Strings(why)
			comment(b, fmt.Sprintf("name order in %s: %s before %s", im.autoDir, strings.Join(why, ", "), g.entry), "")
			after := slices.Clone(g.after)
			sort.Strings(after)
			fmt.Fprintf(b, "after = [%s]\n", tomlList(after))
		}
		if g.stop != "" {
			comment(b, g.stopWhy, "")
			fmt.Fprintf(b, "stop_action = %q\n", g.stop)
		}
	}
}

// writeStopTimeout turns XENDOMAINS_STOP_MAXWAIT, the time xendomains gave
// all the guests together to shut down (Debian's script shuts every guest
// down at once, then waits), into stop_timeout, which each stop tier may
// take in turn: the total divided by the number of tiers, so that the
// whole stop takes no longer than before.
func (im *importer) writeStopTimeout(b *strings.Builder) {
	set := im.o.Settings
	v, ok := set.Lookup("XENDOMAINS_STOP_MAXWAIT")
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(v.Value))
	switch {
	case err != nil || n < 0:
		im.warnLate(b, fmt.Sprintf("%s: XENDOMAINS_STOP_MAXWAIT=%q is not a number of seconds: stop_timeout stays xenorder's default (%s per stop tier)", set.where(v), v.Value, config.DefaultStopTimeout))
		return
	case n == 0:
		im.warnLate(b, fmt.Sprintf("%s: XENDOMAINS_STOP_MAXWAIT=0: xendomains waited without a limit; xenorder always has one: stop_timeout stays its default (%s per stop tier), then xl destroy", set.where(v), config.DefaultStopTimeout))
		return
	}
	tiers := im.stopTiers()
	per := n / tiers
	if per < 1 {
		per = 1
	}
	c := fmt.Sprintf("XENDOMAINS_STOP_MAXWAIT=%d: xendomains asked every guest to shut down at once and waited %ds in all. "+
		"xenorder stops in order, one tier after another (xenorder plan stop shows them), and each tier may take stop_timeout: "+
		"%d %s × %ds = %ds, within the %ds of before. Fewer tiers (fewer `after` lines) leave room to raise it.",
		n, n, tiers, plural(tiers, "tier", "tiers"), per, per*tiers, n)
	if per < minTierSeconds {
		im.warnLate(b, fmt.Sprintf("%s: XENDOMAINS_STOP_MAXWAIT=%d shared by %d stop tiers leaves each guest %ds to shut down before xl destroy: raise stop_timeout if your guests need longer (the host's shutdown then takes up to %d × stop_timeout)",
			set.where(v), n, tiers, per, tiers))
	}
	comment(b, c, "")
	fmt.Fprintf(b, "stop_timeout = \"%ds\"\n", per)
}

// warnLate records a warning found while writing: printed with the others,
// and said where it applies (the list at the top is written already).
func (im *importer) warnLate(b *strings.Builder, w string) {
	im.warnings = append(im.warnings, w)
	comment(b, "Warning: "+w, "")
}

// stopTiers is the number of tiers a stop of every guest takes: the
// longest chain of dependencies, after included.
func (im *importer) stopTiers() int {
	memo := map[string]int{}
	var depth func(string) int
	depth = func(n string) int {
		if d, ok := memo[n]; ok {
			return d
		}
		memo[n] = 1 // a cycle cannot happen; this bounds one anyway
		d := 1
		for _, m := range im.edges(n) {
			if im.guests[m] != nil {
				d = max(d, 1+depth(m))
			}
		}
		memo[n] = d
		return d
	}
	most := 1
	for _, g := range im.order {
		most = max(most, depth(g.name))
	}
	return most
}

// comment writes text as comment lines of at most 78 columns; indent
// starts the lines after the first.
func comment(b *strings.Builder, text, indent string) {
	const width = 78
	start, line := "# ", ""
	for _, w := range strings.Fields(printable(text)) {
		if line != "" && len(start)+len(line)+1+len(w) > width {
			b.WriteString(start + line + "\n")
			start, line = "# "+indent, ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		b.WriteString(start + line + "\n")
	}
}

// printable keeps a comment on its line (a name or path may hold anything).
func printable(s string) string { return config.Printable(s) }

// tomlKey quotes a table key when it is not a bare key.
func tomlKey(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			q, _ := tomlString(s)
			return q
		}
	}
	return s
}

// tomlString writes s as a TOML basic string; false when TOML cannot hold
// it (it is not UTF-8).
func tomlString(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), true
}

func tomlList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i], _ = tomlString(n)
	}
	return strings.Join(q, ", ")
}
