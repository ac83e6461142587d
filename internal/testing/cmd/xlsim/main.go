// Command xlsim simulates Xen 4.17's `xl` command line (and
// `xenstore-read`, `xenstore-watch` and a read-only `xenstored` serving
// the xenstore wire protocol on a unix socket) for tests and demos.
// Install it as `xl` (and as `xenstore-read`, `xenstore-watch`,
// `xenstored`) on PATH, or run `xlsim xenstored`, and point $XLSIM_DIR at
// a state directory; see package internal/testing/xlsim.
package main

import (
	"os"

	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

func main() {
	os.Exit(xlsim.Main(os.Args, os.Stdout, os.Stderr))
}
