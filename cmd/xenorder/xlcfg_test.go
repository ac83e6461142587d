package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInferredDependenciesAndPCIStep(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	c := h.xenorder("check")
	mustExit(t, c, 0)
	for _, want := range []string{
		"inferred: web depends on Domain-N (inferred: vif backend=Domain-N)",
		"inferred: fileserver depends on Domain-N (inferred: vif backend=Domain-N)",
	} {
		if !strings.Contains(c.stdout, want) {
			t.Errorf("check lacks %q:\n%s", want, c.stdout)
		}
	}
	if strings.Contains(c.stdout, "opnsense depends on Domain-N") {
		t.Error("a declared edge listed as only inferred")
	}
	p := h.xenorder("plan")
	if !strings.Contains(p.stdout, "Domain-N    create            [first pci-assignable-add 0000:00:19.0 (if not yet)]") {
		t.Errorf("plan lacks the PCI step:\n%s", p.stdout)
	}
	mustExit(t, h.xenorder("start"), 0)
	var seq []string
	for _, cl := range h.calls() {
		if cl.Prog == "xl" && (strings.HasPrefix(cl.Args[0], "pci-assignable") || (cl.Args[0] == "create" && strings.HasSuffix(cl.Args[1], "Domain-N.cfg"))) {
			seq = append(seq, strings.Join(cl.Args, " "))
		}
	}
	want := []string{"pci-assignable-list", "pci-assignable-list", "pci-assignable-add 0000:00:19.0"}
	if len(seq) != 4 || strings.Join(seq[:3], "|") != strings.Join(want, "|") || !strings.HasPrefix(seq[3], "create ") {
		t.Errorf("PCI step in the call log: %q", seq)
	}
	mp, _ := os.ReadFile(filepath.Join(h.dir, "fakebin", "modprobe.calls"))
	if strings.TrimSpace(string(mp)) != "xen-pciback" {
		t.Errorf("modprobe calls %q", mp)
	}
	// A second start finds the device assignable and does nothing more.
	mustExit(t, h.xenorder("stop"), 0)
	before := len(h.callsOf("pci-assignable-add"))
	mustExit(t, h.xenorder("start"), 0)
	n := 0
	for _, cl := range h.calls() {
		if cl.Prog == "xl" && cl.Args[0] == "pci-assignable-add" {
			n++
		}
	}
	if n != before {
		t.Errorf("pci-assignable-add ran again for an assignable device (%d, then %d)", before, n)
	}
}

func TestXLConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(h *host)
		want string
	}{
		{"name mismatch", func(h *host) { h.edit("xl/web.cfg", `name    = "web"`, `name    = "www"`) },
			`guest web: xl config %s/xl/web.cfg:1 says name = "www", but the guest is [guest.web]`},
		{"undeclared backend", func(h *host) {
			h.edit("xl/mail.cfg", "backend=Domain-N", "backend=storage")
		}, `guest mail: xl config %s/xl/mail.cfg:6: vif backend=storage, but storage is not in`},
		{"contradiction", func(h *host) {
			h.edit("xenorder.toml", "[guest.Domain-N]\n", "[guest.Domain-N]\ndepends_on = [\"backup\"]\n")
		}, `the xl configs contradict the declared dependencies: cycle Domain-N → backup → Domain-N, where the xl configs say backup → Domain-N (inferred: vif backend=Domain-N)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			tt.edit(h)
			for _, cmd := range []string{"check", "start"} {
				r := h.xenorder(cmd)
				mustExit(t, r, 2)
				want := tt.want
				if strings.Contains(want, "%s") {
					want = strings.ReplaceAll(want, "%s", h.dir)
				}
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%s: no %q in\n%s", cmd, want, r)
				}
			}
			if n := len(stateChanging(h)); n != 0 {
				t.Errorf("%d state-changing calls", n)
			}
		})
	}
}

func TestImportRoundTripsThroughCheck(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	auto, err := filepath.Abs("../../testdata/xendomains/auto")
	if err != nil {
		t.Fatal(err)
	}
	r := h.xenorder("import", "--auto-dir", auto, "--defaults", filepath.Join(filepath.Dir(auto), "default"))
	mustExit(t, r, 0)
	for _, want := range []string{
		// XENDOMAINS_STOP_MAXWAIT=300 shared by the 2 stop tiers (the
		// guests, then Domain-N), which xl cannot save (PCI passthrough).
		"stop_timeout = \"150s\"", "stop_action = \"save\"",
		"[guest.web]\nconfig = \"" + filepath.Join(filepath.Dir(filepath.Dir(auto)), "seed", "xl", "web.cfg") + "\"\n# inferred: vif backend=Domain-N\ndepends_on = [\"Domain-N\"]",
		"[guest.monitor]\nconfig = ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import lacks %q:\n%s", want, r.stdout)
		}
	}
	dn := r.stdout[strings.Index(r.stdout, "[guest.Domain-N]"):]
	if dn = dn[:strings.Index(dn, "\n\n")]; !strings.HasSuffix(dn, "\nstop_action = \"shutdown\"") {
		t.Errorf("Domain-N (PCI passthrough) is not shut down:\n%s", dn)
	}
	if bad := h.xenorder("import", "--auto-dir", auto, "--defaults", "/nonexistent"); bad.code != 2 {
		t.Errorf("a missing --defaults file: %s", bad)
	}
	if strings.Contains(r.stdout, "[guest.db]") {
		t.Error("db is not linked in the auto folder but was imported")
	}
	out := filepath.Join(t.TempDir(), "imported.toml")
	os.WriteFile(out, []byte(r.stdout), 0o644)
	c := h.xenorder("-c", out, "check")
	mustExit(t, c, 0)
	if !strings.Contains(c.stdout, "OK: 6 guests") {
		t.Errorf("check:\n%s", c)
	}
}
