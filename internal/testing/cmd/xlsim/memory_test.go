package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// infoField returns a field of xl info.
func (h *host) infoField(key string) string {
	h.t.Helper()
	r := h.mustXL("info")
	for _, l := range strings.Split(r.stdout, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	h.t.Fatalf("xl info has no %s:\n%s", key, r.stdout)
	return ""
}

func (h *host) freeMemory() int {
	h.t.Helper()
	n, err := strconv.Atoi(h.infoField("free_memory"))
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// mems returns name -> Mem of xl list.
func (h *host) mems() map[string]int {
	h.t.Helper()
	r := h.mustXL("list")
	m := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(l)
		n, err := strconv.Atoi(f[2])
		if err != nil {
			h.t.Fatalf("xl list: %q", l)
		}
		m[f[0]] = n
	}
	return m
}

func (h *host) setenv(kv ...string) { h.env = append(h.env, kv...) }

// belowMin is libxl's message when xl would balloon dom0 below the minimum.
func belowMin(targetKiB int) string {
	return fmt.Sprintf("libxl: error: libxl_mem.c:287:libxl_set_memory_target: Domain 0:New target %d for dom0 is below the minimum threshold\n", targetKiB)
}

func TestMemoryNoAutoballoon(t *testing.T) {
	h := newHost(t)
	h.setenv("XLSIM_AUTOBALLOON=off")
	if got := h.infoField("total_memory"); got != "3071" {
		t.Errorf("total_memory %s", got)
	}
	if got := h.freeMemory(); got != 3071-1024 {
		t.Errorf("fresh free_memory %d", got)
	}
	if got := h.infoField("xen_commandline"); !strings.Contains(got, " dom0_mem=1024M,max:1024M ") {
		t.Errorf("xen_commandline %q", got)
	}
	h.mustXL("create", h.guest("a"))
	h.mustXL("create", h.guest("win", `type = "hvm"`, "device_model_stubdomain_override = 1", "memory = 200"))
	if got, want := h.freeMemory(), 3071-1024-96-200-32; got != want {
		t.Errorf("free_memory %d, want %d", got, want)
	}
	// Exactly what is free fits; a MiB more does not.
	free := h.freeMemory()
	big := h.guest("big", fmt.Sprintf("memory = %d", free+1))
	r := h.xl("create", big)
	if r.rc != 3 || r.stderr != "Parsing config from "+big+"\nfailed to free memory for the domain\n" {
		t.Errorf("too big: %+v", r)
	}
	if m := h.mems(); len(m) != 4 || m["Domain-0"] != 1024 {
		t.Errorf("after failed create: %v", m)
	}
	if got := h.freeMemory(); got != free {
		t.Errorf("free_memory %d after failed create, want %d", got, free)
	}
	h.mustXL("create", h.guest("big", fmt.Sprintf("memory = %d", free)))
	if got := h.freeMemory(); got != 0 {
		t.Errorf("free_memory %d when full", got)
	}
	h.mustXL("destroy", "big")
	h.mustXL("destroy", "win")
	if got, want := h.freeMemory(), 3071-1024-96; got != want {
		t.Errorf("free_memory %d after destroys, want %d", got, want)
	}
}

func TestMemoryAutoballoon(t *testing.T) {
	h := newHost(t)
	h.setenv("XLSIM_AUTOBALLOON=on")
	if got := h.freeMemory(); got != 3 {
		t.Errorf("fresh free_memory %d", got)
	}
	if got := h.infoField("xen_commandline"); strings.Contains(got, "dom0_mem") {
		t.Errorf("xen_commandline %q", got)
	}
	if m := h.mems(); m["Domain-0"] != 3068 {
		t.Errorf("Domain-0 %d MiB", m["Domain-0"])
	}

	// A PV guest of 96 MiB needs 96 + 1 (paging) + 1 (PV) MiB and some
	// KiB, rounded up to 2 MiB: 100 MiB. 3 are free: dom0 gives 97.
	h.mustXL("create", h.guest("a"))
	if m := h.mems(); m["Domain-0"] != 3068-97 || m["a"] != 96 {
		t.Errorf("after create: %v", m)
	}
	if got := h.freeMemory(); got != 4 {
		t.Errorf("free_memory %d", got)
	}
	if r := h.runProg("xenstore-read", "/local/domain/0/memory/target"); r.stdout != fmt.Sprintf("%d\n", 2971*1024) {
		t.Errorf("dom0 memory/target: %+v", r)
	}

	// The stub domain counts: 64 + 32 (stub) + a bit = 100 MiB needed.
	h.mustXL("destroy", "a")
	if m := h.mems(); m["Domain-0"] != 2971 {
		t.Errorf("dom0 ballooned back up: %v", m)
	}
	h.mustXL("create", h.guest("win", `type = "hvm"`, "device_model_stubdomain_override = 1", "memory = 64"))
	if m := h.mems(); m["Domain-0"] != 2971 || m["win"] != 64 || m["win-dm"] != 32 {
		t.Errorf("after stub create: %v", m)
	}
	if got := h.freeMemory(); got != 4 {
		t.Errorf("free_memory %d", got)
	}

	// Down to the minimum (512 MiB) and no further: 2971 - 512 + 4 = 2463
	// MiB could be had, but a 2500 MiB guest needs 2512 MiB.
	big := h.guest("big", "memory = 2500")
	r := h.xl("create", big)
	if want := "Parsing config from " + big + "\n" + belowMin((2971+4-2512)*1024) + "failed to free memory for the domain\n"; r.rc != 3 || r.stderr != want {
		t.Errorf("beyond the minimum: %+v", r)
	}
	if m := h.mems(); len(m) != 3 || m["Domain-0"] != 2971 {
		t.Errorf("after failed create: %v", m)
	}
	// 2448 MiB needs 2460 (2448 + 1 + 1 + 9.6 for 4 KiB a MiB, rounded
	// up): Domain-0 ends at 515, and 12 MiB of the estimate stay free.
	h.mustXL("create", h.guest("big", "memory = 2448"))
	if m := h.mems(); m["Domain-0"] != 515 {
		t.Errorf("after big create: %v", m)
	}
	if got := h.freeMemory(); got != 12 {
		t.Errorf("free_memory %d", got)
	}
	// The minimum is a setting. 120 MiB needs 124, 108 are free.
	h.mustXL("destroy", "win")
	h.setenv("XLSIM_DOM0_MIN_MEMORY=600")
	r = h.xl("create", "-q", h.guest("c", "memory = 120"))
	if want := belowMin((515+108-124)*1024) + "failed to free memory for the domain\n"; r.rc != 3 || r.stderr != want {
		t.Errorf("min 600: %+v", r)
	}
	h.mustXL("create", "-q", h.guest("c", "memory = 90"))
	if m := h.mems(); m["Domain-0"] != 515 || m["c"] != 90 {
		t.Errorf("from free memory: %v", m)
	}
}

func TestMemoryXLConf(t *testing.T) {
	for _, tc := range []struct {
		name, env, conf string
		balloon         bool
		stderr          string // of xl info
	}{
		{"auto, dom0_mem", "off", `autoballoon = "auto"`, false, ""},
		{"auto, no dom0_mem", "on", `autoballoon = "auto"`, true, ""},
		{"no key", "on", `lockfile = "/tmp/xl.lock"`, true, ""},
		{"on overrides", "off", `autoballoon = "on"`, true, ""},
		{"off overrides", "on", `autoballoon="off"`, false, ""},
		{"1", "", "autoballoon = 1", true, ""},
		{"0", "on", "autoballoon = 0", false, ""},
		{"invalid", "on", `autoballoon = "yes"`, true, "invalid autoballoon option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			conf := filepath.Join(h.cfg, "xl.conf")
			os.WriteFile(conf, []byte(tc.conf+"\n"), 0o644)
			h.setenv("XLSIM_AUTOBALLOON="+tc.env, "XLSIM_XL_CONF="+conf)
			r := h.mustXL("info")
			if r.stderr != tc.stderr {
				t.Errorf("stderr %q", r.stderr)
			}
			cmdline := h.infoField("xen_commandline")
			if strings.Contains(cmdline, "dom0_mem=") == tc.balloon {
				t.Errorf("xen_commandline %q", cmdline)
			}
			wantDom0 := 1024
			if tc.balloon {
				wantDom0 = 3068
			}
			if m := h.mems(); m["Domain-0"] != wantDom0 {
				t.Errorf("Domain-0 %d MiB, want %d", m["Domain-0"], wantDom0)
			}
			r = h.xl("create", "-q", h.guest("big", "memory = 2500"))
			if tc.balloon != (r.rc == 0) {
				t.Errorf("create 2500 MiB: %+v", r)
			}
		})
	}

	h := newHost(t)
	missing := filepath.Join(h.cfg, "nope.conf")
	h.setenv("XLSIM_XL_CONF=" + missing)
	if r := h.xl("list", "Domain-0"); r.rc != 0 || r.stderr != "Failed to read config file: "+missing+": No such file or directory\n" {
		t.Errorf("missing xl.conf: %+v", r)
	}
	bad := h.writeCfg("badxl", "autoballoon = \"on\n")
	h.setenv("XLSIM_XL_CONF=" + bad)
	if r := h.xl("list"); r.rc != 1 || r.stdout != "" || !strings.HasSuffix(r.stderr, "\nFailed to parse config file: Invalid argument\n") {
		t.Errorf("bad xl.conf: %+v", r)
	}
	if r := h.runProg("xenstore-read", "/local/domain/0/name"); r.rc != 0 || r.stderr != "" {
		t.Errorf("xenstore-read reads no xl.conf: %+v", r)
	}
	h.setenv("XLSIM_XL_CONF=", "XLSIM_AUTOBALLOON=maybe")
	if r := h.xl("list"); r.rc != 2 || r.stderr != "xlsim: bad XLSIM_AUTOBALLOON \"maybe\" (off or on)\n" {
		t.Errorf("bad XLSIM_AUTOBALLOON: %+v", r)
	}
}

// TestMemoryParallelOvercommit starts creates that together do not fit:
// the later ones fail, and the domains never hold more than the host has.
func TestMemoryParallelOvercommit(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		ok     int
		stderr string // of a failed create, after "Parsing config"
	}{
		// 2047 MiB free: six of 300 MiB fit.
		{"off", 6, "failed to free memory for the domain\n"},
		// Each takes 300 MiB and 4 more stay free: Domain-0 would go
		// from 3067 - 300k to below 512 at the ninth.
		{"on", 8, belowMin((3067-2400-300)*1024) + "failed to free memory for the domain\n"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			h := newHost(t)
			h.setenv("XLSIM_AUTOBALLOON=" + tc.mode)
			const n = 10
			var wg sync.WaitGroup
			results := make([]result, n)
			cfgs := make([]string, n)
			for i := range n {
				cfgs[i] = h.guest(fmt.Sprintf("m%d", i), "memory = 300", `xlsim_create_time = "150ms"`)
			}
			stop := make(chan struct{})
			peak := make(chan int)
			go func() {
				// Watch the host while the creates run.
				max := 0
				for {
					select {
					case <-stop:
						peak <- max
						return
					default:
					}
					sum := 0
					for _, m := range h.mems() {
						sum += m
					}
					if sum > max {
						max = sum
					}
				}
			}()
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = h.xl("create", "-q", cfgs[i])
				}()
			}
			wg.Wait()
			close(stop)
			if p := <-peak; p > 3071 {
				t.Errorf("the domains held %d MiB", p)
			}
			ok := 0
			for i, r := range results {
				switch {
				case r.rc == 0:
					ok++
				case r.rc != 3 || r.stderr != tc.stderr:
					t.Errorf("create %d: %+v", i, r)
				}
			}
			if ok != tc.ok {
				t.Errorf("%d creates succeeded, want %d", ok, tc.ok)
			}
			m := h.mems()
			sum := 0
			for _, v := range m {
				sum += v
			}
			if len(m) != tc.ok+1 || sum > 3071 || sum+h.freeMemory() != 3071 {
				t.Errorf("after: %v (sum %d)", m, sum)
			}
			if tc.mode == "on" && m["Domain-0"] < 512 {
				t.Errorf("Domain-0 at %d MiB", m["Domain-0"])
			}
		})
	}
}
