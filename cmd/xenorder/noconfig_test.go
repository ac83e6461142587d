package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The package ships no live config: until the admin writes or imports one,
// every command that reads it exits 2 and says how to write one; import,
// which writes one, works without it, as do help and version.
func TestMissingConfigSaysHowToWriteOne(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	missing := filepath.Join(h.dir, "nowhere", "xenorder.toml")
	spaced := filepath.Join(h.dir, "it's here.toml")
	cases := []struct {
		name string
		env  string // XENORDER_CONFIG
		args []string
		path string // the path the message names, as the shell needs it
	}{
		{"start -c", "", []string{"-c", missing, "start"}, missing},
		{"stop --config", "", []string{"stop", "--config", missing}, missing},
		{"status", missing, []string{"status"}, missing},
		{"check", missing, []string{"check"}, missing},
		{"plan", missing, []string{"plan"}, missing},
		{"plan stop", missing, []string{"plan", "stop"}, missing},
		{"graph", missing, []string{"graph"}, missing},
		{"plot", missing, []string{"plot"}, missing},
		{"drain", missing, []string{"drain", "web"}, missing},
		{"drains", missing, []string{"drains"}, missing},
		{"restore", missing, []string{"restore", "web"}, missing},
		{"restart", missing, []string{"restart", "web"}, missing},
		{"a path a shell must quote", "", []string{"-c", spaced, "status"}, `'` + strings.ReplaceAll(spaced, `'`, `'\''`) + `'`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.extraEnv = nil
			if c.env != "" {
				h.extraEnv = []string{"XENORDER_CONFIG=" + c.env}
			}
			r := h.xenorder(c.args...)
			mustExit(t, r, 2)
			for _, want := range []string{
				"does not exist",
				"xenorder import > " + c.path,
				"cp /usr/share/doc/xenorder/examples/xenorder.toml " + c.path,
				"xenorder check",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("no %q in\n%s", want, r)
				}
			}
		})
	}
	h.extraEnv = nil
	if n := len(stateChanging(h)); n != 0 {
		t.Errorf("%d state-changing xl calls without a config", n)
	}

	// help and version need none either.
	for _, args := range [][]string{{"help"}, {"help", "stop"}, {"version"}, {"--version"}} {
		mustExit(t, h.xenorder(append([]string{"-c", missing}, args...)...), 0)
	}

	// import needs no config, and what it writes is one.
	h.extraEnv = []string{"XENORDER_CONFIG=" + missing}
	auto, err := filepath.Abs("../../testdata/xendomains/auto")
	if err != nil {
		t.Fatal(err)
	}
	r := h.xenorder("import", "--auto-dir", auto, "--defaults", filepath.Join(filepath.Dir(auto), "default"))
	mustExit(t, r, 0)
	if !strings.Contains(r.stdout, "[guest.") {
		t.Fatalf("import wrote no guest:\n%s", r)
	}
	if err := os.MkdirAll(filepath.Dir(missing), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(missing, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	mustExit(t, h.xenorder("check"), 0)
}
