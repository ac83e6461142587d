package xl

import (
	"strings"
	"testing"
)

func TestParseInfoSample(t *testing.T) {
	t.Parallel()
	s := findSample(t, readSamples(t, "xen-4.17-xl.txt"), "xl info", 0)
	info, err := ParseInfo([]byte(s.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if info.TotalMemoryMiB != 3071 || info.FreeMemoryMiB != 1726 {
		t.Errorf("memory total %d free %d, want 3071 and 1726", info.TotalMemoryMiB, info.FreeMemoryMiB)
	}
	if want := "4.17.7"; info.XenVersion != want {
		t.Errorf("XenVersion %q, want %q", info.XenVersion, want)
	}
	if want := "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 loglvl=all guest_loglvl=all noreboot bootscrub=false"; info.XenCommandline != want {
		t.Errorf("XenCommandline %q, want %q", info.XenCommandline, want)
	}
	if n := strings.Count(s.stdout, "\n"); len(info.Fields) != n {
		t.Errorf("%d fields, want one per line: %d", len(info.Fields), n)
	}
	for key, want := range map[string]string{
		"host":            "dom0",
		"nr_cpus":         "2",
		"xen_caps":        "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
		"xen_changeset":   "",
		"hw_caps":         "1fcbf3fd:f6d8320b:ec500800:00000077:00000005:018843a9:0000020c:00000000",
		"cc_compile_date": "Wed Nov  4 16:52:28 UTC 2026",
		"version":         "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)",
		"total_memory":    "3071",
	} {
		got, ok := info.Fields[key]
		if !ok || got != want {
			t.Errorf("Fields[%q] = %q (present %v), want %q", key, got, ok, want)
		}
	}
}

func TestParseInfoErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, out, wantErr string
	}{
		{"empty", "", "xl info printed nothing"},
		{"no colon", "total_memory : 3071\nfree_memory : 1\ngarbage\n", `xl info: line 3: "garbage": want "key : value"`},
		{"no key", "total_memory : 3071\n : 1\n", "xl info: line 2: "},
		{"no free_memory", "total_memory : 3071\n", "xl info: no free_memory"},
		{"no total_memory", "free_memory : 3071\n", "xl info: no total_memory"},
		{"bad number", "total_memory : lots\nfree_memory : 1\n", `xl info: total_memory "lots": want MiB as a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseInfo([]byte(tc.out))
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want it to begin with %q", err, tc.wantErr)
			}
		})
	}
}
