package xlsim

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMeasureLock is not a test but a measurement, skipped unless
// XLSIM_MEASURE is set:
//
//	XLSIM_MEASURE=1 go test -run TestMeasureLock -v ./internal/xlsim
//
// On a host of 60 running guests made like xenorder-bench's, it prints the
// CPU (user+system, exec to exit) of one `xl list`, `xl list -l` and `xl
// shutdown`, and how far apart 16 concurrent `xl shutdown`s end in
// calls.log. They serialise on the state's lock, but they also share the
// machine's cores: 16 concurrent `xl help`, which take no lock and read no
// state, show how far apart the CPU alone spaces them.
// XLSIM_MEASURE_ROUNDS (default 3) hosts are measured.
func TestMeasureLock(t *testing.T) {
	if os.Getenv("XLSIM_MEASURE") == "" {
		t.Skip("a measurement: set XLSIM_MEASURE=1")
	}
	rounds := 3
	if v := os.Getenv("XLSIM_MEASURE_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	bin := t.TempDir()
	if err := Build(bin); err != nil {
		t.Fatal(err)
	}
	var listCPU, longCPU, shutCPU, spans, gaps, helps []time.Duration
	for r := 0; r < rounds; r++ {
		m := measureHost(t, bin, filepath.Join(t.TempDir(), fmt.Sprint(r)))
		listCPU = append(listCPU, m.list...)
		longCPU = append(longCPU, m.long...)
		shutCPU = append(shutCPU, m.shutdown...)
		spans = append(spans, m.spacing)
		gaps = append(gaps, m.maxGap)
		helps = append(helps, m.helpSpacing)
		t.Logf("round %d: 16 concurrent shutdowns end %.2fms apart on average (largest gap %.2fms, the last %.1fms after they started); 16 xl help %.2fms",
			r, ms(m.spacing), ms(m.maxGap), ms(m.lastEnd), ms(m.helpSpacing))
	}
	t.Logf("CPU per xl list:     median %.2fms (n=%d)", ms(median(listCPU)), len(listCPU))
	t.Logf("CPU per xl list -l:  median %.2fms (n=%d)", ms(median(longCPU)), len(longCPU))
	t.Logf("CPU per xl shutdown: median %.2fms (n=%d)", ms(median(shutCPU)), len(shutCPU))
	t.Logf("16 concurrent xl shutdown: spacing median %.2fms, largest gap median %.2fms", ms(median(spans)), ms(median(gaps)))
	t.Logf("16 concurrent xl help (no lock, no state): spacing median %.2fms", ms(median(helps)))
}

type lockMeasure struct {
	list, long, shutdown     []time.Duration // CPU of each call
	spacing, maxGap, lastEnd time.Duration   // of 16 concurrent xl shutdown
	helpSpacing              time.Duration   // of 16 concurrent xl help
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func measureHost(t *testing.T, bin, dir string) lockMeasure {
	cfgs := filepath.Join(dir, "cfg")
	sim := filepath.Join(dir, "sim")
	os.MkdirAll(cfgs, 0o755)
	env := append(os.Environ(), "XLSIM_DIR="+sim, "XLSIM_TOTAL_MEMORY=1000000")
	run := func(args ...string) (time.Duration, error) {
		cmd := exec.Command(filepath.Join(bin, "xl"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("xl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
	}
	// 60 guests as xenorder-bench makes them, all created at once.
	rng := rand.New(rand.NewPCG(1, 1^0x9e3779b97f4a7c15))
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := 0; i < 60; i++ {
		name := fmt.Sprintf("g%02d", i)
		boot := time.Duration(1000+rng.IntN(3001)) * time.Millisecond
		shutdown := time.Duration(500+rng.IntN(1501)) * time.Millisecond
		cfg := filepath.Join(cfgs, name+".cfg")
		os.WriteFile(cfg, []byte(fmt.Sprintf("name = %q\nmemory = 64\nxlsim_create_time = %q\nxlsim_shutdown_time = %q\n", name, boot, shutdown)), 0o644)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := run("create", cfg); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var m lockMeasure
	for i := 0; i < 20; i++ {
		c, err := run("list")
		if err != nil {
			t.Fatal(err)
		}
		m.list = append(m.list, c)
		c, err = run("list", "-l")
		if err != nil {
			t.Fatal(err)
		}
		m.long = append(m.long, c)
	}
	// 16 at once.
	m.spacing, m.maxGap, m.lastEnd = concurrently(t, bin, env, sim, func(i int) []string { return []string{"shutdown", fmt.Sprintf("g%02d", i)} })
	// And, for the floor that the CPU of 16 processes on this machine
	// sets, 16 that take no lock.
	m.helpSpacing, _, _ = concurrently(t, bin, env, sim, func(int) []string { return []string{"help"} })
	// Then one at a time, for the CPU (the guests take 0.5s or more to
	// go, so the host still has about 60 domains).
	for i := 16; i < 36; i++ {
		c, err := run("shutdown", fmt.Sprintf("g%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		m.shutdown = append(m.shutdown, c)
	}
	return m
}

// concurrently runs 16 xl commands at once and returns how far apart they
// ended in calls.log: on average, at most, and the last after the start.
func concurrently(t *testing.T, bin string, env []string, sim string, args func(int) []string) (spacing, maxGap, last time.Duration) {
	start := time.Now()
	cmds := make([]*exec.Cmd, 16)
	for i := range cmds {
		cmds[i] = exec.Command(filepath.Join(bin, "xl"), args(i)...)
		cmds[i].Env = env
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	pids := map[string]bool{}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
		pids[fmt.Sprint(c.Process.Pid)] = true
	}
	calls, err := ReadCalls(sim)
	if err != nil {
		t.Fatal(err)
	}
	var ends []time.Time
	for _, c := range calls {
		pid, _, _ := strings.Cut(c.ID, "-")
		if pids[pid] && c.Begin.After(start) {
			ends = append(ends, c.End)
		}
	}
	if len(ends) != 16 {
		t.Fatalf("%d of the 16 calls in calls.log", len(ends))
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < 16; i++ {
		maxGap = max(maxGap, ends[i].Sub(ends[i-1]))
	}
	return ends[15].Sub(ends[0]) / 15, maxGap, ends[15].Sub(start)
}
