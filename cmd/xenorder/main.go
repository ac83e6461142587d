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
	// Everything xenorder creates is private, and so is everything the
	// programs it runs create: the umask is inherited by xl and by what xl
	// starts. A save image holds a guest's memory (its keys, its
	// passwords); xl writes it with mode 0644, so under this umask it is
	// 0600 from its first byte, whatever the save folder's mode. The other
	// files: the state files (0600 anyway) and folders (0700), the lock
	// file (read by other xenorders only, as root), xl's and the device
	// models' logs under /var/log/xen (root's to read). What users read
	// (status, plan, graph, plot) goes to stdout. Go cannot set a umask
	// for one child alone, and a shell must not run xl.
	syscall.Umask(0o077)
	ctx, cancel := context.WithCancelCause(context.Background())
	// A terminal's Ctrl-C and hang-up reach xenorder alone: every program
	// it runs leads a process group of its own (internal/procgroup). A
	// hang-up is an interruption like the others: nothing new is
	// launched, what is in flight finishes.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// A reader that went away with the terminal (xenorder stop | tee log)
	// must not kill xenorder at its next line: writes to it fail instead.
	// (Notify, not Ignore: an ignored signal stays ignored in xl.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
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
