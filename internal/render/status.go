package render

// The text renderer of `xenorder status`: a table of the declared guests,
// what another xenorder is doing, the probes that failed, the save images
// and the domains the config does not name.

import (
	"fmt"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/runner"
)

// Colour is an ANSI colour for a state word; "" for none.
func Colour(state string) string {
	switch state {
	case "running", "blocked", "runnable", "ready":
		return "\x1b[32m"
	case "crashed", "shutdown", "not ready":
		return "\x1b[31m"
	case "paused", "dying", "drained", "starting", "stopping":
		return "\x1b[33m"
	}
	return ""
}

// StatusText renders the report as a table; colour adds ANSI colours (a
// terminal only).
func StatusText(s *runner.StatusReport, colour bool) string {
	t := &statusTable{s: s, colour: colour, width: 10}
	for _, g := range append(append([]runner.GuestStatus{}, s.Guests...), s.Others...) {
		t.width = max(t.width, len(show(g.Name)))
	}
	t.row("GUEST", "STATE", "READY", "DOMID", "UPTIME", "MEM", "START", "DEPENDS ON")
	var notes []string
	for _, g := range s.Guests {
		if g.Probe != "" {
			notes = append(notes, fmt.Sprintf("  %s: %s", show(g.Name), show(g.Probe)))
		}
		t.guest(g)
	}
	t.progress()
	if len(notes) > 0 {
		t.b.WriteString("\nnot ready:\n" + strings.Join(notes, "\n") + "\n")
	}
	if s.DrainsUnknown != "" {
		t.b.WriteString("\nDRAINED: UNKNOWN: " + s.DrainsUnknown + "\n")
	}
	t.saveImages()
	t.others()
	return t.b.String()
}

// statusTable is StatusText's output under way: the report, and the width
// of its name column.
type statusTable struct {
	s      *runner.StatusReport
	b      strings.Builder
	width  int
	colour bool
}

// row writes one line of the table.
func (t *statusTable) row(name, state, ready, domid, uptime, mem, last, deps string) {
	name, deps = show(name), show(deps) // from xl list too: never raw
	st := fmt.Sprintf("%-9s", state)
	if c := Colour(state); t.colour && c != "" {
		st = c + st + "\x1b[0m"
	}
	fmt.Fprintf(&t.b, "%-*s  %s %-5s %5s %9s %7s %7s  %s", t.width, name, st, ready, domid, uptime, mem, last, deps)
	trimLine(&t.b)
}

// guest writes a declared guest's row.
func (t *statusTable) guest(g runner.GuestStatus) {
	domid, mem, uptime, last, ready := "-", "-", "-", "-", "-"
	if g.DomID >= 0 {
		domid, mem = fmt.Sprint(g.DomID), fmt.Sprintf("%dM", g.MemoryMiB)
	}
	if g.UpSince != nil {
		uptime = shortDuration(t.s.Now.Sub(*g.UpSince))
	}
	if g.LastStartMS != nil {
		last = fmt.Sprintf("%.1fs", float64(*g.LastStartMS)/1000)
	}
	if g.Ready != nil {
		ready = map[bool]string{true: "yes", false: "NO"}[*g.Ready]
	}
	state := g.State
	if g.DrainedSince != nil && !runner.Up(state) {
		state = "drained"
	}
	if g.Progress != nil {
		state = g.Progress.Action
	}
	t.row(g.Name, state, ready, domid, uptime, mem, last, t.dependsOn(g, state))
}

// dependsOn is a declared guest's last column: its dependencies, then in
// brackets what else there is to know of it.
func (t *statusTable) dependsOn(g runner.GuestStatus, state string) string {
	deps := strings.Join(g.DependsOn, ", ")
	if len(g.After) > 0 {
		deps = strings.TrimPrefix(deps+", after "+strings.Join(g.After, ", "), ", ")
	}
	var tags []string
	if g.Kind == "external" {
		tags = append(tags, "external")
	} else if !g.Autostart {
		tags = append(tags, "autostart off")
	}
	if g.DrainedSince != nil {
		tags = append(tags, "drained since "+g.DrainedSince.Local().Format("2006-01-02 15:04"))
	} else if t.s.DrainsUnknown != "" && g.Kind != "external" && !runner.Up(state) {
		tags = append(tags, "drained: unknown")
	}
	if len(tags) > 0 {
		deps = strings.TrimSpace(deps + "  (" + strings.Join(tags, "; ") + ")")
	}
	return deps
}

// saveImages lists the images in the save folder, the kept-aside ones too.
func (t *statusTable) saveImages() {
	if len(t.s.SaveImages) == 0 {
		return
	}
	t.b.WriteString("\nsave images (xenorder deletes one only after a restore from it succeeded):\n")
	for _, k := range t.s.SaveImages {
		fmt.Fprintf(&t.b, "  %-*s  %-19s %8s  %7s old  %s\n", t.width, show(k.Guest), k.Kind, fmt.Sprintf("%dM", (k.Bytes+1<<20-1)>>20), shortDuration(t.s.Now.Sub(k.Time)), show(k.Path))
	}
}

// others lists the running domains the config does not name.
func (t *statusTable) others() {
	if len(t.s.Others) == 0 {
		return
	}
	t.b.WriteString("\nnot in the config:\n")
	for _, g := range t.s.Others {
		note := ""
		switch g.Kind {
		case "dom0":
			note = "dom0"
		case "stub":
			note = "device model of " + g.StubOf
		default:
			note = "undeclared: stopped first by a bare stop"
		}
		state := g.State
		if g.Progress != nil {
			state = g.Progress.Action
		}
		t.row(g.Name, state, "-", fmt.Sprint(g.DomID), "-", fmt.Sprintf("%dM", g.MemoryMiB), "-", note)
	}
}

// progress says what another xenorder's start or stop does:
//
//	in progress: pid 4242 (xenorder stop), since 15:04:05, 3 of 9 guests done
//	  db          stopping  waiting for shutdown: 12s used, 2m48s left of grace 3m0s
//	  queued: fileserver, opnsense
func (t *statusTable) progress() {
	s, b, width := t.s, &t.b, t.width
	ip := s.InProgress
	if ip == nil {
		return
	}
	fmt.Fprintf(b, "\nin progress: pid %d (%s), since %s, %d of %d guests done\n", ip.PID, show(ip.Command), ip.Began.Local().Format("15:04:05"), ip.Done, ip.Total)
	for _, g := range append(append([]runner.GuestStatus{}, s.Guests...), s.Others...) {
		p := g.Progress
		if p == nil {
			continue
		}
		times := clock(time.Duration(p.UsedMS)*time.Millisecond) + " so far"
		if p.LeftMS != nil {
			times = fmt.Sprintf("%s used, %s left of %s", clock(time.Duration(p.UsedMS)*time.Millisecond), clock(time.Duration(*p.LeftMS)*time.Millisecond), p.Limit)
		}
		fmt.Fprintf(b, "  %-*s  %-8s  %s: %s\n", width, show(g.Name), p.Action, show(p.Doing), times)
	}
	if len(ip.Queued) > 0 {
		q := make([]string, len(ip.Queued))
		for i, n := range ip.Queued {
			q[i] = show(n)
		}
		fmt.Fprintf(b, "  queued: %s\n", strings.Join(q, ", "))
	}
}

// clock renders a time used or left to the second: 12s, 2m48s, 1h02m.
func clock(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// shortDuration renders an uptime or an image's age: 12s, 5m, 3h07m, 4d.
// A wall clock set back since the time it counts from makes it negative:
// "0s", the age being unknown.
func shortDuration(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
