package xl

import (
	"flag"
	"fmt"
	"os"
)

// testParallel is how many of these tests run at once unless -parallel
// says otherwise: most wait on a fake xl's sleeps and signals (real time,
// little CPU); one at a time, GOMAXPROCS (2 here), they took ~12 s.
const testParallel = "8"

// setParallel sets -parallel to testParallel unless the command line set it.
func setParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", testParallel); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
