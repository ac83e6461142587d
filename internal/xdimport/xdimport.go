// Package xdimport writes a xenorder.toml for a host that xendomains runs
// today: one guest per xl config linked in its auto folder, the
// dependencies their backend= devices imply, and the stop settings of
// /etc/default/xendomains.
package xdimport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/xenorder/xenorder/internal/xlcfg"
)

// Defaults of the paths xendomains uses on Debian.
const (
	DefaultAutoDir  = "/etc/xen/auto"
	DefaultDefaults = "/etc/default/xendomains"
)

// Settings are the xendomains settings that matter to xenorder.
type Settings struct {
	File    string // where they came from ("" when the file was absent)
	MaxWait string // XENDOMAINS_STOP_MAXWAIT, seconds
	Save    string // XENDOMAINS_SAVE, a folder; "" = no saving
	Migrate string // XENDOMAINS_MIGRATE, "host [options]"
	Auto    string // XENDOMAINS_AUTO
}

// ReadSettings reads a shell-style defaults file: KEY=value lines, quoted
// or not, comments. A missing file yields empty settings.
func ReadSettings(path string) (Settings, error) {
	s := Settings{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	defer f.Close()
	s.File = path
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.Index(v, " #"); i >= 0 && !strings.HasPrefix(v, `"`) && !strings.HasPrefix(v, "'") {
			v = v[:i]
		}
		if uq, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
			v = uq
		} else {
			v = strings.Trim(v, `'"`)
		}
		switch strings.TrimSpace(k) {
		case "XENDOMAINS_STOP_MAXWAIT":
			s.MaxWait = v
		case "XENDOMAINS_SAVE":
			s.Save = v
		case "XENDOMAINS_MIGRATE":
			s.Migrate = v
		case "XENDOMAINS_AUTO":
			s.Auto = v
		}
	}
	return s, sc.Err()
}

// guest is one imported guest.
type guest struct {
	name   string
	config string // absolute
	link   string // the entry in the auto folder
	deps   []dep
}

type dep struct{ to, why string }

// Write writes the config for the guests linked in autoDir and the settings
// to w.
func Write(w io.Writer, autoDir string, set Settings) error {
	entries, err := os.ReadDir(autoDir)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	var guests []*guest
	byName := map[string]*guest{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		link := filepath.Join(autoDir, e.Name())
		target, err := filepath.EvalSymlinks(link)
		if err != nil {
			return fmt.Errorf("import: %s: %w", link, err)
		}
		target, _ = filepath.Abs(target)
		c, err := xlcfg.ParseFile(target)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		name, ok := c.String("name")
		if !ok || name == "" {
			return fmt.Errorf("import: %s has no name =", target)
		}
		if other := byName[name]; other != nil {
			return fmt.Errorf("import: %s and %s both create %q", other.link, link, name)
		}
		bs, err := c.Backends()
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		g := &guest{name: name, config: target, link: link}
		for _, b := range bs {
			if !xlcfg.IsDom0(b.Domain) {
				g.deps = append(g.deps, dep{to: b.Domain, why: fmt.Sprintf("%s backend=%s", b.Kind, b.Domain)})
			}
		}
		guests = append(guests, g)
		byName[name] = g
	}
	sort.Slice(guests, func(i, j int) bool { return guests[i].name < guests[j].name })

	var b strings.Builder
	b.WriteString("# xenorder.toml written by `xenorder import` from xendomains' setup.\n")
	fmt.Fprintf(&b, "# Guests: every xl config linked in %s. Dependencies: what their backend=\n", autoDir)
	b.WriteString("# devices imply (xendomains knew none: add the rest by hand, e.g. the\n")
	b.WriteString("# firewall before the fileserver). Check it: xenorder check; xenorder plan.\n\n")
	b.WriteString("[defaults]\n")
	if set.MaxWait != "" {
		if n, err := strconv.Atoi(set.MaxWait); err == nil && n > 0 {
			fmt.Fprintf(&b, "# XENDOMAINS_STOP_MAXWAIT=%s (%s)\nstop_timeout = \"%ds\"\n", set.MaxWait, set.File, n)
		}
	}
	switch {
	case set.Migrate != "":
		host := strings.Fields(set.Migrate)[0]
		fmt.Fprintf(&b, "# XENDOMAINS_MIGRATE=%q: at host shutdown, migrate each guest (falls back to a shutdown)\n", set.Migrate)
		fmt.Fprintf(&b, "stop_action = \"migrate\"\nmigrate_to = %q\n", host)
	case set.Save != "":
		fmt.Fprintf(&b, "# XENDOMAINS_SAVE=%q: at host shutdown, save each guest; the next start restores it.\n", set.Save)
		b.WriteString("# (xenorder keeps its images in state_dir/save, not in XENDOMAINS_SAVE.)\n")
		b.WriteString("stop_action = \"save\"\n")
	default:
		b.WriteString("stop_action = \"shutdown\"\n")
	}
	// Backends that are not in the auto folder are declared too (the
	// configs need them), without autostart.
	var extra []string
	seen := map[string]bool{}
	for _, g := range guests {
		for _, d := range g.deps {
			if byName[d.to] == nil && !seen[d.to] {
				seen[d.to] = true
				extra = append(extra, d.to)
			}
		}
	}
	sort.Strings(extra)
	for _, g := range guests {
		fmt.Fprintf(&b, "\n# %s\n[guest.%s]\nconfig = %q\n", g.link, tomlKey(g.name), g.config)
		writeDeps(&b, g.deps)
	}
	for _, x := range extra {
		cfg := filepath.Join(filepath.Dir(guests[0].config), x+".cfg")
		fmt.Fprintf(&b, "\n# Not in %s, but serves devices of guests that are: started whenever they are.\n", autoDir)
		fmt.Fprintf(&b, "[guest.%s]\nconfig = %q\nautostart = false\n", tomlKey(x), cfg)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

func writeDeps(b *strings.Builder, deps []dep) {
	if len(deps) == 0 {
		return
	}
	var names []string
	seen := map[string]bool{}
	for _, d := range deps {
		if !seen[d.to] {
			seen[d.to] = true
			names = append(names, d.to)
			fmt.Fprintf(b, "# inferred: %s\n", d.why)
		}
	}
	sort.Strings(names)
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	fmt.Fprintf(b, "depends_on = [%s]\n", strings.Join(quoted, ", "))
}

// tomlKey quotes a table key when it is not a bare key.
func tomlKey(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return strconv.Quote(s)
		}
	}
	return s
}
