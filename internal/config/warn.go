package config

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/xenorder/xenorder/internal/probe"
	"github.com/xenorder/xenorder/internal/xlcfg"
)

// XenconsoledDefaults are the files that configure xenconsoled's logging:
// upstream's xencommons passes XENCONSOLED_TRACE as --log; Debian's
// /etc/init.d/xen ignores XENCONSOLED_TRACE (its /etc/default/xen only
// mentions it in a comment) and passes XENCONSOLED_ARGS.
var XenconsoledDefaults = []string{"/etc/default/xencommons", "/etc/default/xen"}

var (
	traceRE   = regexp.MustCompile(`^\s*(?:export\s+)?XENCONSOLED_TRACE\s*=\s*["']?(\w+)`)
	argsRE    = regexp.MustCompile(`^\s*(?:export\s+)?XENCONSOLED_ARGS\s*=\s*(.*)$`)
	argsLogRE = regexp.MustCompile(`--log[= ]["']?(\w+)`)
)

// Warnings returns what `check` should point out without failing: console
// probes that cannot work. defaultsFiles are the files that may configure
// xenconsoled (XenconsoledDefaults on a real host).
func (c *Config) Warnings(defaultsFiles []string) []string {
	var ws []string
	var users []string
	for _, name := range c.Names() {
		g := c.Guests[name]
		if g.External || !hasKind(g.Probes, probe.KindConsole) {
			continue
		}
		users = append(users, name)
		xc, err := xlcfg.ParseFile(g.XLConfig)
		if err != nil {
			continue // CheckFiles reports a missing file
		}
		typ, _ := xc.String("type")
		if typ == "" {
			typ, _ = xc.String("builder")
		}
		if typ == "hvm" {
			ws = append(ws, fmt.Sprintf("%s:%d: guest %s: console probe on an HVM guest: xenconsoled logs only PV consoles; "+
				"the emulated serial port goes through qemu and never reaches %s — the probe can only pass if the guest's OS writes to a PV console (hvc0)",
				c.File, g.Line, name, probe.ConsoleLogPath(c.Defaults.ConsoleLogDir, name)))
		}
	}
	if len(users) == 0 {
		return ws
	}
	if w := consoleLogging(defaultsFiles); w != "" {
		ws = append(ws, fmt.Sprintf("console probes (%s) need xenconsoled to log guest consoles, but %s", strings.Join(users, ", "), w))
	}
	if fi, err := os.Stat(c.Defaults.ConsoleLogDir); err != nil || !fi.IsDir() {
		ws = append(ws, fmt.Sprintf("console probes (%s) read %s, which is not a folder: xenconsoled cannot write guest logs there "+
			"(Debian's packages do not create it): mkdir -p %s; it takes effect when xenconsoled next starts (at boot)",
			strings.Join(users, ", "), c.Defaults.ConsoleLogDir, c.Defaults.ConsoleLogDir))
	}
	return ws
}

// consoleLogging says what keeps xenconsoled from logging guest consoles
// according to files, or "" when one of them turns logging on:
// XENCONSOLED_TRACE=guest|all (upstream) or --log=guest|all in
// XENCONSOLED_ARGS (Debian).
func consoleLogging(files []string) string {
	var seen []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			if m := traceRE.FindStringSubmatch(line); m != nil {
				if m[1] == "guest" || m[1] == "all" {
					fh.Close()
					return ""
				}
				seen = append(seen, fmt.Sprintf("XENCONSOLED_TRACE is %q in %s", m[1], f))
			}
			if m := argsRE.FindStringSubmatch(line); m != nil {
				if l := argsLogRE.FindStringSubmatch(m[1]); l != nil {
					if l[1] == "guest" || l[1] == "all" {
						fh.Close()
						return ""
					}
					seen = append(seen, fmt.Sprintf("XENCONSOLED_ARGS has --log=%s in %s", l[1], f))
				}
			}
		}
		fh.Close()
	}
	state := "neither XENCONSOLED_ARGS nor XENCONSOLED_TRACE asks for it in " + strings.Join(files, " or ")
	if len(seen) > 0 {
		state = strings.Join(seen, "; ")
	}
	return state + `: on Debian set XENCONSOLED_ARGS="--log=guest" in /etc/default/xen (its init script ignores XENCONSOLED_TRACE); ` +
		"with upstream's units set XENCONSOLED_TRACE=guest in /etc/default/xencommons; it takes effect when xenconsoled next starts (at boot)"
}

func hasKind(ps []Probe, kind string) bool {
	for _, p := range ps {
		if p.Kind() == kind {
			return true
		}
	}
	return false
}
