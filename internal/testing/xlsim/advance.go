package xlsim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kinds of timed happenings, in the order they are applied when due at the
// same instant.
const (
	dueBoot = iota
	dueShutdown
	dueCrash
	dueReboot
	dueReap
)

// nextDue finds the earliest thing due at or before now, nil if none.
func (s *session) nextDue() (*Domain, int, time.Time) {
	return s.earliestDue(s.now)
}

// earliestDue finds the earliest thing due at or before until, nil if
// none.
func (s *session) earliestDue(until time.Time) (*Domain, int, time.Time) {
	var (
		best     *Domain
		bestKind int
		bestAt   time.Time
	)
	consider := func(d *Domain, kind int, at time.Time) {
		if at.IsZero() || at.After(until) {
			return
		}
		if best == nil || at.Before(bestAt) || at.Equal(bestAt) && kind < bestKind {
			best, bestKind, bestAt = d, kind, at
		}
	}
	for _, d := range s.st.Domains {
		consider(d, dueReap, d.ReapDue)
		if d.ID == 0 || d.Phase != phaseRunning || d.Paused {
			continue
		}
		consider(d, dueShutdown, d.ShutdownDue)
		if d.StubFor != 0 {
			continue // stub domains only die, with their guests or alone
		}
		if !d.Booted {
			consider(d, dueBoot, d.BootDue)
		}
		consider(d, dueCrash, d.CrashDue)
		consider(d, dueReboot, d.RebootDue)
	}
	return best, bestKind, bestAt
}

// advance applies, in time order, everything that became due since the
// state was last looked at, each at the instant it was due.
func (s *session) advance() {
	for i := 0; i < 100000; i++ {
		d, kind, at := s.nextDue()
		if d == nil {
			return
		}
		switch kind {
		case dueBoot:
			s.boot(d, at)
		case dueShutdown:
			d.ShutdownDue = time.Time{}
			s.shutdownHappens(d, at, reasonPoweroff, d.OnPoweroff, "shutdown")
		case dueCrash:
			d.CrashDue = time.Time{}
			d.CrashDone = true
			s.shutdownHappens(d, at, reasonCrash, d.OnCrash, "crashed")
		case dueReboot:
			d.RebootDue = time.Time{}
			d.RebootDone = true
			s.shutdownHappens(d, at, reasonReboot, d.OnReboot, "")
		case dueReap:
			d.ReapDue = time.Time{}
			s.removeDomain(d, at, GoneInfo{Why: "shutdown", Reason: d.ShutdownReason}, "gone")
		}
	}
}

// boot: the guest OS is up at t.
func (s *session) boot(d *Domain, t time.Time) {
	d.Booted = true
	if !d.B.NeedsACPI {
		xs := d.XS.kv()
		xs["control/feature-poweroff"] = "1"
		xs["control/feature-reboot"] = "1"
		xs["control/feature-suspend"] = "1"
	}
	for _, kv := range d.B.Xenstore {
		k, v, _ := strings.Cut(kv, "=")
		k = strings.Trim(k, "/ ")
		if k != "" {
			d.XS.kv()[k] = v
		}
	}
	s.console(d, d.B.Console...)
	s.event(d, t, "booted")
	if d.ShutdownPending {
		s.ack(d, t)
	}
}

// ack: the guest acknowledges a PV shutdown request at t and goes down
// xlsim_shutdown_time later (unless it ignores such requests).
func (s *session) ack(d *Domain, t time.Time) {
	d.ShutdownPending = false
	if d.B.IgnoreShutdown {
		return
	}
	due := t.Add(d.B.ShutdownTime)
	if d.ShutdownDue.IsZero() || due.Before(d.ShutdownDue) {
		d.ShutdownDue = due
	}
}

// canAck tells whether the guest can see and acknowledge a PV control
// request right now.
func (d *Domain) canAck() bool {
	return d.Phase == phaseRunning && d.Booted && !d.Paused
}

// shutdownHappens: the guest shuts down at t for reason; what follows is
// its configured action.
func (s *session) shutdownHappens(d *Domain, t time.Time, reason int, action, ev string) {
	if ev != "" {
		s.event(d, t, ev)
	}
	switch action {
	case "preserve":
		d.Phase = phaseShutdown
		d.ShutdownReason = reason
		d.ShutdownDue = time.Time{}
		d.syncCPU(t)
	case "restart", "rename-restart", "coredump-restart", "soft-reset":
		s.restart(d, t, reason)
	default: // destroy, coredump-destroy
		if reason == reasonReboot {
			s.event(d, t, "shutdown")
		}
		delay := s.env.MonitorDelay
		pci := len(d.PCIAttached) > 0
		if pci {
			delay += s.env.PCITeardown
		}
		if delay > 0 && reason != reasonReboot && d.StubFor == 0 {
			// As on real Xen: the domain stays listed, shut down and
			// paused (--ps--), until the monitor process xl create left
			// behind destroys it; one with passed-through devices is
			// listed ---s-- while the monitor hands them back first.
			d.Phase = phaseShutdown
			if !pci {
				d.Paused, d.PausedAt = true, t
			}
			d.ShutdownReason = reason
			d.ShutdownDue = time.Time{}
			d.ReapDue = t.Add(delay)
			d.syncCPU(t)
			if ev != "shutdown" {
				s.event(d, t, "shutdown")
			}
			return
		}
		s.removeDomain(d, t, GoneInfo{Why: "shutdown", Reason: reason}, "gone")
	}
}

// removeDomain takes d (and its stub domain) off the host at t.
func (s *session) removeDomain(d *Domain, t time.Time, why GoneInfo, ev string) {
	s.st.remove(d.ID)
	s.st.Gone[d.ID] = why
	s.event(d, t, ev)
	if d.StubID != 0 {
		if stub := s.st.byID(d.StubID); stub != nil {
			s.st.remove(stub.ID)
			s.st.Gone[stub.ID] = why
			stubEv := "gone"
			if ev == "destroyed" {
				stubEv = ev
			}
			s.event(stub, t, stubEv)
		}
		d.StubID = 0
	}
	if d.StubFor != 0 {
		if g := s.st.byID(d.StubFor); g != nil && g.StubID == d.ID {
			g.StubID = 0
		}
	}
}

// restart: the guest went down at t for reason and xl's domain monitor
// builds it again under the same name with a new domid.
func (s *session) restart(d *Domain, t time.Time, reason int) {
	old := d.ID
	s.removeDomain(d, t, GoneInfo{Why: "shutdown", Reason: reason}, "gone")
	nd := *d
	nd.ID = s.st.NextDomid
	s.st.NextDomid++
	nd.XS = xenstore{}
	nd.Paused = false
	nd.ShutdownPending = false
	nd.StubID = 0
	nd.CreatedAt = t
	nd.CPU = 0
	nd.RunSince = time.Time{}
	s.st.add(&nd)
	s.built(&nd, t)
	s.events = append(s.events, Event{T: t, Domain: nd.Name, Domid: nd.ID, Ev: "rebooted", PrevDomid: old})
	if nd.WantStub {
		stub := s.newStub(&nd, t)
		s.built(stub, t)
		s.event(stub, t, "created")
	}
	s.console(&nd, kernelBanner)
}

// kernelBanner is the first line a guest writes on its console.
const kernelBanner = "Linux version 6.1 (xlsim)"

// built: the domain's construction finished at t (xl create returns); its
// OS starts booting.
func (s *session) built(d *Domain, t time.Time) {
	d.Phase = phaseRunning
	d.BuiltAt = t
	d.ShutdownDue = time.Time{}
	if d.XS.unset() {
		d.XS = xsOf(baseXenstore(d))
	}
	if d.StubFor != 0 {
		d.Booted = true
	} else {
		d.Booted = false
		d.BootDue = t.Add(d.B.BootTime)
		d.CrashDue, d.RebootDue = time.Time{}, time.Time{}
		if d.B.CrashAfter > 0 && !d.CrashDone {
			d.CrashDue = t.Add(d.B.CrashAfter)
		}
		if d.B.RebootAfter > 0 && !d.RebootDone {
			d.RebootDue = t.Add(d.B.RebootAfter)
		}
	}
	d.syncCPU(t)
}

// newStub adds the stub domain of guest g, being built.
func (s *session) newStub(g *Domain, t time.Time) *Domain {
	stub := &Domain{
		ID: s.st.NextDomid, Name: g.Name + "-dm", UUID: newUUID(), Type: "pv",
		MemMiB: g.StubMemMiB, MaxMemMiB: g.StubMemMiB, VCPUs: 1, MaxVCPUs: 1,
		OnPoweroff: "destroy", OnReboot: "destroy", OnWatchdog: "destroy", OnCrash: "destroy", OnSoftReset: "destroy",
		B:       Behaviour{ShutdownTime: g.B.ShutdownTime},
		StubFor: g.ID, Phase: phaseBuilding, CreatedAt: t,
	}
	s.st.NextDomid++
	stub.XS = xsOf(baseXenstore(stub))
	stub.XS.kv()["target"] = fmt.Sprint(g.ID)
	g.StubID = stub.ID
	if !g.XS.unset() {
		g.XS.kv()["image/device-model-domid"] = fmt.Sprint(stub.ID)
	}
	s.st.add(stub)
	return stub
}

// baseXenstore is what libxl writes under /local/domain/<id> when it
// builds a domain.
func baseXenstore(d *Domain) map[string]string {
	xs := map[string]string{
		"vm":                "/vm/" + d.UUID,
		"name":              d.Name,
		"domid":             fmt.Sprint(d.ID),
		"memory/static-max": fmt.Sprint(d.MaxMemMiB * 1024),
		"memory/target":     fmt.Sprint(d.MemMiB * 1024),
		"memory/videoram":   "0",
		"control/shutdown":  "",
		"control/platform-feature-multiprocessor-suspend": "1",
		"control/platform-feature-xs_reset_watches":       "1",
		"device/suspend/event-channel":                    "",
		"data":                                            "",
		"drivers":                                         "",
		"feature":                                         "",
		"attr":                                            "",
		"error":                                           "",
		"store/port":                                      "1",
		"console/backend":                                 fmt.Sprintf("/local/domain/0/backend/console/%d/0", d.ID),
		"console/backend-id":                              "0",
		"console/limit":                                   "1048576",
		"console/type":                                    "xenconsoled",
		"console/output":                                  "pty",
	}
	for i := 0; i < d.VCPUs; i++ {
		xs[fmt.Sprintf("cpu/%d/availability", i)] = "online"
	}
	if d.StubID != 0 {
		xs["image/device-model-domid"] = fmt.Sprint(d.StubID)
	}
	return xs
}

// console appends lines to the guest's console log.
func (s *session) console(d *Domain, lines ...string) {
	if len(lines) == 0 || d.StubFor != 0 {
		return
	}
	dir := s.env.ConsoleDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, "guest-"+d.Name+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(strings.Join(lines, "\n") + "\n")
}
