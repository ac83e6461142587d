// Package xlcfg parses guest configuration files in the xl.cfg format, the
// way Xen's libxlutil reads them (tools/libs/util/libxlu_cfg_l.l and
// libxlu_cfg_y.y):
//
//   - a file is a sequence of statements "key = value" or "key += value",
//     each ended by a newline or ';' (the last one may also end at EOF);
//   - keys match [a-z][._0-9a-z]*;
//   - a value is a string in single or double quotes (both take the
//     backslash escapes \" \' \\ \a \b \f \n \r \t \v, \xHH and \ooo), a
//     number ([0-9][0-9a-fx]*, kept as its text) or a list "[ ... ]" of
//     strings and numbers, which may span lines and may end with a comma;
//   - '#' starts a comment that runs to the end of the line;
//   - "+=" appends to an earlier value of the same key (string to string,
//     list to list); a later "=" replaces an earlier one.
//
// Errors read "FILE:LINE: config parsing error near `TOKEN': what", as
// libxlutil prints them. Two deliberate differences from libxlutil: a
// comment on the last line needs no newline, and the numeric escapes \xHH
// and \ooo produce the byte they name (libxlutil rejects or drops them).
// Lists nested in lists, which libxlutil accepts but xl never uses, are
// rejected.
package xlcfg

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Value is the value of one key.
type Value struct {
	Str    string   // a string, or a number as its text; "" for a list
	IsList bool     // the value is a list
	List   []string // the items of a list
	Line   int      // the line the value starts on
}

// Config is a parsed configuration file.
type Config struct {
	File  string           // the name given to Parse, used in messages
	Keys  map[string]Value // the final value of each key
	Order []string         // keys in the order of their first assignment
}

// ParseError is a syntax or lexical error. Its Error() is
// "FILE:LINE: config parsing error near `TOKEN': MSG".
type ParseError struct {
	File string
	Line int
	Near string // the offending text, if any
	// Newline is set when the offending token is a bare newline (Near is
	// then ""); at the end of the file both are empty.
	Newline bool
	Msg     string
	// LikelyPython is set when the file contains characters typical of the
	// Python configuration files of the old xm toolstack; xl then prints
	// PythonWarning after the error.
	LikelyPython bool
}

// PythonWarning is what xl prints after a parse error when the file looks
// like Python.
const PythonWarning = "warning: Config file looks like it contains Python code.\n" +
	"warning:  Arbitrary Python is no longer supported.\n" +
	"warning:  See https://wiki.xen.org/wiki/PythonInXlConfig\n"

func (e *ParseError) Error() string {
	near := ""
	switch {
	case e.Near != "":
		near = "`" + e.Near + "'"
	case e.Newline:
		near = "<newline>"
	}
	return fmt.Sprintf("%s:%d: config parsing error near %s: %s", e.File, e.Line, near, e.Msg)
}

// ParseFile reads and parses the file at path.
func ParseFile(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// Parse parses src; file names it in error messages.
func Parse(file string, src []byte) (*Config, error) {
	p := &parser{lx: lexer{src: src, line: 1, file: file}, cfg: &Config{File: file, Keys: map[string]Value{}}}
	if err := p.parse(); err != nil {
		// libxlutil goes on after an error (to report more of them), so
		// Python-like text anywhere after it also counts.
		for i := 0; i < len(src)+1; i++ {
			t, lerr := p.lx.next()
			if lerr == nil && t.kind == tEOF {
				break
			}
		}
		if pe, ok := err.(*ParseError); ok && p.lx.likelyPython {
			pe.LikelyPython = true
		}
		return nil, err
	}
	return p.cfg, nil
}

// String returns the value of a key that holds a single string or number.
// It reports false if the key is absent or holds a list.
func (c *Config) String(key string) (string, bool) {
	v, ok := c.Keys[key]
	if !ok || v.IsList {
		return "", false
	}
	return v.Str, true
}

// Int returns the value of a key as an integer, read like C's strtol with
// base 0 (decimal, 0x hex, leading-0 octal), whether it came as a number or
// as a quoted string. It reports ok=false (and no error) if the key is
// absent, and an error "FILE:LINE: warning: parameter `KEY' ..." if the value is a
// list or not a number (worded like libxlutil's warnings).
func (c *Config) Int(key string) (int64, bool, error) {
	v, ok := c.Keys[key]
	if !ok {
		return 0, false, nil
	}
	if v.IsList {
		return 0, true, fmt.Errorf("%s:%d: warning: parameter `%s' is a list but should be a single value", c.File, v.Line, key)
	}
	s := strings.TrimLeft(v.Str, " \t\n\v\f\r")
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, true, fmt.Errorf("%s:%d: warning: parameter `%s' could not be parsed as a number: Numerical result out of range", c.File, v.Line, key)
		}
		return 0, true, fmt.Errorf("%s:%d: warning: parameter `%s' is not a valid number", c.File, v.Line, key)
	}
	return n, true, nil
}

// List returns the items of a list value; a single string or number counts
// as a one-element list. It returns nil if the key is absent.
func (c *Config) List(key string) []string {
	v, ok := c.Keys[key]
	if !ok {
		return nil
	}
	if v.IsList {
		return append([]string(nil), v.List...)
	}
	return []string{v.Str}
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tString
	tNewline
	tComma
	tLBrack
	tRBrack
	tAssign
	tAdd
	tSemi
)

var tokNames = map[tokKind]string{
	tEOF:     "end of file",
	tIdent:   "IDENT",
	tNumber:  "NUMBER",
	tString:  "STRING",
	tNewline: "NEWLINE",
	tComma:   "','",
	tLBrack:  "'['",
	tRBrack:  "']'",
	tAssign:  "'='",
	tAdd:     `"+="`,
	tSemi:    "';'",
}

type token struct {
	kind tokKind
	text string // the source text (for error messages)
	val  string // the value of an identifier, number or string
	line int
}

type lexer struct {
	src          []byte
	pos          int
	line         int
	file         string
	likelyPython bool
}

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' }
func isIdentChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_'
}
func isNumChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == 'x'
}

func (lx *lexer) errAt(line int, near, msg string) *ParseError {
	return &ParseError{File: lx.file, Line: line, Near: near, Msg: msg}
}

func (lx *lexer) next() (token, error) {
	src := lx.src
	for lx.pos < len(src) && (src[lx.pos] == ' ' || src[lx.pos] == '\t') {
		lx.pos++
	}
	if lx.pos >= len(src) {
		return token{kind: tEOF, line: lx.line}, nil
	}
	start := lx.pos
	c := src[lx.pos]
	line := lx.line
	switch {
	case c == '\n':
		lx.pos++
		lx.line++
		return token{kind: tNewline, text: "", line: line}, nil
	case c == '#':
		for lx.pos < len(src) && src[lx.pos] != '\n' {
			lx.pos++
		}
		text := strings.TrimRight(string(src[start:lx.pos]), " \t")
		if lx.pos < len(src) {
			lx.pos++
			lx.line++
		}
		return token{kind: tNewline, text: text, line: line}, nil
	case isIdentStart(c):
		for lx.pos < len(src) && isIdentChar(src[lx.pos]) {
			lx.pos++
		}
		s := string(src[start:lx.pos])
		return token{kind: tIdent, text: s, val: s, line: line}, nil
	case c >= '0' && c <= '9':
		for lx.pos < len(src) && isNumChar(src[lx.pos]) {
			lx.pos++
		}
		s := string(src[start:lx.pos])
		return token{kind: tNumber, text: s, val: s, line: line}, nil
	case c == ',':
		lx.pos++
		return token{kind: tComma, text: ",", line: line}, nil
	case c == '[':
		lx.pos++
		return token{kind: tLBrack, text: "[", line: line}, nil
	case c == ']':
		lx.pos++
		return token{kind: tRBrack, text: "]", line: line}, nil
	case c == ';':
		lx.pos++
		return token{kind: tSemi, text: ";", line: line}, nil
	case c == '=':
		lx.pos++
		return token{kind: tAssign, text: "=", line: line}, nil
	case c == '+' && lx.pos+1 < len(src) && src[lx.pos+1] == '=':
		lx.pos += 2
		return token{kind: tAdd, text: "+=", line: line}, nil
	case c == '\'' || c == '"':
		if end, ok := scanQuoted(src, lx.pos); ok {
			lx.pos = end
			text := string(src[start:end])
			val, msg := dequote(text)
			if msg != "" {
				return token{}, lx.errAt(line, text, msg)
			}
			return token{kind: tString, text: text, val: val, line: line}, nil
		}
	}
	// Anything else is a lexical error; like flex's lexerr state, the
	// offending text runs up to the next blank or newline.
	if strings.IndexByte("+-.():", c) >= 0 {
		lx.likelyPython = true
	}
	for lx.pos < len(src) && src[lx.pos] != ' ' && src[lx.pos] != '\t' && src[lx.pos] != '\n' {
		lx.pos++
	}
	if lx.pos == start { // cannot happen, but never loop forever
		lx.pos++
	}
	return token{}, lx.errAt(line, string(src[start:lx.pos]), "lexical error")
}

// scanQuoted finds the end of the quoted string starting at src[i]: a
// string may not contain its quote unescaped or a newline, and a backslash
// escapes the next character (except a newline).
func scanQuoted(src []byte, i int) (int, bool) {
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case q:
			return j + 1, true
		case '\n':
			return 0, false
		case '\\':
			if j+1 >= len(src) || src[j+1] == '\n' {
				return 0, false
			}
			j++
		}
	}
	return 0, false
}

// dequote removes the quotes of a string token and interprets its escapes.
// It returns a non-empty message on an invalid escape.
func dequote(text string) (string, string) {
	body := text[1 : len(text)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body, ""
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		nc := body[i] // scanQuoted guarantees a character follows
		switch nc {
		case '"', '\'', '\\':
			b.WriteByte(nc)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x':
			j := i + 1
			for j < len(body) && j < i+3 && isHex(body[j]) {
				j++
			}
			if j == i+1 {
				return "", "invalid digit after backslash hex numerical character escape in quoted string"
			}
			v, _ := strconv.ParseUint(body[i+1:j], 16, 8)
			b.WriteByte(byte(v))
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(body) && j < i+3 && body[j] >= '0' && body[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(body[i:j], 8, 16)
			b.WriteByte(byte(v))
			i = j - 1
		default:
			// (sic: libxlutil's spelling)
			return "", "invalid character after backlash in quoted string"
		}
	}
	return b.String(), ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// ---- parser ----

type parser struct {
	lx   lexer
	cfg  *Config
	peek *token
}

func (p *parser) next() (token, error) {
	if p.peek != nil {
		t := *p.peek
		p.peek = nil
		return t, nil
	}
	return p.lx.next()
}

func (p *parser) unread(t token) { p.peek = &t }

func (p *parser) syntaxErr(t token, expecting ...string) error {
	msg := "syntax error, unexpected " + tokNames[t.kind]
	if len(expecting) > 0 {
		msg += ", expecting " + strings.Join(expecting, " or ")
	}
	return &ParseError{File: p.lx.file, Line: t.line, Near: t.text,
		Newline: t.kind == tNewline && t.text == "", Msg: msg}
}

func (p *parser) parse() error {
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tEOF:
			return nil
		case tNewline, tSemi:
			continue
		case tIdent:
			if err := p.assignment(t); err != nil {
				return err
			}
		default:
			return p.syntaxErr(t, "end of file", "IDENT", "NEWLINE", "';'")
		}
	}
}

func (p *parser) assignment(key token) error {
	op, err := p.next()
	if err != nil {
		return err
	}
	if op.kind != tAssign && op.kind != tAdd {
		return p.syntaxErr(op, "'='", `"+="`)
	}
	v, err := p.value(false)
	if err != nil {
		return err
	}
	end, err := p.next()
	if err != nil {
		return err
	}
	switch end.kind {
	case tNewline, tSemi:
	case tEOF:
		p.unread(end)
	default:
		return p.syntaxErr(end, "NEWLINE", "';'")
	}
	return p.store(key, op, v)
}

func (p *parser) store(key, op token, v Value) error {
	name := key.val
	prev, exists := p.cfg.Keys[name]
	if op.kind == tAdd && exists {
		if prev.IsList != v.IsList {
			return &ParseError{File: p.lx.file, Line: op.line, Near: op.text,
				Msg: `can't add [list] to "string" or vice versa`}
		}
		if v.IsList {
			v.List = append(append([]string(nil), prev.List...), v.List...)
		} else {
			v.Str = prev.Str + v.Str
		}
	}
	if !exists {
		p.cfg.Order = append(p.cfg.Order, name)
	}
	p.cfg.Keys[name] = v
	return nil
}

func (p *parser) skipNewlines() (token, error) {
	for {
		t, err := p.next()
		if err != nil || t.kind != tNewline {
			return t, err
		}
	}
}

func (p *parser) value(inList bool) (Value, error) {
	t, err := p.next()
	if err != nil {
		return Value{}, err
	}
	switch t.kind {
	case tString, tNumber:
		return Value{Str: t.val, Line: t.line}, nil
	case tLBrack:
		if inList {
			return Value{}, &ParseError{File: p.lx.file, Line: t.line, Near: t.text, Msg: "lists in lists are not supported"}
		}
		return p.list(t)
	}
	return Value{}, p.syntaxErr(t, "STRING", "NUMBER", "'['")
}

func (p *parser) list(open token) (Value, error) {
	v := Value{IsList: true, List: []string{}, Line: open.line}
	t, err := p.skipNewlines()
	if err != nil {
		return v, err
	}
	if t.kind == tRBrack {
		return v, nil
	}
	p.unread(t)
	for {
		item, err := p.value(true)
		if err != nil {
			return v, err
		}
		v.List = append(v.List, item.Str)
		t, err := p.skipNewlines()
		if err != nil {
			return v, err
		}
		switch t.kind {
		case tRBrack:
			return v, nil
		case tComma:
		default:
			return v, p.syntaxErr(t, "','", "']'")
		}
		t, err = p.skipNewlines()
		if err != nil {
			return v, err
		}
		if t.kind == tRBrack {
			return v, nil
		}
		p.unread(t)
	}
}
