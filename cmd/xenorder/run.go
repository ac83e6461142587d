package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/lock"
	"github.com/xenorder/xenorder/internal/notify"
	"github.com/xenorder/xenorder/internal/runner"
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
	if errors.As(err, &ce) || errors.As(err, &ue) {
		code = 2
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(stderr, "xenorder: "+strings.ReplaceAll(msg, "\n", "\nxenorder: "))
	}
	return code
}

// env holds what every command needs.
type env struct {
	argv       []string
	configPath string
	verbose    bool
	stdout     io.Writer
	stderr     io.Writer
	out        *printer
	log        *slog.Logger    // diagnostics
	events     *slog.Logger    // the runner's events
	notify     *notify.Systemd // nil unless under systemd
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
	short string
	flags func(fs *flag.FlagSet) // command-specific flags
	run   func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
}

func commands() []command {
	return []command{
		{name: "start", short: "start guests in dependency order", flags: changeFlags, run: cmdStart},
		{name: "stop", short: "stop guests in reverse dependency order", flags: func(fs *flag.FlagSet) {
			changeFlags(fs)
			fs.Bool("save", false, "save the guests (xl save) instead of shutting them down")
		}, run: cmdStop},
		{name: "plan", short: "print what start or stop would do", run: cmdPlan},
		{name: "check", short: "validate the config", run: cmdCheck},
		{name: "status", short: "show every guest's state", flags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print JSON")
		}, run: cmdStatus},
	}
}

// changeFlags are the flags of every state-changing command.
func changeFlags(fs *flag.FlagSet) {
	fs.Bool("dry-run", false, "print the plan; change nothing")
	fs.Duration("wait-lock", 0, "wait this long for another xenorder to finish (default: fail at once, exit 3)")
}

func globalFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.configPath, "c", e.configPath, "config `FILE`")
	fs.StringVar(&e.configPath, "config", e.configPath, "config `FILE`")
	fs.BoolVar(&e.verbose, "v", e.verbose, "verbose: log every xl call")
}

// run is xenorder without the process around it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{argv: args, configPath: config.DefaultPath, stdout: stdout, stderr: stderr, out: &printer{w: stdout}}
	if p := os.Getenv("XENORDER_CONFIG"); p != "" {
		e.configPath = p
	}
	global := flag.NewFlagSet("xenorder", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	globalFlags(global, e)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, manual())
			return nil
		}
		return usageErr("%v (see xenorder help)", err)
	}
	rest := global.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, manual())
		return usageErr("no command given")
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		return help(stdout, rest)
	}
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
		return c.run(ctx, e, fs, pos)
	}
	return usageErr("unknown command %q (commands: start, stop, plan, check, status, help)", name)
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
		if args[0] == "--" && len(pos) == 0 { // unreachable: Parse eats "--"
			return append(pos, args[1:]...), nil
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
	for _, c := range commands() {
		if c.name == args[0] {
			fs := newFlagSet(c, &env{})
			fs.SetOutput(w)
			fmt.Fprintf(w, "xenorder %s: %s\n\nflags:\n", c.name, c.short)
			fs.PrintDefaults()
			fmt.Fprintf(w, "\nSee xenorder help for the whole manual and the exit codes.\n")
			return nil
		}
	}
	return usageErr("help: unknown command %q", args[0])
}

func flagBool(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Value.String() == "true"
}

// load reads the config and builds the runner for it.
func (e *env) load() (*config.Config, *runner.Runner, error) {
	cfg, err := config.Load(e.configPath)
	if err != nil {
		return nil, nil, err
	}
	client := &xl.Client{Path: cfg.Defaults.XL}
	if e.verbose {
		client.Trace = func(args []string, d time.Duration, err error) {
			e.log.Debug("xl", "args", strings.Join(args, " "), "took", d.Round(time.Millisecond), "err", err)
		}
	}
	r := runner.New(cfg, client, func(ev runner.Event) { logEvent(e.events, ev) })
	if e.notify != nil {
		r.Notify = e.notify
	}
	return cfg, r, nil
}

func cmdStart(ctx context.Context, e *env, fs *flag.FlagSet, names []string) error {
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	if flagBool(fs, "dry-run") {
		plan, err := r.PlanStart(ctx, names)
		if err != nil {
			return err
		}
		printPlan(e, plan)
		return nil
	}
	if e.notify != nil && xendomainsActive(ctx) {
		return &exitErr{code: 2, err: errors.New(xendomainsMsg)}
	}
	l, err := e.lock(ctx, cfg, fs)
	if err != nil {
		return err
	}
	defer l.Release()
	// Under systemd, READY=1 goes out on every path from here: a start
	// process that exits before it fails the unit, and a failed unit's
	// stop would not run at shutdown.
	defer e.notify.Ready()
	plan, err := r.PlanStart(ctx, names)
	if err != nil {
		e.notify.Status("start failed: " + err.Error())
		return err
	}
	res := r.Start(ctx, plan)
	e.notify.Status(res.StatusLine())
	err = finish(e, res)
	if sigTerm(ctx) {
		e.notify.Stopping()
		// systemd sends SIGTERM when the host goes down while the unit is
		// still starting, and then never runs ExecStop: stop what is up.
		e.out.printf("SIGTERM while starting: the host is going down and nothing else will stop the guests: stopping every running guest\n")
		bg := context.WithoutCancel(ctx)
		plan, perr := r.PlanStop(bg, nil, runner.StopOptions{})
		if perr != nil {
			return perr
		}
		if serr := finish(e, r.Stop(bg, plan)); serr != nil {
			return serr
		}
		if err == nil {
			err = &exitErr{code: 1, err: errors.New("start interrupted by SIGTERM; the guests were stopped")}
		}
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
	return cmd.Run() == nil
}

func sigTerm(ctx context.Context) bool {
	var se *signalError
	return errors.As(context.Cause(ctx), &se) && se.sig == syscall.SIGTERM
}

func cmdStop(ctx context.Context, e *env, fs *flag.FlagSet, names []string) error {
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	opts := runner.StopOptions{Save: flagBool(fs, "save")}
	if flagBool(fs, "dry-run") {
		plan, err := r.PlanStop(ctx, names, opts)
		if err != nil {
			return err
		}
		printPlan(e, plan)
		return nil
	}
	e.notify.Stopping()
	e.notify.Status("stopping: waiting for the lock")
	l, err := e.lock(ctx, cfg, fs)
	if err != nil {
		return err
	}
	defer l.Release()
	plan, err := r.PlanStop(ctx, names, opts)
	if err != nil {
		e.notify.Status("stop failed: " + err.Error())
		return err
	}
	for _, w := range plan.Warnings {
		e.out.printf("warning: %s\n", w)
	}
	res := r.Stop(ctx, plan)
	e.notify.Status(res.StatusLine())
	return finish(e, res)
}

// lock takes the host's lock for a state-changing command, waiting up to
// --wait-lock.
func (e *env) lock(ctx context.Context, cfg *config.Config, fs *flag.FlagSet) (*lock.Lock, error) {
	var wait time.Duration
	if f := fs.Lookup("wait-lock"); f != nil {
		wait = f.Value.(flag.Getter).Get().(time.Duration)
	}
	l, err := lock.Acquire(ctx, cfg.Defaults.LockFile, wait, "xenorder "+strings.Join(e.argv, " "))
	var held *lock.HeldError
	if errors.As(err, &held) {
		return nil, &exitErr{code: 3, err: err}
	}
	return l, err
}

func finish(e *env, res *runner.Result) error {
	e.out.printf("%s", res.Summary())
	if res.OK() {
		return nil
	}
	return errReported
}

func cmdPlan(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	verb := "start"
	if len(args) > 0 && (args[0] == "start" || args[0] == "stop") {
		verb, args = args[0], args[1:]
	}
	_, r, err := e.load()
	if err != nil {
		return err
	}
	var plan *runner.Plan
	if verb == "start" {
		plan, err = r.PlanStart(ctx, args)
	} else {
		plan, err = r.PlanStop(ctx, args, runner.StopOptions{})
	}
	if err != nil {
		return err
	}
	printPlan(e, plan)
	return nil
}

func printPlan(e *env, p *runner.Plan) {
	n := len(p.Steps())
	e.out.printf("plan %s: %d guests in %d tiers (nothing is changed)\n%s", p.Verb, n, len(p.Tiers), p)
}

func cmdCheck(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageErr("check takes no arguments")
	}
	cfg, err := config.Check(e.configPath)
	if err != nil {
		return err
	}
	edges := 0
	for _, n := range cfg.Names() {
		edges += len(cfg.Graph.Dependencies(n))
	}
	for _, w := range cfg.Warnings(config.XenconsoledDefaults) {
		e.out.printf("warning: %s\n", w)
	}
	e.out.printf("%s: OK: %d guests, %d dependencies\n", cfg.File, len(cfg.Guests), edges)
	return nil
}

func cmdStatus(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageErr("status takes no guest names")
	}
	_, r, err := e.load()
	if err != nil {
		return err
	}
	rep, err := r.Status(ctx)
	if err != nil {
		return err
	}
	if flagBool(fs, "json") {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		e.out.printf("%s", rep)
	}
	if !rep.OK {
		return &exitErr{code: 1, err: errors.New("")}
	}
	return nil
}
