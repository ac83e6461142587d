package main

// The drain record: what a damaged one means to the commands, and the
// command that prints, clears or rebuilds it.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/state"
)

// warn prints a warning of the state store on stderr: the journal's
// warning priority under systemd (its "<4>" prefix), else a plain line.
func (e *env) warn(msg string) {
	prefix := ""
	if stderrIsJournal() {
		prefix = "<4>"
	}
	fmt.Fprintf(e.stderr, "%sxenorder: warning: %s\n", prefix, msg)
}

// drainsUnknown is the error of a command that would start guests when the
// drain record cannot be read: nothing is known to be undrained, so nothing
// starts. A damaged record exits 2; under systemd the unit's start fails
// visibly (exit 2 is outside SuccessExitStatus) and READY=1 is never sent:
// the start did not get to do anything it could be ready for.
func (e *env) drainsUnknown(verb string, err error) error {
	var de *state.DamagedError
	if !errors.As(err, &de) {
		return err
	}
	e.notify.Say(fmt.Sprintf("%s refused: the drain record %s is damaged; repair: xenorder drains --clear or --set GUEST...", verb, de.File))
	err = fmt.Errorf("%s: nothing started: %w", verb, err)
	if e.notify != nil {
		err = fmt.Errorf("%w\nThen start the unit again: systemctl start xenorder.service (systemctl reload xenorder.service if it is active). Not a plain xenorder start: the unit must be active for its stop to stop the guests at shutdown", err)
	}
	return &exitErr{code: 2, err: err}
}

func drainsFlags(fs *flag.FlagSet) {
	changeFlags(fs)
	fs.Bool("clear", false, "write a fresh, empty drain record: nothing drained")
	fs.Bool("set", false, "rebuild the drain record with exactly the named guests drained")
}

// cmdDrains prints the drain record, or with --clear or --set GUEST...
// replaces it, whatever it held (a damaged record is moved aside, never
// deleted). It changes the record only: it stops and starts nothing.
func cmdDrains(ctx context.Context, e *env, fs *flag.FlagSet, names []string) error {
	clearAll, set := flagBool(fs, "clear"), flagBool(fs, "set")
	if err := drainsArgs(clearAll, set, names); err != nil {
		return err
	}
	cfg, _, err := e.load()
	if err != nil {
		return err
	}
	st := e.store(cfg)
	file := filepath.Join(cfg.Defaults.StateDir, "drains.json")
	if !clearAll && !set {
		d, err := st.Drains()
		if err != nil {
			return err
		}
		printDrains(e, file, d, cfg.Guests)
		return nil
	}
	if err := drainsGuests(cfg, names); err != nil {
		return err
	}
	if flagBool(fs, "dry-run") {
		if set {
			e.out.printf("drains --set: would record as drained, and only these: %s (nothing is changed)\n", strings.Join(uniq(names), ", "))
		} else {
			e.out.printf("drains --clear: would record that nothing is drained (nothing is changed)\n")
		}
		return nil
	}
	l, err := e.lock(ctx, cfg, fs)
	if err != nil {
		return err
	}
	defer l.Release()
	return replaceDrains(e, st, file, clearAll, names)
}

// drainsArgs refuses the combinations of --clear, --set and guest names
// that mean nothing.
func drainsArgs(clearAll, set bool, names []string) error {
	switch {
	case clearAll && set:
		return usageErr("drains: --clear and --set exclude each other (--clear: nothing drained; --set GUEST...: exactly these)")
	case clearAll && len(names) > 0:
		return usageErr("drains --clear takes no guest names (xenorder drains --set GUEST... drains exactly those)")
	case set && len(names) == 0:
		return usageErr("drains --set: name the guests that stay drained (xenorder drains --set GUEST...); xenorder drains --clear: none")
	case !clearAll && !set && len(names) > 0:
		return usageErr("drains: guest names go with --set (xenorder drains --set GUEST...)")
	}
	return nil
}

// drainsGuests refuses a name --set cannot drain: unknown, or external.
func drainsGuests(cfg *config.Config, names []string) error {
	for _, n := range names {
		g := cfg.Guests[n]
		if g == nil {
			return usageErr("drains --set: %s (nothing was changed)", config.UnknownGuest(n, cfg.Names(), cfg.File))
		}
		if g.External {
			return usageErr("drains --set: %q is an external node, never started nor stopped by xenorder: only guests are drained (nothing was changed)", n)
		}
	}
	return nil
}

// replaceDrains writes the drain record with exactly names drained (none
// for --clear) and says what it held before. The caller holds the lock.
func replaceDrains(e *env, st *state.Store, file string, clearAll bool, names []string) error {
	// A guest drained already keeps the date and cause of its drain.
	cur, err := st.Drains()
	var de *state.DamagedError
	if err != nil && !errors.As(err, &de) {
		return err
	}
	by := "xenorder drains --set " + strings.Join(names, " ")
	now := time.Now().UTC().Truncate(time.Second)
	want := map[string]state.Drain{}
	for _, n := range names {
		if rec, ok := cur[n]; ok {
			want[n] = rec
		} else {
			want[n] = state.Drain{Since: now, By: by}
		}
	}
	old, err := st.SetDrains(want)
	if err != nil {
		return fmt.Errorf("drains: nothing was changed: %w", err)
	}
	was := "the record was unreadable"
	if old != nil {
		was = "was: nothing drained"
		if len(old) > 0 {
			was = "was: " + strings.Join(state.SortedDrains(old), ", ")
		}
	}
	if clearAll {
		e.out.printf("drain record %s cleared: nothing is drained (%s)\n", file, was)
	} else {
		e.out.printf("drain record %s rebuilt: drained (kept down through start, until xenorder resume): %s (%s)\n", file, strings.Join(state.SortedDrains(want), ", "), was)
	}
	if kept, _ := filepath.Glob(file + "*.damaged-*"); len(kept) > 0 {
		e.out.printf("damaged copies kept (never read again; delete them once checked): %s\n", strings.Join(kept, " "))
	}
	return nil
}

// printDrains prints the drain record, one drained guest a line.
func printDrains(e *env, file string, d map[string]state.Drain, guests map[string]*config.Guest) {
	if len(d) == 0 {
		e.out.printf("nothing is drained (%s)\n", file)
		return
	}
	e.out.printf("drained (kept down through start, until xenorder resume), in %s:\n", file)
	width := 0
	for n := range d {
		width = max(width, len(printable(n)))
	}
	for _, n := range slices.Sorted(maps.Keys(d)) {
		rec := d[n]
		note := ""
		if _, ok := guests[n]; !ok {
			note = "  (not in the config)"
		}
		e.out.printf("  %-*s  since %s  by %s%s\n", width, printable(n), rec.Since.Local().Format("2006-01-02 15:04"), printable(rec.By), note)
	}
}

// printable quotes what the record holds when it is not plain text (a
// hand-edited file): it never reaches the terminal raw.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func uniq(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}
