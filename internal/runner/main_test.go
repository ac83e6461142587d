package runner

import (
	"flag"
	"os"
	"testing"

	"github.com/xenorder/xenorder/internal/testing/testflags"
)

// testParallel is how many of the runner's tests run at once unless
// -parallel says otherwise: they wait on fake hypervisors' short real
// delays, with little CPU, so the default, GOMAXPROCS (2 here), left the
// package at ~19 s; 8 at once take ~3 s.
const testParallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	testflags.DefaultParallel(testParallel)
	os.Exit(m.Run())
}
