// Package render turns what the runner reports (a plan, a run's result, a
// status report) into what people and programs read: one file per format,
// text.go (the terminal and the journal), json.go (`status --json`) and
// dot.go (`xenorder graph`). The runner owns the data; this package only
// reads it, and the same data always gives byte-for-byte the same output.
//
// Every domain name, and every text that may quote one, goes through show
// (config.Printable): a name from `xl list` may hold anything, and is never
// written raw to a terminal.
package render

import (
	"github.com/xenorder/xenorder/internal/config"
)

// show renders a domain name, or a text that may quote one, for people:
// see config.Printable. xl is always given the name itself.
func show(s string) string { return config.Printable(s) }
