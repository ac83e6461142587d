package xl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRun measures what xl calls cost xenorder itself: the wall time
// and this process's CPU per call (getrusage RUSAGE_SELF: the children's
// CPU is not counted) of Client.Run, with a stand-in xl that prints a
// 60-domain `xl list`: one call at a time of a stand-in that exits at once
// (/bin/cat), and 8 at once of one that takes 50 ms (as xenorder's calls
// overlap while guests start and stop). `make bench` runs it.
func BenchmarkRun(b *testing.B) {
	dir := b.TempDir()
	list := []byte("Name                                        ID   Mem VCPUs\tState\tTime(s)\n" +
		"Domain-0                                     0  1024     2     r-----     123.4\n")
	for i := range 60 {
		list = fmt.Appendf(list, "g%02d%41d    64     1     -b----       1.2\n", i, i+1)
	}
	arg := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(arg, list, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink("/bin/cat", filepath.Join(dir, "xl")); err != nil {
		b.Fatal(err)
	}
	slow := filepath.Join(dir, "slow-xl")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nsleep 0.05\nexec cat \"$1\"\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	for _, bc := range []struct {
		name    string
		path    string
		callers int
	}{{"serial", "", 1}, {"8-at-once-50ms", slow, 8}} {
		b.Run(bc.name, func(b *testing.B) {
			c := &Client{Path: bc.path}
			ctx := context.Background()
			var mu sync.Mutex
			todo := b.N
			before := cpuTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range bc.callers {
				wg.Go(func() {
					for {
						mu.Lock()
						if todo == 0 {
							mu.Unlock()
							return
						}
						todo--
						mu.Unlock()
						out, err := c.Run(ctx, time.Minute, arg)
						if err != nil || len(out) != len(list) {
							b.Errorf("got %d bytes, %v", len(out), err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is this process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
