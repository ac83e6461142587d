//go:build xene2e

package xen

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Timeouts, generous: TCG's speed varies with the machine's load.
// $XENORDER_E2E_BOOT_TIMEOUT overrides the first (a Go duration).
var (
	bootTimeout  = envDuration("XENORDER_E2E_BOOT_TIMEOUT", 5*time.Minute)
	startTimeout = 8 * time.Minute
	stopTimeout  = 5 * time.Minute
)

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return def
}

// labDir is $XENORDER_LAB, default /var/tmp/xenorder-lab: outside the
// checkout, kept between runs as a cache.
func labDir() string {
	if d := os.Getenv("XENORDER_LAB"); d != "" {
		return d
	}
	return "/var/tmp/xenorder-lab"
}

// repoRoot is the checkout: the test runs in e2e/xen.
func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "cmd", "xenorder")); err != nil {
		t.Fatalf("not in a xenorder checkout: %v", err)
	}
	return root
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// buildXenorder builds a static xenorder from the checkout.
func buildXenorder(ctx context.Context, t *testing.T, out string) {
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-buildvcs=false", "-o", out, "./cmd/xenorder")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/xenorder: %v\n%s", err, b)
	}
}

// The lab: packages, images, QEMU booted, dom0 up. Every exit path (test
// failure, panic, timeout, Ctrl-C, SIGTERM) kills QEMU's process group.
type lab struct {
	t        *testing.T
	ctx      context.Context
	vm       *VM
	runDir   string
	img      *Images
	timings  []timing
	boot     time.Duration
	began    time.Time
	prepared time.Duration
	log      *os.File
	cpu      string // QEMU's -cpu; "": Boot's default
	opts     labOpts
}

// labOpts are a lab's machine options.
type labOpts struct {
	passthrough bool // emulated VT-d and a NIC to pass through (VMOptions.Passthrough)
	memory      int  // QEMU's memory in MiB; 0: 2048
}

type timing struct {
	what string
	d    time.Duration
}

func (l *lab) note(what string, d time.Duration) { l.timings = append(l.timings, timing{what, d}) }

func (l *lab) logf(format string, args ...any) {
	l.t.Helper()
	msg := fmt.Sprintf(format, args...)
	l.t.Log(msg)
	if l.log != nil {
		fmt.Fprintf(l.log, "%s %s\n", time.Now().Format("15:04:05.000"), msg)
	}
}

// transcript saves a dom0 command and its output in the run folder.
func (l *lab) transcript(r *Result) {
	if l.log != nil {
		fmt.Fprintf(l.log, "%s\n%s\n", time.Now().Format("15:04:05.000"), r)
	}
}

// newLab makes this run's folder and transcript and ends a QEMU an earlier
// run left.
func newLab(t *testing.T) *lab {
	began := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	t.Cleanup(stop)
	dir := labDir()
	runDir := filepath.Join(dir, "runs", time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pruneRuns(filepath.Join(dir, "runs"), 5)
	l := &lab{t: t, ctx: ctx, runDir: runDir, began: began, cpu: os.Getenv("XENORDER_E2E_CPU")}
	f, err := os.Create(filepath.Join(runDir, "transcript.txt"))
	if err != nil {
		t.Fatal(err)
	}
	l.log = f
	t.Cleanup(func() { f.Close() })
	l.logf("lab %s, this run's files in %s", dir, runDir)
	if pid := KillStale(l.pidFile()); pid != 0 {
		l.logf("ended the QEMU (pid %d) an earlier run left", pid)
	}
	return l
}

func (l *lab) pidFile() string { return filepath.Join(labDir(), "qemu.pid") }

// startLab builds the busybox lab with extra files in dom0, boots it and
// waits for dom0's toolstack.
func startLab(t *testing.T, extra map[string]File) *lab {
	return startLabOpts(t, extra, labOpts{})
}

// startLabOpts is startLab with machine options.
func startLabOpts(t *testing.T, extra map[string]File, o labOpts) *lab {
	l := newLab(t)
	l.opts = o
	xo := filepath.Join(l.runDir, "xenorder")
	buildXenorder(l.ctx, t, xo)
	extra["usr/sbin/xenorder"] = File{Mode: 0o755, Src: xo}

	b := &Lab{Dir: labDir(), Logf: func(f string, a ...any) { l.logf(f, a...) }}
	debs, err := b.Fetch(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, err := b.Unpack(l.ctx, debs)
	if err != nil {
		t.Fatal(err)
	}
	l.img, err = b.Build(l.ctx, root, debs, extra)
	if err != nil {
		t.Fatal(err)
	}
	l.prepared = time.Since(l.began)
	l.note("build xenorder, fetch/unpack packages, build images", l.prepared)
	l.bootVM("")
	return l
}

// bootVM boots l.img (with disk as dom0's /dev/vda, if not empty) and
// waits for dom0's command channel.
func (l *lab) bootVM(disk string) {
	t := l.t
	mem := l.opts.memory
	if mem == 0 {
		mem = 2048
	}
	vm, err := Boot(l.ctx, l.img, VMOptions{Dir: l.runDir, PidFile: l.pidFile(), Disk: disk, Memory: mem, CPUs: 2, CPU: l.cpu,
		Passthrough: l.opts.passthrough, Logf: func(f string, a ...any) { l.logf(f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	l.vm = vm
	t.Cleanup(func() {
		rss := vm.PeakRSS()
		vm.Close()
		l.logf("qemu stopped (peak RSS %.2f GiB); serial console: %s", float64(rss)/(1<<30), vm.Console)
	})
	l.logf("qemu started (pid %d); waiting for dom0 (at most %s)", vm.PID(), bootTimeout)
	boot, err := vm.WaitDom0(l.ctx, bootTimeout)
	if err != nil && l.ctx.Err() != nil {
		t.Fatalf("interrupted: %v", err)
	}
	if err != nil {
		t.Fatalf("%v\n--- last 60 lines of the serial console (%s):\n%s", err, vm.Console, vm.ConsoleTail(60))
	}
	l.boot = boot
	l.note("qemu start -> dom0 command channel up", boot)
	l.logf("dom0 up after %s", boot.Round(100*time.Millisecond))
}

// run runs a script in dom0, failing the test if it cannot be run at all
// (not if it exits non-zero).
func (l *lab) run(timeout time.Duration, script string) *Result {
	l.t.Helper()
	r, err := l.vm.Run(l.ctx, timeout, script)
	if err != nil && l.ctx.Err() != nil {
		l.t.Fatalf("interrupted: %v", err)
	}
	if err != nil {
		l.t.Fatalf("%v\n--- last 60 lines of the serial console (%s):\n%s", err, l.vm.Console, l.vm.ConsoleTail(60))
	}
	l.transcript(r)
	return r
}

// must runs a script that must exit 0.
func (l *lab) must(timeout time.Duration, script string) *Result {
	l.t.Helper()
	r := l.run(timeout, script)
	if r.Code != 0 {
		l.t.Fatalf("dom0: %s", r)
	}
	return r
}

func pruneRuns(dir string, keep int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > keep {
		os.RemoveAll(filepath.Join(dir, names[0]))
		names = names[1:]
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// cpuModel is QEMU's -cpu of this lab, as Boot gives it.
func (l *lab) cpuModel() string {
	if l.cpu == "" {
		return "qemu64"
	}
	return l.cpu
}
