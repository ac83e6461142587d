package main

// A stop that says what it waits for, and a status that shows another
// xenorder's start or stop: the progress file in state_dir, trusted only
// while its writer holds the host's lock.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/runner"
)

// statusDoc is the part of status --json these tests read.
type statusDoc struct {
	Guests []struct {
		Name     string
		State    string
		Progress *struct {
			Action, Doing, Limit string
			UsedMS               int64  `json:"used_ms"`
			LeftMS               *int64 `json:"left_ms"`
		}
	}
	InProgress *struct {
		Verb    string
		PID     int
		Command string
		Total   int
	} `json:"in_progress"`
}

func (h *host) statusJSON() statusDoc {
	h.t.Helper()
	r := h.xenorder("status", "--json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		h.t.Fatalf("status --json: %v\n%s", err, r)
	}
	return doc
}

// waitForProgress polls status --json until guest shows action, or the
// background run ends.
func waitForProgress(t *testing.T, h *host, b *bgRun, guest, action string) statusDoc {
	t.Helper()
	ended := make(chan struct{})
	go func() { b.cmd.Process.Wait(); close(ended) }()
	for {
		doc := h.statusJSON()
		for _, g := range doc.Guests {
			if g.Name == guest && g.Progress != nil && g.Progress.Action == action {
				return doc
			}
		}
		select {
		case <-ended:
			t.Fatalf("the run ended and status never showed %s %s", guest, action)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// monitor takes a while to boot (a start waits for its login prompt) and
// to shut down (6s: longer than a tick of the progress lines, every 5s).
func slowMonitor(t *testing.T) *host {
	h := newHost(t)
	h.edit("xenorder.toml", "[guest.monitor]\n", "[guest.monitor]\n[[guest.monitor.ready]]\nconsole = \"monitor login:\"\n")
	h.edit("xl/monitor.cfg", `xlsim_boot_time     = "500ms"`, "xlsim_boot_time     = "+h.realDur(2500*time.Millisecond))
	h.edit("xl/monitor.cfg", `xlsim_shutdown_time = "500ms"`, "xlsim_shutdown_time = "+h.realDur(6*time.Second))
	return h
}

func TestStopSaysWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	h := slowMonitor(t)
	// status during a start: the guest is starting, against start_timeout.
	b := h.background("start", "monitor")
	doc := waitForProgress(t, h, b, "monitor", "starting")
	if p := doc.Guests[indexOf(doc, "monitor")].Progress; p.Limit != "start_timeout 1m0s" || p.LeftMS == nil || *p.LeftMS > 60_000 {
		t.Errorf("monitor starting: %+v", p)
	}
	mustExit(t, b.wait(), 0)

	got := notifySocket(t, h)
	b = h.background("stop", "monitor")
	doc = waitForProgress(t, h, b, "monitor", "stopping")
	var p = doc.Guests[indexOf(doc, "monitor")].Progress
	for p.Doing != "waiting for shutdown" {
		doc = waitForProgress(t, h, b, "monitor", "stopping")
		p = doc.Guests[indexOf(doc, "monitor")].Progress
	}
	if p.Limit != "grace 30s" || p.LeftMS == nil || p.UsedMS+*p.LeftMS < 29_000 || p.UsedMS+*p.LeftMS > 30_000 {
		t.Errorf("monitor stopping: %+v", p)
	}
	if ip := doc.InProgress; ip == nil || ip.Verb != "stop" || ip.PID != b.cmd.Process.Pid || ip.Command != "xenorder stop monitor" || ip.Total != 1 {
		t.Errorf("in_progress: %+v", ip)
	}
	text := h.xenorder("status")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^monitor\s+stopping\s`),
		regexp.MustCompile(fmt.Sprintf(`(?m)^in progress: pid %d \(xenorder stop monitor\), since \d\d:\d\d:\d\d, 0 of 1 guests done$`, b.cmd.Process.Pid)),
		regexp.MustCompile(`(?m)^  monitor\s+stopping  waiting for shutdown: \d+s used, \d+s left of grace 30s$`),
	} {
		if !want.MatchString(text.stdout) {
			t.Errorf("status during the stop lacks %s:\n%s", want, text.stdout)
		}
	}
	if fi, err := os.Stat(filepath.Join(h.dir, "state", "progress.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the progress file during the stop: %v, %v (want mode 0600)", fi, err)
	}

	r := b.wait()
	mustExit(t, r, 0)
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d monitor: waiting for shutdown, [0-9.]+s of 30s grace$`).MatchString(r.stdout) {
		t.Errorf("no progress line during the stop:\n%s", r)
	}
	if !statusWith(splitNotifications(got()), "stopping 0/1: monitor: waiting for shutdown, ") {
		t.Errorf("no STATUS= with the progress line: %v", splitNotifications(got()).statuses)
	}
	// Once it ended: no file, and no word of it in status.
	if _, err := os.Stat(filepath.Join(h.dir, "state", "progress.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the progress file outlived the stop: %v", err)
	}
	if doc := h.statusJSON(); doc.InProgress != nil || doc.Guests[indexOf(doc, "monitor")].Progress != nil {
		t.Errorf("status after the stop still shows it: %+v", doc.InProgress)
	}
}

func indexOf(doc statusDoc, guest string) int {
	for i, g := range doc.Guests {
		if g.Name == guest {
			return i
		}
	}
	return -1
}

// A progress file left by a xenorder that is gone (killed: it never
// removed it) is ignored, even when its pid now names a live process.
func TestStatusIgnoresALeftProgressFile(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	mustExit(t, h.xenorder("start", "monitor"), 0)
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	started, err := procStart(sleeper.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	deadline := now.Add(time.Minute)
	f := progressFile{PID: sleeper.Process.Pid, PIDStart: started, BootID: bootID(), Command: "xenorder stop",
		Progress: runner.Progress{Verb: "stop", Began: now, Total: 1, Queued: []string{},
			Guests: []runner.GuestProgress{{Guest: "monitor", Action: "stopping", Doing: "waiting for shutdown", Since: now, Limit: "grace 1m0s", Deadline: &deadline}}}}
	b, _ := json.Marshal(f)
	if err := os.WriteFile(filepath.Join(h.dir, "state", "progress.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if doc := h.statusJSON(); doc.InProgress != nil || doc.Guests[indexOf(doc, "monitor")].Progress != nil {
		t.Errorf("status trusted a progress file whose pid does not hold the lock: %+v", doc.InProgress)
	}
	r := h.xenorder("-v", "status")
	if strings.Contains(r.stdout, "stopping") || !strings.Contains(r.stderr, "does not hold the lock") {
		t.Errorf("status -v:\n%s", r)
	}
}

// staleProgress trusts a file only when its writer provably runs: it holds
// the lock, it started when the file says, in this boot.
func TestStaleProgress(t *testing.T) {
	const lockFile = "/run/xenorder.lock"
	good := progressFile{PID: 4242, PIDStart: 777, BootID: "boot-a"}
	holders := func(pids ...int) func(string) ([]int, error) {
		return func(p string) ([]int, error) {
			if p != lockFile {
				return nil, fmt.Errorf("asked about %s", p)
			}
			return pids, nil
		}
	}
	startedAt := func(s uint64, err error) func(int) (uint64, error) {
		return func(int) (uint64, error) { return s, err }
	}
	cases := []struct {
		name    string
		f       progressFile
		holders func(string) ([]int, error)
		started func(int) (uint64, error)
		boot    string
		want    string // "" trusted
	}{
		{"its writer holds the lock", good, holders(4242), startedAt(777, nil), "boot-a", ""},
		{"one of two holders", good, holders(1, 4242), startedAt(777, nil), "boot-a", ""},
		{"the lock is free", good, holders(), startedAt(777, nil), "boot-a", "does not hold the lock"},
		{"another holds it", good, holders(99), startedAt(777, nil), "boot-a", "does not hold the lock"},
		{"the pid was reused", good, holders(4242), startedAt(778, nil), "boot-a", "reused"},
		{"the pid is gone", good, holders(4242), startedAt(0, os.ErrNotExist), "boot-a", "reused"},
		{"an earlier boot", good, holders(4242), startedAt(777, nil), "boot-b", "before the last boot"},
		{"no boot id", progressFile{PID: 4242, PIDStart: 777}, holders(4242), startedAt(777, nil), "", "before the last boot"},
		{"no writer", progressFile{BootID: "boot-a"}, holders(0), startedAt(0, nil), "boot-a", "names no writer"},
		{"this process", progressFile{PID: os.Getpid(), PIDStart: 777, BootID: "boot-a"}, holders(os.Getpid()), startedAt(777, nil), "boot-a", "this very process"},
		{"the lock table unreadable", good, func(string) ([]int, error) { return nil, os.ErrPermission }, startedAt(777, nil), "boot-a", "is unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := staleProgress(c.f, lockFile, c.holders, c.started, c.boot)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("staleProgress = %q, want %q", got, c.want)
			}
		})
	}
}

// procStart reads field 22 of /proc/PID/stat even when the command holds
// spaces and parentheses.
func TestProcStart(t *testing.T) {
	s, err := procStart(os.Getpid())
	if err != nil || s == 0 {
		t.Fatalf("procStart(self) = %d, %v", s, err)
	}
	dir := t.TempDir()
	odd := filepath.Join(dir, "a b) (c")
	if err := os.Symlink("/bin/sleep", odd); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	got, err := procStart(cmd.Process.Pid)
	if err != nil || got < s {
		t.Errorf("procStart of %q = %d, %v; this process started at %d", odd, got, err, s)
	}
	if _, err := procStart(1 << 30); err == nil {
		t.Error("procStart of a pid that cannot exist: no error")
	}
}
