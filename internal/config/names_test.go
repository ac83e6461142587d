package config

import (
	"errors"
	"strings"
	"testing"
)

// TestBadGuestNames: a name xl would not read as that name is a config
// error naming the file, the line and the guest (escaped: never raw on the
// terminal) and saying what to do.
func TestBadGuestNames(t *testing.T) {
	const file = "/etc/xen/xenorder.toml"
	const fix = "rename the guest, here and in its xl config's name = line"
	tests := []struct {
		name string
		key  string // the table's key, as written in TOML
		want string // the whole problem
	}{
		{"digits", `"3"`, file + `:3: guest 3: guest name "3" is all digits: xl reads it as a domain id (xl shutdown 3 would stop domain id 3, whatever its name); ` + fix + ` (for example "guest3")`},
		{"bare digits", `007`, file + `:3: guest 007: guest name "007" is all digits: xl reads it as a domain id (xl shutdown 007 would stop domain id 007, whatever its name); ` + fix + ` (for example "guest007")`},
		{"leading dash", `-f`, file + `:3: guest -f: guest name "-f" starts with '-': xl reads it as options; ` + fix},
		{"Domain-0", `Domain-0`, file + `:3: guest Domain-0: Domain-0 is dom0 itself and cannot be managed as a guest`},
		{"(null)", `"(null)"`, file + `:3: guest (null): guest name "(null)" is what xl list shows for a domain without a name; ` + fix},
		{"space", `"web 1"`, file + `:3: guest web 1: guest name "web 1" contains U+0020, a space, control or invisible character: xl list's columns and the terminal would show it wrong; ` + fix + `, with letters, digits, '-', '_' or '.'`},
		{"tab", `"web\t1"`, file + `:3: guest web\t1: guest name "web\t1" contains U+0009, a space`},
		{"newline", `"web\n1"`, file + `:3: guest web\n1: guest name "web\n1" contains U+000A, a space`},
		{"escape sequence", `"web\u001b[2J"`, file + `:3: guest web\x1b[2J: guest name "web\x1b[2J" contains U+001B, a space`},
		{"DEL", `"web\u007f"`, file + `:3: guest web\x7f: guest name "web\x7f" contains U+007F, a space`},
		{"C1 CSI", `"web\u009b2J"`, file + `:3: guest web\u009b2J: guest name "web\u009b2J" contains U+009B, a space`},
		{"no-break space", `"web\u00a01"`, file + `:3: guest web` + "\u00a0" + `1: guest name "web\u00a01" contains U+00A0, a space`},
		{"zero-width space", `"web\u200b"`, file + `:3: guest web` + "\u200b" + `: guest name "web\u200b" contains U+200B, a space`},
		{"bidi override", `"web\u202e"`, file + `:3: guest web\u202e: guest name "web\u202e" contains U+202E, a space`},
		{"slash", `"a/b"`, file + `:3: guest a/b: guest name "a/b" may not contain a slash: xenorder names files after guests; ` + fix},
		{"empty", `""`, file + `:3: [guest.""]: empty guest name; name it as its xl config's name = line`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "[guest.ok]\n\n[guest." + tt.key + "]\n"
			cfg, err := Parse(file, []byte(src))
			var ce *Error
			if cfg != nil || !errors.As(err, &ce) {
				t.Fatalf("got %v, %v; want a *config.Error", cfg, err)
			}
			if len(ce.Problems) != 1 {
				t.Fatalf("%d problems:\n%s", len(ce.Problems), ce)
			}
			if got := ce.Error(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			if got := ce.Error(); got != Printable(got) {
				t.Errorf("the error would reach the terminal raw: %q", got)
			}
		})
	}

	// The same rules for an external node, with its own advice.
	_, err := Parse(file, []byte("[external.\"80\"]\n[[external.\"80\".ready]]\ntcp = \"10.0.0.1:80\"\n"))
	if want := file + `:1: external 80: guest name "80" is all digits: xl reads it as a domain id (xl shutdown 80 would stop domain id 80, whatever its name); rename the node (for example "guest80")`; err == nil || err.Error() != want {
		t.Errorf("external:\n got %v\nwant %s", err, want)
	}

	// What xl takes as a name passes.
	for _, name := range []string{"web", "Domain-N", "db.example.org", "3web", "web-3", "web_3", "wéb", "x-", "web\\1"} {
		if err := validName(name, false); err != nil {
			t.Errorf("validName(%q): %v", name, err)
		}
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web", "web"},
		{"wéb → 日本", "wéb → 日本"},
		{`back\slash`, `back\slash`},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"a\nb\tc\rd", `a\nb\tc\rd`},
		{"\x00\x07\x7f", `\x00\x07\x7f`},
		{"a\u009b2J", `a\u009b2J`},
		{"a\u0085", `a\u0085`},
		{"a\u202eb\u2066", `a\u202eb\u2066`},
		{"a\xffb", `a\xffb`},
		{"\xc2", `\xc2`},
	}
	for _, tt := range tests {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
