package xdimport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// maxSettingsSize bounds /etc/default/xendomains (Debian's is 5 KiB).
const maxSettingsSize = 1 << 20

// Var is one variable assignment of the settings file.
type Var struct {
	Name  string
	Value string // after the shell's quote removal
	Line  int
}

// Settings are the variables /etc/default/xendomains sets, as the shell
// that sources it would see them: the last assignment of each wins.
type Settings struct {
	File string         // where they came from ("" when the file was absent)
	Vars map[string]Var // by name
	// Problems are lines the shell would read differently from a plain
	// assignment ("FILE:LINE: what"); import warns of each.
	Problems []string
}

// Lookup returns a variable and whether the file sets it.
func (s Settings) Lookup(name string) (Var, bool) {
	v, ok := s.Vars[name]
	return v, ok
}

// Get returns a variable's value, "" when unset.
func (s Settings) Get(name string) string { return s.Vars[name].Value }

// Names returns the variables set, sorted.
func (s Settings) Names() []string {
	out := make([]string, 0, len(s.Vars))
	for n := range s.Vars {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// where names a variable's line for messages.
func (s Settings) where(v Var) string {
	if s.File == "" {
		return v.Name
	}
	return fmt.Sprintf("%s:%d", s.File, v.Line)
}

// ReadSettings reads a shell-style defaults file (see ParseSettings), the
// host path path under root ("" for this machine's files). A missing file
// yields empty settings.
func ReadSettings(root, path string) (Settings, error) {
	f, err := os.Open(fsRoot{dir: root}.real(path))
	if errors.Is(err, fs.ErrNotExist) {
		return Settings{Vars: map[string]Var{}}, nil
	}
	if err != nil {
		return Settings{}, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxSettingsSize+1))
	if err != nil {
		return Settings{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(src) > maxSettingsSize {
		return Settings{}, fmt.Errorf("%s: larger than %d bytes: not a defaults file", path, maxSettingsSize)
	}
	return ParseSettings(path, src), nil
}

// ParseSettings reads the variables a POSIX shell sourcing src would set,
// as far as plain assignments go: NAME=value lines, optionally after
// `export`, several on a line, with the shell's quoting ('single',
// "double" with its backslash escapes, backslashes outside quotes) and
// comments. What it cannot read as the shell would (an expansion such as
// $VAR, a command, an unterminated quote) is a Problem; only XENDOMAINS_*
// variables are reported. It never fails: a file is text, whatever it
// holds.
func ParseSettings(file string, src []byte) Settings {
	s := Settings{File: file, Vars: map[string]Var{}}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 4096), maxSettingsSize+1)
	n := 0
	for sc.Scan() {
		n++
		s.parseLine(n, sc.Text())
	}
	return s
}

func (s *Settings) problem(line int, format string, args ...any) {
	s.Problems = append(s.Problems, fmt.Sprintf("%s:%d: %s", s.File, line, fmt.Sprintf(format, args...)))
}

// parseLine reads one line: zero or more assignments, then a comment.
func (s *Settings) parseLine(n int, line string) {
	rest := strings.TrimLeft(line, " \t")
	if rest == "" || rest[0] == '#' {
		return
	}
	if r, ok := strings.CutPrefix(rest, "export"); ok && (r == "" || r[0] == ' ' || r[0] == '\t') {
		rest = strings.TrimLeft(r, " \t")
		if isIdentList(rest) {
			return // `export NAME...` only marks names
		}
	}
	var vars []Var
	for rest != "" && rest[0] != '#' {
		name, value, r, ok := assignment(rest)
		if !ok {
			// A command (`. file`, `if`, `K=v cmd`): it sets no variable
			// for the file; say so when it looks like xendomains'.
			if strings.Contains(line, "XENDOMAINS_") {
				s.problem(n, "not a plain VARIABLE=value assignment, which is all import reads: %q", line)
			}
			return
		}
		v, problem := shellWord(value)
		if problem != "" && strings.HasPrefix(name, "XENDOMAINS_") {
			s.problem(n, "%s: %s; import reads it as %q", name, problem, v)
		}
		vars = append(vars, Var{Name: name, Value: v, Line: n})
		rest = strings.TrimLeft(r, " \t")
	}
	for _, v := range vars {
		s.Vars[v.Name] = v
	}
}

// isIdentList reports whether s is shell identifiers separated by blanks.
func isIdentList(s string) bool {
	fs := strings.Fields(s)
	if len(fs) == 0 {
		return false
	}
	for _, f := range fs {
		if n, _, _, ok := assignment(f + "="); !ok || n != f {
			return false
		}
	}
	return true
}

// assignment splits "NAME=rest" (NAME a shell identifier); rest starts at
// the value and runs to the end of the line.
func assignment(s string) (name, value, rest string, ok bool) {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= 'a' && s[i] <= 'z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != '=' {
		return "", "", "", false
	}
	end := wordEnd(s[i+1:])
	return s[:i], s[i+1 : i+1+end], s[i+1+end:], true
}

// wordEnd returns where the shell word at the start of s ends: at the first
// blank outside quotes (or the end of s).
func wordEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t':
			return i
		case '\\':
			i++
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return len(s)
			}
			i += j + 1
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		}
	}
	return len(s)
}

// shellWord removes a word's quotes as the shell does and says what it
// cannot follow: expansions, a quote left open, a backslash at the end of
// the line.
func shellWord(w string) (string, string) {
	var b strings.Builder
	var problem string
	note := func(p string) {
		if problem == "" {
			problem = p
		}
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch c {
		case '\\':
			if i+1 >= len(w) {
				note("a backslash ends the line (the shell would join the next line)")
				continue
			}
			i++
			b.WriteByte(w[i])
		case '\'':
			j := strings.IndexByte(w[i+1:], '\'')
			if j < 0 {
				note("a single quote is left open (the value would go on over the next lines)")
				b.WriteString(w[i+1:])
				return b.String(), problem
			}
			b.WriteString(w[i+1 : i+1+j])
			i += j + 1
		case '"':
			i++
			closed := false
			for ; i < len(w); i++ {
				switch d := w[i]; {
				case d == '"':
					closed = true
				case d == '\\' && i+1 < len(w) && strings.IndexByte("$`\"\\", w[i+1]) >= 0:
					i++
					b.WriteByte(w[i])
					continue
				case d == '$' || d == '`':
					note("it uses shell expansion ($ or `), which import does not perform")
					b.WriteByte(d)
					continue
				default:
					b.WriteByte(d)
					continue
				}
				break
			}
			if !closed {
				note("a double quote is left open (the value would go on over the next lines)")
			}
		case '$', '`':
			note("it uses shell expansion ($ or `), which import does not perform")
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), problem
}
