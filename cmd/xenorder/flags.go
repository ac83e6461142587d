package main

// Flags as help shows them, and the duration flags.

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/config"
)

// durationFlag is a duration flag in the syntax of config durations:
// systemd's spellings (5min, 90s, 1h, 1h 30min, 1d) and Go's (5m,
// 2m30s). A negative one is refused.
type durationFlag struct {
	d    time.Duration
	text string // as given
}

func (f *durationFlag) String() string {
	if f == nil || f.text == "" {
		return "0"
	}
	return f.text
}

func (f *durationFlag) Set(s string) error {
	d, err := config.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("%s is negative; write a duration such as 90s, 5min or 1h", s)
	}
	f.d, f.text = d, strings.TrimSpace(s)
	return nil
}

// Get returns the time.Duration (flag.Getter).
func (f *durationFlag) Get() any { return f.d }

// durationVar defines a duration flag.
func durationVar(fs *flag.FlagSet, name, usage string) {
	fs.Var(&durationFlag{}, name, usage)
}

// shortFlags maps a long flag to its one-letter alias: help shows the two
// as one flag.
var shortFlags = map[string]string{"config": "c", "yes": "y"}

// flagNames is how help names a flag: --dry-run; -v (one letter alone);
// -c, --config (with its alias). ok is false for an alias (shown with its
// long flag).
func flagNames(name string) (names string, ok bool) {
	for long, short := range shortFlags {
		if name == short {
			return "", false
		}
		if name == long {
			return "-" + short + ", --" + long, true
		}
	}
	if len(name) == 1 {
		return "-" + name, true
	}
	return "--" + name, true
}

// printFlags writes each flag of fs once, as --flag ARG (the form README
// and the manual use), with its usage and default; skip names flags not to
// show. It returns how many it wrote.
func printFlags(w io.Writer, fs *flag.FlagSet, skip map[string]bool) int {
	type row struct{ left, usage string }
	var rows []row
	fs.VisitAll(func(f *flag.Flag) {
		if skip[f.Name] {
			return
		}
		names, ok := flagNames(f.Name)
		if !ok {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
			arg = ""
		} else if _, isDur := f.Value.(*durationFlag); isDur && arg == "value" {
			arg = "DURATION"
		} else if arg == "string" || arg == "value" {
			arg = strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		}
		if arg != "" {
			names += " " + arg
		}
		switch f.DefValue {
		case "", "0", "false":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		rows = append(rows, row{names, usage})
	})
	sort.Slice(rows, func(i, j int) bool {
		return strings.TrimLeft(rows[i].left, "-") < strings.TrimLeft(rows[j].left, "-")
	})
	width := 0
	for _, r := range rows {
		width = max(width, len(r.left))
	}
	for _, r := range rows {
		for i, line := range wrap(r.usage, max(helpWidth-width-4, 30)) {
			left := r.left
			if i > 0 {
				left = ""
			}
			fmt.Fprintf(w, "  %-*s  %s\n", width, left, line)
		}
	}
	return len(rows)
}

// helpWidth is the width help's lines are wrapped to.
const helpWidth = 79

// wrap splits s into lines of at most width bytes, at spaces (a longer
// word stands alone).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}
