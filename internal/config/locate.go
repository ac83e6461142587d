package config

import (
	"strconv"
	"strings"
)

// locator finds the line of a table or key in a TOML file, for error
// messages. BurntSushi/toml reports positions only for syntax errors, so this
// scans the source: table headers ([a.b], [[a.b]]) and `key =` lines. It
// understands bare, quoted and dotted keys; anything it cannot place falls
// back to the enclosing table's line, or 0.
type locator struct {
	lines  map[string]int   // dotted path → first line
	arrays map[string][]int // [[array.of.tables]] path → the line of each element
}

func newLocator(src string) *locator {
	l := &locator{lines: map[string]int{}, arrays: map[string][]int{}}
	var table []string
	for i, raw := range strings.Split(src, "\n") {
		line := strings.TrimSpace(stripComment(raw))
		n := i + 1
		switch {
		case line == "":
		case strings.HasPrefix(line, "[[") && strings.HasSuffix(line, "]]"):
			table = splitKey(line[2 : len(line)-2])
			l.set(table, n)
			k := strings.Join(table, "\x00")
			l.arrays[k] = append(l.arrays[k], n)
		case strings.HasPrefix(line, "["):
			if end := strings.LastIndex(line, "]"); end > 0 {
				table = splitKey(line[1:end])
				l.set(table, n)
			}
		default:
			eq := keyEnd(line)
			if eq < 0 {
				continue
			}
			key := append(append([]string{}, table...), splitKey(line[:eq])...)
			l.set(key, n)
			// An inline table on one line: record its keys too.
			if rest := strings.TrimSpace(line[eq+1:]); strings.HasPrefix(rest, "{") {
				for _, part := range strings.Split(strings.Trim(rest, "{} "), ",") {
					if e := keyEnd(part); e >= 0 {
						l.set(append(append([]string{}, key...), splitKey(part[:e])...), n)
					}
				}
			}
		}
	}
	return l
}

func (l *locator) set(path []string, line int) {
	for i := range path { // a.b.c also places a and a.b, if not placed yet
		k := strings.Join(path[:i+1], "\x00")
		if _, ok := l.lines[k]; !ok {
			l.lines[k] = line
		}
	}
}

// line returns the line of path, or of its nearest placed ancestor.
func (l *locator) line(path ...string) int {
	for i := len(path); i > 0; i-- {
		if n, ok := l.lines[strings.Join(path[:i], "\x00")]; ok {
			return n
		}
	}
	return 0
}

// element returns the line of the i-th [[path]] table, or of path.
func (l *locator) element(i int, path ...string) int {
	if ls := l.arrays[strings.Join(path, "\x00")]; i < len(ls) {
		return ls[i]
	}
	return l.line(path...)
}

// keyEnd returns the index of the '=' that ends the key at the start of s,
// skipping quoted parts, or -1.
func keyEnd(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		}
	}
	return -1
}

// splitKey splits a dotted TOML key into its parts, unquoting quoted parts.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i += unescape(&cur, s[i+1:])
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

// unescape writes the character of the TOML escape that s starts with (s
// follows a backslash in a basic string) and returns how many bytes of s it
// took.
func unescape(b *strings.Builder, s string) int {
	if s == "" {
		return 0
	}
	simple := map[byte]rune{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', 'e': 0x1b, '"': '"', '\\': '\\'}
	if r, ok := simple[s[0]]; ok {
		b.WriteRune(r)
		return 1
	}
	digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[0]]
	if digits > 0 && len(s) > digits {
		if n, err := strconv.ParseUint(s[1:1+digits], 16, 32); err == nil {
			b.WriteRune(rune(n))
			return 1 + digits
		}
	}
	b.WriteByte(s[0]) // not TOML: the parser has said so
	return 1
}

// stripComment removes a # comment that is not inside a string.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return s[:i]
		}
	}
	return s
}

// Suggest returns the candidate closest to s when it is close enough to be
// a likely typo, or "".
func Suggest(s string, candidates []string) string {
	best, bestD := "", len(s)/3+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
