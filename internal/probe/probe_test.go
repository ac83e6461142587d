package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// checkErr fails t unless err is nil (want == "") or contains want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("got error %q, want pass", err)
	case want != "" && err == nil:
		t.Errorf("passed, want error containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("got error %q, want it to contain %q", err, want)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T) func(Probe, error) Probe {
	return func(p Probe, err error) Probe {
		t.Helper()
		return mustProbe(t, p, err)
	}
}

func mustProbe(t *testing.T, p Probe, err error) Probe {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConstructorErrors(t *testing.T) {
	one := "1"
	tests := []struct {
		name string
		err  error
		want string // "" means valid
	}{
		{"tcp ok", second(TCP("192.168.1.4:22")), ""},
		{"tcp ipv6", second(TCP("[fe80::1]:22")), ""},
		{"tcp no port", second(TCP("192.168.1.4")), "want host:port"},
		{"tcp no host", second(TCP(":22")), "no host"},
		{"tcp port 0", second(TCP("h:0")), "1 to 65535"},
		{"tcp port big", second(TCP("h:65536")), "1 to 65535"},
		{"tcp port name", second(TCP("h:ssh")), "1 to 65535"},
		{"tcp port sign", second(TCP("h:+22")), "1 to 65535"},
		{"exec ok", second(Exec([]string{"ping", "-c1"})), ""},
		{"exec nil", second(Exec(nil)), "empty command"},
		{"exec empty argv0", second(Exec([]string{"", "x"})), "empty command"},
		{"xenstore ok", second(Xenstore("xenstore-read", "data/ready", &one)), ""},
		{"xenstore no cmd", second(Xenstore("", "data/ready", nil)), "empty read command"},
		{"xenstore empty key", second(Xenstore("xenstore-read", "", nil)), "empty key"},
		{"xenstore absolute", second(Xenstore("xenstore-read", "/local/domain/1/x", nil)), "no leading /"},
		{"xenstore dotdot", second(Xenstore("xenstore-read", "../0/x", nil)), `".."`},
		{"xenstore empty element", second(Xenstore("xenstore-read", "data//x", nil)), "empty path element"},
		{"xenstore space", second(Xenstore("xenstore-read", "data/a b", nil)), "space"},
		{"xenstore option", second(Xenstore("xenstore-read", "-s", nil)), "starts with -"},
		{"http ok", second(HTTP("http://10.0.0.5/healthz", 0)), ""},
		{"https ok", second(HTTP("https://10.0.0.5:8443/", 204)), ""},
		{"http scheme", second(HTTP("ftp://10.0.0.5/", 0)), "http or https"},
		{"http no scheme", second(HTTP("10.0.0.5/healthz", 0)), "http or https"},
		{"http no host", second(HTTP("http:///healthz", 0)), "no host"},
		{"http bad port", second(HTTP("http://h:99999/", 0)), "bad port"},
		{"http unparsable", second(HTTP("http://h/%zz", 0)), "bad URL"},
		{"http status", second(HTTP("http://h/", 42)), "not an HTTP status"},
		{"console ok", second(Console("/var/log/xen/console", `login:`)), ""},
		{"console bad regexp", second(Console("/d", `login(`)), "bad pattern"},
		{"console empty pattern", second(Console("/d", ``)), "empty pattern"},
		{"console empty dir", second(Console("", `x`)), "empty console log directory"},
		{"delay ok", second(Delay(45 * time.Second)), ""},
		{"delay zero", second(Delay(0)), "must be positive"},
		{"delay negative", second(Delay(-time.Second)), "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.err, tt.want) })
	}
}

func second(_ Probe, err error) error { return err }

func TestStringAndKind(t *testing.T) {
	one := "1"
	empty := ""
	tests := []struct {
		p          Probe
		err        error
		kind, name string
	}{
		{nil, nil, KindTCP, "tcp 192.168.1.4:22"},
		{nil, nil, KindExec, "exec ping -c1 -W1 192.168.2.12"},
		{nil, nil, KindExec, `exec sh -c "exit 1"`},
		{nil, nil, KindXenstore, "xenstore data/ready"},
		{nil, nil, KindXenstore, "xenstore data/ready = 1"},
		{nil, nil, KindXenstore, `xenstore data/ready = ""`},
		{nil, nil, KindHTTP, "http http://10.0.0.5/healthz"},
		{nil, nil, KindHTTP, "http http://10.0.0.5/healthz status 204"},
		{nil, nil, KindConsole, `console "login:"`},
		{nil, nil, KindDelay, "delay 45s"},
	}
	tests[0].p, tests[0].err = TCP("192.168.1.4:22")
	tests[1].p, tests[1].err = Exec([]string{"ping", "-c1", "-W1", "192.168.2.12"})
	tests[2].p, tests[2].err = Exec([]string{"sh", "-c", "exit 1"})
	tests[3].p, tests[3].err = Xenstore("xenstore-read", "data/ready", nil)
	tests[4].p, tests[4].err = Xenstore("xenstore-read", "data/ready", &one)
	tests[5].p, tests[5].err = Xenstore("xenstore-read", "data/ready", &empty)
	tests[6].p, tests[6].err = HTTP("http://10.0.0.5/healthz", 0)
	tests[7].p, tests[7].err = HTTP("http://10.0.0.5/healthz", 204)
	tests[8].p, tests[8].err = Console("/d", "login:")
	tests[9].p, tests[9].err = Delay(45 * time.Second)
	for _, tt := range tests {
		p := mustProbe(t, tt.p, tt.err)
		if got := p.String(); got != tt.name {
			t.Errorf("String() = %q, want %q", got, tt.name)
		}
		if got := p.Kind(); got != tt.kind {
			t.Errorf("%s: Kind() = %q, want %q", tt.name, got, tt.kind)
		}
	}
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	p := must(t)(TCP(addr))

	checkErr(t, p.Check(ctxTimeout(t, time.Second), Target{}), "")

	ln.Close()
	err = p.Check(ctxTimeout(t, time.Second), Target{})
	checkErr(t, err, "connection refused")
	if err != nil && err.Error() != "connection refused" {
		t.Errorf("error %q is not short", err)
	}

	// An expired context returns at once with a context error.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	start := time.Now()
	err = must(t)(TCP("192.0.2.1:22")).Check(ctx, Target{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired ctx: got %v, want context.DeadlineExceeded", err)
	}
	checkErr(t, err, "timed out")
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("expired ctx: took %v", d)
	}
}

func TestHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/redirect-bad", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/unavailable", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		path    string
		status  int
		timeout time.Duration
		want    string
	}{
		{"/ok", 0, time.Second, ""},
		{"/ok", 200, time.Second, ""},
		{"/nocontent", 0, time.Second, ""},
		{"/nocontent", 204, time.Second, ""},
		{"/ok", 204, time.Second, "HTTP 200, want 204"},
		{"/unavailable", 0, time.Second, "HTTP 503"},
		{"/unavailable", 503, time.Second, ""},
		{"/missing", 0, time.Second, "HTTP 404"},
		{"/redirect", 0, time.Second, `HTTP 302 redirect to "/ok", not followed (set status = 302`},
		{"/redirect", 302, time.Second, ""},
		{"/redirect-bad", 0, time.Second, `HTTP 302 redirect to "/unavailable"`},
		{"/slow", 0, 100 * time.Millisecond, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p := must(t)(HTTP(srv.URL+tt.path, tt.status))
			start := time.Now()
			checkErr(t, p.Check(ctxTimeout(t, tt.timeout), Target{}), tt.want)
			if d := time.Since(start); d > tt.timeout+300*time.Millisecond {
				t.Errorf("took %v with a %v deadline", d, tt.timeout)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		p := must(t)(HTTP("http://"+ln.Addr().String()+"/", 0))
		checkErr(t, p.Check(ctxTimeout(t, time.Second), Target{}), "connection refused")
	})
}

// TestHTTPRedirectNotFollowed: a guest's 3xx never makes dom0 request the
// URL it names; it is "not ready", naming the status and the Location,
// unless the probe's status names it.
func TestHTTPRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	wipe := target.URL + "/internal/admin?action=wipe"
	guest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if r.URL.Path != "/nolocation" {
			w.Header().Set("Location", wipe)
		} else {
			code = http.StatusFound
		}
		w.WriteHeader(code)
	}))
	defer guest.Close()

	tests := []struct {
		path   string
		status int
		want   string // "" = passes
	}{
		{"/302", 0, `HTTP 302 redirect to "` + wipe + `", not followed (set status = 302 if this answer means ready)`},
		{"/301", 0, `HTTP 301 redirect to "` + wipe + `", not followed`},
		{"/303", 0, `HTTP 303 redirect to "` + wipe + `", not followed`},
		{"/307", 0, `HTTP 307 redirect to "` + wipe + `", not followed`},
		{"/308", 0, `HTTP 308 redirect to "` + wipe + `", not followed`},
		{"/302", 200, `HTTP 302 redirect to "` + wipe + `", not followed, want 200`},
		{"/nolocation", 0, "HTTP 302 redirect to (no Location), not followed"},
		{"/302", 302, ""},
		{"/307", 307, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s status %d", tt.path, tt.status), func(t *testing.T) {
			p := must(t)(HTTP(guest.URL+tt.path, tt.status))
			checkErr(t, p.Check(ctxTimeout(t, time.Second), Target{}), tt.want)
			if n := hits.Load(); n != 0 {
				t.Fatalf("the redirect's target was requested %d times; a redirect must never be followed", n)
			}
		})
	}
}

func TestQuoteLocation(t *testing.T) {
	long := strings.Repeat("a", maxLocation+10)
	for _, tt := range []struct{ in, want string }{
		{"", "(no Location)"},
		{"/ok", `"/ok"`},
		{"/\x1b[2J\u009b", `"/\x1b[2J\u009b"`},
		{long, `"` + long[:maxLocation] + `"...`},
	} {
		if got := quoteLocation(tt.in); got != tt.want {
			t.Errorf("quoteLocation(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestExec(t *testing.T) {
	tests := []struct {
		name      string
		argv      []string
		timeout   time.Duration
		waitDelay time.Duration // 0: the default
		want      string
		maxTime   time.Duration
	}{
		{"true", []string{"true"}, time.Second, 0, "", time.Second},
		{"false", []string{"false"}, time.Second, 0, "exit status 1", time.Second},
		{"stderr line", []string{"/bin/sh", "-c", "echo first >&2; echo 'boom: it broke' >&2; exit 3"},
			time.Second, 0, "exit status 3: boom: it broke", time.Second},
		{"stdout line", []string{"/bin/sh", "-c", "echo from stdout; echo; exit 2"},
			time.Second, 0, "exit status 2: from stdout", time.Second},
		{"long output keeps tail", []string{"/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; exit 4"},
			time.Second, 0, "exit status 4: line 1999", time.Second},
		{"no shell", []string{"echo", "a; exit 1"}, time.Second, 0, "", time.Second},
		{"not found", []string{"/nonexistent/probe-cmd"}, time.Second, 0, "no such file", time.Second},
		{"sleep interrupted", []string{"sleep", "10"}, 100 * time.Millisecond, 0, "timed out", 2500 * time.Millisecond},
		{"SIGINT ignored, killed", []string{"/bin/sh", "-c", "trap '' INT; echo waiting; exec sleep 10"},
			100 * time.Millisecond, 200 * time.Millisecond, "timed out: waiting", 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(t)(Exec(tt.argv))
			if tt.waitDelay > 0 {
				p.(*execProbe).waitDelay = tt.waitDelay
			}
			start := time.Now()
			err := p.Check(ctxTimeout(t, tt.timeout), Target{})
			checkErr(t, err, tt.want)
			if d := time.Since(start); d > tt.maxTime {
				t.Errorf("took %v, want under %v", d, tt.maxTime)
			}
		})
	}
}

// fakeXenstoreRead writes a fake xenstore-read into a temporary directory.
func fakeXenstoreRead(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "xenstore-read")
	script := `#!/bin/sh
if [ $# -ne 1 ]; then echo "usage: want 1 argument, got $#" >&2; exit 2; fi
case "$1" in
/local/domain/7/data/ready) echo 1 ;;
/local/domain/7/data/zero) echo 0 ;;
/local/domain/7/data/empty) echo ;;
/local/domain/9/*) echo "xenstore-read: could not connect to xenstored: Permission denied" >&2; exit 1 ;;
*) echo "xenstore-read: couldn't read path $1" >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestXenstore(t *testing.T) {
	cmd := fakeXenstoreRead(t)
	one, zero, empty := "1", "0", ""
	tests := []struct {
		name   string
		key    string
		equals *string
		domid  int
		want   string
	}{
		{"exists", "data/ready", nil, 7, ""},
		{"equals", "data/ready", &one, 7, ""},
		{"mismatch", "data/zero", &one, 7, `value "0", want "1"`},
		{"equals 0", "data/zero", &zero, 7, ""},
		{"empty value exists", "data/empty", nil, 7, ""},
		{"empty value equals", "data/empty", &empty, 7, ""},
		{"empty value mismatch", "data/empty", &one, 7, `value "", want "1"`},
		{"absent", "data/other", nil, 7, "key absent"},
		{"path from domid", "data/ready", nil, 8, "key absent"},
		{"other failure", "data/ready", nil, 9, "exit status 1: xenstore-read: could not connect to xenstored: Permission denied"},
		{"no domid", "data/ready", nil, 0, "no domid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(t)(Xenstore(cmd, tt.key, tt.equals))
			err := p.Check(ctxTimeout(t, time.Second), Target{Name: "g", DomID: tt.domid})
			checkErr(t, err, tt.want)
			if tt.want == "key absent" && err != nil && err.Error() != "key absent" {
				t.Errorf("error %q, want exactly \"key absent\"", err)
			}
		})
	}

	t.Run("command on PATH", func(t *testing.T) {
		t.Setenv("PATH", filepath.Dir(cmd)+string(os.PathListSeparator)+os.Getenv("PATH"))
		p := must(t)(Xenstore("xenstore-read", "data/ready", &one))
		checkErr(t, p.Check(ctxTimeout(t, time.Second), Target{DomID: 7}), "")
	})
	t.Run("command missing", func(t *testing.T) {
		p := must(t)(Xenstore(filepath.Join(t.TempDir(), "nope"), "data/ready", nil))
		checkErr(t, p.Check(ctxTimeout(t, time.Second), Target{DomID: 7}), "no such file")
	})
}

func TestConsole(t *testing.T) {
	dir := t.TempDir()
	const name = "web"
	path := ConsoleLogPath(dir, name)
	if want := filepath.Join(dir, "guest-web.log"); path != want {
		t.Fatalf("ConsoleLogPath = %q, want %q", path, want)
	}
	p := must(t)(Console(dir, `^\S+ login: ?$`))
	check := func(offset int64) error {
		return p.Check(ctxTimeout(t, time.Second), Target{Name: name, DomID: 3, ConsoleOffset: offset})
	}
	appendLog := func(s string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}

	// Missing log.
	if n := ConsoleSize(dir, name); n != 0 {
		t.Errorf("ConsoleSize of a missing log = %d, want 0", n)
	}
	checkErr(t, check(0), "no console log "+path+" yet (is xenconsoled logging guests? XENCONSOLED_TRACE=guest)")

	// A match from the previous boot, before the offset, does not count.
	appendLog("old boot\nweb login: \nshutting down\n")
	off := ConsoleSize(dir, name)
	if fi, _ := os.Stat(path); off != fi.Size() || off == 0 {
		t.Fatalf("ConsoleSize = %d, want %d", off, fi.Size())
	}
	checkErr(t, check(off), `no match for "^\\S+ login: ?$" yet`)
	checkErr(t, check(0), "") // sanity: the old content does match

	// New output without a match, then with one (CR LF line ends).
	appendLog("Booting Linux\r\nstarting sshd\r\n")
	checkErr(t, check(off), "no match")
	appendLog("web login: \r\n")
	checkErr(t, check(off), "")

	// Truncated below the offset: read from the start.
	if err := os.WriteFile(path, []byte("web login:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkErr(t, check(off), "")
	if err := os.WriteFile(path, []byte("booting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkErr(t, check(off), "no match")

	checkErr(t, p.Check(context.Background(), Target{Name: "../x"}), "bad guest name")
}

func TestDelay(t *testing.T) {
	p := must(t)(Delay(45 * time.Second))
	now := time.Now()
	tests := []struct {
		name  string
		since time.Time
		want  string
	}{
		{"long ago", now.Add(-time.Hour), ""},
		{"just enough", now.Add(-45 * time.Second), ""},
		{"12s in", now.Add(-12*time.Second - 300*time.Millisecond), "12s of 45s"},
		{"just started", now, "0s of 45s"},
		{"in the future", now.Add(time.Minute), "0s of 45s"},
		{"unknown", time.Time{}, "start time unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, p.Check(context.Background(), Target{Since: tt.since}), tt.want)
		})
	}
}

func TestExecOwnProcessGroup(t *testing.T) {
	// A probe's program leads a process group of its own: a terminal's
	// Ctrl-C or hang-up, sent to xenorder's group, never reaches it.
	script := `read pid comm state ppid pgrp rest < /proc/$$/stat
if [ "$pgrp" != "$pid" ] || [ "$pgrp" = "$1" ]; then echo "in group $pgrp (pid $pid, the caller's group $1)"; exit 1; fi`
	p := must(t)(Exec([]string{"/bin/sh", "-c", script, "sh", strconv.Itoa(syscall.Getpgrp())}))
	checkErr(t, p.Check(ctxTimeout(t, 5*time.Second), Target{}), "")
}
