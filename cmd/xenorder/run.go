package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/lock"
	"github.com/xenorder/xenorder/internal/notify"
	"github.com/xenorder/xenorder/internal/procgroup"
	"github.com/xenorder/xenorder/internal/render"
	"github.com/xenorder/xenorder/internal/runner"
	"github.com/xenorder/xenorder/internal/state"
	"github.com/xenorder/xenorder/internal/xdimport"
	"github.com/xenorder/xenorder/internal/xenstore"
	"github.com/xenorder/xenorder/internal/xl"
)

//go:embed doc.go
var docSource string

// manual is doc.go's comment as plain text.
func manual() string {
	var b strings.Builder
	for _, line := range strings.Split(docSource, "\n") {
		if !strings.HasPrefix(line, "//") {
			continue
		}
		line = strings.TrimPrefix(strings.TrimPrefix(line, "//"), " ")
		b.WriteString(strings.TrimPrefix(line, "\t") + "\n")
	}
	return b.String()
}

// exitErr carries an exit code; see doc.go.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitErr{code: 2, err: fmt.Errorf(format, args...)}
}

// errReported is a failure whose story was already printed.
var errReported = errors.New("")

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitErr
	if errors.As(err, &ee) {
		code = ee.code
	}
	var ce *config.Error
	var ue *runner.UsageError
	var de *state.DamagedError
	if errors.As(err, &ce) || errors.As(err, &ue) || errors.As(err, &de) {
		code = 2
	}
	if msg := err.Error(); msg != "" {
		lines := strings.Split(msg, "\n")
		for i, l := range lines {
			lines[i] = "xenorder: " + config.Printable(l) // an error may quote a domain's name
		}
		fmt.Fprintln(stderr, strings.Join(lines, "\n"))
	}
	return code
}

// env holds what every command needs.
type env struct {
	argv       []string
	configPath string
	verbose    bool
	stdin      io.Reader // for the question stop, drain and restart ask on a terminal
	stdout     io.Writer
	stderr     io.Writer
	out        *printer
	log        *slog.Logger    // diagnostics
	events     *slog.Logger    // the runner's events
	notify     *notify.Systemd // nil unless under systemd
	host       hostSeams       // /proc/xen's capabilities, systemd's units
	runner     *runner.Runner  // set by load, for the unit's warning
	terminal   func() bool     // stdin is a terminal (a test seam; readsTerminal)
}

// printer serialises the lines of many goroutines onto one writer.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

type command struct {
	name  string
	args  string // what follows the command, for help: "[GUEST...]"
	short string
	flags func(fs *flag.FlagSet) // command-specific flags
	run   func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
}

func commands() []command {
	return []command{
		{name: "start", args: "[GUEST...]", short: "start guests in dependency order", flags: changeFlags, run: cmdStart},
		{name: "stop", args: "[GUEST...]", short: "stop guests in reverse dependency order", flags: func(fs *flag.FlagSet) {
			stopFlags(fs)
			fs.Bool("interrupt-holder", false, "when another xenorder holds the lock, send it SIGTERM (it launches nothing new and exits once what it has in flight ends), wait for it to let go, then stop (the unit's ExecStop, at host shutdown)")
			fs.Bool("exec-stop-post", false, "as the unit's ExecStopPost: stop every guest unless systemd says ($SERVICE_RESULT) the unit's start failed on its own")
		}, run: cmdStop},
		{name: "drain", args: "GUEST...", short: "stop guests and everything that depends on them, and keep them down", flags: stopFlags, run: cmdDrain},
		{name: "resume", args: "[GUEST...]", short: "start drained guests again", flags: changeFlags, run: cmdResume},
		{name: "restore", args: "GUEST [IMAGE]", short: "restore a guest from a save image a plain start does not restore", flags: changeFlags, run: cmdRestore},
		{name: "restart", args: "GUEST...", short: "drain, then resume", flags: stopFlags, run: cmdRestart},
		{name: "graph", short: "print the graph as Graphviz DOT", run: cmdGraph},
		{name: "import", short: "write a xenorder.toml from xendomains' setup", flags: func(fs *flag.FlagSet) {
			fs.String("auto-dir", "", "the folder of linked xl configs (default: XENDOMAINS_AUTO, or "+xdimport.DefaultAutoDir+")")
			fs.String("defaults", xdimport.DefaultDefaults, "xendomains' settings")
			fs.String("root", "", "read the host's files under this folder (a mounted disk); every other path is the host's")
		}, run: cmdImport},
		{name: "plot", short: "draw the last start and stop as an SVG timeline", run: cmdPlot},
		{name: "plan", args: "[start|stop] [GUEST...]", short: "print what start or stop would do", run: cmdPlan},
		{name: "check", short: "validate the config", run: cmdCheck},
		{name: "drains", args: "[--clear | --set GUEST...]", short: "print the drain record; --clear or --set GUEST... rebuild it", flags: drainsFlags, run: cmdDrains},
		{name: "status", short: "show every guest's state", flags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print JSON")
			fs.Bool("timings", false, "show where the last start's time went")
		}, run: cmdStatus},
		{name: "help", args: "[COMMAND]", short: "print the manual, or one command's flags", run: cmdHelp},
		{name: "version", short: "print xenorder's version", run: cmdVersion},
	}
}

func cmdHelp(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	return help(e.stdout, args)
}

func cmdVersion(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageErr("version takes no arguments")
	}
	fmt.Fprintln(e.stdout, versionLine())
	return nil
}

func stopFlags(fs *flag.FlagSet) {
	changeFlags(fs)
	fs.Bool("save", false, "save the guests (xl save) instead of shutting them down")
	yes := fs.Bool("yes", false, "on a terminal, do not ask before stopping running guests that were not named (their dependents)")
	fs.BoolVar(yes, "y", false, "the same as --yes")
}

// changeFlags are the flags of every state-changing command.
func changeFlags(fs *flag.FlagSet) {
	fs.Bool("dry-run", false, "print the plan; change nothing")
	durationVar(fs, "wait-lock", "wait up to `DURATION` (90s, 5min, 1h, 1h 30min) for another xenorder to finish; without it, fail at once (exit 3)")
}

func globalFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.configPath, "c", e.configPath, "the config `FILE` (default: $XENORDER_CONFIG, else "+config.DefaultPath+")")
	fs.StringVar(&e.configPath, "config", e.configPath, "the config `FILE` (default: $XENORDER_CONFIG, else "+config.DefaultPath+")")
	fs.BoolVar(&e.verbose, "v", e.verbose, "verbose: log every xl call")
}

// run is xenorder without the process around it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{argv: args, configPath: config.DefaultPath, stdin: stdin, stdout: stdout, stderr: stderr, out: &printer{w: stdout}, host: newHostSeams(),
		terminal: func() bool { return readsTerminal(stdin) }}
	if p := os.Getenv("XENORDER_CONFIG"); p != "" {
		e.configPath = p
	}
	global := flag.NewFlagSet("xenorder", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	globalFlags(global, e)
	showVersion := global.Bool("version", false, "print xenorder's version")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, manual())
			return nil
		}
		return usageErr("%v (see xenorder help)", err)
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionLine())
		return nil
	}
	rest := global.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, manual())
		return usageErr("no command given")
	}
	name, rest := rest[0], rest[1:]
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		fs := newFlagSet(c, e)
		pos, err := parseInterspersed(fs, rest)
		if errors.Is(err, flag.ErrHelp) {
			return help(stdout, []string{name})
		}
		if err != nil {
			return usageErr("%s: %v (see xenorder help %s)", name, err, name)
		}
		toJournal := stderrIsJournal()
		e.log = diagLogger(stderr, e.verbose, toJournal)
		e.events = newEventLogger(e.out, toJournal)
		e.notify = notify.FromEnv()
		if changesHost(name, fs) {
			if err := e.requireDom0(name); err != nil {
				return err
			}
		}
		err = c.run(ctx, e, fs, pos)
		e.warnUnit(ctx, name, fs)
		e.log.Debug("resources", "cpu", cpuUsed().Round(time.Millisecond))
		return err
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return usageErr("unknown command %q (commands: %s; xenorder help)", name, strings.Join(names, ", "))
}

func newFlagSet(c command, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	globalFlags(fs, e)
	if c.flags != nil {
		c.flags(fs)
	}
	return fs
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func help(w io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(w, manual())
		return nil
	}
	if len(args) > 1 {
		return usageErr("help takes one command (xenorder help COMMAND)")
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		synopsis := "xenorder [-c FILE] [-v] " + c.name
		global := flag.NewFlagSet("", flag.ContinueOnError)
		globalFlags(global, &env{})
		skip := map[string]bool{}
		global.VisitAll(func(f *flag.Flag) { skip[f.Name] = true })
		fs := newFlagSet(c, &env{})
		own := 0
		fs.VisitAll(func(f *flag.Flag) {
			if !skip[f.Name] {
				own++
			}
		})
		if own > 0 {
			synopsis += " [flags]"
		}
		if c.args != "" {
			synopsis += " " + c.args
		}
		fmt.Fprintf(w, "%s\n  %s.\n", synopsis, c.short)
		if own > 0 && strings.Contains(c.args, "GUEST") {
			fmt.Fprintf(w, "\nflags (before or after the guest names):\n")
			printFlags(w, fs, skip)
		} else if own > 0 {
			fmt.Fprintf(w, "\nflags:\n")
			printFlags(w, fs, skip)
		}
		fmt.Fprintf(w, "\nglobal flags:\n")
		printFlags(w, global, nil)
		fmt.Fprintf(w, "\nxenorder help prints the whole manual, with the exit codes.\n")
		return nil
	}
	return usageErr("help: unknown command %q", args[0])
}

func flagBool(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Value.String() == "true"
}

// The package ships no live config: the annotated example is here.
const exampleConfig = "/usr/share/doc/xenorder/examples/xenorder.toml"

// configMissing returns the error for a config file that does not exist
// (exit 2, saying how to write one), or nil. import needs no config: it
// writes one.
func configMissing(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	if _, err := os.Stat(abs); !errors.Is(err, os.ErrNotExist) {
		return nil // there, or unreadable: config.Load says why
	}
	q := shellQuote(abs)
	return usageErr(`no config: %s does not exist. Write one, then check it with xenorder check:
  from xendomains' setup (/etc/xen/auto, /etc/default/xendomains): xenorder import > %s
  or from the annotated example: cp %s %s
(xenorder.toml(5) describes the file.)`, abs, q, exampleConfig, q)
}

// shellQuote quotes s for a shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+,:=@%-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// load reads the config and builds the runner for it.
func (e *env) load() (*config.Config, *runner.Runner, error) {
	if err := configMissing(e.configPath); err != nil {
		return nil, nil, err
	}
	cfg, err := config.Load(e.configPath)
	if err != nil {
		// The config's own file is judged even when it does not load.
		abs, aerr := filepath.Abs(e.configPath)
		if aerr == nil {
			if terr := checkTrust(abs, nil, true); terr != nil {
				return nil, nil, errors.Join(err, terr)
			}
		}
		return nil, nil, err
	}
	// Before anything runs: whoever can change these runs code as root.
	if err := checkTrust(cfg.File, cfg, true); err != nil {
		return nil, nil, err
	}
	client := &xl.Client{Path: cfg.Defaults.XL}
	if e.verbose {
		client.Trace = func(args []string, d time.Duration, err error) {
			e.log.Debug("xl", "args", strings.Join(args, " "), "took", d.Round(time.Millisecond), "err", err)
		}
	}
	r := runner.New(cfg, client, func(ev runner.Event) { logEvent(e.events, ev) }, runner.WithWallClock(e.host.wall))
	client.Progress = r.XLProgress // xl's progress lines keep a long save's wait extended
	if sock := cfg.Defaults.XenstoredSocket; sock != "" {
		if sock == config.DefaultXenstoredSocket {
			sock = xenstore.SocketPath(os.Getenv) // as xl and the xenstore-* tools find it
		}
		r.DialXenstore = func(ctx context.Context) (runner.Xenstore, error) {
			c, err := xenstore.Dial(ctx, sock)
			if err != nil {
				e.log.Debug("no xenstored socket", "err", err)
				return nil, err
			}
			return loggedWatches{c, e.log}, nil
		}
	}
	if e.notify != nil {
		r.Notify = e.notify
	}
	e.runner = r
	return cfg, r, nil
}

// loggedWatches says (with -v) when a watch is set through xenstored's
// socket: the lab's stops are checked for it.
type loggedWatches struct {
	*xenstore.Conn
	log *slog.Logger
}

func (c loggedWatches) Watch(ctx context.Context, path, token string) error {
	err := c.Conn.Watch(ctx, path, token)
	if err == nil {
		c.log.Debug("watching "+path+" through xenstored's socket", "socket", c.Conn.Path())
	}
	return err
}

const xendomainsMsg = `xendomains.service is active: at shutdown it would stop the guests too, all at once and in its own order.
Switch without stopping any guest: systemctl disable xendomains.service; systemctl enable xenorder.service; then reboot.
(README: "Replacing xendomains on a Debian host".)`

// xendomainsActive asks systemd whether xendomains.service is active.
func xendomainsActive(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemctl", "is-active", "--quiet", "xendomains.service")
	procgroup.Own(cmd) // a terminal's signals are xenorder's alone
	return cmd.Run() == nil
}

// While a command waits for the lock, it tells systemd every lockTick:
// EXTEND_TIMEOUT_USEC= for lockExtend more (the unit's stop would otherwise
// be cut at TimeoutStopSec with every guest still running), and STATUS=
// naming the holder.
const (
	lockTick   = 2 * time.Second
	lockExtend = time.Minute
)

// lock takes the host's lock for a state-changing command, waiting up to
// --wait-lock. With --interrupt-holder (stop) it sends SIGTERM to the
// holder the kernel's lock table names (never the pid the lock file's text
// says), and then waits as long as that holder lives, --wait-lock or not:
// what it still has in flight (an xl save, restore or migrate) must not be
// cut short.
func (e *env) lock(ctx context.Context, cfg *config.Config, fs *flag.FlagSet) (*lock.Lock, error) {
	var wait time.Duration
	if f := fs.Lookup("wait-lock"); f != nil {
		wait = f.Value.(flag.Getter).Get().(time.Duration)
	}
	interrupt := flagBool(fs, "interrupt-holder")
	path := cfg.Defaults.LockFile
	asked := map[int]*lock.Process{} // holders sent SIGTERM (nil: it failed)
	defer func() {
		for _, p := range asked {
			p.Release()
		}
	}()
	seen := map[int]bool{}
	lastStatus := ""
	waited := false
	waiting := func(h *lock.HeldError) bool {
		waited = true
		e.notify.Extend(lockExtend)
		now := time.Now().Format("15:04:05")
		pid := h.PID
		if !seen[pid] {
			seen[pid] = true
			e.out.printf("%s %s holds the lock %s: waiting for it to let go (--wait-lock %s)\n", now, h.Who(), path, wait)
		}
		status := fmt.Sprintf("%s: waiting for the lock held by %s", fs.Name(), h.Who())
		if _, done := asked[pid]; interrupt && pid > 0 && !done {
			p, err := h.Interrupt(syscall.SIGTERM)
			asked[pid] = p
			if err != nil {
				e.out.printf("%s --interrupt-holder: could not send SIGTERM to %s: %v; waiting for it\n", now, h.Who(), err)
			} else {
				e.out.printf("%s --interrupt-holder: sent SIGTERM to %s: it launches nothing new and exits once what it has in flight ends (an xl save, restore or migrate is never cut short); waiting for it as long as it runs\n", now, h.Who())
			}
		}
		if p := asked[pid]; p != nil {
			status = fmt.Sprintf("%s: asked %s to finish (SIGTERM); waiting for the lock", fs.Name(), h.Who())
		}
		if status != lastStatus {
			e.notify.Say(status)
			lastStatus = status
		}
		for _, p := range asked {
			if p.Alive() {
				return true
			}
		}
		return false
	}
	opts := lock.Options{Command: "xenorder " + strings.Join(e.argv, " "), Wait: wait, Every: lockTick}
	if wait > 0 || interrupt {
		opts.Waiting = waiting
	}
	began := time.Now()
	l, err := lock.AcquireWith(ctx, path, opts)
	var held *lock.HeldError
	if errors.As(err, &held) {
		return nil, &exitErr{code: 3, err: err}
	}
	if err != nil && ctx.Err() != nil {
		// Not 1: a unit's stop that exits 1 counts as done.
		return nil, &exitErr{code: 3, err: fmt.Errorf("waiting for the lock %s: %v: nothing was done", path, context.Cause(ctx))}
	}
	if err == nil && waited {
		// What follows the wait (the plan's xl calls) needs time too.
		e.notify.Extend(lockExtend)
		e.out.printf("%s took the lock after waiting %s\n", time.Now().Format("15:04:05"), time.Since(began).Round(100*time.Millisecond))
	}
	return l, err
}

// finish prints a run's summary and gives it its exit code: 0 when all
// was done as asked, 4 when a stop left guests on the host, else 1.
func finish(e *env, res *runner.Result) error {
	e.out.printf("%s", render.Summary(res))
	if res.OK() {
		return nil
	}
	if len(res.LeftOnHost()) > 0 {
		return &exitErr{code: 4, err: errReported}
	}
	return errReported
}

func cmdPlan(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	verb := "start"
	if len(args) > 0 && (args[0] == "start" || args[0] == "stop") {
		verb, args = args[0], args[1:]
	}
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	var plan *runner.Plan
	if verb == "start" {
		drained, derr := drainTimes(e.store(cfg))
		if derr != nil {
			return derr
		}
		var lift []string
		for _, n := range args {
			if _, ok := drained[n]; ok {
				lift = append(lift, n)
			}
		}
		plan, err = r.PlanStart(ctx, args, runner.StartOptions{Drained: drained, Lift: lift})
		err = startErr(err)
	} else {
		plan, err = r.PlanStop(ctx, args, runner.StopOptions{})
	}
	if err != nil {
		return err
	}
	printPlan(e, plan, false)
	return nil
}

// printPlan prints a plan that is only shown (nothing is changed) or about
// to be executed.
func printPlan(e *env, p *runner.Plan, executing bool) {
	note := "nothing is changed"
	if executing {
		note = "executing it now"
	}
	printPlanNote(e, p, note)
}

// printPlanNote prints a plan with a note on what happens to it.
func printPlanNote(e *env, p *runner.Plan, note string) {
	e.out.printf("plan %s: %d guests in %d tiers (%s)\n%s", p.Verb, len(p.Steps()), len(p.Tiers), note, render.Plan(p))
}

func cmdCheck(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageErr("check takes no arguments")
	}
	if err := configMissing(e.configPath); err != nil {
		return err
	}
	cfg, err := config.Check(e.configPath)
	var ce *config.Error
	if err != nil && !errors.As(err, &ce) {
		return err
	}
	// Every problem at once: the config's, and every file others can change.
	path := e.configPath
	if cfg != nil {
		path = cfg.File
	} else if abs, aerr := filepath.Abs(path); aerr == nil {
		path = abs
	}
	if terr := checkTrust(path, cfg, false); terr != nil {
		return errors.Join(err, terr)
	}
	if err != nil {
		return err
	}
	edges := 0
	for _, n := range cfg.Names() {
		edges += len(cfg.Graph.Dependencies(n))
	}
	for _, i := range cfg.InferredNotDeclared() {
		e.out.printf("inferred: %s\n", i)
	}
	for _, w := range cfg.Warnings(config.XenconsoledDefaults) {
		e.out.printf("warning: %s\n", w)
	}
	e.out.printf("%s: OK: %d guests, %d dependencies\n", cfg.File, len(cfg.Guests), edges)
	return nil
}

// cmdImport prints a xenorder.toml for what xendomains runs today, and on
// stderr a warning for each thing it could not carry over. It changes
// nothing: any error is exit 2.
func cmdImport(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageErr("import takes no arguments (xenorder import > /etc/xen/xenorder.toml)")
	}
	root := fs.Lookup("root").Value.String()
	if root != "" {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return usageErr("import: --root %s: not a folder", root)
		}
	}
	defaults := fs.Lookup("defaults").Value.String()
	if root != "" && !filepath.IsAbs(defaults) {
		return usageErr("import: --defaults %s: with --root, give the host's absolute path", defaults)
	}
	if defaults != xdimport.DefaultDefaults {
		// A file named on purpose must be there; the default may be absent.
		if _, err := os.Stat(filepath.Join(root, defaults)); err != nil {
			return usageErr("import: --defaults: %v", err)
		}
	}
	set, err := xdimport.ReadSettings(root, defaults)
	if err != nil {
		return usageErr("import: %v", err)
	}
	err = xdimport.Write(e.stdout, e.stderr, xdimport.Options{Root: root, AutoDir: fs.Lookup("auto-dir").Value.String(), Settings: set})
	var ue *xdimport.UsageError
	if errors.As(err, &ue) {
		return usageErr("%s", ue.Msg)
	}
	return err
}

// cpuUsed is the CPU time xenorder itself used, without its children (xl).
func cpuUsed() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
