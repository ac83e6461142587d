package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	// xenorder waits (for xl, for probes, for timers) and does little in
	// between: one P spares the Go runtime handing goroutines from thread
	// to thread, ~15% of xenorder's CPU in a start or a stop
	// (docs/performance.md). $GOMAXPROCS still decides when it is set.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		first := true
		for s := range sigs {
			if !first {
				fmt.Fprintf(os.Stderr, "xenorder: %s again: still finishing what is in flight (an xl save is never cut short)\n", s)
			}
			first = false
			cancel(&signalError{sig: s})
		}
	}()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "interrupted by " + e.sig.String() }
