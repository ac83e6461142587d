package config

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable renders s, a domain name or a text that may hold one, so that it
// cannot drive a terminal: each control character (C0, DEL, C1), Unicode
// bidirectional control and byte that is not UTF-8 is written as a Go
// escape (\x1b, \n, \u009b, \u202e, \xff); everything else, backslashes
// included, is left as it is. A config's names cannot hold such characters,
// but a domain another admin created can, and `xl list` shows it. Only what
// is shown is escaped: xl is always given the name itself.
func Printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafeRune: C0, DEL and C1 controls, and the bidirectional controls that
// reorder what a terminal shows.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
