package main

// The read-only views: status, graph, plot.

import (
	"context"
	"errors"
	"flag"
	"os"
	"time"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/render"
	"github.com/xenorder/xenorder/internal/runner"
	"github.com/xenorder/xenorder/internal/state"
	"github.com/xenorder/xenorder/internal/timeline"
)

// statusOptions gathers what xenorder remembers: drains and the last start.
func (e *env) statusOptions(cfg *config.Config) (runner.StatusOptions, error) {
	st := e.store(cfg)
	opts := runner.StatusOptions{LastStart: map[string]runner.LastStart{}}
	drained, err := drainTimes(st)
	var de *state.DamagedError
	if errors.As(err, &de) {
		// Shown as unknown: a guest kept down by its drain is then
		// reported down.
		opts.DrainsUnknown = err.Error()
	} else if err != nil {
		return runner.StatusOptions{}, err
	}
	opts.Drained = drained
	opts.InProgress = e.inProgress(cfg) // another xenorder's start or stop, while it runs
	var last runRecord
	ok, err := st.LoadRun("start", &last)
	if err != nil {
		e.warn(err.Error() + " (status shows no uptime and no start time)")
	}
	if ok {
		for _, sp := range last.Spans {
			if id, ok := last.DomIDs[sp.Guest]; ok && !sp.Ended.IsZero() && sp.Outcome != "already done" {
				opts.LastStart[sp.Guest] = runner.LastStart{DomID: id, Ready: sp.Ended, Took: sp.Ended.Sub(sp.Began)}
			}
		}
	}
	return opts, nil
}

// runRecord is a recorded run with the domids it left.
type runRecord struct {
	timeline.Run
	DomIDs map[string]int `json:"domids,omitempty"`
}

func cmdStatus(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageErr("status takes no guest names")
	}
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	if flagBool(fs, "timings") {
		return e.timings(cfg)
	}
	opts, err := e.statusOptions(cfg)
	if err != nil {
		return err
	}
	rep, err := r.Status(ctx, opts)
	if err != nil {
		return err
	}
	if flagBool(fs, "json") {
		b, err := render.StatusJSON(rep) // names from xl list escaped where a terminal would act on them
		if err != nil {
			return err
		}
		if _, err := e.stdout.Write(b); err != nil {
			return err
		}
	} else {
		e.out.printf("%s", render.StatusText(rep, isTerminal(e.stdout)))
	}
	if !rep.OK {
		return &exitErr{code: 1, err: errors.New("")}
	}
	return nil
}

// timings prints the last start's critical chain and every guest's slack.
func (e *env) timings(cfg *config.Config) error {
	var last runRecord
	ok, err := e.store(cfg).LoadRun("start", &last)
	if err != nil {
		return err
	}
	if !ok {
		e.out.printf("no start recorded yet in %s\n", cfg.Defaults.StateDir)
		return nil
	}
	e.out.printf("last start: %s, %s\n", last.Began.Local().Format("2006-01-02 15:04:05"), last.Ended.Sub(last.Began).Round(10*time.Millisecond))
	return last.WriteText(e.stdout)
}

func cmdGraph(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageErr("graph takes no arguments")
	}
	cfg, r, err := e.load()
	if err != nil {
		return err
	}
	opts, err := e.statusOptions(cfg)
	if err != nil {
		return err
	}
	rep, err := r.Status(ctx, opts)
	if err != nil {
		return err
	}
	e.out.printf("%s", render.StatusDOT(rep, cfg.Graph))
	return nil
}

func cmdPlot(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageErr("plot takes no arguments (xenorder plot > boot.svg)")
	}
	if err := configMissing(e.configPath); err != nil {
		return err
	}
	cfg, err := config.Load(e.configPath)
	if err != nil {
		return err
	}
	st := e.store(cfg)
	var start, stop runRecord
	okStart, err := st.LoadRun("start", &start)
	if err != nil {
		return err
	}
	okStop, err := st.LoadRun("stop", &stop)
	if err != nil {
		return err
	}
	if !okStart && !okStop {
		return errors.New("plot: no start or stop recorded yet in " + cfg.Defaults.StateDir)
	}
	var a, b *timeline.Run
	if okStart {
		a = &start.Run
	}
	if okStop {
		b = &stop.Run
	}
	if a == nil {
		a, b = b, nil
	}
	return timeline.SVG(e.stdout, a, b)
}

// isTerminal reports whether w is a terminal (for colours).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
