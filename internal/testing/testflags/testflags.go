// Package testflags holds what several packages' TestMain share.
package testflags

import (
	"flag"
	"fmt"
	"os"
)

// DefaultParallel sets go test's -parallel to n unless the command line set
// it, for a package whose tests wait on real time with little CPU (the
// default, GOMAXPROCS, is 2 on a 2-core machine). Call it from TestMain
// after flag.Parse.
func DefaultParallel(n int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if set {
		return
	}
	if err := flag.Set("test.parallel", fmt.Sprint(n)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
