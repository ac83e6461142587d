package xl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xenorder/xenorder/internal/procgroup"
)

// DefaultWaitDelay is how long Run waits after interrupting xl before it
// kills it, when Client.WaitDelay is 0.
const DefaultWaitDelay = 5 * time.Second

// Timeouts of the Client methods, applied on top of the caller's context
// (whichever ends first). Create, Save and Restore have none of their own.
const (
	ListTimeout     = 30 * time.Second
	InfoTimeout     = 30 * time.Second
	ShutdownTimeout = 90 * time.Second // xl shutdown may itself wait ~60s for the guest's ack
	DestroyTimeout  = 60 * time.Second
)

// Client runs xl, each run in a process group of its own, so that a
// terminal's Ctrl-C or hang-up never reaches it. The zero value runs "xl"
// from PATH. A Client must not be copied after first use.
type Client struct {
	Path      string        // xl binary; "" means "xl" looked up on PATH at run time
	WaitDelay time.Duration // after SIGINT on cancel, kill after this; 0 means DefaultWaitDelay
	// Trace, if set, is called after every xl run with its arguments, how
	// long it took and its error (nil on success), e.g. for debug logging.
	Trace func(args []string, d time.Duration, err error)
	// Progress, if set, is called with each line xl writes on stderr
	// during Save, Restore and Migrate, as soon as xl has written it
	// (without its newline): op is "save", "restore" or "migrate"; target
	// is the domain's name, or for a restore the image's path. xl save and
	// xl migrate print libxc's progress, "xc: progress: Frames: 2048/24576
	// 8%" (a live migration: "Frames iteration N: ..."); xl restore prints
	// none, only "xc: info:" lines as it begins and ends (libxc reports no
	// progress while it restores). Runs at once call it from several
	// goroutines at once.
	Progress func(op, target, line string)
}

// List runs `xl list`.
func (c *Client) List(ctx context.Context) ([]Domain, error) {
	out, err := c.Run(ctx, ListTimeout, "list")
	if err != nil {
		return nil, err
	}
	d, err := ParseList(out)
	return d, withOutput(err, out)
}

// ListLong runs `xl list -l`.
func (c *Client) ListLong(ctx context.Context) ([]DomainConfig, error) {
	out, err := c.Run(ctx, ListTimeout, "list", "-l")
	if err != nil {
		return nil, err
	}
	d, err := ParseListLong(out)
	return d, withOutput(err, out)
}

// Info runs `xl info`.
func (c *Client) Info(ctx context.Context) (Info, error) {
	out, err := c.Run(ctx, InfoTimeout, "info")
	if err != nil {
		return Info{}, err
	}
	info, err := ParseInfo(out)
	return info, withOutput(err, out)
}

// Create runs `xl create CFGPATH`. It has no timeout of its own: ctx bounds
// it. cfgPath must be absolute. started, if not nil, is called once xl has
// started (or failed to start): the caller may let its next call begin
// then. (So for the other calls that take it.)
func (c *Client) Create(ctx context.Context, cfgPath string, started func()) error {
	if !filepath.IsAbs(cfgPath) {
		return fmt.Errorf("xl create: config path %q is not absolute", cfgPath)
	}
	_, _, err := c.run(ctx, call{started: started}, "create", cfgPath)
	return err
}

// Shutdown runs `xl shutdown NAME`, or `xl shutdown -F NAME` if acpi is set
// (fall back to the ACPI power button when the guest has no PV control
// interface). It does not wait for the domain to go away.
func (c *Client) Shutdown(ctx context.Context, name string, acpi bool, started func()) error {
	if err := checkArg("shutdown", "domain name", name); err != nil {
		return err
	}
	args := []string{"shutdown", name}
	if acpi {
		args = []string{"shutdown", "-F", name}
	}
	_, _, err := c.run(ctx, call{timeout: ShutdownTimeout, started: started}, args...)
	return err
}

// Destroy runs `xl destroy NAME`.
func (c *Client) Destroy(ctx context.Context, name string, started func()) error {
	if err := checkArg("destroy", "domain name", name); err != nil {
		return err
	}
	_, _, err := c.run(ctx, call{timeout: DestroyTimeout, started: started}, "destroy", name)
	return err
}

// Save runs `xl save NAME PATH` and waits for it to exit, however long it
// takes: once started, a save is never signalled, whatever ctx does (a
// save cut short leaves its guest suspended, its memory only in the
// hypervisor). ctx that has already ended keeps it from starting. Its
// stderr lines go to Progress as xl writes them.
func (c *Client) Save(ctx context.Context, name, path string, started func()) error {
	if err := checkArg("save", "domain name", name); err != nil {
		return err
	}
	if err := checkArg("save", "path", path); err != nil {
		return err
	}
	_, _, err := c.run(ctx, call{whole: "save", target: name, started: started}, "save", name, path)
	return err
}

// Restore runs `xl restore PATH` and, like Save, waits for it to exit
// whatever ctx does once it has started.
func (c *Client) Restore(ctx context.Context, path string, started func()) error {
	if err := checkArg("restore", "path", path); err != nil {
		return err
	}
	_, _, err := c.run(ctx, call{whole: "restore", target: path, started: started}, "restore", path)
	return err
}

// Migrate runs `xl migrate NAME HOST` and, like Save, waits for it to exit
// whatever ctx does once it has started.
func (c *Client) Migrate(ctx context.Context, name, host string, started func()) error {
	if err := checkArg("migrate", "domain name", name); err != nil {
		return err
	}
	if err := checkArg("migrate", "host", host); err != nil {
		return err
	}
	_, _, err := c.run(ctx, call{whole: "migrate", target: name, started: started}, "migrate", name, host)
	return err
}

// checkArg rejects an empty argument or one xl would take for an option.
func checkArg(cmd, what, arg string) error {
	if arg == "" || strings.HasPrefix(arg, "-") {
		return fmt.Errorf("xl %s: bad %s %q", cmd, what, arg)
	}
	return nil
}

// Run is the single place that runs xl: it runs xl with args (no shell),
// in a process group of its own, and returns its stdout. timeout, if
// positive, bounds the run on top of ctx. When ctx ends, xl's group gets
// SIGINT, and xl is killed if it is still running after WaitDelay. Any
// failure is an *Error; stdout is returned even then.
func (c *Client) Run(ctx context.Context, timeout time.Duration, args ...string) (stdout []byte, err error) {
	stdout, _, err = c.run(ctx, call{timeout: timeout}, args...)
	return stdout, err
}

// call says how run runs xl.
type call struct {
	timeout time.Duration // if positive, bounds the run on top of ctx
	// whole, when set, is an operation xl must never be interrupted in:
	// "save", "restore" or "migrate". An ended ctx keeps it from starting;
	// once started, xl is never signalled, whatever ctx does, and the run
	// waits for it to exit. Its stderr goes to Progress line by line, with
	// op whole and target.
	whole  string
	target string
	// started, if set, is called once xl has started (or failed to
	// start): the caller may let its next call begin then.
	started func()
}

// run is Run that also returns stderr, for the commands that report
// problems on stderr with exit status 0.
func (c *Client) run(ctx context.Context, cl call, args ...string) (stdout, stderr []byte, err error) {
	parent := ctx
	timeout := cl.timeout
	if timeout > 0 && cl.whole == "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	path := c.Path
	if path == "" {
		path = "xl"
	}
	waitDelay := c.WaitDelay
	if waitDelay <= 0 {
		waitDelay = DefaultWaitDelay
	}

	runCtx := ctx
	if cl.whole != "" {
		runCtx = context.WithoutCancel(ctx) // never interrupted once started
	}
	outCap := newCapture("xl-stdout")
	cmd := exec.CommandContext(runCtx, path, args...) // stdin: /dev/null
	cmd.Stdout = outCap.writer()
	var errCap *capture
	var errStream *lineStream
	if cl.whole != "" {
		progress := func(line string) {
			if c.Progress != nil {
				c.Progress(cl.whole, cl.target, line)
			}
		}
		if st, perr := newLineStream(progress); perr == nil {
			errStream, cmd.Stderr = st, st.f
		}
	}
	if errStream == nil {
		errCap = newCapture("xl-stderr")
		cmd.Stderr = errCap.writer()
	}
	start := time.Now()
	var interruptedAfter atomic.Int64 // time.Duration from start to SIGINT; 0 if not sent
	procgroup.Own(cmd)
	if cl.whole == "" {
		cmd.Cancel = func() error {
			err := procgroup.Interrupt(cmd)
			if err == nil {
				interruptedAfter.Store(int64(max(time.Since(start), 1)))
			}
			return err
		}
	}
	// After xl has exited, how long its output may stay open (xl create
	// daemonizes); with ctx ended (never for a whole run), the kill.
	cmd.WaitDelay = waitDelay

	var runErr error
	if cl.whole != "" && ctx.Err() != nil {
		runErr = ctx.Err() // launch nothing once the caller has given up
	} else {
		runErr = cmd.Start()
	}
	if cl.started != nil {
		cl.started()
	}
	if cmd.Process != nil {
		awaitExit(cmd.Process)
		runErr = cmd.Wait()
	}
	took := time.Since(start)
	stdout = outCap.bytes()
	if errStream != nil {
		stderr = errStream.bytes()
	} else {
		stderr = errCap.bytes()
	}

	if runErr != nil && (ctx.Err() == nil || cl.whole != "") && errors.Is(runErr, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		// xl exited 0 but something it started (xl create and xl restore
		// daemonize) held its output open; the run itself succeeded.
		runErr = nil
	}
	if runErr != nil {
		e := &Error{
			Args:     slices.Clone(args),
			ExitCode: -1,
			Stderr:   strings.TrimSpace(string(stderr)),
			Err:      runErr,
		}
		if cmd.ProcessState != nil {
			e.ExitCode = cmd.ProcessState.ExitCode()
		}
		switch {
		case cmd.Process == nil && ctx.Err() != nil:
			e.Err = fmt.Errorf("not run: %w", ctx.Err())
		case interruptedAfter.Load() != 0:
			after := time.Duration(interruptedAfter.Load())
			if d, ok := parent.Deadline(); timeout > 0 && (!ok || d.After(start.Add(timeout))) {
				after = timeout // our own timeout fired: say it exactly
			}
			e.Err = &interrupted{after: after, killed: killed(cmd.ProcessState), waitDelay: waitDelay, err: ctx.Err()}
		}
		err = e
	}
	if c.Trace != nil {
		c.Trace(slices.Clone(args), took, err)
	}
	return stdout, stderr, err
}

// lineStream is a file that xl writes its stderr to, read as xl writes
// it: each new line is passed on within tailEvery, and all of it kept. A
// file, never a pipe: were xenorder killed, xl's next line into a pipe
// nobody reads would kill xl with SIGPIPE, in the middle of a save.
type lineStream struct {
	f    *os.File
	each func(line string)
	off  int64  // read so far
	part []byte // a line not yet ended
	stop chan struct{}
	done chan struct{}
}

// tailEvery is how often a lineStream looks for new lines.
const tailEvery = 100 * time.Millisecond

func newLineStream(each func(line string)) (*lineStream, error) {
	f := newCapture("xl-stderr").f
	if f == nil {
		tmp, err := os.CreateTemp("", "xl-stderr-*")
		if err != nil {
			return nil, err
		}
		os.Remove(tmp.Name())
		f = tmp
	}
	s := &lineStream{f: f, each: each, stop: make(chan struct{}), done: make(chan struct{})}
	go s.tail()
	return s, nil
}

func (s *lineStream) tail() {
	defer close(s.done)
	t := time.NewTicker(tailEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.read()
			if len(s.part) > 0 {
				s.line(string(s.part))
			}
			return
		case <-t.C:
			s.read()
		}
	}
}

// read passes on the lines written since the last read.
func (s *lineStream) read() {
	buf := make([]byte, 32<<10)
	for {
		n, _ := s.f.ReadAt(buf, s.off)
		if n == 0 {
			return
		}
		s.off += int64(n)
		chunk := append(s.part, buf[:n]...)
		for {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				break
			}
			s.line(string(chunk[:i]))
			chunk = chunk[i+1:]
		}
		s.part = append([]byte(nil), chunk...)
	}
}

func (s *lineStream) line(l string) {
	if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
		s.each(l)
	}
}

// bytes passes on the last lines and returns all that was written. Call
// it once, after xl has exited.
func (s *lineStream) bytes() []byte {
	close(s.stop)
	<-s.done
	defer s.f.Close()
	b := make([]byte, s.off)
	n, _ := s.f.ReadAt(b, 0)
	return b[:n]
}

// PCITimeout bounds the pci-assignable commands.
const PCITimeout = 60 * time.Second

// PCIAssignableList runs `xl pci-assignable-list` and returns the
// assignable devices (normalised DDDD:BB:DD.F). pciback is false when xl
// says the xen-pciback driver is not loaded: it then prints an error but
// exits 0.
func (c *Client) PCIAssignableList(ctx context.Context) (bdfs []string, pciback bool, err error) {
	out, errOut, err := c.run(ctx, call{timeout: PCITimeout}, "pci-assignable-list")
	if err != nil {
		return nil, false, err
	}
	if bytes.Contains(errOut, []byte("pciback driver not loaded")) {
		return nil, false, nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !bdfRE.MatchString(f[0]) {
			return nil, true, fmt.Errorf("xl pci-assignable-list: line %q is not a PCI address", clip(line))
		}
		bdfs = append(bdfs, strings.ToLower(f[0]))
	}
	return bdfs, true, nil
}

var bdfRE = regexp.MustCompile(`^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`)

// PCIAssignableAdd runs `xl pci-assignable-add BDF`.
func (c *Client) PCIAssignableAdd(ctx context.Context, bdf string) error {
	if err := checkArg("pci-assignable-add", "device", bdf); err != nil {
		return err
	}
	_, err := c.Run(ctx, PCITimeout, "pci-assignable-add", bdf)
	return err
}

// killed reports whether the process died of SIGKILL.
func killed(ps *os.ProcessState) bool {
	if ps == nil {
		return false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// interrupted is the cause of an *Error when xl was interrupted because
// its context ended. It unwraps to context.DeadlineExceeded or
// context.Canceled.
type interrupted struct {
	after     time.Duration
	killed    bool
	waitDelay time.Duration
	err       error
}

func (e *interrupted) Error() string {
	what := "no answer after"
	if errors.Is(e.err, context.Canceled) {
		what = "canceled after"
	}
	how := "interrupted"
	if e.killed {
		how += ", killed after " + e.waitDelay.String()
	}
	return fmt.Sprintf("%s %s (%s)", what, roundDuration(e.after), how)
}

func (e *interrupted) Unwrap() error { return e.err }

// roundDuration rounds d for a message.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// Error is a failed run of xl.
type Error struct {
	Args     []string // arguments after "xl"
	ExitCode int      // -1 if xl did not exit normally (or did not run)
	Stderr   string   // trimmed
	Err      error    // underlying: *exec.ExitError, an exec error, or one unwrapping to a context error
}

// Error reads as a chain: the command, what went wrong, and the most
// telling stderr line, e.g.
// "xl destroy nosuch: exit status 1: nosuch is an invalid domain identifier (rc=-6)".
func (e *Error) Error() string {
	quoted := make([]string, len(e.Args))
	for i, a := range e.Args {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n\"'") {
			quoted[i] = strconv.Quote(a)
		}
	}
	msg := strings.Join(append([]string{"xl"}, quoted...), " ")
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	} else {
		msg += ": exit status " + strconv.Itoa(e.ExitCode)
	}
	if cause := e.cause(); cause != "" {
		msg += ": " + cause
	}
	return msg
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// causeWords mark a stderr line that says what went wrong.
var causeWords = []string{"error", "fatal", "failed", "invalid", "not available", "can't"}

// cause picks the most telling stderr line: the first one containing one
// of causeWords (any case), else the last non-empty one. Progress lines
// ("Parsing config from ...", "Shutting down domain N") never count.
func (e *Error) cause() string {
	last := ""
	for _, line := range strings.Split(e.Stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "Parsing config from ") || strings.HasPrefix(line, "Shutting down domain ") {
			continue
		}
		lower := strings.ToLower(line)
		for _, w := range causeWords {
			if strings.Contains(lower, w) {
				return line
			}
		}
		last = line
	}
	return last
}

// IsNoSuchDomain reports whether xl failed because the domain does not
// exist ("NAME is an invalid domain identifier").
func IsNoSuchDomain(err error) bool {
	return stderrContains(err, "is an invalid domain identifier")
}

// IsNoPVControl reports whether xl failed because the guest has no PV
// control interface, so `xl shutdown` without -F cannot shut it down.
func IsNoPVControl(err error) bool {
	return stderrContains(err, "PV control interface not available")
}

// IsAlreadyExists reports whether xl failed because a domain with that
// name already exists.
func IsAlreadyExists(err error) bool {
	return stderrContains(err, "already exists")
}

func stderrContains(err error, s string) bool {
	var e *Error
	return errors.As(err, &e) && strings.Contains(e.Stderr, s)
}

// withOutput adds the start of xl's output to a parse error.
func withOutput(err error, out []byte) error {
	if err == nil {
		return nil
	}
	const max = 200
	head := out
	if len(head) > max {
		head = head[:max]
	}
	return fmt.Errorf("%w (output began %q)", err, head)
}
