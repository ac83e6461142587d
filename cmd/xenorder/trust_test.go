package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenorder/xenorder/internal/config"
)

const nobody = 65534

// probeScript writes an exec probe program that leaves a mark when it
// runs, with mode, and names it in guest monitor's probes.
func (h *host) probeScript(mode os.FileMode) (prog, mark string) {
	h.t.Helper()
	dir := filepath.Join(h.dir, "probes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	prog, mark = filepath.Join(dir, "ready.sh"), filepath.Join(h.sim, "probe.ran")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ntouch "+mark+"\n"), 0o700); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chmod(prog, mode); err != nil {
		h.t.Fatal(err)
	}
	h.appendTo("xenorder.toml", "[[guest.monitor.ready]]\nexec = [\""+prog+"\"]")
	return prog, mark
}

// Every command that runs something refuses, with exit 2, a config others
// can change or a program others can change, before any xl call or probe:
// the message names the path and the command that fixes it.
func TestTrustRefuses(t *testing.T) {
	cases := []struct {
		name   string
		asRoot bool
		// setup makes one file unsafe and returns its path and the fix.
		setup func(h *host) (path, fix string)
	}{
		{"a world-writable config", false, func(h *host) (string, string) {
			os.Chmod(h.toml, 0o666)
			return h.toml, "chmod go-w " + h.toml
		}},
		{"a config owned by another user", true, func(h *host) (string, string) {
			if err := os.Chown(h.toml, nobody, -1); err != nil {
				h.t.Fatal(err)
			}
			return h.toml, "chown root " + h.toml
		}},
		{"a group-writable folder above the config", false, func(h *host) (string, string) {
			os.Chmod(h.dir, 0o775)
			return h.dir, "chmod go-w " + h.dir
		}},
		{"a group-writable exec probe program", false, func(h *host) (string, string) {
			prog, _ := h.probeScript(0o775)
			return prog, "chmod go-w " + prog
		}},
		{"a world-writable xl config", false, func(h *host) (string, string) {
			p := filepath.Join(h.dir, "xl", "web.cfg")
			os.Chmod(p, 0o646)
			return p, "chmod go-w " + p
		}},
		{"a world-writable folder searched on PATH before xl", false, func(h *host) (string, string) {
			fake := filepath.Join(h.dir, "fakebin")
			os.Chmod(fake, 0o777)
			return fake, "chmod go-w " + fake
		}},
	}
	commands := [][]string{{"start"}, {"status"}, {"stop"}, {"plan", "start"}, {"start", "--dry-run"}, {"graph"}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.asRoot && os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user")
			}
			h := newHost(t)
			_, mark := h.probeScript(0o755) // a safe probe: it must not run either
			path, fix := tc.setup(h)
			for _, args := range commands {
				r := h.xenorder(args...)
				mustExit(t, r, 2)
				if !strings.Contains(r.stderr, "unsafe permissions: "+path+" (") || !strings.Contains(r.stderr, "fix: "+fix+"\n") {
					t.Errorf("xenorder %s: the message must name %s and the fix %q:\n%s", strings.Join(args, " "), path, fix, r)
				}
				if !strings.Contains(r.stderr, "refusing to run") {
					t.Errorf("xenorder %s: the message must say it refuses:\n%s", strings.Join(args, " "), r)
				}
			}
			if calls := h.calls(); len(calls) > 0 {
				t.Errorf("xl was called %d times (first: xl %s); want none", len(calls), strings.Join(calls[0].Args, " "))
			}
			if _, err := os.Stat(mark); err == nil {
				t.Error("an exec probe ran")
			}
			r := h.xenorder("check")
			mustExit(t, r, 2)
			if !strings.Contains(r.stderr, "unsafe permissions: "+path+" (") || !strings.Contains(r.stderr, "fix: "+fix+"\n") {
				t.Errorf("check must list %s with its fix:\n%s", path, r)
			}
		})
	}
}

// check lists every problem at once, and a config with safe modes passes.
func TestTrustCheckListsAll(t *testing.T) {
	h := newHost(t)
	prog, _ := h.probeScript(0o755)
	mustExit(t, h.xenorder("check"), 0)

	os.Chmod(prog, 0o775)
	os.Chmod(h.toml, 0o666)
	r := h.xenorder("check")
	mustExit(t, r, 2)
	for _, want := range []string{
		"unsafe permissions: " + h.toml + " (the config): writable by group and others (mode 0666); fix: chmod go-w " + h.toml + "\n",
		"unsafe permissions: " + prog + " (guest monitor's exec probe at " + h.toml + ":",
		"): writable by group (mode 0775); fix: chmod go-w " + prog + "\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check must say %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "OK") {
		t.Errorf("check says OK with unsafe files:\n%s", r)
	}

	// With a config that does not load, the config's own file is still judged.
	h.appendTo("xenorder.toml", "[guest.web2]\nnonsense = 1")
	r = h.xenorder("check")
	mustExit(t, r, 2)
	if !strings.Contains(r.stderr, "unknown key") || !strings.Contains(r.stderr, "fix: chmod go-w "+h.toml+"\n") {
		t.Errorf("check must list the config's problems and its file's:\n%s", r)
	}
}

// The programs the guests' xl configs make xl run as root: bootloader=,
// device_model_override=, and the script= of vifs and disks, relative ones
// from Xen's script folder, a bare bootloader from libxl's private bindir.
func TestUntrustedXLConfigPrograms(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	mk := func(rel string, mode os.FileMode) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	dirs := xenDirs{scripts: filepath.Join(root, "etc/xen/scripts"), privateBin: []string{filepath.Join(root, "usr/lib/xen-*/bin")}}
	mk("etc/xen/scripts/vif-bridge", 0o755)
	vif := mk("etc/xen/scripts/vif-mine", 0o775)
	block := mk("opt/block-drbd", 0o757)
	boot := mk("usr/lib/xen-4.17/bin/pygrub", 0o775)
	dm := mk("opt/dm/qemu", 0o755)
	os.Chmod(filepath.Dir(dm), 0o777)
	mk("etc/xen/xl/web.cfg", 0o644)
	os.WriteFile(filepath.Join(root, "etc/xen/xl/web.cfg"), []byte(`name = "web"
bootloader = "pygrub"
vif = [ 'bridge=xenbr0', 'bridge=xenbr1,script=vif-mine', 'script=vif-bridge' ]
disk = [ 'vdev=xvda, script=`+block+`, target=/dev/drbd0' ]
device_model_override = "`+dm+`"
`), 0o644)
	toml := mk("etc/xen/xenorder.toml", 0o644)
	os.WriteFile(toml, []byte("[defaults]\nconfig_dir = \"xl\"\nxl = \"/bin/true\"\nxenstore_read = \"/bin/true\"\nxenstore_watch = \"\"\n[guest.web]\n"), 0o644)
	cfg, err := config.Load(toml)
	if err != nil {
		t.Fatal(err)
	}
	got := untrusted(toml, cfg, dirs)
	want := map[string]string{
		boot:             "guest web's bootloader at " + filepath.Join(root, "etc/xen/xl/web.cfg") + ":2",
		vif:              "guest web's vif script",
		block:            "guest web's disk script",
		filepath.Dir(dm): "guest web's device_model_override",
	}
	for _, p := range got {
		w, ok := want[p.Path]
		if !ok {
			t.Errorf("unexpected problem: %s", p)
			continue
		}
		if !strings.HasPrefix(p.What, w) || !strings.HasSuffix(p.String(), "fix: chmod go-w "+p.Path) {
			t.Errorf("problem %s: want it for %q, with its fix", p, w)
		}
		delete(want, p.Path)
	}
	for p, w := range want {
		t.Errorf("no problem found for %s (%s)", p, w)
	}

	// A bare bootloader not in the private bindir: looked up on PATH.
	os.WriteFile(filepath.Join(root, "etc/xen/xl/web.cfg"), []byte("name = \"web\"\nbootloader = \"no-such-loader\"\n"), 0o644)
	cfg, err = config.Load(toml)
	if err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(root, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	t.Setenv("PATH", open)
	got = untrusted(toml, cfg, dirs)
	if len(got) != 1 || got[0].Path != open || !strings.Contains(got[0].Role, `searched for no-such-loader`) {
		t.Errorf("want the PATH folder searched for the bootloader, got %v", got)
	}
}
