package config

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Durations, in the config and on the command line, are written as admins
// write them in systemd units (systemd.time(7)) and as Go writes them:
// "90s", "5min", "1h", "2m30s", "1h 30min", "500ms", "1.5h", "1d". A
// subset of systemd's time spans is accepted:
//
//   - one or more components, each a decimal number and a unit, with or
//     without blanks between them ("1h30m", "1h 30min");
//   - the units ns, nsec; us, usec, µs; ms, msec; s, sec, second,
//     seconds; m, min, minute, minutes; h, hr, hour, hours; d, day, days;
//     w, week, weeks (lower case: systemd's M is months);
//   - "0" alone, without a unit.
//
// Refused, each with a message that says what to write: a number without a
// unit (systemd reads it as seconds; xenorder asks for the unit, since
// xendomains counts in seconds and xl in other units), months and years
// (systemd's M, month, y, year: no timeout is that long, and M next to m
// is a trap), "infinity" (every wait has a bound), and garbage. A leading
// '-' is parsed, for the callers to refuse with their own words.

// durationExamples ends every message about a duration.
const durationExamples = `such as "90s", "5min", "1h30m" or "1h 30min"`

// durationUnits maps each accepted unit to its length.
var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "nsec": time.Nanosecond,
	"us": time.Microsecond, "usec": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
	"ms": time.Millisecond, "msec": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// ParseDuration reads a duration in the syntax above. Its errors say what
// is wrong and end with examples; they do not quote s (the caller does).
func ParseDuration(s string) (time.Duration, error) {
	rest := strings.TrimSpace(s)
	switch {
	case rest == "":
		return 0, fmt.Errorf("empty; write a duration %s", durationExamples)
	case rest == "0" || rest == "-0" || rest == "+0":
		return 0, nil
	case strings.EqualFold(rest, "infinity"):
		return 0, fmt.Errorf("infinity is not accepted: every wait has a bound; write a duration %s", durationExamples)
	}
	neg := false
	if rest[0] == '-' || rest[0] == '+' {
		neg = rest[0] == '-'
		rest = strings.TrimSpace(rest[1:])
	}
	var total time.Duration
	for rest != "" {
		// The number: digits, with an optional fraction.
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		num := rest[:i]
		if num == "" || num == "." || strings.Count(num, ".") > 1 {
			return 0, fmt.Errorf("%q is not a number; write a duration %s", firstWord(rest), durationExamples)
		}
		rest = strings.TrimLeft(rest[i:], " \t")
		// The unit: letters (µ included).
		j := 0
		for j < len(rest) {
			r, size := utf8.DecodeRuneInString(rest[j:])
			if !unicode.IsLetter(r) {
				break
			}
			j += size
		}
		unit := rest[:j]
		rest = strings.TrimLeft(rest[j:], " \t")
		if unit == "" {
			if rest == "" && total == 0 {
				return 0, fmt.Errorf("%s has no unit (systemd would read seconds; xenorder wants the unit written): write %ss for seconds, or a duration %s", num, num, durationExamples)
			}
			return 0, fmt.Errorf("%s has no unit; write a duration %s", num, durationExamples)
		}
		per, ok := durationUnits[unit]
		if !ok {
			return 0, unitError(unit)
		}
		d, err := scale(num, per)
		if err != nil {
			return 0, err
		}
		if total > math.MaxInt64-d {
			return 0, errTooLong
		}
		total += d
	}
	if neg {
		return -total, nil
	}
	return total, nil
}

var errTooLong = errors.New("too long (at most about 292 years); write a duration " + durationExamples)

// scale multiplies the decimal number num by unit, without overflow.
func scale(num string, unit time.Duration) (time.Duration, error) {
	whole, frac, _ := strings.Cut(num, ".")
	var v time.Duration
	for _, c := range whole {
		if v > (math.MaxInt64-9)/10 {
			return 0, errTooLong
		}
		v = v*10 + time.Duration(c-'0')
	}
	if v > math.MaxInt64/unit {
		return 0, errTooLong
	}
	v *= unit
	// The fraction, digit by digit, down to a nanosecond.
	part := unit
	for _, c := range frac {
		part /= 10
		if part == 0 {
			break
		}
		v += time.Duration(c-'0') * part
		if v < 0 {
			return 0, errTooLong
		}
	}
	return v, nil
}

func unitError(unit string) error {
	switch unit {
	case "M", "month", "months", "y", "year", "years":
		return fmt.Errorf("%q (months or years in systemd) is not accepted: no wait is that long, and M is not m (minutes); write a duration %s", unit, durationExamples)
	}
	msg := fmt.Sprintf("unknown unit %q", unit)
	if lower := strings.ToLower(unit); lower != unit {
		if _, ok := durationUnits[lower]; ok {
			msg += fmt.Sprintf(" (units are lower case: %q)", lower)
		}
	}
	return fmt.Errorf("%s; the units are ms, s or sec, m or min, h or hr, d, w (and their long forms); write a duration %s", msg, durationExamples)
}

// firstWord is s up to its first blank.
func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// Duration is a duration key's value in the config file. A string is read
// by ParseDuration; what it cannot read is kept (Err) for the validator,
// which lists it with every other problem of the file. A value of another
// TOML type (stop_timeout = 5) stops the decoding at once: BurntSushi/toml
// then reports its line, and the message says to write a string with a unit.
type Duration struct {
	Text string        // as written
	D    time.Duration // valid when Err is nil
	Err  error
}

// UnmarshalText reads a duration from its text (encoding.TextUnmarshaler).
func (d *Duration) UnmarshalText(b []byte) error {
	d.Text = string(b)
	d.D, d.Err = ParseDuration(d.Text)
	return nil
}

// UnmarshalTOML takes a TOML string as UnmarshalText does and refuses any
// other type (toml.Unmarshaler: it sees the value's TOML type, where the
// text path would turn 5 into "5" and 1.5 into "1.500000").
func (d *Duration) UnmarshalTOML(v any) error {
	if s, ok := v.(string); ok {
		return d.UnmarshalText([]byte(s))
	}
	return &durationTypeError{value: v}
}

// durationTypeError is a duration key given a number, a boolean, a date,
// an array or a table.
type durationTypeError struct{ value any }

// durationTypeHint is in every durationTypeError's message: Parse finds it there
// (BurntSushi/toml keeps only the message of an Unmarshaler's error).
const durationTypeHint = "write a duration as a string with its unit, " + durationExamples

func (e *durationTypeError) Error() string {
	what := "this value"
	fix := ""
	switch v := e.value.(type) {
	case int64:
		what = fmt.Sprintf("%d is a number", v)
		fix = fmt.Sprintf(" (for %d seconds: \"%ds\")", v, v)
	case float64:
		what = fmt.Sprintf("%g is a number", v)
		fix = fmt.Sprintf(" (for %g seconds: \"%gs\")", v, v)
	case bool:
		what = fmt.Sprintf("%t is a boolean", v)
	case []any, []map[string]any:
		what = "an array"
	case map[string]any:
		what = "a table"
	default:
		what = "a date or time"
	}
	return fmt.Sprintf("%s, not a duration: %s%s", what, durationTypeHint, fix)
}
