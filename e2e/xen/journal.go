//go:build xene2e

package xen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// jentry is one journal entry: its time since boot and its text fields.
type jentry struct {
	Mono float64 // seconds since boot (CLOCK_MONOTONIC, as /proc/uptime in a VM that never suspends)
	Real time.Time
	F    map[string]string
}

func (e jentry) Msg() string { return e.F["MESSAGE"] }

// readJournal reads every entry of the journal files in dir (dom0's
// /var/log/journal, copied out of its disk image) with the host's
// journalctl.
func readJournal(ctx context.Context, dir string) ([]jentry, error) {
	// The files are in dir/<machine-id>/.
	ids, _ := filepath.Glob(filepath.Join(dir, "*", "system.journal"))
	if len(ids) == 0 {
		return nil, fmt.Errorf("no journal in %s (is it persistent: /var/log/journal in dom0?)", dir)
	}
	cmd := exec.CommandContext(ctx, "journalctl", "-D", filepath.Dir(ids[0]), "-o", "json", "--no-pager", "--all")
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("journalctl -D %s: %v: %s", filepath.Dir(ids[0]), err, errb.String())
	}
	return parseJournal(out.Bytes())
}

// parseJournal parses journalctl -o json: one object per line; fields
// that are not valid text come as arrays of bytes and are left out.
func parseJournal(b []byte) ([]jentry, error) {
	var es []jentry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("journal entry %.100q: %v", sc.Text(), err)
		}
		e := jentry{F: map[string]string{}}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e.F[k] = s
			}
		}
		if us, err := strconv.ParseInt(e.F["__MONOTONIC_TIMESTAMP"], 10, 64); err == nil {
			e.Mono = float64(us) / 1e6
		}
		if us, err := strconv.ParseInt(e.F["__REALTIME_TIMESTAMP"], 10, 64); err == nil {
			e.Real = time.UnixMicro(us)
		}
		es = append(es, e)
	}
	return es, sc.Err()
}

// unitMsg finds the first entry systemd (PID 1) logged about unit whose
// message starts with prefix ("Starting", "Started", "Stopping",
// "Stopped", "Reached target", ...), at or after from (seconds since
// boot).
func unitMsg(es []jentry, unit, prefix string, from float64) (jentry, bool) {
	for _, e := range es {
		if e.Mono < from || e.F["_PID"] != "1" || e.F["UNIT"] != unit {
			continue
		}
		if strings.HasPrefix(e.Msg(), prefix) {
			return e, true
		}
	}
	return jentry{}, false
}

// unitLines are systemd's (PID 1) messages about unit, from on.
func unitLines(es []jentry, unit string, from float64) []jentry {
	var out []jentry
	for _, e := range es {
		if e.Mono >= from && e.F["_PID"] == "1" && e.F["UNIT"] == unit {
			out = append(out, e)
		}
	}
	return out
}

// xenorderEvents are xenorder's own entries (those about a guest) between
// from and to (seconds since boot), as the event lines it prints elsewhere
// ("15:04:05 NAME: what").
func xenorderEvents(es []jentry, from, to float64) (text string, evs []event) {
	var b strings.Builder
	for _, e := range es {
		if e.Mono < from || e.Mono > to || e.F["SYSLOG_IDENTIFIER"] != "xenorder" || e.F["GUEST"] == "" {
			continue
		}
		b.WriteString(e.Real.UTC().Format("15:04:05") + " " + e.Msg() + "\n")
	}
	return b.String(), parseEvents(b.String())
}
