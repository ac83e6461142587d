package main

// The question stop, drain and restart ask on a terminal before they stop
// more than the guests they were named.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenorder/xenorder/internal/runner"
)

// confirmTimeout bounds the wait for an answer: the lock is held meanwhile,
// and the unit's stop at shutdown would wait for it (or, with
// --interrupt-holder, end the question: nothing is done).
const confirmTimeout = 5 * time.Minute

// readsTerminal reports whether r is a terminal, as termios says (not a
// character device test: /dev/null is one): the stdin of an admin's shell,
// not /dev/null (systemd), a pipe or a file (scripts, cron).
func readsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// alsoStopped lists, sorted, the running domains a stop plan stops that
// were not named: the dependents a named guest takes down with it.
func alsoStopped(plan *runner.Plan, names []string) []string {
	if len(names) == 0 {
		return nil // a bare stop names nothing and stops everything, as asked
	}
	var out []string
	for _, s := range plan.Steps() {
		if s.DomID <= 0 || slices.Contains(names, s.Guest) ||
			strings.HasPrefix(s.Action, "wait") || strings.HasPrefix(s.Action, "leave") || s.Action == "already stopped" {
			continue
		}
		out = append(out, s.Guest)
	}
	slices.Sort(out)
	return out
}

// confirmStop shows the plan and asks before a stop that takes down more
// than the named guests, when stdin is a terminal and --yes is not given:
// nil to go on, else an error (exit 1) saying nothing was done. Not on a
// terminal (the unit, scripts, cron) it never asks: as before, the plan is
// carried out.
func (e *env) confirmStop(ctx context.Context, verb string, plan *runner.Plan, names, extra []string) error {
	printPlanNote(e, plan, "nothing is changed until you answer")
	q := fmt.Sprintf("%s %s also stops %s (the plan above says why).\nProceed? [y/N] ",
		verb, strings.Join(names, " "), strings.Join(extra, ", "))
	ok, err := ask(ctx, e.stdin, func(s string) { e.out.printf("%s", s) }, q, confirmTimeout)
	if err != nil {
		e.out.printf("\n")
		return &exitErr{code: 1, err: fmt.Errorf("%s: %v: nothing was done", verb, err)}
	}
	if !ok {
		return &exitErr{code: 1, err: fmt.Errorf("%s: not confirmed: nothing was done (--yes skips the question)", verb)}
	}
	return nil
}

// ask writes question and reads one line from in: true for y or yes (any
// case). Any other answer, an empty line included, is no. End of input,
// the end of ctx (a signal) or no answer within timeout is an error.
func ask(ctx context.Context, in io.Reader, say func(string), question string, timeout time.Duration) (bool, error) {
	if in == nil {
		return false, errors.New("no input to read an answer from")
	}
	say(question)
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() { // left blocked on a terminal nobody answers: the process ends soon after
		line, err := bufio.NewReader(in).ReadString('\n')
		ch <- answer{line, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a := <-ch:
		if a.err != nil && strings.TrimSpace(a.line) == "" {
			return false, fmt.Errorf("no answer (%v)", a.err)
		}
		switch strings.ToLower(strings.TrimSpace(a.line)) {
		case "y", "yes":
			return true, nil
		}
		return false, nil
	case <-ctx.Done():
		return false, fmt.Errorf("asking: %w", context.Cause(ctx))
	case <-t.C:
		return false, fmt.Errorf("no answer within %s", timeout)
	}
}
