package runner

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// testParallel is how many of the runner's tests run at once unless
// -parallel says otherwise: they wait on fake hypervisors' short real
// delays, with little CPU, so the default, GOMAXPROCS (2 here), left the
// package at ~19 s; 8 at once take a few seconds.
const testParallel = "8"

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", testParallel); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}
