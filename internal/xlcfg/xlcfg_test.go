package xlcfg

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		want  map[string]Value
		order []string
	}{
		{"empty", "", map[string]Value{}, nil},
		{"only comments", "# a\n\n   # b\n", map[string]Value{}, nil},
		{"string double", `name = "web"` + "\n", map[string]Value{"name": {Str: "web", Line: 1}}, []string{"name"}},
		{"string single", "name='web'\n", map[string]Value{"name": {Str: "web", Line: 1}}, []string{"name"}},
		{"number", "memory = 256\n", map[string]Value{"memory": {Str: "256", Line: 1}}, []string{"memory"}},
		{"hex number", "memory = 0x100\n", map[string]Value{"memory": {Str: "0x100", Line: 1}}, []string{"memory"}},
		{"no final newline", "a = 1\nb = 'x'", map[string]Value{"a": {Str: "1", Line: 1}, "b": {Str: "x", Line: 2}}, []string{"a", "b"}},
		{"semicolons", "a = 1; b = 2;c=3", map[string]Value{"a": {Str: "1", Line: 1}, "b": {Str: "2", Line: 1}, "c": {Str: "3", Line: 1}}, []string{"a", "b", "c"}},
		{"trailing comment", "a = 1 # one\nb = 2 # two", map[string]Value{"a": {Str: "1", Line: 1}, "b": {Str: "2", Line: 2}}, []string{"a", "b"}},
		{"hash in string", `a = "x#y"`, map[string]Value{"a": {Str: "x#y", Line: 1}}, []string{"a"}},
		{"escapes", `a = "q\"\\\t\n\x41\101z"` + "\nb = 'it\\'s'\n", map[string]Value{"a": {Str: "q\"\\\t\nAAz", Line: 1}, "b": {Str: "it's", Line: 2}}, []string{"a", "b"}},
		{"empty list", "disk = []\n", map[string]Value{"disk": {IsList: true, List: []string{}, Line: 1}}, []string{"disk"}},
		{"list", "vif = ['bridge=br0', \"mac=00:16:3e:00:00:01\"]\n",
			map[string]Value{"vif": {IsList: true, List: []string{"bridge=br0", "mac=00:16:3e:00:00:01"}, Line: 1}}, []string{"vif"}},
		{"multiline list with trailing comma and comments", "x = 1\ndisk = [\n  'a', # first\n\n  'b',\n  3,\n]\nname = 'n'\n",
			map[string]Value{
				"x":    {Str: "1", Line: 1},
				"disk": {IsList: true, List: []string{"a", "b", "3"}, Line: 2},
				"name": {Str: "n", Line: 8},
			}, []string{"x", "disk", "name"}},
		{"later assignment wins", "a = 1\nb = 2\na = 'z'\n", map[string]Value{"a": {Str: "z", Line: 3}, "b": {Str: "2", Line: 2}}, []string{"a", "b"}},
		{"append string", "extra = 'a'\nextra += ' b'\n", map[string]Value{"extra": {Str: "a b", Line: 2}}, []string{"extra"}},
		{"append list", "d = ['a']\nd += ['b', 'c']\n", map[string]Value{"d": {IsList: true, List: []string{"a", "b", "c"}, Line: 2}}, []string{"d"}},
		{"append to nothing", "d += 'x'\n", map[string]Value{"d": {Str: "x", Line: 1}}, []string{"d"}},
		{"idents with dots digits underscores", "xlsim_boot_time = '2s'\ndevice.model_1 = 1\n",
			map[string]Value{"xlsim_boot_time": {Str: "2s", Line: 1}, "device.model_1": {Str: "1", Line: 2}}, []string{"xlsim_boot_time", "device.model_1"}},
		{"tabs", "\ta\t=\t'1'\t\n", map[string]Value{"a": {Str: "1", Line: 1}}, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.cfg", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(c.Keys, tc.want) {
				t.Errorf("Keys = %#v\nwant %#v", c.Keys, tc.want)
			}
			if !reflect.DeepEqual(c.Order, tc.order) {
				t.Errorf("Order = %q, want %q", c.Order, tc.order)
			}
			if c.File != "t.cfg" {
				t.Errorf("File = %q", c.File)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		want   string
		python bool
	}{
		{"missing value", "name = 'a'\nmemory =\n", "t.cfg:2: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['", false},
		{"missing equals", "\n\nname 'web'\n", "t.cfg:3: config parsing error near `'web'': syntax error, unexpected STRING, expecting '=' or \"+=\"", false},
		{"bare word value", "type = hvm\n", "t.cfg:1: config parsing error near `hvm': syntax error, unexpected IDENT, expecting STRING or NUMBER or '['", false},
		{"upper case key", "a = 1\nMemory = 1\n", "t.cfg:2: config parsing error near `Memory': lexical error", false},
		{"python", "memory = 1.5\n", "t.cfg:1: config parsing error near `.5': lexical error", true},
		{"python call", "a = 1\nb = f(x)\n", "t.cfg:2: config parsing error near `f': syntax error, unexpected IDENT, expecting STRING or NUMBER or '['", true},
		{"unterminated string", "a = 1\nname = 'web\n", "t.cfg:2: config parsing error near `'web': lexical error", false},
		{"string across lines", "name = \"a\nb\"\n", "t.cfg:1: config parsing error near `\"a': lexical error", false},
		{"bad escape", `name = "a\qb"`, "t.cfg:1: config parsing error near `\"a\\qb\"': invalid character after backlash in quoted string", false},
		{"bad hex escape", `name = "a\xzz"`, "t.cfg:1: config parsing error near `\"a\\xzz\"': invalid digit after backslash hex numerical character escape in quoted string", false},
		{"unclosed list", "disk = [ 'a',\n 'b'\n", "t.cfg:3: config parsing error near : syntax error, unexpected end of file, expecting ',' or ']'", false},
		{"missing comma", "disk = [ 'a'\n 'b' ]\n", "t.cfg:2: config parsing error near `'b'': syntax error, unexpected STRING, expecting ',' or ']'", false},
		{"leading comma", "disk = [ , 'a' ]\n", "t.cfg:1: config parsing error near `,': syntax error, unexpected ',', expecting STRING or NUMBER or '['", false},
		{"nested list", "a = [ [ 1 ] ]\n", "t.cfg:1: config parsing error near `[': lists in lists are not supported", false},
		{"two values", "a = 1 2\n", "t.cfg:1: config parsing error near `2': syntax error, unexpected NUMBER, expecting NEWLINE or ';'", false},
		{"value then comment error", "a = 1 = 2\n", "t.cfg:1: config parsing error near `=': syntax error, unexpected '=', expecting NEWLINE or ';'", false},
		{"stray bracket", "\n]\n", "t.cfg:2: config parsing error near `]': syntax error, unexpected ']', expecting end of file or IDENT or NEWLINE or ';'", false},
		{"add list to string", "a = 'x'\na += ['y']\n", "t.cfg:2: config parsing error near `+=': can't add [list] to \"string\" or vice versa", false},
		{"crlf", "a = 1\r\n", "t.cfg:1: config parsing error near `\r': lexical error", false},
		{"value ends at comment", "a = # nothing\n", "t.cfg:1: config parsing error near `# nothing': syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.cfg", []byte(tc.src))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q\nwant    %q", err.Error(), tc.want)
			}
			pe, ok := err.(*ParseError)
			if !ok {
				t.Fatalf("error is %T, not *ParseError", err)
			}
			if pe.LikelyPython != tc.python {
				t.Errorf("LikelyPython = %v, want %v", pe.LikelyPython, tc.python)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	src := `name = "web"
memory = 512
maxmem = "0x400"
octal = 010
vcpus = "two"
big = 99999999999999999999
vif = [ 'bridge=br0' ]
kernel = "/boot/vmlinuz"
`
	c, err := Parse("g.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := c.String("name"); !ok || s != "web" {
		t.Errorf("String(name) = %q, %v", s, ok)
	}
	if s, ok := c.String("memory"); !ok || s != "512" {
		t.Errorf("String(memory) = %q, %v", s, ok)
	}
	if _, ok := c.String("vif"); ok {
		t.Error("String(vif) ok for a list")
	}
	if _, ok := c.String("nope"); ok {
		t.Error("String(nope) ok")
	}
	intCases := []struct {
		key     string
		want    int64
		ok      bool
		wantErr string
	}{
		{"memory", 512, true, ""},
		{"maxmem", 1024, true, ""},
		{"octal", 8, true, ""},
		{"nope", 0, false, ""},
		{"vcpus", 0, true, "g.cfg:5: warning: parameter `vcpus' is not a valid number"},
		{"big", 0, true, "g.cfg:6: warning: parameter `big' could not be parsed as a number: Numerical result out of range"},
		{"vif", 0, true, "g.cfg:7: warning: parameter `vif' is a list but should be a single value"},
	}
	for _, ic := range intCases {
		n, ok, err := c.Int(ic.key)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if n != ic.want || ok != ic.ok || gotErr != ic.wantErr {
			t.Errorf("Int(%s) = %d, %v, %q; want %d, %v, %q", ic.key, n, ok, gotErr, ic.want, ic.ok, ic.wantErr)
		}
	}
	if l := c.List("vif"); !reflect.DeepEqual(l, []string{"bridge=br0"}) {
		t.Errorf("List(vif) = %q", l)
	}
	if l := c.List("kernel"); !reflect.DeepEqual(l, []string{"/boot/vmlinuz"}) {
		t.Errorf("List(kernel) = %q", l)
	}
	if l := c.List("nope"); l != nil {
		t.Errorf("List(nope) = %q", l)
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "web.cfg")
	if err := os.WriteFile(p, []byte("name = 'web'\nmemory = \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFile(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+":2: ") {
		t.Fatalf("ParseFile error = %v", err)
	}
	if _, err := ParseFile(filepath.Join(dir, "missing.cfg")); !os.IsNotExist(err) {
		t.Fatalf("ParseFile(missing) error = %v", err)
	}
}

func TestPythonWarning(t *testing.T) {
	_, err := Parse("p.cfg", []byte("import os\n"))
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(PythonWarning, "Arbitrary Python is no longer supported") {
		t.Fatal("PythonWarning text")
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"", "name = 'web'\n", "a = [ 'x', 1,\n]\n", "a = \"\\x41\\101\\n\"", "# c\nb += 'x'; b += 'y'",
		"disk = [ 'phy:/dev/vg/a,xvda,w',\n # c\n 'b' ]", "a = 1.5", "A=1", "a = [[1]]", "a = '\\", "x = 0x1f\n",
		"a=[\n,]", "a += [1]\na += 'x'",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse("fuzz.cfg", src)
		if err != nil {
			if c != nil {
				t.Fatal("config and error both returned")
			}
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error of type %T", err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.cfg:") {
				t.Fatalf("error without file: %q", err)
			}
			return
		}
		if len(c.Order) != len(c.Keys) {
			t.Fatalf("Order %q vs %d keys", c.Order, len(c.Keys))
		}
		for _, k := range c.Order {
			v, ok := c.Keys[k]
			if !ok {
				t.Fatalf("key %q in Order but not in Keys", k)
			}
			_, _, _ = c.Int(k)
			_, _ = c.String(k)
			_ = c.List(k)
			if v.Line < 1 {
				t.Fatalf("key %q line %d", k, v.Line)
			}
		}
	})
}

func TestPrograms(t *testing.T) {
	src := `name = "web"
bootloader = "pygrub"
vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0', 'bridge=xenbr1, script = vif-openvswitch', 'script=/opt/net/vif-mine' ]
disk = [ 'format=raw, vdev=xvda, access=rw, script=block-drbd, target=/dev/drbd0', 'phy:/dev/vg/web,xvdb,w' ]
device_model_override = "/usr/local/bin/qemu-mine"
`
	c, err := Parse("web.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Programs()
	want := []Program{
		{Key: "bootloader", Name: "pygrub", Line: 2},
		{Key: "vif script", Name: "vif-openvswitch", Line: 3},
		{Key: "vif script", Name: "/opt/net/vif-mine", Line: 3},
		{Key: "disk script", Name: "block-drbd", Line: 4},
		{Key: "device_model_override", Name: "/usr/local/bin/qemu-mine", Line: 5},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Programs() =\n%v\nwant\n%v", got, want)
	}
	none, _ := Parse("plain.cfg", []byte("name = \"x\"\nvif = [ 'bridge=xenbr0' ]\n"))
	if p := none.Programs(); len(p) != 0 {
		t.Errorf("a config naming no program: Programs() = %v", p)
	}
}
