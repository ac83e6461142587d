package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/procgroup"
)

// execWaitDelay is how long a program gets after SIGINT (when the attempt's
// context ends) before it is killed and its output pipes are closed.
const execWaitDelay = 2 * time.Second

// maxOutput bounds the output kept from a program: the last 4 KiB.
const maxOutput = 4 << 10

type execProbe struct {
	argv      []string
	waitDelay time.Duration
}

// Exec returns a probe that runs argv (no shell; argv[0] is looked up on
// PATH unless it contains a slash) and passes if it exits 0. Its stdin is
// /dev/null; the last 4 KiB of its stdout and stderr are kept for the error.
// When ctx ends the program gets SIGINT, and is killed 2s later.
func Exec(argv []string) (Probe, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("exec probe: empty command")
	}
	return &execProbe{argv: append([]string(nil), argv...), waitDelay: execWaitDelay}, nil
}

func (p *execProbe) Check(ctx context.Context, t Target) error {
	out := &tailBuffer{max: maxOutput}
	return runError(ctx, run(ctx, p.argv, out, out, p.waitDelay), out.Bytes())
}

func (p *execProbe) String() string {
	q := make([]string, len(p.argv))
	for i, a := range p.argv {
		q[i] = quoteArg(a)
	}
	return "exec " + strings.Join(q, " ")
}

func (p *execProbe) Kind() string { return KindExec }

// Program is the program the probe runs, as written (looked up on PATH
// when it holds no slash).
func (p *execProbe) Program() string { return p.argv[0] }

// run runs argv with stdin from /dev/null. When ctx ends the process gets
// SIGINT; after waitDelay it is killed and its pipes are closed.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer, waitDelay time.Duration) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	procgroup.OwnInterruptible(cmd) // a terminal's Ctrl-C is xenorder's to handle, not the probe's
	cmd.WaitDelay = waitDelay
	return cmd.Run()
}

// runError turns the error of run into a short message with the last line
// of output: "exit status 1: <line>", "timed out: <line>", ...
func runError(ctx context.Context, err error, output []byte) error {
	if err == nil {
		return nil
	}
	line := lastLine(output)
	if ctx.Err() != nil {
		return ctxError(ctx, line)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if line == "" {
			return &shortError{exitErr.Error(), err}
		}
		return &shortError{exitErr.Error() + ": " + line, err}
	}
	if line != "" {
		return fmt.Errorf("%w: %s", err, line)
	}
	return err
}
