package main

// What xenorder runs as root is decided by files: it refuses them when
// someone other than root (or the user running it) can change them.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/trust"
	"github.com/xenorder/xenorder/internal/xlcfg"
)

// xenDirs are where libxl finds a program an xl config names by a
// relative name.
type xenDirs struct {
	scripts string // hotplug scripts (XEN_SCRIPT_DIR)
	// libxl's private bindir, where it looks for a bootloader first: a
	// build has one, and xenorder does not know which (patterns for
	// filepath.Glob).
	privateBin []string
}

func defaultXenDirs() xenDirs {
	return xenDirs{
		scripts:    xlcfg.ScriptDir,
		privateBin: []string{"/usr/libexec/xen/bin", "/usr/lib/xen/bin", "/usr/lib/xen-*/bin"}, // upstream's, Debian's
	}
}

// untrusted judges the files that decide what xenorder runs as root: the
// config at path and, when cfg is not nil, the programs it names (xl,
// xenstore_read, xenstore_watch, the exec probes), the guests' xl configs
// and the programs those name (bootloader, device_model_override, the
// vifs' and disks' scripts), each with every folder above it.
func untrusted(path string, cfg *config.Config, dirs xenDirs) []trust.Problem {
	wd, _ := os.Getwd()
	c := trust.New(os.Getuid(), os.Getenv("PATH"), wd)
	c.File(path, "the config")
	if cfg == nil {
		return c.Problems()
	}
	d := cfg.Defaults
	c.Program(d.XL, "xl")
	c.Program(d.XenstoreRead, "xenstore_read")
	c.Program(d.XenstoreWatch, "xenstore_watch")
	for _, name := range cfg.Names() {
		g := cfg.Guests[name]
		for _, p := range g.Probes {
			if ep, ok := p.Probe.(interface{ Program() string }); ok {
				c.Program(ep.Program(), fmt.Sprintf("%s %s's exec probe at %s:%d", g.Kind(), name, cfg.File, p.Line))
			}
		}
		if g.External || g.XLConfig == "" {
			continue
		}
		c.File(g.XLConfig, fmt.Sprintf("guest %s's xl config", name))
		xc, err := xlcfg.ParseFile(g.XLConfig)
		if err != nil {
			continue // nothing runs it: loading the config fails
		}
		for _, p := range xc.Programs() {
			what := fmt.Sprintf("guest %s's %s at %s:%d", name, p.Key, g.XLConfig, p.Line)
			switch {
			case p.Key == "vif script" || p.Key == "disk script":
				if !strings.HasPrefix(p.Name, "/") {
					p.Name = dirs.scripts + "/" + p.Name
				}
				c.File(p.Name, what)
			case p.Key == "bootloader" && !strings.HasPrefix(p.Name, "/"):
				found := false
				for _, pat := range dirs.privateBin {
					bins, _ := filepath.Glob(pat)
					for _, bin := range bins {
						if cand := bin + "/" + p.Name; exists(cand) {
							c.File(cand, what)
							found = true
						}
					}
				}
				if !found { // then libxl runs it as execvp does
					c.Program(p.Name, what)
				}
			default:
				c.Program(p.Name, what)
			}
		}
	}
	return c.Problems()
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// trustError lists the files that someone other than root can change;
// its exit code is 2.
type trustError struct {
	problems []trust.Problem
	refusal  bool // a command refusing to run, not check listing problems
}

func (e *trustError) Error() string {
	var lines []string
	if e.refusal {
		lines = append(lines, "refusing to run: these files decide what xenorder runs as root, and someone other than root can change them (xenorder check lists every problem):")
	}
	for _, p := range e.problems {
		lines = append(lines, "unsafe permissions: "+p.String())
	}
	return strings.Join(lines, "\n")
}

// checkTrust returns an error (exit 2) when untrusted finds problems.
func checkTrust(path string, cfg *config.Config, refusal bool) error {
	ps := untrusted(path, cfg, defaultXenDirs())
	if len(ps) == 0 {
		return nil
	}
	return &exitErr{code: 2, err: &trustError{problems: ps, refusal: refusal}}
}
