package xlsim

import (
	"bytes"
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
		strs := []string{"plain", "with \"quotes\" and \\ and /", "line\nbreak\ttab\r\x00\x1f\x7f", "<&> é ü 日本 \u2028 😀", "bad \xff\xfe utf-8"}
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

func TestStateCodecRoundTrip(t *testing.T) {
	var n int
	var d1, d2 Domain
	fill(t, reflect.ValueOf(&d1).Elem(), &n)
	fill(t, reflect.ValueOf(&d2).Elem(), &n)
	name := "dev"
	st := &State{
		NextDomid: 42,
		Domains:   []*Domain{&d1, {ID: 7, Phase: phaseRunning}, &d2},
		Gone:      map[int]GoneInfo{3: {Why: "shutdown", Reason: 2}, 12: {Why: "destroyed"}, 5: {Why: "migrated"}},
		PCI:       map[string]*PCIDevState{"0000:00:19.0": {Driver: "e1000e"}, "0000:00:1f.3": {Driver: "pciback", DriverPath: "/x", Name: &name, Quarantined: true}},
	}
	b := encodeState(nil, st)
	back, err := decodeState(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// The commit writes into the buffer read: nothing decoded is in it.
	js0 := string(b)
	encodeState(b[:0], &State{NextDomid: 1})
	clear(b)
	if !reflect.DeepEqual(back, st) {
		t.Errorf("the state came back otherwise:\n%s\n got %+v\nwant %+v", js0, *back.Domains[0], d1)
	}
	b = []byte(js0)
	// Every field is there: a field the codec forgets comes back zero.
	if d := back.Domains[0]; d.B.Console == nil || d.RunSince.IsZero() || len(d.PCI) != 2 || d.PCI[1].Addr.Func == 0 {
		t.Errorf("fields lost: %+v", d)
	}
	// It is JSON (for people, and for tests that read the PCI state).
	var js map[string]any
	if err := json.Unmarshal(b, &js); err != nil {
		t.Errorf("state.json is not JSON: %v\n%s", err, b)
	}

	// A state with nothing in it, and one from an encoder of another
	// format.
	empty := &State{}
	if back, err := decodeState(encodeState(nil, empty)); err != nil || !reflect.DeepEqual(back, empty) {
		t.Errorf("empty state: %v %+v", err, back)
	}
	for _, bad := range []string{``, `{`, `{"next_domid":1,"domains":[{"id":1,"name":"a","xenstore":{}}]}`,
		`{"domains":[],"next_domid":1}`, `{"next_domid":1}x`, `{"next_domid":"1"}`, `{"next_domid":1,"domains":[{"name":"a`} {
		if _, err := decodeState([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestLogLinesAsJSON(t *testing.T) {
	rc := 3
	now := time.Now()
	for _, s := range []string{"", "g05", "a\"b\\c</script>&", "\x00\x01\b\f\n\r\t\x7f", "é\u2028\u2029 \xff x\xc3"} {
		for _, r := range []callRecord{
			{Ev: "begin", ID: "1-2", T: now, Prog: "xl", Args: []string{"shutdown", s}},
			{Ev: "begin", ID: s, T: now.UTC(), Prog: s, Args: []string{}},
			{Ev: "end", ID: "1-2", T: now, RC: &rc},
		} {
			want, _ := json.Marshal(r)
			got, err := r.appendJSON(nil)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("calls.log line:\n got %s (%v)\nwant %s", got, err, want)
			}
		}
		for _, ev := range []Event{
			{T: now, Domain: s, Domid: 5, Ev: "booted"},
			{T: now, Domain: "a", Domid: 6, Ev: "rebooted", PrevDomid: 5},
			{T: now, Domain: "a", Ev: "migrated", Host: s},
		} {
			want, _ := json.Marshal(ev)
			got, err := ev.appendJSON(nil)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("events.log line:\n got %s (%v)\nwant %s", got, err, want)
			}
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
		"bad \xff": "line\nbreak\x00\x7f <&> \u2028 日本", "": "empty key",
	}} {
		got := map[string]string{}
		decodeXS(encodeXS(m), got)
		if !reflect.DeepEqual(got, m) {
			t.Errorf("got %q, want %q", got, m)
		}
	}
}
