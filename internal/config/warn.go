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

// XenconsoledDefaults are the files where Debian (xen) and upstream
// (xencommons) set XENCONSOLED_TRACE.
var XenconsoledDefaults = []string{"/etc/default/xencommons", "/etc/default/xen"}

var traceRE = regexp.MustCompile(`^\s*(?:export\s+)?XENCONSOLED_TRACE\s*=\s*["']?(\w+)`)

// Warnings returns what `check` should point out without failing: console
// probes that cannot work. defaultsFiles are the files that may set
// XENCONSOLED_TRACE (XenconsoledDefaults on a real host).
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
	trace, where := "", ""
	for _, f := range defaultsFiles {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if m := traceRE.FindStringSubmatch(sc.Text()); m != nil {
				trace, where = m[1], f
			}
		}
		fh.Close()
	}
	if trace != "guest" && trace != "all" {
		state := "is not set in " + strings.Join(defaultsFiles, " or ")
		if trace != "" {
			state = fmt.Sprintf("is %q in %s", trace, where)
		}
		ws = append(ws, fmt.Sprintf("console probes (%s) need xenconsoled to log guest consoles, but XENCONSOLED_TRACE %s: "+
			"set XENCONSOLED_TRACE=guest and restart xenconsoled", strings.Join(users, ", "), state))
	}
	return ws
}

func hasKind(ps []Probe, kind string) bool {
	for _, p := range ps {
		if p.Kind() == kind {
			return true
		}
	}
	return false
}
