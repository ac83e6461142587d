package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// nestedTOML is about size bytes of inline tables nested in one another:
// a = {b={b={...}}}. BurntSushi/toml took 264 MB to parse 8 KB of it.
func nestedTOML(size int) []byte {
	n := (size - 8) / 4
	return []byte("a = " + strings.Repeat("{b=", n) + "1" + strings.Repeat("}", n) + "\n")
}

// allocated returns the bytes f allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLimitsRefuseBeforeParsing: a file too deep or too big is refused by
// Load, Check and Parse with one problem naming the file (and, for depth, the
// line) and the limit, allocating little: it never reaches the TOML parser.
func TestLimitsRefuseBeforeParsing(t *testing.T) {
	dir := t.TempDir()
	deep := nestedTOML(8 << 10)
	// Two lines first: the problem names the line where the limit is passed.
	deep = append([]byte("# nested\n[defaults]\n"), deep...)
	big := []byte(strings.Repeat("# a comment line of a config far too big for xenorder\n", (2<<20)/54+1))
	if len(deep) < 8<<10 || len(big) <= 2<<20 {
		t.Fatalf("test files of %d and %d bytes", len(deep), len(big))
	}
	tests := []struct {
		name     string
		src      []byte
		want     string // the whole problem after the file name
		maxAlloc uint64 // bytes one refusal may allocate
	}{
		{"8 KB of nested inline tables", deep,
			":3: [ and { nest 9 deep here; xenorder's limit is 8 (its own keys need at most 5): not parsed (write the guest as a [guest.NAME] table instead of nested inline tables)",
			1 << 20},
		{"2 MiB", big,
			": config is larger than 1048576 bytes (1 MiB), xenorder's limit: not parsed (is this the right file? 10,000 guests take about 700 KB)",
			// Load and Check see its size and read nothing; Parse is
			// handed it.
			64 << 10},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".toml")
		if err := os.WriteFile(path, tt.src, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, load := range []struct {
			name string
			f    func() (*Config, error)
		}{
			{"Load", func() (*Config, error) { return Load(path) }},
			{"Check", func() (*Config, error) { return Check(path) }},
			{"Parse", func() (*Config, error) { return Parse(path, tt.src) }},
		} {
			t.Run(tt.name+"/"+load.name, func(t *testing.T) {
				var cfg *Config
				var err error
				n := allocated(func() { cfg, err = load.f() })
				var ce *Error
				if cfg != nil || !errors.As(err, &ce) {
					t.Fatalf("got %v, %v; want a *config.Error", cfg, err)
				}
				if got, want := err.Error(), path+tt.want; got != want {
					t.Errorf("error\n got %s\nwant %s", got, want)
				}
				if n > tt.maxAlloc {
					t.Errorf("allocated %d bytes, want at most %d", n, tt.maxAlloc)
				}
			})
		}
	}
}

// TestLimitsAdmitTheSchema: what xenorder's own keys need passes, however it
// is written, and a file just at the size limit is parsed.
func TestLimitsAdmitTheSchema(t *testing.T) {
	for _, src := range []string{
		"guest = { web = { ready = [ { exec = [\"true\"] } ] } }\n",
		"[guest.web]\n[[guest.web.ready]]\nexec = [\"true\", \"[[[[[[[[[\"]\n",
		"[[guest.web.ready]]\nexec = [\"sh\", \"-c\", '''{{{{{{{{{{'''] # [[[[[[[[[[\n",
	} {
		if _, err := Parse("/etc/xen/xenorder.toml", []byte(src)); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
	at := []byte("[guest.a]\n" + strings.Repeat("#", MaxConfigSize-11) + "\n")
	if len(at) != MaxConfigSize {
		t.Fatalf("%d bytes", len(at))
	}
	path := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(path, at, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := LoadTOML(path); err != nil || len(cfg.Guests) != 1 {
		t.Errorf("a config of exactly %d bytes: %v", MaxConfigSize, err)
	}
}

// TestNestingDepth: brackets count outside strings and comments only, as
// TOML lexes them.
func TestNestingDepth(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		line  int // where the scan stopped: the line past max, or the last
		depth int
		ok    bool
	}{
		{"empty", "", 1, 0, true},
		{"header", "[guest.a]\n", 2, 0, true},
		{"array of tables header", "[[guest.a.ready]]\n", 2, 0, true},
		{"three deep", "a = [[[1]]]\n", 2, 0, true},
		{"four deep", "a = [[[[1]]]]\n", 1, 4, false},
		{"inline tables", "\n\na = {b={c={d={e=1}}}}\n", 3, 4, false},
		{"inline tables three deep", "a = {b={c={d=1}}}\n", 2, 0, true},
		{"left open", "a = [[1,\n2,\n", 3, 2, true},
		{"in a basic string", `a = "[[[[{{{{"` + "\n", 2, 0, true},
		{"escaped quote", `a = "\"[[[[" ` + "\n", 2, 0, true},
		{"escaped backslash then quote", `a = "\\" [[[[1]]]]` + "\n", 1, 4, false},
		{"in a literal string", `a = '\' [[[[1]]]]` + "\n", 1, 4, false},
		{"literal string", `a = '[[[[' ` + "\n", 2, 0, true},
		{"in a comment", "a = 1 # [[[[{{{{\n", 2, 0, true},
		{"comment ends at the line", "a = 1 # x\nb = [[[[1]]]]\n", 2, 4, false},
		{"# in a string is no comment", `a = "#" ` + "\nb = [[[[1]]]]\n", 2, 4, false},
		{"multi-line basic", "a = \"\"\"\n[[[[\n\"\"[[[[\n\"\"\"\nb = 1\n", 6, 0, true},
		{"multi-line basic, escaped quotes", "a = \"\"\"\\\"\"\"[[[[\"\"\"\n", 2, 0, true},
		{"multi-line basic, quotes before the end", "a = \"\"\"x\"\"\"\"\" [[[[1]]]]\n", 1, 4, false},
		{"multi-line literal", "a = '''\n{{{{\n'''\nb = [[[[1]]]]\n", 4, 4, false},
		{"multi-line literal, no escapes", "a = '''\\''' [[[[1]]]]\n", 1, 4, false},
		{"basic string left open ends at its line", "a = \"[[[[\nb = [[[[1]]]]\n", 2, 4, false},
		{"line-ending backslash in a basic string", "a = \"x\\\nb = [[[[1]]]]\n", 2, 4, false},
		{"quoted key", `"[[[[" = 1` + "\n", 2, 0, true},
		{"string left open at the end", `a = """[[[[`, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, depth, ok := nestingDepth([]byte(tt.src), 3)
			if line != tt.line || depth != tt.depth || ok != tt.ok {
				t.Errorf("nestingDepth(%q, 3) = line %d, depth %d, %v; want line %d, depth %d, %v",
					tt.src, line, depth, ok, tt.line, tt.depth, tt.ok)
			}
		})
	}
}

// TestManyUnknownDependencies: "did you mean" compares a name with every
// guest's; a file of thousands of guests with unknown dependencies gets it
// for the first maxSuggestions only, not in a time of their number squared.
func TestManyUnknownDependencies(t *testing.T) {
	const n = 4000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[guest.guest%d]\ndepends_on = [\"guest%dx\"]\n", i, i)
	}
	var err error
	alloc := allocated(func() { _, err = Parse("/etc/xen/xenorder.toml", []byte(b.String())) })
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != n {
		t.Fatalf("got %v", err)
	}
	suggested := 0
	for _, p := range ce.Problems {
		if strings.Contains(p.Msg, "did you mean") {
			suggested++
		} else if !strings.Contains(p.Msg, "(declare it as [guest.") {
			t.Errorf("problem %s", p)
		}
	}
	if suggested != maxSuggestions {
		t.Errorf("%d problems with a suggestion, want %d", suggested, maxSuggestions)
	}
	if alloc > 64<<20 {
		t.Errorf("allocated %d MB, want at most 64", alloc>>20)
	}
}
