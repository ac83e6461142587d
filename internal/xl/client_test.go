package xl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/testing/testflags"
)

// The fake xl: the test binary re-executed with XL_TEST_HELPER=1 behaves
// as scripted by these variables.
const (
	envHelper    = "XL_TEST_HELPER"     // "1": be the fake xl
	envStdout    = "XL_TEST_STDOUT"     // print this on stdout
	envStderr    = "XL_TEST_STDERR"     // print this on stderr
	envExit      = "XL_TEST_EXIT"       // exit with this code
	envSleep     = "XL_TEST_SLEEP"      // then sleep this long (a time.Duration)
	envIgnoreInt = "XL_TEST_IGNORE_INT" // "1": ignore SIGINT
	envEchoArgs  = "XL_TEST_ECHO_ARGS"  // "1": print the arguments, one a line
	envDaemon    = "XL_TEST_DAEMON"     // start a fake xl that holds stdout for this long, then exit
	envStdin     = "XL_TEST_STDIN"      // "1": read stdin to its end and say how much it held
	envPgid      = "XL_TEST_PGID"       // "1": print "pid P pgid G"
	envSignals   = "XL_TEST_SIGNALS"    // a file: record each SIGINT, SIGTERM, SIGHUP there, one a line, and carry on
	envGate      = "XL_TEST_GATE"       // a file: print XL_TEST_STDERR, wait until this file exists, then print XL_TEST_STDERR2
	envStderr2   = "XL_TEST_STDERR2"    // what to print on stderr after the gate
)

// allEnv are the variables that script the fake xl.
var allEnv = []string{envStdout, envStderr, envExit, envSleep, envIgnoreInt, envEchoArgs, envDaemon, envStdin, envPgid, envSignals, envGate, envStderr2}

// testParallel is how many of these tests run at once unless -parallel
// says otherwise: most wait on a fake xl's sleeps and signals (real time,
// little CPU); one at a time, GOMAXPROCS (2 here), they took ~12 s.
const testParallel = 8

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "1" {
		os.Exit(fakeXL())
	}
	flag.Parse()
	testflags.DefaultParallel(testParallel)
	if err := writeWrapper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(filepath.Dir(wrapper))
	os.Exit(code)
}

func fakeXL() int {
	if os.Getenv(envIgnoreInt) == "1" {
		signal.Ignore(os.Interrupt)
	}
	if f := os.Getenv(envSignals); f != "" {
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			for s := range sigs {
				rec, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
				if err == nil {
					fmt.Fprintln(rec, s)
					rec.Close()
				}
			}
		}()
	}
	if os.Getenv(envPgid) == "1" {
		fmt.Printf("pid %d pgid %d\n", os.Getpid(), syscall.Getpgrp())
	}
	if os.Getenv(envEchoArgs) == "1" {
		for _, a := range os.Args[1:] {
			fmt.Println(a)
		}
	}
	if os.Getenv(envStdin) == "1" {
		b, err := io.ReadAll(os.Stdin)
		fmt.Printf("stdin: %d bytes, %v\n", len(b), err)
	}
	fmt.Print(os.Getenv(envStdout))
	fmt.Fprint(os.Stderr, os.Getenv(envStderr))
	if gate := os.Getenv(envGate); gate != "" {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(gate); err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintln(os.Stderr, "the gate never opened")
				return 98
			}
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprint(os.Stderr, os.Getenv(envStderr2))
	}
	if d := os.Getenv(envDaemon); d != "" {
		// Like xl create: leave something running that holds our stdout.
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envDaemon+"=", envStdout+"=", envStderr+"=", envEchoArgs+"=", envPgid+"=", envSignals+"=", envGate+"=", envSleep+"="+d)
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 99
		}
	}
	if d := os.Getenv(envSleep); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 99
		}
		time.Sleep(dur)
	}
	code, _ := strconv.Atoi(os.Getenv(envExit))
	return code
}

// wrapper is the fake xl every test's client runs: a shell script, written
// once before any test runs, that exports the variables in the file "env"
// beside the name it was run as, and then runs this test binary as the
// fake xl. Each test's xl is a symlink to it in a folder of its own, with
// its own env file: tests run in parallel, and none writes a program
// (writing one while another test forks makes its exec fail, ETXTBSY).
var wrapper string

func writeWrapper() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "xl-test-")
	if err != nil {
		return err
	}
	wrapper = filepath.Join(dir, "xl-wrapper")
	script := "#!/bin/sh\nset -a\n. \"${0%/*}/env\"\nexec " + shellQuote(exe) + " \"$@\"\n"
	return os.WriteFile(wrapper, []byte(script), 0o755)
}

// fakeClient returns a Client that runs the fake xl scripted by env, and
// records the runs it traces.
func fakeClient(t *testing.T, env map[string]string) (*Client, *[][]string) {
	t.Helper()
	set := map[string]string{envHelper: "1",
		// Under -race, a process exiting normally sleeps 1s unless told not to.
		"GORACE": strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")}
	for _, k := range allEnv {
		set[k] = env[k]
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(set)) {
		fmt.Fprintf(&b, "%s=%s\n", k, shellQuote(set[k]))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	xl := filepath.Join(dir, "xl")
	if err := os.Symlink(wrapper, xl); err != nil {
		t.Fatal(err)
	}
	var runs [][]string
	c := &Client{
		Path:      xl,
		WaitDelay: 300 * time.Millisecond,
		Trace:     func(args []string, d time.Duration, err error) { runs = append(runs, args) },
	}
	return c, &runs
}

// shellQuote quotes s for sh: in single quotes, each single quote in s
// closing the quotes, escaped, and opening them again.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// asError returns err as an *Error, failing the test if it is not one.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *Error", err, err)
	}
	return e
}

func TestRunStdout(t *testing.T) {
	t.Parallel()
	c, runs := fakeClient(t, map[string]string{envEchoArgs: "1", envStdout: "done\n", envStderr: "chatter on stderr\n"})
	out, err := c.Run(context.Background(), time.Minute, "list", "two words", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "list\ntwo words\n\ndone\n"; string(out) != want {
		t.Errorf("stdout %q, want %q (stderr kept apart)", out, want)
	}
	if want := [][]string{{"list", "two words", ""}}; !reflect.DeepEqual(*runs, want) {
		t.Errorf("traced %q, want %q", *runs, want)
	}
}

func TestRunLargeOutput(t *testing.T) {
	t.Parallel()
	// More than a pipe holds, on both streams: nothing is lost or mixed.
	big := strings.Repeat("Domain-0  0  1024  1  r-----  12.0\n", 3000)
	c, _ := fakeClient(t, map[string]string{envStdout: big, envStderr: strings.ToUpper(big), envExit: "1"})
	out, err := c.Run(context.Background(), time.Minute, "list")
	if string(out) != big {
		t.Errorf("stdout: %d bytes, want %d", len(out), len(big))
	}
	if e := asError(t, err); e.Stderr != strings.TrimSpace(strings.ToUpper(big)) {
		t.Errorf("stderr: %d bytes, want %d", len(e.Stderr), len(big)-1)
	}
}

func TestRunFindsXLOnPath(t *testing.T) {
	// The name is looked up on $PATH at each call: a folder that lost it
	// or a $PATH that changed is seen at the next one.
	dir1, dir2 := t.TempDir(), t.TempDir()
	c, _ := fakeClient(t, map[string]string{envEchoArgs: "1"})
	for _, d := range []string{dir1, dir2} {
		if err := os.Symlink(wrapper, d+"/xl"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(filepath.Dir(c.Path), "env"), d+"/env"); err != nil {
			t.Fatal(err)
		}
	}
	c.Path = ""
	t.Setenv("PATH", dir1)
	if out, err := c.Run(context.Background(), time.Minute, "list"); err != nil || string(out) != "list\n" {
		t.Fatalf("got %q, %v", out, err)
	}
	os.Remove(dir1 + "/xl")
	if _, err := c.Run(context.Background(), time.Minute, "list"); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("xl gone: error %v, want one saying it is not found", err)
	}
	t.Setenv("PATH", dir2)
	if out, err := c.Run(context.Background(), time.Minute, "info"); err != nil || string(out) != "info\n" {
		t.Errorf("after PATH changed: got %q, %v", out, err)
	}
	t.Setenv("PATH", dir1+":"+dir2)
	if out, err := c.Run(context.Background(), time.Minute, "info"); err != nil || string(out) != "info\n" {
		t.Errorf("xl gone from the first folder: got %q, %v", out, err)
	}
}

func TestClientMethodsArgs(t *testing.T) {
	t.Parallel()
	samples := readSamples(t, "xen-4.17-xl.txt")
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		stdout string
		call   func(c *Client) error
		want   []string
	}{
		{"List", findSample(t, samples, "xl list Domain-N", 0).stdout, func(c *Client) error {
			d, err := c.List(ctx)
			if err == nil && (len(d) != 1 || d[0].Name != "Domain-N" || d[0].State.String() != "blocked") {
				err = fmt.Errorf("got %+v", d)
			}
			return err
		}, []string{"list"}},
		{"ListLong", findSample(t, samples, "xl list -l", 0).stdout, func(c *Client) error {
			d, err := c.ListLong(ctx)
			if err == nil && (len(d) != 4 || d[3].Name != "fileserver" || d[3].DomID != 6) {
				err = fmt.Errorf("got %+v", d)
			}
			return err
		}, []string{"list", "-l"}},
		{"Info", findSample(t, samples, "xl info", 0).stdout, func(c *Client) error {
			i, err := c.Info(ctx)
			if err == nil && i.FreeMemoryMiB != 1726 {
				err = fmt.Errorf("got %+v", i)
			}
			return err
		}, []string{"info"}},
		{"Create", "", func(c *Client) error { return c.Create(ctx, "/etc/xen/web.cfg", nil) }, []string{"create", "/etc/xen/web.cfg"}},
		{"Shutdown", "", func(c *Client) error { return c.Shutdown(ctx, "keeper", false, nil) }, []string{"shutdown", "keeper"}},
		{"Shutdown ACPI", "", func(c *Client) error { return c.Shutdown(ctx, "keeper", true, nil) }, []string{"shutdown", "-F", "keeper"}},
		{"Destroy", "", func(c *Client) error { return c.Destroy(ctx, "keeper", nil) }, []string{"destroy", "keeper"}},
		{"Save", "", func(c *Client) error { return c.Save(ctx, "fileserver", "/var/lib/xen/save/fileserver", nil) }, []string{"save", "fileserver", "/var/lib/xen/save/fileserver"}},
		{"Restore", "", func(c *Client) error { return c.Restore(ctx, "/var/lib/xen/save/fileserver", nil) }, []string{"restore", "/var/lib/xen/save/fileserver"}},
		{"Migrate", "", func(c *Client) error { return c.Migrate(ctx, "web", "host2", nil) }, []string{"migrate", "web", "host2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, runs := fakeClient(t, map[string]string{envStdout: tc.stdout})
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			if want := [][]string{tc.want}; !reflect.DeepEqual(*runs, want) {
				t.Errorf("ran xl %q, want %q", *runs, want)
			}
		})
	}
}

func TestClientRejectsBadArgs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		call    func(c *Client) error
		wantErr string
	}{
		{"relative config", func(c *Client) error { return c.Create(ctx, "etc/xen/web.cfg", nil) }, `xl create: config path "etc/xen/web.cfg" is not absolute`},
		{"config in cwd", func(c *Client) error { return c.Create(ctx, "web.cfg", nil) }, `xl create: config path "web.cfg" is not absolute`},
		{"empty config", func(c *Client) error { return c.Create(ctx, "", nil) }, `xl create: config path "" is not absolute`},
		{"option as name", func(c *Client) error { return c.Shutdown(ctx, "-w", false, nil) }, `xl shutdown: bad domain name "-w"`},
		{"empty name", func(c *Client) error { return c.Destroy(ctx, "", nil) }, `xl destroy: bad domain name ""`},
		{"option as save path", func(c *Client) error { return c.Save(ctx, "web", "-c", nil) }, `xl save: bad path "-c"`},
		{"option as migrate host", func(c *Client) error { return c.Migrate(ctx, "web", "-s", nil) }, `xl migrate: bad host "-s"`},
		{"empty restore path", func(c *Client) error { return c.Restore(ctx, "", nil) }, `xl restore: bad path ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, runs := fakeClient(t, nil)
			err := tc.call(c)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if len(*runs) != 0 {
				t.Errorf("ran xl %q anyway", *runs)
			}
		})
	}
}

func TestRunExitError(t *testing.T) {
	t.Parallel()
	keeper := findSample(t, readSamples(t, "xen-4.17-xl.txt"), "xl shutdown keeper", 1)
	for _, tc := range []struct {
		name     string
		env      map[string]string
		call     func(c *Client) error
		wantArgs []string
		wantCode int
		wantMsg  string
		noSuch   bool
	}{
		{
			"no such domain",
			map[string]string{envStderr: "nosuch is an invalid domain identifier (rc=-6)\n", envExit: "1"},
			func(c *Client) error { return c.Destroy(context.Background(), "nosuch", nil) },
			[]string{"destroy", "nosuch"}, 1,
			"xl destroy nosuch: exit status 1: nosuch is an invalid domain identifier (rc=-6)",
			true,
		},
		{
			"guest did not acknowledge",
			map[string]string{envStderr: keeper.stderr, envExit: "1"},
			func(c *Client) error { return c.Shutdown(context.Background(), "keeper", false, nil) },
			[]string{"shutdown", "keeper"}, 1,
			"xl shutdown keeper: exit status 1: libxl: error: libxl_domain.c:854:pvcontrol_cb: guest didn't acknowledge control request: -9",
			false,
		},
		{
			"exit without stderr",
			map[string]string{envExit: "3"},
			func(c *Client) error { _, err := c.Run(context.Background(), 0, "destroy", "x"); return err },
			[]string{"destroy", "x"}, 3,
			"xl destroy x: exit status 3",
			false,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, runs := fakeClient(t, tc.env)
			err := tc.call(c)
			e := asError(t, err)
			if !reflect.DeepEqual(e.Args, tc.wantArgs) || e.ExitCode != tc.wantCode || e.Stderr != strings.TrimSpace(tc.env[envStderr]) {
				t.Errorf("got %#v", e)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("message %q, want %q", err, tc.wantMsg)
			}
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Errorf("%v does not unwrap to *exec.ExitError", err)
			}
			if IsNoSuchDomain(err) != tc.noSuch || IsNoPVControl(err) || IsAlreadyExists(err) {
				t.Errorf("IsNoSuchDomain %v (want %v), IsNoPVControl %v, IsAlreadyExists %v", IsNoSuchDomain(err), tc.noSuch, IsNoPVControl(err), IsAlreadyExists(err))
			}
			if len(*runs) != 1 {
				t.Errorf("traced %d runs, want 1", len(*runs))
			}
		})
	}
}

func TestRunTimeoutInterrupts(t *testing.T) {
	t.Parallel()
	c, _ := fakeClient(t, map[string]string{envStderr: "still thinking\n", envSleep: "1m"})
	var traced error
	c.Trace = func(_ []string, _ time.Duration, err error) { traced = err }
	start := time.Now()
	// Long enough for the fake to start and write its stderr even on a
	// loaded machine under -race.
	_, err := c.Run(context.Background(), 2*time.Second, "list")
	took := time.Since(start)

	e := asError(t, err)
	if want := "xl list: no answer after 2s (interrupted): still thinking"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if e.ExitCode != -1 || e.Stderr != "still thinking" {
		t.Errorf("got %#v", e)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v is not context.DeadlineExceeded", err)
	}
	if took < 2*time.Second || took > 12*time.Second {
		t.Errorf("took %v", took)
	}
	if traced != err {
		t.Errorf("traced %v, want %v", traced, err)
	}
}

func TestRunKillsAfterWaitDelay(t *testing.T) {
	t.Parallel()
	c, _ := fakeClient(t, map[string]string{envIgnoreInt: "1", envStderr: "Parsing config from /etc/xen/a.cfg\n", envSleep: "1m"})
	start := time.Now()
	// Long enough for the fake to start ignoring SIGINT even on a loaded
	// machine under -race.
	_, err := c.Run(context.Background(), 2*time.Second, "create", "/etc/xen/a.cfg")
	took := time.Since(start)

	e := asError(t, err)
	if want := "xl create /etc/xen/a.cfg: no answer after 2s (interrupted, killed after 300ms)"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if e.ExitCode != -1 || e.Stderr != "Parsing config from /etc/xen/a.cfg" {
		t.Errorf("got %#v", e)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v is not context.DeadlineExceeded", err)
	}
	if took < 2300*time.Millisecond || took > 12*time.Second {
		t.Errorf("took %v, want 2s + 300ms and a little", took)
	}
}

func TestRunCallerContext(t *testing.T) {
	t.Parallel()
	c, _ := fakeClient(t, map[string]string{envSleep: "1m"})

	// The caller's deadline comes before the method's own timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.Destroy(ctx, "web", nil)
	if !regexp.MustCompile(`^xl destroy web: no answer after \d+ms \(interrupted\)$`).MatchString(err.Error()) {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v is not context.DeadlineExceeded", err)
	}

	// The caller cancels.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	err = c.Create(ctx, "/etc/xen/web.cfg", nil)
	if !regexp.MustCompile(`^xl create /etc/xen/web.cfg: canceled after \d+ms \(interrupted\)$`).MatchString(err.Error()) {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v is not context.Canceled", err)
	}

	// Already canceled: xl does not run.
	var ran bool
	c.Trace = func([]string, time.Duration, error) { ran = true }
	_, err = c.List(ctx)
	if want := "xl list: not run: context canceled"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if asError(t, err).ExitCode != -1 || !errors.Is(err, context.Canceled) || !ran {
		t.Errorf("got %#v, traced %v", err, ran)
	}
}

func TestRunNoBinary(t *testing.T) {
	t.Parallel()
	c := &Client{Path: "/nonexistent/xl"}
	_, err := c.Run(context.Background(), time.Second, "list")
	e := asError(t, err)
	if e.ExitCode != -1 || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "xl list: ") {
		t.Errorf("got %v (%#v)", err, e)
	}
}

func TestRunDaemonHoldsOutput(t *testing.T) {
	t.Parallel()
	// xl create leaves a process behind that keeps xl's stdout open: the
	// run succeeds as soon as xl exits, without waiting for WaitDelay
	// (xl's output is a file, not a pipe os/exec would drain).
	c, _ := fakeClient(t, map[string]string{envDaemon: "6s"})
	c.WaitDelay = 4 * time.Second
	start := time.Now()
	err := c.Create(context.Background(), "/etc/xen/web.cfg", nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v: waited for the daemon", took)
	}
}

func TestListParseErrorShowsOutput(t *testing.T) {
	t.Parallel()
	c, _ := fakeClient(t, map[string]string{envStdout: "garbage\n" + strings.Repeat("x", 300)})
	_, err := c.List(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, `xl list: line 1: "garbage": want the header`) || !strings.Contains(msg, `(output began "garbage\n`+strings.Repeat("x", 192)+`")`) {
		t.Errorf("message %q", msg)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Errorf("a parse error is not an *Error: %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	// Every failed xl run of the samples, as Run would report it.
	want := map[string]struct {
		msg                         string
		noSuch, noPV, alreadyExists bool
	}{
		"xl create /etc/xen/Domain-N.cfg": {
			msg:           `xl create /etc/xen/Domain-N.cfg: exit status 3: libxl: error: libxl_domain.c:81:libxl__domain_rename: Domain 2:Domain with name "Domain-N" already exists.`,
			alreadyExists: true,
		},
		"xl list nosuch":     {msg: "xl list nosuch: exit status 1: nosuch is an invalid domain identifier (rc=-6)", noSuch: true},
		"xl domid nosuch":    {msg: "xl domid nosuch: exit status 1: Can't get domid of domain name 'nosuch', maybe this domain does not exist."},
		"xl shutdown nosuch": {msg: "xl shutdown nosuch: exit status 1: nosuch is an invalid domain identifier (rc=-6)", noSuch: true},
		"xl destroy nosuch":  {msg: "xl destroy nosuch: exit status 1: nosuch is an invalid domain identifier (rc=-6)", noSuch: true},
		"xl shutdown keeper": {msg: "xl shutdown keeper: exit status 1: libxl: error: libxl_domain.c:854:pvcontrol_cb: guest didn't acknowledge control request: -9"},
		"xl restore /var/lib/xen/save/corrupt": {
			msg: "xl restore /var/lib/xen/save/corrupt: exit status 1: libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading header from /var/lib/xen/save/corrupt",
		},
	}
	toError := func(cmd, stderr string, rc int) *Error {
		return &Error{Args: strings.Fields(cmd)[1:], ExitCode: rc, Stderr: strings.TrimSpace(stderr), Err: fmt.Errorf("exit status %d", rc)}
	}
	for _, s := range readSamples(t, "xen-4.17-xl.txt") {
		if s.rc == 0 {
			continue
		}
		w, ok := want[s.cmd]
		if !ok {
			t.Errorf("no expectation for the failed %q", s.cmd)
			continue
		}
		delete(want, s.cmd)
		err := toError(s.cmd, s.stderr, s.rc)
		if err.Error() != w.msg {
			t.Errorf("%s:\n got %q\nwant %q", s.cmd, err, w.msg)
		}
		if IsNoSuchDomain(err) != w.noSuch || IsNoPVControl(err) != w.noPV || IsAlreadyExists(err) != w.alreadyExists {
			t.Errorf("%s: IsNoSuchDomain %v, IsNoPVControl %v, IsAlreadyExists %v", s.cmd, IsNoSuchDomain(err), IsNoPVControl(err), IsAlreadyExists(err))
		}
	}
	for cmd := range want {
		t.Errorf("failed sample %q not found", cmd)
	}

	// xl_vmcontrol.c's text when a guest has no PV control interface.
	noPV := toError("xl shutdown hvm1", "Shutting down domain 4\nPV control interface not available: external graceful shutdown not possible.\nUse \"-F\" to fallback to ACPI power event.\nshutdown failed (rc=-3)\n", 1)
	if want := "xl shutdown hvm1: exit status 1: PV control interface not available: external graceful shutdown not possible."; noPV.Error() != want {
		t.Errorf("got %q\nwant %q", noPV, want)
	}
	if !IsNoPVControl(noPV) || IsNoSuchDomain(noPV) || IsAlreadyExists(noPV) {
		t.Errorf("IsNoPVControl false for %v", noPV)
	}
	// Only progress lines: no cause. No telling line: the last one.
	if got, want := toError("xl shutdown keeper", "Shutting down domain 5\n", 1).Error(), "xl shutdown keeper: exit status 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := toError("xl save a /x", "Saving to /x\nsomething odd\n\n", 1).Error(), "xl save a /x: exit status 1: something odd"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Wrapped errors are still recognized; others are not.
	if !IsNoSuchDomain(fmt.Errorf("stopping web: %w", toError("xl destroy web", "web is an invalid domain identifier (rc=-6)", 1))) {
		t.Error("IsNoSuchDomain false for a wrapped error")
	}
	if IsNoSuchDomain(errors.New("web is an invalid domain identifier")) || IsNoSuchDomain(nil) {
		t.Error("IsNoSuchDomain true for an error that is not an *Error")
	}
}

func TestRunCallsStarted(t *testing.T) {
	t.Parallel()
	// The hook runs once xl has started, while it still runs; also when it
	// could not start.
	c, _ := fakeClient(t, map[string]string{envSleep: "200ms"})
	var startedAt time.Time
	calls := 0
	ctx := context.Background()
	started := func() { calls++; startedAt = time.Now() }
	if err := c.Create(ctx, "/etc/xen/web.cfg", started); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || time.Since(startedAt) < 150*time.Millisecond {
		t.Errorf("hook called %d times, %s before xl returned", calls, time.Since(startedAt))
	}
	c.Path = "/nonexistent/xl"
	if err := c.Create(ctx, "/etc/xen/web.cfg", started); err == nil || calls != 2 {
		t.Errorf("no xl: err %v, hook called %d times", err, calls)
	}
}

func TestRunStdinIsEmpty(t *testing.T) {
	t.Parallel()
	// xl reads nothing from xenorder: its stdin is /dev/null, call after
	// call, also when calls run at once.
	c, _ := fakeClient(t, map[string]string{envStdin: "1"})
	c.Trace = nil // its recorder is not for calls at once
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			out, err := c.Run(context.Background(), time.Minute, "list")
			if err == nil && string(out) != "stdin: 0 bytes, <nil>\n" {
				err = fmt.Errorf("got %q", out)
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// wholeOps are the operations xl must never be interrupted in.
var wholeOps = []struct {
	op, target string
	call       func(ctx context.Context, c *Client, started func()) error
}{
	{"save", "web", func(ctx context.Context, c *Client, started func()) error {
		return c.Save(ctx, "web", "/var/lib/xen/save/web", started)
	}},
	{"restore", "/var/lib/xen/save/web", func(ctx context.Context, c *Client, started func()) error {
		return c.Restore(ctx, "/var/lib/xen/save/web", started)
	}},
	{"migrate", "web", func(ctx context.Context, c *Client, started func()) error {
		return c.Migrate(ctx, "web", "host2", started)
	}},
}

func TestRunOwnProcessGroup(t *testing.T) {
	t.Parallel()
	// Every xl runs in a process group of its own, so that a terminal's
	// Ctrl-C or hang-up, sent to xenorder's group, never reaches it.
	c, _ := fakeClient(t, map[string]string{envPgid: "1"})
	kinds := []call{{timeout: time.Minute}}
	for _, w := range wholeOps {
		kinds = append(kinds, call{whole: w.op, target: w.target})
	}
	for _, k := range kinds {
		out, _, err := c.run(context.Background(), k, "list")
		if err != nil {
			t.Fatalf("%+v: %v", k, err)
		}
		var pid, pgid int
		if _, err := fmt.Sscanf(string(out), "pid %d pgid %d", &pid, &pgid); err != nil {
			t.Fatalf("%+v: fake xl said %q: %v", k, out, err)
		}
		if pgid == syscall.Getpgrp() || pgid != pid {
			t.Errorf("%+v: xl ran in process group %d (its pid %d), the caller's is %d: want a group of its own", k, pgid, pid, syscall.Getpgrp())
		}
	}
}

func TestWholeOpsNeverSignalled(t *testing.T) {
	t.Parallel()
	// Whatever the context does once xl has started (canceled here, or a
	// deadline), a save, restore or migration is never signalled: the call
	// waits for xl to exit and reports how it did.
	for _, w := range wholeOps {
		for _, exit := range []string{"0", "1"} {
			t.Run(w.op+" exit "+exit, func(t *testing.T) {
				signals := filepath.Join(t.TempDir(), "signals")
				c, _ := fakeClient(t, map[string]string{envSignals: signals, envSleep: "800ms", envExit: exit,
					envStderr: "xc: info: Saving domain 3, type x86 PV\n"})
				var lines []string
				var mu sync.Mutex
				c.Progress = func(op, target, line string) {
					mu.Lock()
					defer mu.Unlock()
					if op != w.op || target != w.target {
						t.Errorf("progress for %s %s, want %s %s", op, target, w.op, w.target)
					}
					lines = append(lines, line)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
				defer cancel()
				started := make(chan struct{})
				go func() { <-started; time.Sleep(100 * time.Millisecond); cancel() }()
				begin := time.Now()
				err := w.call(ctx, c, func() { close(started) })
				if took := time.Since(begin); took < 800*time.Millisecond {
					t.Errorf("returned after %v, before xl exited", took)
				}
				if exit == "0" && err != nil {
					t.Errorf("xl exited 0 after the context ended: error %v, want none", err)
				}
				if exit == "1" {
					e := asError(t, err)
					if e.ExitCode != 1 || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || e.Stderr != "xc: info: Saving domain 3, type x86 PV" {
						t.Errorf("got %v (%#v), want xl's own exit status 1 and its stderr", err, e)
					}
				}
				if b, err := os.ReadFile(signals); err == nil || !os.IsNotExist(err) {
					t.Errorf("xl %s received signals: %q", w.op, b)
				}
				mu.Lock()
				defer mu.Unlock()
				if want := []string{"xc: info: Saving domain 3, type x86 PV"}; !reflect.DeepEqual(lines, want) {
					t.Errorf("progress lines %q, want %q", lines, want)
				}
			})
		}
	}
}

func TestOtherRunsInterruptTheirGroup(t *testing.T) {
	t.Parallel()
	// The check above can fail: the same fake, run as anything but a
	// whole operation, gets SIGINT when the context ends, though it is in
	// a group of its own.
	signals := filepath.Join(t.TempDir(), "signals")
	c, _ := fakeClient(t, map[string]string{envSignals: signals, envSleep: "1m"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.Destroy(ctx, "web", nil)
	if !regexp.MustCompile(`^xl destroy web: no answer after \d+ms \(interrupted, killed after 300ms\)$`).MatchString(fmt.Sprint(err)) {
		t.Errorf("error %v", err)
	}
	if b, _ := os.ReadFile(signals); string(b) != "interrupt\n" {
		t.Errorf("xl received %q, want SIGINT once", b)
	}
}

func TestWholeOpNotStartedAfterCancel(t *testing.T) {
	t.Parallel()
	// A context that has already ended keeps a save from starting.
	c, runs := fakeClient(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Save(ctx, "web", "/var/lib/xen/save/web", nil)
	if want := "xl save web /var/lib/xen/save/web: not run: context canceled"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if !errors.Is(err, context.Canceled) || len(*runs) != 1 {
		t.Errorf("got %v; traced %q", err, *runs)
	}
}

func TestProgressStreamed(t *testing.T) {
	t.Parallel()
	// Each stderr line reaches Progress while xl still runs: the fake
	// prints its second line only once the test has seen the first.
	real := findSample(t, readSamples(t, "xen-4.17-xl.txt"), "xl save fileserver /var/lib/xen/save/fileserver", 0).stderr
	first, rest, _ := strings.Cut(real, "xc: progress: Frames: 12288/24576")
	rest = "xc: progress: Frames: 12288/24576" + rest
	for _, w := range wholeOps {
		t.Run(w.op, func(t *testing.T) {
			gate := filepath.Join(t.TempDir(), "gate")
			c, _ := fakeClient(t, map[string]string{envGate: gate, envStderr: first, envStderr2: rest, envExit: "1"})
			var mu sync.Mutex
			var lines []string
			c.Progress = func(op, target, line string) {
				mu.Lock()
				defer mu.Unlock()
				lines = append(lines, line)
				if line == "xc: progress: Frames: 10240/24576   41%" { // the last before the gate
					os.WriteFile(gate, nil, 0o600)
				}
			}
			err := w.call(context.Background(), c, nil)
			e := asError(t, err)
			if e.Stderr != strings.TrimSpace(real) {
				t.Errorf("the error keeps stderr %q, want all of it %q", e.Stderr, real)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := strings.Split(strings.TrimSpace(real), "\n"); !reflect.DeepEqual(lines, want) {
				t.Errorf("progress lines\n%q\nwant\n%q", lines, want)
			}
		})
	}
}
