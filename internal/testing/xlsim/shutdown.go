package xlsim

import (
	"fmt"
	"time"
)

// pollInterval is how often waiting commands look at the state again.
const pollInterval = 50 * time.Millisecond

// cmdShutdown is `xl shutdown [-w] [-F] DOMAIN` (tools/xl/xl_vmcontrol.c:
// main_shutdown_or_reboot, shutdown_domain, wait_for_domain_deaths). Like
// xl, it acts on the first domain named only.
func (e *Env) cmdShutdown(args []string) int {
	opts, operands, rc := e.getopt("shutdown", args, "awF", map[string]rune{"all": 'a', "wait": 'w'}, 0)
	if rc >= 0 {
		return rc
	}
	var all, wait, fallback bool
	for _, o := range opts {
		switch o.c {
		case 'a':
			all = true
		case 'w':
			wait = true
		case 'F':
			fallback = true
		}
	}
	if len(operands) == 0 && !all {
		fmt.Fprintf(e.Stderr, "You must specify -a or a domain id.\n\n")
		return 1
	}
	if all {
		return e.shutdownAll(wait, fallback)
	}

	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	id, ok := s.resolve(operands[0])
	if !ok {
		s.commit()
		return e.errInvalidDomain(operands[0])
	}
	rc = e.shutdownOne(s, id, fallback)
	if rc != 0 {
		return rc
	}
	if wait {
		fmt.Fprintf(e.Stderr, "Waiting for 1 domains\n")
		e.waitDeaths([]int{id})
	}
	return 0
}

// shutdownAll is `xl shutdown -a`: every guest but Domain-0 (and stub
// domains, which go with their guests).
func (e *Env) shutdownAll(wait, fallback bool) int {
	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	var ids []int
	for _, d := range s.st.Domains {
		if d.ID != 0 && d.StubFor == 0 {
			ids = append(ids, d.ID)
		}
	}
	s.commit()
	for _, id := range ids {
		s, err := e.begin()
		if err != nil {
			return e.fatal(err)
		}
		if rc := e.shutdownOne(s, id, fallback); rc != 0 {
			return rc
		}
	}
	if wait {
		fmt.Fprintf(e.Stderr, "Waiting for %d domains\n", len(ids))
		e.waitDeaths(ids)
	}
	return 0
}

// shutdownOne asks domain id to shut down; it consumes the session s. Like
// libxl_domain_shutdown it waits (unlocked) for the guest to acknowledge
// the request, up to the ack timeout.
func (e *Env) shutdownOne(s *session, id int, fallback bool) int {
	fmt.Fprintf(e.Stderr, "Shutting down domain %d\n", id)
	d := s.st.byID(id)
	if d == nil {
		s.commit()
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_dom.c:37:libxl__domain_type: unable to get domain type for domid=%d\n", id)
		fmt.Fprintf(e.Stderr, "shutdown failed (rc=-3)\n")
		return 1
	}
	if d.B.NeedsACPI {
		if !fallback {
			s.commit()
			fmt.Fprintf(e.Stderr, "PV control interface not available: external graceful shutdown not possible.\n")
			fmt.Fprintf(e.Stderr, "Use \"-F\" to fallback to ACPI power event.\n")
			fmt.Fprintf(e.Stderr, "shutdown failed (rc=-10)\n")
			return 1
		}
		fmt.Fprintf(e.Stderr, "PV control interface not available: sending ACPI power button event.\n")
		// The power button: the guest reacts once it runs.
		s.event(d, s.now, "shutdown-requested")
		if d.Phase == phaseRunning && !d.B.IgnoreShutdown {
			at := s.now
			if !d.Booted && d.BootDue.After(at) {
				at = d.BootDue
			}
			due := at.Add(d.B.ShutdownTime)
			if d.ShutdownDue.IsZero() || due.Before(d.ShutdownDue) {
				d.ShutdownDue = due
			}
		}
		if err := s.commit(); err != nil {
			return e.fatal(err)
		}
		return 0
	}

	s.event(d, s.now, "shutdown-requested")
	if d.canAck() {
		s.ack(d, s.now)
		if err := s.commit(); err != nil {
			return e.fatal(err)
		}
		return 0
	}
	// The request sits in xenstore until the guest sees it.
	d.ShutdownPending = true
	deadline := s.now.Add(e.AckTimeout)
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}
	for {
		time.Sleep(min(pollInterval, max(time.Until(deadline), time.Millisecond)))
		s, err := e.view()
		if err != nil {
			return e.fatal(err)
		}
		d := s.st.byID(id)
		acked := d == nil || !d.ShutdownPending
		timedOut := !s.now.Before(deadline)
		s.commit()
		if acked {
			return 0
		}
		if timedOut {
			fmt.Fprintf(e.Stderr, "libxl: error: libxl_domain.c:854:pvcontrol_cb: guest didn't acknowledge control request: -9\n")
			fmt.Fprintf(e.Stderr, "shutdown failed (rc=-9)\n")
			return 1
		}
	}
}

// waitDeaths polls until each domain has shut down or gone, printing what
// xl's wait_for_domain_deaths prints.
func (e *Env) waitDeaths(ids []int) {
	left := append([]int(nil), ids...)
	for len(left) > 0 {
		s, err := e.view()
		if err != nil {
			time.Sleep(pollInterval)
			continue
		}
		var still []int
		for _, id := range left {
			d := s.st.byID(id)
			switch {
			case d != nil && (d.Phase == phaseShutdown || d.Phase == phaseSuspended):
				fmt.Fprintf(e.Stderr, "Domain %d has been shut down, reason code %d\n", id, d.ShutdownReason)
			case d != nil:
				still = append(still, id)
			default:
				g := s.st.Gone[id]
				if g.Why == "shutdown" {
					fmt.Fprintf(e.Stderr, "Domain %d has been shut down, reason code %d\n", id, g.Reason)
				} else {
					fmt.Fprintf(e.Stderr, "Domain %d has been destroyed\n", id)
				}
			}
		}
		s.commit()
		left = still
		if len(left) > 0 {
			time.Sleep(pollInterval)
		}
	}
}
