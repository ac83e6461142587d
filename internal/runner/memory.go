package runner

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/xenorder/xenorder/internal/config"
)

// memGate admits creates by memory: a guest is created only when `xl info`'s
// free_memory, minus what the creates under way will take, has room for it
// and its stub domain. Otherwise it waits (a create finishing, a guest
// going) instead of failing with xl's "failed to free memory for the
// domain"; one that can never fit fails at once.
type memGate struct {
	mu       sync.Mutex
	reserved int64         // MiB taken by creates under way
	changed  chan struct{} // closed when reserved drops
	mode     string        // "admit", or why admission stands aside
	decided  bool
}

var dom0MemRE = regexp.MustCompile(`(^|\s)dom0_mem=`)

// ballooning reads xl.conf's autoballoon ("auto" unless set) and decides
// whether xl balloons dom0 down to make room: then free_memory reads near
// zero and means nothing, and admission stands aside.
func ballooning(xlConf, xenCmdline string) (bool, string) {
	mode := "auto"
	if f, err := os.Open(xlConf); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "autoballoon" {
				v = strings.Trim(strings.TrimSpace(strings.SplitN(v, "#", 2)[0]), `"'`)
				mode = v
			}
		}
		f.Close()
	}
	switch mode {
	case "off", "0":
		return false, "autoballoon=off in " + xlConf
	case "on", "1":
		return true, "autoballoon=on in " + xlConf
	}
	if dom0MemRE.MatchString(xenCmdline) {
		return false, "autoballoon=auto and Xen's command line sets dom0_mem="
	}
	return true, "autoballoon=auto without dom0_mem= on Xen's command line"
}

// admit waits until g fits, reserves its memory and returns the release.
func (r *Runner) admit(ctx context.Context, g *config.Guest, deadline time.Time) (func(), error) {
	need := int64(g.MemoryMiB + g.StubMemoryMiB)
	nothing := func() {}
	if need <= 0 || !r.Config.Defaults.MemoryAdmission || r.mem == nil {
		return nothing, nil
	}
	gate := r.mem
	info, err := r.HV.Info(ctx)
	if err != nil {
		// Admission is a help, not a gate keeper: without xl info, create
		// as before and let xl say what it says.
		r.emit(g.Name, -1, err, "cannot read xl info; creating without the memory check")
		return nothing, nil
	}
	gate.mu.Lock()
	if !gate.decided {
		gate.decided = true
		if b, why := ballooning(r.Config.Defaults.XLConf, info.XenCommandline); b {
			gate.mode = why + ": xl balloons dom0 down to make room, so free memory means nothing; not checking"
		} else {
			gate.mode = "admit"
		}
	}
	if gate.mode != "admit" {
		gate.mu.Unlock()
		return nothing, nil
	}
	gate.mu.Unlock()
	said := false
	for {
		gate.mu.Lock()
		room := info.FreeMemoryMiB - gate.reserved
		if need <= room {
			gate.reserved += need
			gate.mu.Unlock()
			return func() {
				gate.mu.Lock()
				gate.reserved -= need
				if gate.changed != nil {
					close(gate.changed)
					gate.changed = nil
				}
				gate.mu.Unlock()
			}, nil
		}
		// Nothing frees memory during a start: once no create is under way,
		// a guest that does not fit never will.
		if need > info.FreeMemoryMiB+gate.reserved {
			gate.mu.Unlock()
			return nil, fmt.Errorf("needs %d MiB (memory %d%s) but the host has %d MiB free of %d (xl info): it cannot fit; "+
				"stop another guest or lower its memory", need, g.MemoryMiB, stubNote(g), info.FreeMemoryMiB, info.TotalMemoryMiB)
		}
		if gate.changed == nil {
			gate.changed = make(chan struct{})
		}
		ch, reserved := gate.changed, gate.reserved
		gate.mu.Unlock()
		if !said {
			r.emit(g.Name, -1, nil, "waiting for memory: needs %d MiB; %d MiB free, %d MiB of it for creates under way", need, info.FreeMemoryMiB, reserved)
			r.status("waiting for memory for %s (%d MiB)", g.Name, need)
			said = true
		}
		t := time.NewTimer(min(r.interval(), time.Until(deadline)+time.Millisecond))
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("not enough memory within start_timeout %s: needs %d MiB, %d MiB free", g.StartTimeout, need, info.FreeMemoryMiB)
		}
		if info, err = r.HV.Info(ctx); err != nil {
			return nothing, nil
		}
	}
}

func stubNote(g *config.Guest) string {
	if g.StubMemoryMiB > 0 {
		return fmt.Sprintf(" + its stub domain's %d", g.StubMemoryMiB)
	}
	return ""
}
