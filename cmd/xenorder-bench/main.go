// Command xenorder-bench measures xenorder against the xl simulator: how
// close start and stop come to the critical-path bound on a random layered
// DAG, the xl load while waiting, xenorder's own CPU, and status on a host
// with many domains.
//
//	go run ./cmd/xenorder-bench                 # 60 guests, depth 6, seed 1
//	go run ./cmd/xenorder-bench -guests 120     # same shape, twice the guests
//	go run ./cmd/xenorder-bench -xenstored=false # without the simulated xenstored
//
// By default the simulated xenstored runs through start and stop (its
// socket in $XENSTORED_PATH), so that xenorder can watch @releaseDomain
// and list domains through it.
//
// It prints one line per measurement; docs/performance.md has the numbers.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/graph"
	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

func main() {
	guests := flag.Int("guests", 60, "guests in the random DAG")
	depth := flag.Int("depth", 6, "levels of the DAG")
	seed := flag.Uint64("seed", 1, "random seed")
	statusDomains := flag.Int("status-domains", 1000, "domains for the status measurement (0: skip)")
	watch := flag.Bool("watch", true, "let stop use the @releaseDomain watch (false: polling only)")
	keep := flag.Bool("keep", false, "keep the temporary folder (binaries, host, simulator state and logs) and print its path")
	xenstored := flag.Bool("xenstored", true, "run the simulated xenstored for start and stop (false: xenorder finds no xenstored socket)")
	flag.Parse()
	if err := run(*guests, *depth, *seed, *statusDomains, *watch, *keep, *xenstored); err != nil {
		fmt.Fprintln(os.Stderr, "xenorder-bench:", err)
		os.Exit(1)
	}
}

type guest struct {
	name     string
	level    int
	deps     []string
	boot     time.Duration // xl create until running (no probes: ready)
	shutdown time.Duration
}

// generate makes a seeded layered DAG: every level has at least one guest,
// every guest above level 0 depends on one to three guests of the level
// below (so its level is exact) and maybe one lower.
func generate(n, depth int, seed uint64) []guest {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	gs := make([]guest, n)
	byLevel := make([][]string, depth)
	for i := range gs {
		lvl := i
		if i >= depth {
			lvl = rng.IntN(depth)
		}
		gs[i] = guest{
			name:     fmt.Sprintf("g%02d", i),
			level:    lvl,
			boot:     time.Duration(1000+rng.IntN(3001)) * time.Millisecond,
			shutdown: time.Duration(500+rng.IntN(1501)) * time.Millisecond,
		}
		byLevel[lvl] = append(byLevel[lvl], gs[i].name)
	}
	for i := range gs {
		g := &gs[i]
		if g.level == 0 {
			continue
		}
		below := byLevel[g.level-1]
		picked := map[string]bool{}
		for k := 1 + rng.IntN(3); k > 0; k-- {
			picked[below[rng.IntN(len(below))]] = true
		}
		if g.level >= 2 && rng.IntN(3) == 0 {
			lower := byLevel[rng.IntN(g.level-1)]
			picked[lower[rng.IntN(len(lower))]] = true
		}
		for d := range picked {
			g.deps = append(g.deps, d)
		}
		sort.Strings(g.deps)
	}
	return gs
}

// figures computes the critical-path bound, the sequential sum and the
// tier-barrier figure of per-guest durations over a graph.
func figures(gs []guest, dur func(guest) time.Duration, reverse bool) (bound, sequential, barrier time.Duration) {
	g := graph.New()
	by := map[string]guest{}
	for _, x := range gs {
		g.Add(x.name)
		by[x.name] = x
		for _, d := range x.deps {
			g.AddEdge(x.name, d, graph.Hard, "")
		}
	}
	var tiers [][]string
	if reverse {
		tiers = g.StopTiers(g.Nodes())
	} else {
		tiers = g.StartTiers(g.Nodes())
	}
	finish := map[string]time.Duration{}
	for _, tier := range tiers {
		var slowest time.Duration
		for _, n := range tier {
			var ready time.Duration
			var before []graph.Edge
			if reverse {
				before = g.Dependents(n)
			} else {
				before = g.Dependencies(n)
			}
			for _, e := range before {
				ready = max(ready, finish[e.To])
			}
			finish[n] = ready + dur(by[n])
			bound = max(bound, finish[n])
			sequential += dur(by[n])
			slowest = max(slowest, dur(by[n]))
		}
		barrier += slowest
	}
	return bound, sequential, barrier
}

func widest(gs []guest) int {
	count := map[int]int{}
	w := 0
	for _, g := range gs {
		count[g.level]++
		w = max(w, count[g.level])
	}
	return w
}

func run(n, depth int, seed uint64, statusDomains int, watch, keep, xenstored bool) (err error) {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "xenorder-bench-")
	if err != nil {
		return err
	}
	if keep {
		defer fmt.Printf("# kept %s: bin/ (xenorder, xl), host/ (xenorder.toml, xl/), sim/ (calls.log, events.log)\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "bin")
	// Built as `make build` builds it (and the .deb ships it): static,
	// stripped; with -tags xenorder_simhost, so that it reads
	// /proc/xen/capabilities from the simulated host (simDom0), which says
	// dom0 (cmd/xenorder/seams_simhost.go): the only difference.
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "xenorder_simhost", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=", "-o", filepath.Join(bin, "xenorder"), "./cmd/xenorder")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/xenorder (run me from the checkout): %w", err)
	}
	if err := xlsim.Build(bin); err != nil {
		return err
	}
	gs := generate(n, depth, seed)
	host := filepath.Join(tmp, "host")
	os.MkdirAll(filepath.Join(host, "xl"), 0o755)
	var toml strings.Builder
	fmt.Fprintf(&toml, "[defaults]\nconfig_dir = \"xl\"\nmax_parallel = %d\nstate_dir = \"state\"\nlock_file = \"xenorder.lock\"\n", max(widest(gs), 1)*2)
	if !watch {
		toml.WriteString("xenstore_watch = \"\"\n")
	}
	for _, g := range gs {
		fmt.Fprintf(&toml, "[guest.%s]\n", g.name)
		if len(g.deps) > 0 {
			fmt.Fprintf(&toml, "depends_on = [%s]\n", quoteAll(g.deps))
		}
		cfg := fmt.Sprintf("name = %q\nmemory = 64\nxlsim_create_time = %q\nxlsim_shutdown_time = %q\n", g.name, g.boot, g.shutdown)
		if err := os.WriteFile(filepath.Join(host, "xl", g.name+".cfg"), []byte(cfg), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(host, "xenorder.toml"), []byte(toml.String()), 0o644); err != nil {
		return err
	}
	sim := filepath.Join(tmp, "sim")
	if err := simDom0(sim); err != nil {
		return err
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "XLSIM_DIR="+sim,
		"XLSIM_TOTAL_MEMORY=1000000", "XENORDER_CONFIG="+filepath.Join(host, "xenorder.toml"), "NOTIFY_SOCKET=", "JOURNAL_STREAM=")
	xsd := "off"
	if xenstored {
		sock := filepath.Join(sim, "xenstored.sock")
		env = append(env, "XENSTORED_PATH="+sock)
		stopXenstored, xerr := xlsim.StartXenstored(bin, env, sock)
		if xerr != nil {
			return xerr
		}
		defer func() { // also when a run fails
			if serr := stopXenstored(); serr != nil && err == nil {
				err = serr
			}
		}()
		xsd = "on"
	} else {
		// A socket nobody serves: no xenstored, even on a Xen host.
		env = append(env, "XENSTORED_PATH="+filepath.Join(sim, "no-xenstored.sock"))
	}

	fmt.Printf("# %d guests, depth %d, seed %d, widest tier %d; boot 1-4s, shutdown 0.5-2s; xenstored=%s; %s; go run ./cmd/xenorder-bench\n",
		n, depth, seed, widest(gs), xsd, time.Now().UTC().Format("2006-01-02"))
	for _, verb := range []string{"start", "stop"} {
		dur := func(g guest) time.Duration { return g.boot }
		if verb == "stop" {
			dur = func(g guest) time.Duration { return g.shutdown }
		}
		bound, seq, barrier := figures(gs, dur, verb == "stop")
		m, err := measure(ctx, bin, env, sim, verb)
		if err != nil {
			return err
		}
		fmt.Printf("%-5s makespan=%6.2fs bound=%6.2fs ratio=%.3f sequential=%6.1fs (%.1fx) tier-barrier=%5.1fs (%.2fx) xl-list/s=%.1f xl-calls/s=%.1f cpu=%.3fs (%.2f%% of wall)\n",
			verb, m.wall.Seconds(), bound.Seconds(), m.wall.Seconds()/bound.Seconds(),
			seq.Seconds(), seq.Seconds()/bound.Seconds(), barrier.Seconds(), barrier.Seconds()/bound.Seconds(),
			m.listsPerSec, m.callsPerSec, m.cpu.Seconds(), 100*m.cpu.Seconds()/m.wall.Seconds())
	}
	if statusDomains > 0 {
		return statusBench(ctx, bin, tmp, statusDomains)
	}
	return nil
}

type measurement struct {
	wall        time.Duration
	cpu         time.Duration
	listsPerSec float64
	callsPerSec float64
}

var cpuRE = regexp.MustCompile(`msg=resources cpu=([0-9.]+(?:ms|s|µs))`)

func measure(ctx context.Context, bin string, env []string, sim, verb string) (measurement, error) {
	var m measurement
	before, _ := xlsim.ReadCalls(sim)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "xenorder"), "-v", verb)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return m, err
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return m, err
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		return m, fmt.Errorf("xenorder %s: %v\n%s\n%s", verb, err, strings.Join(lines, "\n"), stderr.String())
	}
	m.wall = time.Since(began)
	if c := cpuRE.FindStringSubmatch(stderr.String()); c != nil {
		m.cpu, _ = time.ParseDuration(c[1])
	}
	after, err := xlsim.ReadCalls(sim)
	if err != nil {
		return m, err
	}
	lists, calls := 0, 0
	for _, c := range after[len(before):] {
		calls++
		if c.Prog == "xl" && len(c.Args) >= 1 && c.Args[0] == "list" {
			lists++
		}
	}
	m.listsPerSec = float64(lists) / m.wall.Seconds()
	m.callsPerSec = float64(calls) / m.wall.Seconds()
	return m, nil
}

// statusBench: xenorder status on a host of n domains, against one xl list
// plus one xl list -l.
func statusBench(ctx context.Context, bin, tmp string, n int) error {
	sim := filepath.Join(tmp, "sim-status")
	if err := simDom0(sim); err != nil {
		return err
	}
	host := filepath.Join(tmp, "host-status")
	os.MkdirAll(filepath.Join(host, "xl"), 0o755)
	var toml strings.Builder
	toml.WriteString("[defaults]\nconfig_dir = \"xl\"\nstate_dir = \"state\"\nlock_file = \"xenorder.lock\"\nmax_parallel = 16\ninfer = false\n")
	for i := range n {
		name := fmt.Sprintf("vm%04d", i)
		fmt.Fprintf(&toml, "[guest.%s]\n", name)
		os.WriteFile(filepath.Join(host, "xl", name+".cfg"), []byte(fmt.Sprintf("name = %q\nmemory = 16\nxlsim_create_time = \"0s\"\n", name)), 0o644)
	}
	os.WriteFile(filepath.Join(host, "xenorder.toml"), []byte(toml.String()), 0o644)
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "XLSIM_DIR="+sim, "XLSIM_TOTAL_MEMORY=1000000",
		"XENORDER_CONFIG="+filepath.Join(host, "xenorder.toml"), "NOTIFY_SOCKET=", "JOURNAL_STREAM=")
	start := exec.CommandContext(ctx, filepath.Join(bin, "xenorder"), "start")
	start.Env = env
	if out, err := start.CombinedOutput(); err != nil {
		return fmt.Errorf("starting %d domains: %v\n%s", n, err, out)
	}
	timeIt := func(args ...string) (time.Duration, error) {
		best := time.Duration(1 << 62)
		for range 5 {
			cmd := exec.CommandContext(ctx, filepath.Join(bin, args[0]), args[1:]...)
			cmd.Env = env
			began := time.Now()
			if out, err := cmd.Output(); err != nil && !(args[0] == "xenorder") {
				return 0, fmt.Errorf("%v: %v %s", args, err, out)
			}
			best = min(best, time.Since(began))
		}
		return best, nil
	}
	list, err := timeIt("xl", "list")
	if err != nil {
		return err
	}
	long, err := timeIt("xl", "list", "-l")
	if err != nil {
		return err
	}
	status, err := timeIt("xenorder", "status")
	if err != nil {
		return err
	}
	fmt.Printf("status domains=%d status=%.0fms xl-list=%.0fms xl-list-l=%.0fms ratio=%.2f (status / (list + list -l), best of 5)\n",
		n, ms(status), ms(list), ms(long), status.Seconds()/(list+long).Seconds())
	return nil
}

// simDom0 makes the simulator's folder sim, with a simulated host that is
// Xen's dom0 (xenorder refuses to start or stop guests elsewhere).
func simDom0(sim string) error {
	caps := filepath.Join(sim, "simhost", "proc", "xen", "capabilities")
	if err := os.MkdirAll(filepath.Dir(caps), 0o755); err != nil {
		return err
	}
	return os.WriteFile(caps, []byte("control_d\n"), 0o644)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
