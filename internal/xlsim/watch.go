package xlsim

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// watchPoll is how often the simulated xenstore-watch looks at the state.
const watchPoll = 20 * time.Millisecond

// xenstoreWatch is `xenstore-watch [-n NR] PATH` for the one path a
// toolstack watches for deaths, @releaseDomain: it prints the path once when
// the watch is set (as xenstored fires every new watch once) and again each
// time a domain has been released, until NR events (0: forever) or a
// signal. Like the rest of the simulator, time moves lazily: the watch
// advances the state itself every 20ms, so a domain whose shutdown time
// has passed is released within that.
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
	ids := func() (map[int]bool, error) {
		s, err := e.begin()
		if err != nil {
			return nil, err
		}
		m := map[int]bool{}
		for _, d := range s.st.Domains {
			m[d.ID] = true
		}
		return m, s.commit()
	}
	fire := func() bool {
		fmt.Fprintln(e.Stdout, path)
		if f, ok := e.Stdout.(*os.File); ok {
			f.Sync()
		}
		limit--
		return limit == 0
	}
	seen, err := ids()
	if err != nil {
		return e.fatal(err)
	}
	if fire() {
		return 0
	}
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for {
		select {
		case <-sigs:
			return 130
		case <-t.C:
		}
		now, err := ids()
		if err != nil {
			return e.fatal(err)
		}
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
