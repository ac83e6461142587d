package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenorder/xenorder/internal/runner"
)

// TestAsk: only y or yes (any case, blanks around) goes on; any other line,
// an empty one included, is no; end of input, a signal (ctx) and no answer
// in time are errors.
func TestAsk(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr string
	}{
		{"y\n", true, ""},
		{"yes\n", true, ""},
		{" YES \n", true, ""},
		{"Y\n", true, ""},
		{"y", true, ""}, // the last line, without its newline
		{"n\n", false, ""},
		{"\n", false, ""},
		{"no\n", false, ""},
		{"yess\n", false, ""},
		{"sure\n", false, ""},
		{"", false, "no answer (EOF)"},
	}
	for _, tt := range tests {
		var said string
		got, err := ask(t.Context(), strings.NewReader(tt.in), func(s string) { said += s }, "Proceed? [y/N] ", time.Minute)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
			t.Errorf("answer %q: %v, %v; want %v, %q", tt.in, got, err, tt.want, tt.wantErr)
		}
		if said != "Proceed? [y/N] " {
			t.Errorf("answer %q: asked %q", tt.in, said)
		}
	}
	// Nobody answers: a signal ends the question, and so does the timeout.
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(errors.New("interrupted by interrupt"))
	if ok, err := ask(ctx, pr, func(string) {}, "? ", time.Minute); ok || err == nil || err.Error() != "asking: interrupted by interrupt" {
		t.Errorf("a signal while asking: %v, %v", ok, err)
	}
	if ok, err := ask(t.Context(), pr, func(string) {}, "? ", time.Millisecond); ok || err == nil || err.Error() != "no answer within 1ms" {
		t.Errorf("no answer: %v, %v", ok, err)
	}
}

// TestAlsoStopped: the running domains a stop takes down beyond the named
// guests; none for a bare stop (it names nothing and stops everything).
func TestAlsoStopped(t *testing.T) {
	plan := &runner.Plan{Verb: "stop", Tiers: [][]runner.Step{
		{{Guest: "web", Action: "shutdown", DomID: 7}, {Guest: "mail", Action: "save to /x", DomID: 8}, {Guest: "gone", Action: "already stopped", DomID: -1}},
		{{Guest: "dying", Action: "wait (dying)", DomID: 9}, {Guest: "susp", Action: "leave (suspended)", DomID: 10}, {Guest: "db", Action: "shutdown", DomID: 11}},
		{{Guest: "fileserver", Action: "shutdown", DomID: 5}},
	}}
	if got := alsoStopped(plan, []string{"fileserver"}); !slices.Equal(got, []string{"db", "mail", "web"}) {
		t.Errorf("alsoStopped(fileserver) = %v", got)
	}
	if got := alsoStopped(plan, []string{"fileserver", "web", "mail", "db"}); len(got) != 0 {
		t.Errorf("every running guest named: %v", got)
	}
	if got := alsoStopped(plan, nil); len(got) != 0 {
		t.Errorf("a bare stop: %v", got)
	}
}

// openPTY opens a pseudo-terminal: the master, and the terminal a program
// reads as its stdin.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("the pseudo-terminal's number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// watched is output that says when a text appears in it.
type watched struct {
	mu   sync.Mutex
	b    strings.Builder
	text string
	seen chan struct{}
}

func (w *watched) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.seen != nil && strings.Contains(w.b.String(), w.text) {
		close(w.seen)
		w.seen = nil
	}
	return len(p), nil
}

func (w *watched) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.b.String() }

const question = "Proceed? [y/N] "

// xenorderOnTTY runs xenorder with a terminal as its stdin and, if it asks
// its question, answers it. It says whether it was asked.
func (h *host) xenorderOnTTY(answer string, args ...string) (result, bool) {
	h.t.Helper()
	master, tty := openPTY(h.t)
	cmd := exec.CommandContext(h.t.Context(), filepath.Join(binDir, "xenorder"), args...)
	cmd.Env, cmd.Dir = h.env(), h.dir
	out := &watched{text: question, seen: make(chan struct{})}
	seen := out.seen
	var errb syncWriter
	errb.w = &strings.Builder{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, out, &errb
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	asked := false
	var err error
	select {
	case <-seen:
		asked = true
		if _, werr := master.Write([]byte(answer + "\n")); werr != nil {
			h.t.Fatal(werr)
		}
		err = <-done
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		h.t.Fatalf("xenorder %s neither asked nor ended:\n%s", strings.Join(args, " "), out)
	}
	r := result{stdout: out.String(), stderr: errb.w.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return r, asked
}

// TestQuestionBeforeStoppingDependents: on a terminal, stop, drain and
// restart of named guests ask before they take down guests they were not
// named; no, or a bare Enter, does nothing (exit 1); yes, or --yes, goes
// on; a stop of guests nothing depends on asks nothing; neither does any
// command whose stdin is not a terminal (every other test: /dev/null).
func TestQuestionBeforeStoppingDependents(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	mustExit(t, h.xenorder("start"), 0)
	stops := func() int { return len(h.callsOf("shutdown")) + len(h.callsOf("save")) + len(h.callsOf("destroy")) }

	for _, tc := range []struct {
		answer string
		args   []string
	}{{"n", []string{"drain", "fileserver"}}, {"", []string{"restart", "fileserver"}}, {"nope", []string{"stop", "opnsense"}}} {
		r, asked := h.xenorderOnTTY(tc.answer, tc.args...)
		if !asked || r.code != 1 || !strings.Contains(r.stderr, tc.args[0]+": not confirmed: nothing was done (--yes skips the question)") {
			t.Errorf("%v answered %q: asked %v, %s", tc.args, tc.answer, asked, r)
		}
		if !strings.Contains(r.stdout, "(nothing is changed until you answer)") {
			t.Errorf("%v: the plan was not shown before the question:\n%s", tc.args, r.stdout)
		}
		if n := stops(); n != 0 {
			t.Fatalf("%v answered %q: %d guests stopped", tc.args, tc.answer, n)
		}
	}
	if r := h.xenorder("drains"); !strings.Contains(r.stdout, "nothing is drained") {
		t.Errorf("a drain answered no recorded a drain:\n%s", r)
	}

	// web: nothing depends on it; nothing to ask.
	r, asked := h.xenorderOnTTY("", "stop", "web")
	if asked || r.code != 0 || strings.Contains(r.stdout, "Proceed?") {
		t.Errorf("stop web (no dependent) asked %v: %s", asked, r)
	}
	// fileserver: mail and db go too; asked, yes.
	r, asked = h.xenorderOnTTY("yes", "stop", "fileserver")
	want := "stop fileserver also stops db, mail (the plan above says why).\n" + question
	if !asked || r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("stop fileserver answered yes: asked %v, want %q in\n%s", asked, want, r)
	}
	if up := running(h); slices.Contains(up, "fileserver") || slices.Contains(up, "db") || slices.Contains(up, "mail") {
		t.Errorf("after yes: running %v", up)
	}
	// --yes (and -y) on a terminal: not asked.
	mustExit(t, h.xenorder("start"), 0)
	for _, yes := range []string{"--yes", "-y"} {
		r, asked = h.xenorderOnTTY("", "drain", yes, "fileserver")
		if asked || r.code != 0 || !strings.Contains(r.stdout, "drained (kept down through start") {
			t.Errorf("drain %s fileserver: asked %v: %s", yes, asked, r)
		}
		mustExit(t, h.xenorder("resume"), 0)
	}
	// Not a terminal (stdin /dev/null, as under systemd): not asked.
	r = h.xenorder("stop", "opnsense")
	if r.code != 0 || strings.Contains(r.stdout, "Proceed?") {
		t.Errorf("stop opnsense without a terminal: %s", r)
	}
}
