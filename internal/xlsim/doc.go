// Package xlsim simulates the `xl` toolstack of Xen 4.17 (and
// `xenstore-read`) for tests: the same output, messages and exit codes as
// the real commands (testdata/xl-samples), on a simulated host whose state
// lives in a directory. cmd/xlsim is the binary; tests install it as `xl`
// and `xenstore-read` (see Build).
//
// There is no daemon: every invocation takes an exclusive flock on
// $XLSIM_DIR/lock, brings the state up to the present (booting, shutting
// down, crashing or rebooting guests whose moment has come, each at the
// instant it was due), does its command and writes the state back
// (state.json, through a temporary file and a rename). The lock is never
// held while sleeping.
//
// Environment:
//
//	XLSIM_DIR           the state directory (required; created if missing)
//	XLSIM_CONSOLE_DIR   where guest-<name>.log console logs go ($XLSIM_DIR/console)
//	XLSIM_ACK_TIMEOUT   how long xl shutdown waits for a guest to acknowledge (1s)
//	XLSIM_TOTAL_MEMORY  the host's memory in MiB for xl info and create (3071)
//
// Files in $XLSIM_DIR besides state.json and lock:
//
//	calls.log   one JSON line when each invocation begins and one when it ends:
//	            {"ev":"begin","id":"<pid>-<n>","t":"<RFC3339Nano>","prog":"xl","args":[...]}
//	            {"ev":"end","id":"<pid>-<n>","t":"<RFC3339Nano>","rc":0}
//	events.log  one JSON line per thing that happened to a domain, at the
//	            (logical) time it happened: {"t":...,"domain":"web","domid":7,"ev":"booted"}
//	            ("rebooted" also has "prev_domid"; "migrated", logged when
//	            xl migrate succeeds, has "host": where the guest went)
//	faults      fault injection, one word a line (FaultList*)
//	unreachable-hosts
//	            hosts xl migrate cannot reach, one a line ("#" starts a
//	            comment): migrating to one fails as when ssh cannot resolve
//	            the name, and the guest keeps running here
//
// Guests behave as their xl config files ask with simulator-only keys
// (real xl ignores unknown keys); see guestFromConfig for the list.
package xlsim
