package xl

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// listHeader is the header of `xl list` exactly as xl prints it.
const listHeader = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n"

// row formats a row of `xl list` exactly as xl 4.17 does.
func row(name string, id, mem, vcpus int, state string, secs float64) string {
	return fmt.Sprintf("%-40s %5d %5d %5d     %s  %8.1f\n", name, id, mem, vcpus, state, secs)
}

// The states, spelled out field by field.
var (
	running  = State{Raw: "r-----", Running: true, Reason: '-'}
	blocked  = State{Raw: "-b----", Blocked: true, Reason: '-'}
	runnable = State{Raw: "------", Reason: '-'}
	paused   = State{Raw: "--p---", Paused: true, Reason: '-'}
	shutdown = State{Raw: "---s--", Shutdown: true, Reason: '-'}
	crashed  = State{Raw: "---sc-", Shutdown: true, Reason: 'c'}
	rebooted = State{Raw: "---sr-", Shutdown: true, Reason: 'r'}
	dying    = State{Raw: "-----d", Dying: true, Reason: '-'}
	dyingSc  = State{Raw: "-b-scd", Blocked: true, Shutdown: true, Reason: 'c', Dying: true}
	unknownR = State{Raw: "---s?-", Shutdown: true, Reason: '?'}
)

const longName = "a-guest-with-a-very-long-name-exceeding-forty-characters"

func TestParseListSamples(t *testing.T) {
	t.Parallel()
	// Every `xl list` sample that succeeded, by command and occurrence.
	want := map[string][]Domain{
		"xl list #1": {
			{"Domain-0", 0, 1024, 1, running, 21.1},
			{"Domain-N", 1, 96, 1, blocked, 4.3},
			{"fileserver", 3, 96, 1, blocked, 5.5},
			{longName, 4, 96, 1, blocked, 4.5},
			{"keeper", 5, 96, 1, blocked, 3.6},
		},
		"xl list -v #1": {
			{"Domain-0", 0, 1024, 1, running, 21.3},
			{"Domain-N", 1, 96, 1, blocked, 4.3},
			{"fileserver", 3, 96, 1, blocked, 5.5},
			{longName, 4, 96, 1, blocked, 4.5},
			{"keeper", 5, 96, 1, blocked, 3.6},
		},
		"xl list Domain-N #1":   {{"Domain-N", 1, 96, 1, blocked, 4.3}},
		"xl list fileserver #1": {{"fileserver", 3, 96, 1, paused, 5.5}},
		"xl list keeper #1":     {{"keeper", 5, 96, 1, shutdown, 3.8}},
		"xl list #2": {
			{"Domain-0", 0, 1024, 1, running, 26.3},
			{"Domain-N", 1, 96, 1, blocked, 4.6},
			{longName, 4, 96, 1, blocked, 4.9},
		},
	}
	seen := map[string]int{}
	for _, s := range readSamples(t, "xen-4.17-xl.txt") {
		if !strings.HasPrefix(s.cmd, "xl list") || s.cmd == "xl list -l" {
			continue
		}
		seen[s.cmd]++
		key := fmt.Sprintf("%s #%d", s.cmd, seen[s.cmd])
		t.Run(key, func(t *testing.T) {
			got, err := ParseList([]byte(s.stdout))
			if s.rc != 0 {
				// xl list nosuch: nothing on stdout.
				if err == nil || err.Error() != "xl list printed nothing" {
					t.Fatalf("failed run: got %v, %v; want the error \"xl list printed nothing\"", got, err)
				}
				return
			}
			w, ok := want[key]
			if !ok {
				t.Fatalf("no expectation for this sample:\n%s", s.stdout)
			}
			delete(want, key)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got\n%+v\nwant\n%+v", got, w)
			}
		})
	}
	for key := range want {
		t.Errorf("sample %q not found", key)
	}
}

func TestParseListStatesFile(t *testing.T) {
	t.Parallel()
	want := map[string][]Domain{
		"xl list": {
			{"Domain-0", 0, 1024, 1, running, 61.7},
			{"q1", 13, 96, 1, running, 2.0},
			{"q3", 14, 96, 1, runnable, 1.4},
			{"q2", 15, 96, 1, runnable, 0.6},
			{"q4", 16, 96, 1, runnable, 0.9},
		},
		"xl list keeper": {{"keeper", 5, 96, 1, shutdown, 3.8}},
	}
	for _, s := range readStateListings(t) {
		t.Run(s.cmd, func(t *testing.T) {
			out := s.stdout
			if !strings.HasPrefix(out, "Name ") {
				// The notes file leaves out the header that xl always prints.
				out = listHeader + out
			}
			got, err := ParseList([]byte(out))
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[s.cmd]
			if !ok {
				t.Fatalf("no expectation for this listing:\n%s", s.stdout)
			}
			delete(want, s.cmd)
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got\n%+v\nwant\n%+v", got, w)
			}
		})
	}
	for key := range want {
		t.Errorf("listing %q not found", key)
	}
}

func TestParseListRows(t *testing.T) {
	t.Parallel()
	name60 := strings.Repeat("x", 60)
	for _, tc := range []struct {
		name string
		out  string
		want []Domain
	}{
		{"header only", listHeader, []Domain{}},
		{"header only, no newline", strings.TrimSuffix(listHeader, "\n"), []Domain{}},
		{"verbose header only", "Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID                            Reason-Code\tSecurity Label\n", []Domain{}},
		{"Domain-0", listHeader + row("Domain-0", 0, 1024, 1, "r-----", 61.7), []Domain{{"Domain-0", 0, 1024, 1, running, 61.7}}},
		{"dying (null)", listHeader + row("(null)", 9, 0, 0, "-----d", 0.2), []Domain{{"(null)", 9, 0, 0, dying, 0.2}}},
		{"dying after crash", listHeader + row("(null)", 10, 1, 2, "-b-scd", 12.3), []Domain{{"(null)", 10, 1, 2, dyingSc, 12.3}}},
		{"crashed", listHeader + row("web", 7, 512, 2, "---sc-", 8.0), []Domain{{"web", 7, 512, 2, crashed, 8.0}}},
		{"rebooting", listHeader + row("web", 7, 512, 2, "---sr-", 8.0), []Domain{{"web", 7, 512, 2, rebooted, 8.0}}},
		{"unknown reason", listHeader + row("web", 7, 512, 2, "---s?-", 8.0), []Domain{{"web", 7, 512, 2, unknownR, 8.0}}},
		{"name over 40", listHeader + row(name60, 123, 4096, 16, "-b----", 123456.7), []Domain{{name60, 123, 4096, 16, blocked, 123456.7}}},
		{"name with a space", listHeader + row("odd name", 3, 96, 1, "--p---", 0.0), []Domain{{"odd name", 3, 96, 1, paused, 0}}},
		{"big numbers", listHeader + row("big", 32000, 1048576, 512, "r-----", 98765432.1), []Domain{{"big", 32000, 1048576, 512, running, 98765432.1}}},
		{"CRLF", strings.ReplaceAll(listHeader+row("a", 1, 2, 3, "------", 4), "\n", "\r\n"), []Domain{{"a", 1, 2, 3, runnable, 4}}},
		{
			"security label column",
			"Name                                        ID   Mem VCPUs\tState\tTime(s)   Security Label\n" +
				strings.TrimSuffix(row("a", 1, 2, 3, "-b----", 4), "\n") + "  system_u:system_r:domU_t\n",
			[]Domain{{"a", 1, 2, 3, blocked, 4}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseList([]byte(tc.out))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestParseListGarbage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, out, wantErr string
	}{
		{"empty", "", "xl list printed nothing"},
		{"blank", " \n\n\t\n", "xl list printed nothing"},
		{"random text", "hello world\n", `xl list: line 1: "hello world": want the header`},
		{"binary", "\x00\xff\xfe\x01garbage", "xl list: line 1: "},
		{"row without header", row("keeper", 5, 96, 1, "---s--", 3.8), "xl list: line 1: "},
		{"usage text", "Usage xl [-vfNtT] <subcommand> [args]\n", "xl list: line 1: "},
		{"truncated row", listHeader + "Domain-0                                     0  1024", `xl list: line 2: "Domain-0                                     0  1024": want a name and 5 fields, got 3 fields`},
		{"row without name", listHeader + "    0  1024     1     r-----      61.7\n", "xl list: line 2: "},
		{"bad state", listHeader + "web 3 96 1 xyz 1.0\n", `xl list: line 2: state "xyz": want 6 letters like "-b----"`},
		{"state letter misplaced", listHeader + row("web", 3, 96, 1, "b-----", 1), `xl list: line 2: state "b-----"`},
		{"state too long", listHeader + row("web", 3, 96, 1, "-b-----", 1), `xl list: line 2: state "-b-----"`},
		{"bad reason", listHeader + row("web", 3, 96, 1, "---sx-", 1), `xl list: line 2: state "---sx-"`},
		{"non-numeric id", listHeader + "web x 96 1 -b---- 1.0\n", `xl list: line 2: id "x": want a non-negative number`},
		{"negative id", listHeader + "web -3 96 1 -b---- 1.0\n", `xl list: line 2: id "-3"`},
		{"bad memory", listHeader + "web 3 96M 1 -b---- 1.0\n", `xl list: line 2: memory "96M"`},
		{"bad vcpus", listHeader + "web 3 96 one -b---- 1.0\n", `xl list: line 2: vcpus "one"`},
		{"bad time", listHeader + "web 3 96 1 -b---- soon\n", `xl list: line 2: time "soon"`},
		{"NaN time", listHeader + "web 3 96 1 -b---- NaN\n", `xl list: line 2: time "NaN"`},
		{"blank line between rows", listHeader + row("a", 1, 2, 3, "------", 4) + "\n" + row("b", 2, 2, 3, "------", 4), "xl list: line 3: "},
		{"third row bad", listHeader + row("a", 1, 2, 3, "------", 4) + row("b", 2, 2, 3, "------", 4) + "c 3 2 3\n", "xl list: line 4: "},
		{"plain rows under verbose header", "Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID                            Reason-Code\tSecurity Label\n" + row("a", 1, 2, 3, "------", 4), "xl list: line 2: "},
		{"unknown columns", "Name                                        ID   Mem VCPUs\tState\tTime(s)   Cpupool\n", `xl list: line 1: unknown columns "Cpupool"`},
		{"wrong header", "Name ID Mem State Time(s)\n", "xl list: line 1: "},
		{"JSON", "[\n    {\n        \"domid\": 0\n    }\n]\n", "xl list: line 1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseList([]byte(tc.out))
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if got != nil {
				t.Errorf("got domains %+v with the error", got)
			}
			if !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to begin with %q", err, tc.wantErr)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s       State
		want    string
		crashed bool
	}{
		{running, "running", false},
		{blocked, "blocked", false},
		{runnable, "runnable", false},
		{paused, "paused", false},
		{shutdown, "shutdown", false},
		{rebooted, "shutdown", false},
		{crashed, "crashed", true},
		{dying, "dying", false},
		{dyingSc, "dying", true},
		{State{Raw: "rbp---", Running: true, Blocked: true, Paused: true, Reason: '-'}, "paused", false},
		{State{Raw: "rb----", Running: true, Blocked: true, Reason: '-'}, "running", false},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%q.String() = %q, want %q", tc.s.Raw, got, tc.want)
		}
		if got := tc.s.Crashed(); got != tc.crashed {
			t.Errorf("%q.Crashed() = %v, want %v", tc.s.Raw, got, tc.crashed)
		}
	}
}

func TestShutdownReasonString(t *testing.T) {
	t.Parallel()
	for r, want := range map[ShutdownReason]string{
		'-': "poweroff", 'r': "reboot", 's': "suspend", 'c': "crash", 'w': "watchdog", 'S': "soft_reset", '?': "unknown",
	} {
		if got := r.String(); got != want {
			t.Errorf("ShutdownReason(%q).String() = %q, want %q", byte(r), got, want)
		}
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range readSamples(f, "xen-4.17-xl.txt") {
		f.Add([]byte(s.stdout))
	}
	for _, s := range readStateListings(f) {
		f.Add([]byte(listHeader + s.stdout))
	}
	f.Add([]byte(listHeader + row("(null)", 9, 0, 0, "-----d", 0.2) + row(strings.Repeat("n", 50), 1, 2, 3, "---sc-", 4)))
	f.Fuzz(func(t *testing.T, out []byte) {
		domains, err := ParseList(out)
		if err != nil {
			if domains != nil {
				t.Errorf("domains %+v with error %v", domains, err)
			}
			if !strings.HasPrefix(err.Error(), "xl list") {
				t.Errorf("error %q does not name the command", err)
			}
			return
		}
		for _, d := range domains {
			if d.Name == "" || len(d.State.Raw) != 6 || d.ID < 0 || d.MemMiB < 0 || d.VCPUs < 0 || d.CPUTime < 0 {
				t.Errorf("implausible domain %+v from %q", d, out)
			}
		}
	})
}
