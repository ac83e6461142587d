package xenstore

// The xenstore-* programs, for a host where xenstored's socket cannot be
// reached: what Conn does through the socket, a process per call. Each
// runs in a process group of its own (procgroup): the end of its context
// interrupts it, and os/exec kills it if it has not exited soon after.

import (
	"bufio"
	"context"
	"os/exec"
	"time"

	"github.com/xenorder/xenorder/internal/procgroup"
)

// Bounds on a program's exit once its context ended.
const (
	readWaitDelay  = time.Second
	watchWaitDelay = 2 * time.Second
)

// ReadProgram runs `prog path` (xenstore-read) and returns what it
// printed, as it printed it.
func ReadProgram(ctx context.Context, prog, path string) (string, error) {
	cmd := exec.CommandContext(ctx, prog, path)
	procgroup.OwnInterruptible(cmd)
	cmd.WaitDelay = readWaitDelay
	out, err := cmd.Output()
	return string(out), err
}

// ProgramWatch is a watch through `xenstore-watch PATH`, which prints a
// line each time the watch fires.
type ProgramWatch struct {
	cancel context.CancelFunc
	events chan Event
	done   chan struct{} // closed once the program is gone
}

// WatchProgram runs `prog path` (xenstore-watch) until Close is called or
// ctx ends. An error says it could not be started.
func WatchProgram(ctx context.Context, prog, path string) (*ProgramWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, prog, path)
	procgroup.OwnInterruptible(cmd)
	cmd.WaitDelay = watchWaitDelay
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	w := &ProgramWatch{cancel: cancel, events: make(chan Event), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case w.events <- Event{Path: sc.Text()}:
			case <-ctx.Done(): // closing: nobody need look again
			}
		}
		close(w.events)
		cmd.Wait()
	}()
	return w, nil
}

// Events delivers the watch's firings, one per line the program prints;
// closed when the program ends (or fails).
func (w *ProgramWatch) Events() <-chan Event { return w.events }

// Close ends the program and returns once it is gone (interrupted, killed
// after 2 s if need be): a watch never outlives its caller.
func (w *ProgramWatch) Close() error {
	w.cancel()
	<-w.done
	return nil
}
