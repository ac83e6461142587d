package xlsim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fill sets every field of v (but a Domain's XS) to a value that is not
// zero, different for each field.
func fill(t *testing.T, v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n) * 1000003)
		if *n%2 == 0 {
			v.SetInt(-v.Int())
		}
	case reflect.Uint32:
		v.SetUint(uint64(1<<32 - *n))
	case reflect.Float64:
		v.SetFloat(float64(*n) / 3)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.String:
		strs := []string{"plain", "with \"quotes\" and \\ and /", "line\nbreak\ttab\r\x00\x1f\x7f", "<&> é ü 日本 \u2028 😀"}
		v.SetString(strs[*n%len(strs)])
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(t, v.Index(0), n)
		fill(t, v.Index(1), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1700000000+int64(*n), int64(*n)*7)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).Name == "XS" {
				continue
			}
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: %s", v.Type())
	}
}

func TestStateRoundTrip(t *testing.T) {
	var n int
	var d1, d2 Domain
	fill(t, reflect.ValueOf(&d1).Elem(), &n)
	fill(t, reflect.ValueOf(&d2).Elem(), &n)
	d1.XS = xsOf(map[string]string{"data/secret": "in a file of its own"})
	name := "dev"
	st := &State{
		NextDomid: 42,
		Domains:   []*Domain{&d1, {ID: 7, Phase: phaseRunning}, &d2},
		Gone:      map[int]GoneInfo{3: {Why: "shutdown", Reason: 2}, 12: {Why: "destroyed"}, 5: {Why: "migrated"}},
		PCI:       map[string]*PCIDevState{"0000:00:19.0": {Driver: "e1000e"}, "0000:00:1f.3": {Driver: "pciback", DriverPath: "/x", Name: &name, Quarantined: true}},
	}
	b := encodeState(st)
	if strings.Contains(string(b), "data/secret") {
		t.Errorf("a domain's xenstore keys in state.json:\n%s", b)
	}
	back, err := decodeState(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	d1.XS = xenstore{}
	for _, d := range back.Domains {
		for _, p := range []*time.Time{&d.PausedAt, &d.CreatedAt, &d.BuiltAt, &d.BootDue, &d.CrashDue, &d.RebootDue, &d.ShutdownDue, &d.ReapDue, &d.RunSince} {
			if !p.IsZero() {
				*p = p.Local() // read back in the zone written, the same instant
			}
		}
	}
	if !reflect.DeepEqual(back, st) {
		t.Errorf("the state came back otherwise:\n%s\n got %+v\nwant %+v", b, *back.Domains[0], d1)
	}
	// Every field is there: a field left out comes back zero.
	if d := back.Domains[0]; d.B.Console == nil || d.RunSince.IsZero() || len(d.PCI) != 2 || d.PCI[1].Addr.Func == 0 {
		t.Errorf("fields lost: %+v", d)
	}

	empty := &State{}
	if back, err := decodeState(encodeState(empty)); err != nil || !reflect.DeepEqual(back, empty) {
		t.Errorf("empty state: %v %+v", err, back)
	}
	for _, bad := range []string{``, `{`, `{"next_domid":1}x`, `{"next_domid":"1"}`, `{"next_domid":1,"domains":[{"name":"a`, `{"domains":[null]}`} {
		if _, err := decodeState([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestXenstoreFiles: a domain's xenstore keys are in a file of their own,
// written when they change only, and gone with the domain.
func TestXenstoreFiles(t *testing.T) {
	dir, cfg, run := oneGuestHost(t, "xlsim_xenstore = ['data/ready=1']")
	file := filepath.Join(dir, "xenstore", "1.json")
	inode := func() uint64 { return inodeOf(t, file) }
	run("xl", "create", cfg)
	if got := run("xenstore-read", "/local/domain/1/data/ready", "/local/domain/1/name", "/local/domain/0/name"); got != "1\nv\nDomain-0\n" {
		t.Errorf("xenstore-read: %q", got)
	}
	written := inode()
	run("xl", "pause", "v") // changes the state, not the keys
	run("xl", "unpause", "v")
	if inode() != written {
		t.Error("keys nobody changed were written again")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state.json")); strings.Contains(string(b), `"data/ready":`) || strings.Contains(string(b), `"control/feature-poweroff"`) {
		t.Errorf("xenstore keys in state.json:\n%s", b)
	}
	run("xl", "destroy", "v")
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the keys of a destroyed domain stay: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "xenstore", "0.json")); err != nil {
		t.Error(err)
	}
}

// TestXenstoreSaved: a save file has the domain's keys, read from their
// file when nobody looked at them.
func TestXenstoreSaved(t *testing.T) {
	dir := t.TempDir()
	d := &Domain{ID: 4, XS: xenstore{dir: dir, id: 4}}
	if b, err := json.Marshal(d); err != nil || !strings.Contains(string(b), `"xenstore":{}`) {
		t.Errorf("no file: %s %v", b, err)
	}
	os.WriteFile(filepath.Join(dir, "4.json"), []byte(`{"data/x":"1","name":"a"}`), 0o644)
	b, err := json.Marshal(d)
	if err != nil || !strings.Contains(string(b), `"xenstore":{"data/x":"1","name":"a"}`) {
		t.Errorf("from the file: %s %v", b, err)
	}
	var back Domain
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.XS.kv(); !reflect.DeepEqual(got, map[string]string{"data/x": "1", "name": "a"}) {
		t.Errorf("read back: %v", got)
	}
}

func TestXenstoreCodec(t *testing.T) {
	for _, m := range []map[string]string{{}, {"name": "a"}, {
		"data/x": "with \"quotes\" and \\", "console/limit": "1048576", "control/shutdown": "",
		"odd": "line\nbreak\x00\x7f <&> \u2028 日本", "": "empty key",
	}} {
		got := map[string]string{}
		decodeXS(encodeXS(m), got)
		if !reflect.DeepEqual(got, m) {
			t.Errorf("got %q, want %q", got, m)
		}
	}
}
