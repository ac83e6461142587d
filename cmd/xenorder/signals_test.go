package main

// A terminal's signals in the middle of a save: Ctrl-C (SIGINT) and a
// hang-up (SIGHUP) go to the terminal's foreground process group, which
// is xenorder's; every program xenorder runs leads a group of its own, so
// they reach xenorder alone, and no signal, first or second, cuts an xl
// save short. And the mode of a save image.

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

// shellJob starts xenorder as a shell starts a command: the leader of a
// process group of its own, the one a terminal's Ctrl-C or hang-up goes
// to. stdout, if not nil, takes xenorder's stdout instead of the result.
func (h *host) shellJob(stdout io.Writer, args ...string) *bgRun {
	h.t.Helper()
	b := &bgRun{cmd: exec.CommandContext(h.t.Context(), filepath.Join(binDir, "xenorder"), args...)}
	b.cmd.Env, b.cmd.Dir = h.env(), h.dir
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.Stdout, b.cmd.Stderr = &syncWriter{w: &b.out}, &syncWriter{w: &b.err}
	if stdout != nil {
		b.cmd.Stdout = stdout
	}
	if err := b.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	return b
}

// savingHost is a host whose fileserver is saved at stop, slowly (2 s), into
// a save folder that already exists with mode 0755.
func savingHost(t *testing.T) *host {
	t.Helper()
	h := newHost(t)
	h.edit("xenorder.toml", "[guest.fileserver]\n", "[guest.fileserver]\nstop_action = \"save\"\n")
	h.appendTo("xl/fileserver.cfg", "xlsim_save_time = "+h.realDur(2*time.Second))
	if err := os.MkdirAll(filepath.Join(h.dir, "state", "save"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(h.dir, "state", "save"), 0o755) // whatever the test's umask
	return h
}

// checkSaved: fileserver's save ran to its end, undisturbed; its image is
// private; fileserver is gone from the host, not left suspended.
func checkSaved(t *testing.T, h *host) {
	t.Helper()
	var save *struct{ rc int }
	for _, c := range h.calls() {
		if c.Prog == "xl" && len(c.Args) > 1 && c.Args[0] == "save" && c.Args[1] == "fileserver" {
			if !c.Ended {
				t.Errorf("xl save fileserver never ended: killed")
			}
			save = &struct{ rc int }{c.RC}
		}
	}
	switch {
	case save == nil:
		t.Fatal("xl save fileserver never ran")
	case save.rc != 0:
		t.Errorf("xl save fileserver exited %d: cut short", save.rc)
	}
	image := filepath.Join(h.dir, "state", "save", "fileserver.save")
	fi, err := os.Stat(image)
	if err != nil {
		t.Fatalf("no image: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("ls -l %s: mode %v, want -rw-------: it holds the guest's memory", image, fi.Mode())
	}
	if list := h.run("xl", "list"); strings.Contains(list.stdout, "fileserver ") {
		t.Errorf("fileserver is still on the host (suspended?):\n%s", list.stdout)
	}
}

func TestSignalsMidSave(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		// readerGone: xenorder's stdout is a pipe whose reader goes away
		// with the terminal (xenorder stop | tee log).
		readerGone bool
	}{
		// Ctrl-C twice and a hang-up twice, with the output read, are
		// rows of the fault matrix (fault_saves_test.go).
		{"hang-up, the reader of stdout gone", syscall.SIGHUP, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := savingHost(t)
			mustExit(t, h.xenorder("start"), 0)

			var pr, pw *os.File
			var stdout io.Writer
			if tc.readerGone {
				var err error
				if pr, pw, err = os.Pipe(); err != nil {
					t.Fatal(err)
				}
				stdout = pw
			}
			job := h.shellJob(stdout, "stop")
			if pw != nil {
				pw.Close()
			}
			waitFor(t, h, func(c xlsim.Call) bool { return len(c.Args) > 1 && c.Args[0] == "save" && c.Args[1] == "fileserver" })
			job.signalGroup(tc.sig)
			if pr != nil {
				pr.Close()
			}
			// Apart, or the kernel would merge the two into one.
			time.Sleep(200 * time.Millisecond)
			job.signalGroup(tc.sig)
			r := job.wait()

			if r.code != 4 {
				t.Errorf("exit %d, want 4: the stop left guests on the host\n%s", r.code, r)
			}
			if want := "xenorder: " + tc.sig.String() + " again: still finishing what is in flight"; !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
			}
			if !tc.readerGone {
				for _, want := range []string{"fileserver: saved to ", "INTERRUPTED opnsense: not stopped; still running (domid ", "INTERRUPTED Domain-N: not stopped; still running (domid "} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("the summary does not say %q:\n%s", want, r)
					}
				}
			}
			checkSaved(t, h)
			if up := running(h); !equalSets(up, []string{"Domain-N", "opnsense"}) {
				t.Errorf("running after the interrupted stop: %v, want Domain-N and opnsense (nothing new launched)", up)
			}
		})
	}
}

func TestSaveImagePrivate(t *testing.T) {
	// xl writes its image with mode 0644; xenorder runs it under umask 077,
	// so the image is 0600 from its first byte, even in a save folder that
	// already existed with mode 0755.
	t.Parallel()
	h := savingHost(t)
	h.edit("xl/fileserver.cfg", "xlsim_save_time = "+h.realDur(2*time.Second), `xlsim_save_time = "300ms"`)
	mustExit(t, h.xenorder("start"), 0)
	mustExit(t, h.xenorder("stop"), 0)
	checkSaved(t, h)
}
