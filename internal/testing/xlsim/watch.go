package xlsim

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// watchPoll is how often the simulated xenstore-watch looks at the state
// for what other commands did (an xl destroy, say).
const watchPoll = 20 * time.Millisecond

// xenstoreWatch is `xenstore-watch [-n NR] PATH` for the one path a
// toolstack watches for deaths, @releaseDomain: it prints the path once when
// the watch is set (as xenstored fires every new watch once) and again each
// time a domain has been released, until NR events (0: forever) or a
// signal. Like the rest of the simulator, time moves lazily: the watch
// looks at the state every 20ms, and also the moment something is due (a
// guest's shutdown, crash or reboot, xl's monitor reaping one), advancing
// the state itself, so a domain whose time has come is released at once, as
// by xenstored.
func (e *Env) xenstoreWatch(args []string) int {
	limit := 0
	var path string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-n" && i+1 < len(args):
			fmt.Sscanf(args[i+1], "%d", &limit)
			i++
		case len(a) > 0 && a[0] == '-':
			fmt.Fprintf(e.Stderr, "Usage: xenstore-watch [-h] [-n NR] watch-path\n")
			return 1
		default:
			path = a
		}
	}
	if path == "" {
		fmt.Fprintf(e.Stderr, "Usage: xenstore-watch [-h] [-n NR] watch-path\n")
		return 1
	}
	if path != "@releaseDomain" {
		fmt.Fprintf(e.Stderr, "xenstore-watch: the simulator watches only @releaseDomain, not %s\n", path)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// ids returns the domains now and how long to sleep before looking
	// again.
	ids := func() (map[int]bool, time.Duration, error) {
		s, err := e.view()
		if err != nil {
			return nil, 0, err
		}
		m := map[int]bool{}
		for _, d := range s.st.Domains {
			m[d.ID] = true
		}
		sleep := watchPoll
		if d, _, at := s.earliestDue(s.now.Add(watchPoll)); d != nil {
			sleep = max(at.Sub(s.now), 0) + time.Millisecond
		}
		return m, sleep, s.commit()
	}
	fire := func() bool {
		fmt.Fprintln(e.Stdout, path)
		if f, ok := e.Stdout.(*os.File); ok {
			f.Sync()
		}
		limit--
		return limit == 0
	}
	seen, sleep, err := ids()
	if err != nil {
		return e.fatal(err)
	}
	if fire() {
		return 0
	}
	t := time.NewTimer(sleep)
	defer t.Stop()
	for {
		select {
		case <-sigs:
			return 130
		case <-t.C:
		}
		now, sleep, err := ids()
		if err != nil {
			return e.fatal(err)
		}
		t.Reset(sleep)
		released := false
		for id := range seen {
			if !now[id] {
				released = true
			}
		}
		seen = now
		if released && fire() {
			return 0
		}
	}
}
