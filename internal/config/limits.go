package config

import (
	"fmt"
	"io"
	"os"
)

// Limits checked before a config is parsed. The TOML parser's memory grows
// with the square of the nesting depth of inline tables (8 KB of nested { }
// took 690 MB, 400 KB took 24 GB), so a file is refused on its size and on
// its depth by a cheap scan before the parser sees it. At both limits, the
// worst file measured (1 MiB of keys nested 8 deep) peaks at about 400 MB
// and 2 s; a config of 10,000 guests is about 700 KB.
const (
	MaxConfigSize = 1 << 20
	// MaxConfigDepth bounds how deeply [ and { nest (a [[table]] header
	// counts 2). xenorder's own keys need at most 5, written all inline:
	// guest = { web = { ready = [ { exec = ["prog"] } ] } }.
	MaxConfigDepth = 8
)

// readSource reads the config at abs, refusing (without reading further) one
// over MaxConfigSize or nested deeper than MaxConfigDepth.
func readSource(abs string) ([]byte, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: abs, Msg: fmt.Sprintf("cannot read config: %v", unwrapPath(err))}}}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxConfigSize {
		return nil, &Error{Problems: []Problem{tooBig(abs)}} // not even read
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: abs, Msg: fmt.Sprintf("cannot read config: %v", unwrapPath(err))}}}
	}
	if p := checkLimits(abs, src); p != nil {
		return nil, &Error{Problems: []Problem{*p}}
	}
	return src, nil
}

// checkLimits returns the problem of a source over MaxConfigSize or nested
// deeper than MaxConfigDepth, or nil.
func checkLimits(file string, src []byte) *Problem {
	if len(src) > MaxConfigSize {
		p := tooBig(file)
		return &p
	}
	if line, depth, ok := nestingDepth(src, MaxConfigDepth); !ok {
		return &Problem{File: file, Line: line, Msg: fmt.Sprintf(
			"[ and { nest %d deep here; xenorder's limit is %d (its own keys need at most 5): not parsed (write the guest as a [guest.NAME] table instead of nested inline tables)",
			depth, MaxConfigDepth)}
	}
	return nil
}

func tooBig(file string) Problem {
	return Problem{File: file, Msg: fmt.Sprintf(
		"config is larger than %d bytes (1 MiB), xenorder's limit: not parsed (is this the right file? 10,000 guests take about 700 KB)",
		MaxConfigSize)}
}

// nestingDepth scans TOML source for how deeply [ and { nest outside strings
// and comments, stopping at the first point deeper than max: then it returns
// that line and depth, and ok false. It follows TOML's lexing of strings
// (basic "..." with \ escapes, literal '...', and the multi-line """...""" and
// ”'...”' forms) and # comments; a string left open ends at the end of its
// line (the single-line forms) or of the file, as the parser then rejects it.
func nestingDepth(src []byte, max int) (line, depth int, ok bool) {
	line, depth = 1, 0
	n := len(src)
	for i := 0; i < n; i++ {
		switch c := src[i]; c {
		case '\n':
			line++
		case '#':
			for i+1 < n && src[i+1] != '\n' {
				i++
			}
		case '[', '{':
			depth++
			if depth > max {
				return line, depth, false
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '"', '\'':
			multi := i+2 < n && src[i+1] == c && src[i+2] == c
			if multi {
				i += 3
			} else {
				i++
			}
			i, line = skipString(src, i, line, c, multi)
		}
	}
	return line, depth, true
}

// skipString returns the index of the last byte of a string whose content
// starts at i (its opening quote q, triple if multi), and the line there.
func skipString(src []byte, i, line int, q byte, multi bool) (int, int) {
	n := len(src)
	for ; i < n; i++ {
		c := src[i]
		switch {
		case c == '\\' && q == '"' && !multi && i+1 < n && src[i+1] == '\n':
			return i, line // unterminated: the parser says so
		case c == '\\' && q == '"':
			if i+1 < n && src[i+1] == '\n' {
				line++
			}
			i++ // the escaped byte is content, whatever it is
		case c == '\n' && !multi:
			return i - 1, line // unterminated: the parser says so
		case c == '\n':
			line++
		case c == q && !multi:
			return i, line
		case c == q && i+2 < n && src[i+1] == q && src[i+2] == q:
			i += 2
			// Up to two more quotes just before the closing three are
			// content: """a""""" is a"".
			for k := 0; k < 2 && i+1 < n && src[i+1] == q; k++ {
				i++
			}
			return i, line
		}
	}
	return n, line
}
