//go:build xene2e

package xen

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// xlCall is one line of the lab's xl call log (rootfs/dom0/xl-trace):
// an xl run by xenorder, with dom0 uptimes and, for create, shutdown and
// destroy, what xl list and the guests' console logs showed just before.
type xlCall struct {
	T0   float64           // dom0 uptime (s) when the call began
	TX   float64           // when the real xl began (after the recorder's own look)
	T1   float64           // when xl ended
	RC   int               // xl's exit code
	Doms map[int]string    // domid -> name, from xl list just before; nil if not recorded
	Cons map[string]string // guest -> last state its console log showed; nil if not recorded
	Args []string
}

func (c xlCall) Verb() string {
	if len(c.Args) == 0 {
		return ""
	}
	return c.Args[0]
}

// Target is the guest a create (its config's base name), shutdown or
// destroy is about.
func (c xlCall) Target() string {
	if len(c.Args) < 2 {
		return ""
	}
	a := c.Args[len(c.Args)-1]
	if c.Verb() == "create" {
		a = a[strings.LastIndex(a, "/")+1:]
		a = strings.TrimSuffix(a, ".cfg")
	}
	return a
}

// Listed reports whether xl list showed a domain named n before the call,
// and its domid.
func (c xlCall) Listed(n string) (int, bool) {
	for id, name := range c.Doms {
		if name == n {
			return id, true
		}
	}
	return -1, false
}

func (c xlCall) String() string {
	return fmt.Sprintf("[%.2f-%.2f] xl %s (rc %d)", c.T0, c.T1, strings.Join(c.Args, " "), c.RC)
}

var callRE = regexp.MustCompile(`^t0=(\S+) tx=(\S+) t1=(\S+) rc=(\d+) doms=(\S+) cons=(\S+) args=(.*)$`)

func parseCalls(log string) ([]xlCall, error) {
	var calls []xlCall
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l == "" {
			continue
		}
		m := callRE.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("bad xl call record %q", l)
		}
		var c xlCall
		var err1, err2, err3, err4 error
		c.T0, err1 = strconv.ParseFloat(m[1], 64)
		c.TX, err2 = strconv.ParseFloat(m[2], 64)
		c.T1, err3 = strconv.ParseFloat(m[3], 64)
		c.RC, err4 = strconv.Atoi(m[4])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("bad xl call record %q", l)
		}
		if m[5] != "-" {
			c.Doms = map[int]string{}
			for _, kv := range strings.Split(strings.Trim(m[5], ","), ",") {
				i := strings.LastIndex(kv, ":")
				id, err := strconv.Atoi(kv[i+1:])
				if i < 0 || err != nil {
					return nil, fmt.Errorf("bad domain %q in %q", kv, l)
				}
				c.Doms[id] = kv[:i]
			}
		}
		if m[6] != "-" {
			c.Cons = map[string]string{}
			for _, kv := range strings.Split(strings.Trim(m[6], ","), ",") {
				k, v, _ := strings.Cut(kv, ":")
				c.Cons[k] = v
			}
		}
		c.Args = strings.Fields(m[7])
		calls = append(calls, c)
	}
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].T0 < calls[j].T0 })
	return calls, nil
}

// calls returns the calls with that verb, for that guest if guest is not
// empty.
func filterCalls(cs []xlCall, verb, guest string) []xlCall {
	var out []xlCall
	for _, c := range cs {
		if c.Verb() == verb && (guest == "" || c.Target() == guest) {
			out = append(out, c)
		}
	}
	return out
}

// xlList parses `xl list` output: name -> domid and state.
type listed struct {
	ID    int
	State string
}

func parseXlList(out string) (map[string]listed, error) {
	doms := map[string]listed{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "Name") {
		return nil, fmt.Errorf("not xl list output: %q", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 6 {
			return nil, fmt.Errorf("bad xl list line %q", l)
		}
		id, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("bad xl list line %q", l)
		}
		doms[f[0]] = listed{ID: id, State: f[4]}
	}
	return doms, nil
}

func names(m map[string]listed) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// statusJSON is the part of `xenorder status --json` the suite checks.
type statusJSON struct {
	OK     bool `json:"ok"`
	Guests []struct {
		Name         string  `json:"name"`
		State        string  `json:"state"`
		DomID        int     `json:"domid"`
		Ready        *bool   `json:"ready"`
		DrainedSince *string `json:"drained_since"`
	} `json:"guests"`
	Others []struct {
		Name  string `json:"name"`
		Kind  string `json:"kind"`
		DomID int    `json:"domid"`
	} `json:"others"`
}

// xenorder's own event lines: "15:04:05 NAME: what".
var eventRE = regexp.MustCompile(`^(\d\d:\d\d:\d\d) ([A-Za-z0-9_.-]+): (.*)$`)

type event struct {
	clock, guest, what string
	line               int
}

func parseEvents(out string) []event {
	var evs []event
	for i, l := range strings.Split(out, "\n") {
		if m := eventRE.FindStringSubmatch(l); m != nil {
			evs = append(evs, event{m[1], m[2], m[3], i})
		}
	}
	return evs
}

func findEvent(evs []event, guest, prefix string) (event, bool) {
	for _, e := range evs {
		if e.guest == guest && strings.HasPrefix(e.what, prefix) {
			return e, true
		}
	}
	return event{}, false
}

// A listSample is one `xl list` xenorder ran, as it saw it.
type listSample struct {
	T    float64 // dom0 uptime when it ended
	RC   int
	Rows []listRow
}

type listRow struct {
	Name  string
	ID    int
	State string
}

func parseLists(log string) []listSample {
	var out []listSample
	for _, l := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(l, "@ "); ok {
			f := strings.Fields(rest)
			var s listSample
			if len(f) == 2 {
				s.T, _ = strconv.ParseFloat(f[0], 64)
				s.RC, _ = strconv.Atoi(strings.TrimPrefix(f[1], "rc="))
			}
			out = append(out, s)
			continue
		}
		f := strings.Fields(l)
		if len(out) == 0 || len(f) < 6 || f[0] == "Name" {
			continue
		}
		id, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		s := &out[len(out)-1]
		s.Rows = append(s.Rows, listRow{f[0], id, f[4]})
	}
	return out
}
