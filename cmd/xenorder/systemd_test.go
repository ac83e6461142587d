package main

// The systemd path: sd_notify datagrams, the xendomains guard and journal
// fields, against real sockets.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// datagram is one received notification or journal entry.
type datagram struct {
	at   time.Time
	data string
}

// listenUnixgram collects datagrams on a socket until the test ends.
func listenUnixgram(t *testing.T, path string) func() []datagram {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []datagram
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<16)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, datagram{at: time.Now(), data: string(buf[:n])})
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return func() []datagram {
		time.Sleep(50 * time.Millisecond) // let the last datagrams land
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// fakeSystemctl puts a systemctl on PATH whose `is-active` answers rc.
func (h *host) fakeSystemctl(rc int) {
	h.t.Helper()
	dir := filepath.Join(h.dir, "fakebin")
	os.MkdirAll(dir, 0o755)
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s/systemctl.calls\nexit %d\n", dir, rc)
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		h.t.Fatal(err)
	}
	_ = dir // fakebin is on PATH already
}

func TestNotifyDatagrams(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.timeScale = realTime // long enough waits for a STATUS to say what it waits for
	h.fakeSystemctl(3)     // xendomains inactive
	sock := filepath.Join(t.TempDir(), "notify")
	got := listenUnixgram(t, sock)
	h.extraEnv = append(h.extraEnv, "NOTIFY_SOCKET="+sock)

	r := h.xenorder("start")
	mustExit(t, r, 0)
	start := got()
	var ready []datagram
	var extends []time.Duration
	var statuses []string
	for _, d := range start {
		switch {
		case d.data == "READY=1":
			ready = append(ready, d)
		case strings.HasPrefix(d.data, "EXTEND_TIMEOUT_USEC="):
			us, _ := strconv.ParseInt(strings.TrimPrefix(d.data, "EXTEND_TIMEOUT_USEC="), 10, 64)
			extends = append(extends, time.Duration(us)*time.Microsecond)
		case strings.HasPrefix(d.data, "STATUS="):
			statuses = append(statuses, strings.TrimPrefix(d.data, "STATUS="))
		}
	}
	if len(ready) != 1 || start[len(start)-1].data != "READY=1" {
		t.Fatalf("READY=1 %d times, last datagram %q", len(ready), start[len(start)-1].data)
	}
	// READY=1 only after the last guest was ready: after every create
	// returned and after the last booted event (web's console probe).
	lastBoot := time.Time{}
	for _, b := range eventTimes(t, h, "booted") {
		if b.After(lastBoot) {
			lastBoot = b
		}
	}
	if !ready[0].at.After(lastBoot) {
		t.Errorf("READY=1 at %s, before the last guest booted at %s", ready[0].at.Format(time.StampMilli), lastBoot.Format(time.StampMilli))
	}
	// An extension before each guest's wait, each covering its start_timeout (1m).
	if len(extends) < 8 {
		t.Errorf("%d EXTEND_TIMEOUT_USEC for 8 guests", len(extends))
	}
	for _, d := range extends {
		if d < time.Minute {
			t.Errorf("extension %s shorter than the guests' start_timeout", d)
		}
	}
	for _, want := range []string{"creating fileserver", "waiting for fileserver (xenstore data/ready)", "waiting for web (console \"web login:\")", "started 8/8 in "} {
		if !slices.ContainsFunc(statuses, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no STATUS with %q in %q", want, statuses)
		}
	}
	if !slices.ContainsFunc(statuses, func(s string) bool { return strings.HasPrefix(s, "starting ") && strings.Contains(s, "/8: ") }) {
		t.Errorf("no progress count in %q", statuses)
	}

	r = h.xenorder("stop")
	mustExit(t, r, 0)
	stop := got()[len(start):]
	if len(stop) == 0 || stop[0].data != "STOPPING=1" {
		t.Fatalf("stop datagrams %v", stop)
	}
	sawStopStatus, sawExtend := false, false
	for _, d := range stop {
		sawStopStatus = sawStopStatus || strings.HasPrefix(d.data, "STATUS=stopping ") && strings.Contains(d.data, "shutting down")
		if us, ok := strings.CutPrefix(d.data, "EXTEND_TIMEOUT_USEC="); ok {
			n, _ := strconv.ParseInt(us, 10, 64)
			sawExtend = true
			if time.Duration(n)*time.Microsecond < 30*time.Second { // stop_timeout
				t.Errorf("stop extension %s shorter than stop_timeout", time.Duration(n)*time.Microsecond)
			}
		}
	}
	if !sawStopStatus || !sawExtend || stop[len(stop)-1].data != "STATUS=stopped 8/8 in "+strings.TrimPrefix(stop[len(stop)-1].data, "STATUS=stopped 8/8 in ") {
		t.Errorf("stop datagrams: status %v, extend %v, last %q", sawStopStatus, sawExtend, stop[len(stop)-1].data)
	}
}

func TestFailedGuestKeepsTheUnitActive(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.fakeSystemctl(3)
	h.appendTo("xl/fileserver.cfg", "xlsim_create_fail = 1")
	sock := filepath.Join(t.TempDir(), "notify")
	got := listenUnixgram(t, sock)
	h.extraEnv = append(h.extraEnv, "NOTIFY_SOCKET="+sock)
	r := h.xenorder("start")
	mustExit(t, r, 1) // the unit's SuccessExitStatus=1 keeps it active
	ds := got()
	if ds[len(ds)-1].data != "READY=1" {
		t.Errorf("no READY=1 at the end: %v", ds)
	}
	if !slices.ContainsFunc(ds, func(d datagram) bool {
		return strings.HasPrefix(d.data, "STATUS=started 4/8") && strings.Contains(d.data, "NOT OK: fileserver failed")
	}) {
		t.Errorf("no STATUS naming the failure: %v", ds)
	}
	unit, err := os.ReadFile("../../contrib/systemd/xenorder.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "NotifyAccess=all", "RemainAfterExit=yes", "SuccessExitStatus=1", "--wait-lock", "KillMode=process"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("the unit lacks %s", want)
		}
	}
}

func TestRefusesBesideActiveXendomains(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.fakeSystemctl(0) // xendomains active
	sock := filepath.Join(t.TempDir(), "notify")
	listenUnixgram(t, sock)
	h.extraEnv = append(h.extraEnv, "NOTIFY_SOCKET="+sock)
	r := h.xenorder("start")
	mustExit(t, r, 2)
	if !strings.Contains(r.stderr, "xendomains.service is active") || !strings.Contains(r.stderr, "systemctl disable xendomains.service; systemctl enable xenorder.service") {
		t.Errorf("message:\n%s", r)
	}
	if n := len(stateChanging(h)); n != 0 {
		t.Errorf("%d state-changing xl calls", n)
	}
	calls, _ := os.ReadFile(filepath.Join(h.dir, "fakebin", "systemctl.calls"))
	if !strings.Contains(string(calls), "is-active --quiet xendomains.service") {
		t.Errorf("systemctl calls %q", calls)
	}
}

// TestJournalFields runs xenorder with stderr as a journal stream and the
// journal socket redirected, in a mount namespace, to one the test reads.
func TestJournalFields(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare")
	}
	h := newHost(t)
	jdir := filepath.Join(t.TempDir(), "journal")
	os.MkdirAll(jdir, 0o755)
	got := listenUnixgram(t, filepath.Join(jdir, "socket"))
	stderrFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderrFile.Close()
	var st syscall.Stat_t
	syscall.Fstat(int(stderrFile.Fd()), &st)
	// In a private mount namespace: a tmpfs over /run, the test's folder
	// as /run/systemd/journal, then xenorder.
	script := fmt.Sprintf("mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && mount --bind %s /run/systemd/journal && exec %s start fileserver",
		jdir, filepath.Join(binDir, "xenorder"))
	cmd := exec.CommandContext(t.Context(), "unshare", "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(h.env(), fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	cmd.Dir, cmd.Stderr = h.dir, stderrFile
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(stderrFile.Name())
		t.Skipf("cannot run in a mount namespace here: %v\n%s", err, b)
	}
	entries := got()
	var fs []map[string]string
	for _, d := range entries {
		fs = append(fs, parseJournal(d.data))
	}
	find := func(guest, step string) map[string]string {
		for _, f := range fs {
			if f["GUEST"] == guest && f["STEP"] == step {
				return f
			}
		}
		return nil
	}
	ready := find("fileserver", "ready")
	if ready == nil {
		t.Fatalf("no ready entry for fileserver in %v", fs)
	}
	if ready["SYSLOG_IDENTIFIER"] != "xenorder" || ready["PRIORITY"] != "6" || ready["DOMID"] == "" ||
		ready["DURATION_MS"] == "" || !strings.HasPrefix(ready["MESSAGE"], "fileserver: ready after ") {
		t.Errorf("ready entry %v", ready)
	}
	if c := find("fileserver", "create"); c == nil {
		t.Errorf("no create entry for fileserver")
	}
	if strings.Contains(out.String(), "fileserver: ready after") {
		t.Errorf("events went to stdout as well as the journal:\n%s", out.String())
	}
}

// parseJournal reads the native journal protocol: KEY=value lines, or KEY,
// a newline, a little-endian 64-bit length and the value.
func parseJournal(s string) map[string]string {
	m := map[string]string{}
	for len(s) > 0 {
		nl := strings.IndexByte(s, '\n')
		if nl < 0 {
			break
		}
		line := s[:nl]
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
			s = s[nl+1:]
			continue
		}
		rest := s[nl+1:]
		if len(rest) < 8 {
			break
		}
		n := int(binary.LittleEndian.Uint64([]byte(rest[:8])))
		if len(rest) < 8+n+1 {
			break
		}
		m[line] = rest[8 : 8+n]
		s = rest[8+n+1:]
	}
	return m
}

// TestUnitCommandLinesParse runs every xenorder command line of the unit
// (as --dry-run, or as check) so a flag the binary does not take cannot
// make the unit's stop do nothing at shutdown.
func TestUnitCommandLinesParse(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	unit, err := os.ReadFile("../../contrib/systemd/xenorder.service")
	if err != nil {
		t.Fatal(err)
	}
	h.extraEnv = []string{"SERVICE_RESULT=success"} // as systemd gives ExecStopPost
	n := 0
	for _, line := range strings.Split(string(unit), "\n") {
		key, val, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(key, "Exec") {
			continue
		}
		args := strings.Fields(strings.TrimLeft(val, "-@:+!"))
		if filepath.Base(args[0]) != "xenorder" {
			t.Errorf("%s runs %s", key, args[0])
			continue
		}
		n++
		// $XENORDER_OPTS (EnvironmentFile=-/etc/default/xenorder), as
		// systemd expands an unquoted $VAR: split into words, none when
		// empty or unset (the shipped file's ""), or options such as -v.
		for _, opts := range []string{"", "-v", "-v --config " + h.toml} {
			var line []string
			for _, a := range args[1:] {
				if a == "$XENORDER_OPTS" {
					line = append(line, strings.Fields(opts)...)
					continue
				}
				if strings.Contains(a, "$") {
					t.Errorf("%s: %q: a variable the test does not know", key, a)
				}
				line = append(line, a)
			}
			r := h.xenorder(append(line, "--dry-run")...)
			if r.code != 0 {
				t.Errorf("%s=%s with XENORDER_OPTS=%q: %s", key, val, opts, r)
			}
		}
	}
	if n < 3 {
		t.Errorf("%d xenorder command lines in the unit", n)
	}
}

// The unit's ExecStopPost stops the guests when systemd cut the start
// short (it then skipped ExecStop), and never when the start failed on its
// own or never ran.
func TestUnitCutShort(t *testing.T) {
	for _, tt := range []struct {
		result string
		act    bool
	}{
		{"success", true}, // poweroff mid-start: the start exited 1 on SIGTERM; or after a normal ExecStop
		{"timeout", true}, // TimeoutStartSec, or killed at TimeoutStopSec
		{"signal", true},
		{"core-dump", true},
		{"watchdog", true},
		{"exit-code", false}, // a config error, damaged state: exit 2
		{"protocol", false},
		{"resources", false},
		{"start-limit-hit", false},
	} {
		env := map[string]string{"SERVICE_RESULT": tt.result, "EXIT_CODE": "exited", "EXIT_STATUS": "2"}
		act, why := unitCutShort(func(k string) string { return env[k] })
		if act != tt.act || (!act && !strings.Contains(why, "SERVICE_RESULT="+tt.result)) {
			t.Errorf("SERVICE_RESULT=%s: act %v (%q), want %v", tt.result, act, why, tt.act)
		}
	}
}
