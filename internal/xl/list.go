// Package xl runs the Xen `xl` toolstack and parses what it prints.
// It is the only code in xenorder that runs xl.
package xl

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Domain is one row of `xl list`.
type Domain struct {
	Name    string // "(null)" possible for dying domains
	ID      int
	MemMiB  int
	VCPUs   int
	State   State
	CPUTime float64 // seconds
}

// ShutdownReason is the 5th state letter of `xl list`: '-' poweroff (or not
// shut down), 'r' reboot, 's' suspend, 'c' crash, 'w' watchdog, 'S' soft
// reset, and '?' for a reason code this xl does not know.
type ShutdownReason byte

// String names the reason, e.g. "poweroff" or "crash".
func (r ShutdownReason) String() string {
	switch r {
	case '-':
		return "poweroff"
	case 'r':
		return "reboot"
	case 's':
		return "suspend"
	case 'c':
		return "crash"
	case 'w':
		return "watchdog"
	case 'S':
		return "soft_reset"
	}
	return "unknown"
}

// State is the 6-letter state column of `xl list`, e.g. "-b----".
type State struct {
	Raw                                       string // the 6 letters as printed
	Running, Blocked, Paused, Shutdown, Dying bool
	Reason                                    ShutdownReason
}

// Crashed reports whether the domain shut down because it crashed.
func (s State) Crashed() bool { return s.Shutdown && s.Reason == 'c' }

// String describes the state in one word: "dying", "crashed", "shutdown",
// "paused", "running", "blocked", or "runnable" (no letter set), checked in
// that order.
func (s State) String() string {
	switch {
	case s.Dying:
		return "dying"
	case s.Crashed():
		return "crashed"
	case s.Shutdown:
		return "shutdown"
	case s.Paused:
		return "paused"
	case s.Running:
		return "running"
	case s.Blocked:
		return "blocked"
	}
	return "runnable"
}

// stateLetters lists, per position of the state column, the letters xl
// prints besides '-'.
var stateLetters = [6]string{"r", "b", "p", "s", "rscwS?", "d"}

// parseState parses the 6-letter state column.
func parseState(raw string) (State, error) {
	bad := func() error {
		return fmt.Errorf("state %q: want 6 letters like \"-b----\" (r, b, p, s, a reason from \"-rscwS\", d)", raw)
	}
	if len(raw) != 6 {
		return State{}, bad()
	}
	for i := range 6 {
		if c := raw[i]; c != '-' && strings.IndexByte(stateLetters[i], c) < 0 {
			return State{}, bad()
		}
	}
	return State{
		Raw:      raw,
		Running:  raw[0] == 'r',
		Blocked:  raw[1] == 'b',
		Paused:   raw[2] == 'p',
		Shutdown: raw[3] == 's',
		Reason:   ShutdownReason(raw[4]),
		Dying:    raw[5] == 'd',
	}, nil
}

// listColumns are the header words of plain `xl list`.
var listColumns = []string{"Name", "ID", "Mem", "VCPUs", "State", "Time(s)"}

// listExtras maps the header words after "Time(s)" to how many fields each
// row has after the time: none for `xl list`, UUID, reason code and
// security label for `xl list -v`, the security label for `xl list -Z`.
var listExtras = map[string]int{
	"":                                0,
	"UUID Reason-Code Security Label": 3,
	"Security Label":                  1,
}

// ParseList parses the output of `xl list` (also `xl list NAME`, `xl list
// -v` and `xl list -Z`). A header without rows is zero domains. Anything
// that does not look like xl's table is an error naming the line.
func ParseList(out []byte) ([]Domain, error) {
	text := strings.TrimRight(string(out), " \t\r\n")
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("xl list printed nothing")
	}
	lines := strings.Split(text, "\n")

	head := strings.Fields(lines[0])
	if len(head) < len(listColumns) || strings.Join(head[:len(listColumns)], " ") != strings.Join(listColumns, " ") {
		return nil, fmt.Errorf("xl list: line 1: %q: want the header \"Name ID Mem VCPUs State Time(s)\"", clip(lines[0]))
	}
	extra, ok := listExtras[strings.Join(head[len(listColumns):], " ")]
	if !ok {
		return nil, fmt.Errorf("xl list: line 1: unknown columns %q after Time(s)", strings.Join(head[len(listColumns):], " "))
	}

	domains := make([]Domain, 0, len(lines)-1)
	for i, line := range lines[1:] {
		d, err := parseListRow(line, extra)
		if err != nil {
			return nil, fmt.Errorf("xl list: line %d: %w", i+2, err)
		}
		domains = append(domains, d)
	}
	return domains, nil
}

// parseListRow parses one row: the name, then ID, Mem, VCPUs, State and
// Time, then extra fields. The name is everything before the last 5+extra
// fields, since a name longer than 40 characters pushes the columns right.
func parseListRow(line string, extra int) (Domain, error) {
	f := strings.Fields(line)
	want := 5 + extra
	if len(f) < want+1 {
		return Domain{}, fmt.Errorf("%q: want a name and %d fields, got %d fields", clip(line), want, len(f))
	}
	nameFields := len(f) - want
	f = f[nameFields:]

	var d Domain
	var err error
	d.Name = strings.TrimSpace(line[:nthFieldStart(line, nameFields)])
	if d.ID, err = parseCount("id", f[0]); err != nil {
		return Domain{}, err
	}
	if d.MemMiB, err = parseCount("memory", f[1]); err != nil {
		return Domain{}, err
	}
	if d.VCPUs, err = parseCount("vcpus", f[2]); err != nil {
		return Domain{}, err
	}
	if d.State, err = parseState(f[3]); err != nil {
		return Domain{}, err
	}
	t, err := strconv.ParseFloat(f[4], 64)
	if err != nil || t < 0 || math.IsInf(t, 0) || math.IsNaN(t) {
		return Domain{}, fmt.Errorf("time %q: want seconds like 4.3", clip(f[4]))
	}
	d.CPUTime = t
	return d, nil
}

// nthFieldStart returns the byte offset in s where whitespace-separated
// field n (counting from 0) starts.
func nthFieldStart(s string, n int) int {
	inField := false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if !space && !inField {
			if n == 0 {
				return i
			}
			n--
		}
		inField = !space
	}
	return len(s)
}

// parseCount parses a non-negative decimal number.
func parseCount(what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a non-negative number", what, clip(s))
	}
	return n, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
