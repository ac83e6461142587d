package runner

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address nothing listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func listenLater(t *testing.T, addr string, after time.Duration) <-chan time.Time {
	t.Helper()
	opened := make(chan time.Time, 1)
	timer := time.AfterFunc(after, func() {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		opened <- time.Now()
		t.Cleanup(func() { l.Close() })
	})
	t.Cleanup(func() { timer.Stop() })
	return opened
}

func TestDependentWaitsForProbe(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	src := fmt.Sprintf(`
[guest.fw]
[[guest.fw.ready]]
tcp = %q
interval = "20ms"
[guest.web]
depends_on = ["fw"]
`, addr)
	hv := newFake()
	r, c := newRunner(t, src, hv)
	opened := listenLater(t, addr, 200*time.Millisecond)
	res := start(t, r)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	at := <-opened
	web, _ := hv.first("create", "web")
	if !web.begin.After(at) {
		t.Errorf("web created at %v, before fw's probe could pass (%v)", web.begin, at)
	}
	if !slices.ContainsFunc(c.lines(), func(l string) bool { return strings.HasPrefix(l, "fw: tcp "+addr+" passed after ") }) {
		t.Errorf("events %v", c.lines())
	}
}

func TestProbeTimeoutNamesProbeAndLastFailure(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	src := fmt.Sprintf(`
[guest.fs]
start_timeout = "300ms"
[[guest.fs.ready]]
tcp = %q
interval = "20ms"
[guest.web]
depends_on = ["fs"]
`, addr)
	hv := newFake()
	r, c := newRunner(t, src, hv)
	r.ProgressEvery = 100 * time.Millisecond
	res := start(t, r)
	fs := res.Outcomes[0]
	msg := fs.Err.Error()
	want := "start fs: not ready after 300ms: tcp " + addr + ": connection refused ("
	if !strings.HasPrefix(msg, want) || !strings.HasSuffix(msg, " attempts)") {
		t.Errorf("error %q, want prefix %q", msg, want)
	}
	if got := statusOf(res); got["web"] != Skipped {
		t.Errorf("statuses %v", got)
	}
	waiting := 0
	for _, l := range c.lines() {
		if strings.HasPrefix(l, "fs: waiting for tcp "+addr+": connection refused (") {
			waiting++
		}
	}
	// 300ms of waiting with a line every 100ms: a few lines, not one per attempt (15).
	if waiting < 1 || waiting > 3 {
		t.Errorf("%d waiting lines: %v", waiting, c.lines())
	}
}

func TestAttemptTimeoutBoundsEachAttempt(t *testing.T) {
	t.Parallel()
	src := `
[guest.slow]
start_timeout = "700ms"
[[guest.slow.ready]]
exec = ["sleep", "5"]
attempt_timeout = "100ms"
interval = "10ms"
`
	r, _ := newRunner(t, src, newFake())
	began := time.Now()
	res := start(t, r)
	took := time.Since(began)
	err := res.Outcomes[0].Err
	if err == nil || !strings.Contains(err.Error(), "exec sleep 5: timed out") {
		t.Fatalf("err %v", err)
	}
	var attempts int
	fmt.Sscanf(err.Error()[strings.LastIndex(err.Error(), "(")+1:], "%d", &attempts)
	if attempts < 2 {
		t.Errorf("%d attempts in 700ms with a 100ms attempt timeout: attempts are not bounded", attempts)
	}
	if took > 3*time.Second {
		t.Errorf("took %s", took)
	}
}

// laterHV changes one domain a while after its create returned: a crash,
// a reboot.
type laterHV struct {
	*fakeHV
	name   string
	after  time.Duration
	change func(f *fakeHV)
}

func (l *laterHV) Create(ctx context.Context, cfg string, started func()) error {
	err := l.fakeHV.Create(ctx, cfg, started)
	if nameOf(cfg) == l.name {
		time.AfterFunc(l.after, func() {
			l.mu.Lock()
			l.change(l.fakeHV)
			l.mu.Unlock()
		})
	}
	return err
}

// crash: the domain crashed, preserved (---sc-).
func crash(name string) func(f *fakeHV) {
	return func(f *fakeHV) { f.doms[name].state = "---sc-" }
}

// reboot: the domain is back under a new domid.
func reboot(name string) func(f *fakeHV) {
	return func(f *fakeHV) {
		f.doms[name] = &fakeDom{id: f.nextID, state: "-b----"}
		f.nextID++
	}
}

func TestCrashDuringProbeFailsAtOnce(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	src := fmt.Sprintf(`
[guest.fs]
start_timeout = "1m"
[[guest.fs.ready]]
tcp = %q
interval = "20ms"
`, addr)
	hv := newFake()
	r, _ := newRunner(t, src, &laterHV{fakeHV: hv, name: "fs", after: 100 * time.Millisecond, change: crash("fs")})
	began := time.Now()
	res := start(t, r)
	err := res.Outcomes[0].Err
	if err == nil || !strings.Contains(err.Error(), "start fs: domain crashed while starting (domid 1, state ---sc-)") {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("crash noticed after %s, not at once", took)
	}
}

func TestRebootWhileBootingIsFollowed(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	src := fmt.Sprintf(`
[guest.appliance]
[[guest.appliance.ready]]
tcp = %q
interval = "20ms"
`, addr)
	hv := newFake()
	r, c := newRunner(t, src, &laterHV{fakeHV: hv, name: "appliance", after: 80 * time.Millisecond, change: reboot("appliance")})
	listenLater(t, addr, 250*time.Millisecond)
	res := start(t, r)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	if o := res.Outcomes[0]; o.DomID != 2 {
		t.Errorf("ready under domid %d, want the new 2", o.DomID)
	}
	if !slices.Contains(c.lines(), "appliance: rebooted: now domid 2") {
		t.Errorf("events %v", c.lines())
	}
}

func TestAlreadyRunningIsProbedWithoutConsoleAndDelay(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	src := fmt.Sprintf(`
[guest.fs]
[[guest.fs.ready]]
delay = "1h"
[[guest.fs.ready]]
console = "never printed"
[[guest.fs.ready]]
tcp = %q
interval = "20ms"
`, addr)
	hv := newFake()
	hv.add("fs", "-b----")
	r, c := newRunner(t, src, hv)
	opened := listenLater(t, addr, 150*time.Millisecond)
	res := start(t, r)
	if !res.OK() || res.Outcomes[0].Status != AlreadyDone {
		t.Fatal(summary(res))
	}
	if time.Now().Before(<-opened) {
		t.Error("ready before its tcp probe could pass")
	}
	if len(hv.callsOf("create")) != 0 {
		t.Error("a running guest was created")
	}
	for _, l := range c.lines() {
		if strings.Contains(l, "delay") || strings.Contains(l, "console") {
			t.Errorf("create-only probe used for a running guest: %s", l)
		}
	}
}

func TestExternalNodeIsWaitedForNeverTouched(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	src := fmt.Sprintf(`
[external.nas]
[[external.nas.ready]]
tcp = %q
interval = "20ms"
[guest.web]
depends_on = ["nas"]
`, addr)
	hv := newFake()
	r, c := newRunner(t, src, hv)
	opened := listenLater(t, addr, 150*time.Millisecond)
	plan, err := r.PlanStart(t.Context(), nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := stepOf(plan, "nas"); s.Action != "wait for probes" {
		t.Errorf("plan:\n%s", planText(plan))
	}
	res := r.Start(t.Context(), plan)
	if !res.OK() {
		t.Fatal(summary(res))
	}
	web, _ := hv.first("create", "web")
	if !web.begin.After(<-opened) {
		t.Error("web created before nas was reachable")
	}
	if _, ok := hv.first("create", "nas"); ok {
		t.Error("an external node was created")
	}
	if !slices.ContainsFunc(c.lines(), func(l string) bool { return strings.HasPrefix(l, "nas: ready after ") }) {
		t.Errorf("events %v", c.lines())
	}
	stop(t, r)
	for _, op := range []string{"shutdown", "destroy"} {
		if _, ok := hv.first(op, "nas"); ok {
			t.Errorf("external node got %s", op)
		}
	}
	if _, err := r.PlanStop(t.Context(), []string{"nas"}, StopOptions{}); err == nil || !strings.Contains(err.Error(), "nas is an external node") {
		t.Errorf("stop nas: %v", err)
	}
	rep, err := r.Status(t.Context(), StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Guests[0].Name != "nas" || rep.Guests[0].Kind != "external" || rep.Guests[0].State != "ready" {
		t.Errorf("status %+v", rep.Guests[0])
	}
}

func TestListCallsDoNotGrowWithProbedGuests(t *testing.T) {
	t.Parallel()
	calls := map[int]int{}
	for _, n := range []int{2, 20} {
		var b strings.Builder
		fmt.Fprintf(&b, "[defaults]\nmax_parallel = %d\npoll_interval = \"20ms\"\n", n)
		for i := range n {
			fmt.Fprintf(&b, "[guest.g%d]\n[[guest.g%d.ready]]\ndelay = \"250ms\"\ninterval = \"10ms\"\n", i, i)
		}
		hv := newFake()
		hv.createDelay = time.Millisecond
		r, _ := newRunner(t, b.String(), hv)
		r.PollInterval = 0 // the config's 20ms
		res := start(t, r)
		if !res.OK() {
			t.Fatal(summary(res))
		}
		calls[n] = r.listCalls()
	}
	// ~250ms / 20ms = 13 plus a few, for 2 guests and for 20 alike.
	if calls[20] > calls[2]+5 || calls[20] > 25 {
		t.Errorf("xl list calls: %d for 2 guests, %d for 20", calls[2], calls[20])
	}
	t.Logf("xl list calls while probing: %v", calls)
}

// vanishingHV's xl create succeeds, writes a console like a kernel that
// dies at once, and no domain stays.
type vanishingHV struct {
	*fakeHV
	console string
}

func (v *vanishingHV) Create(ctx context.Context, cfg string, started func()) error {
	callStarted(started)
	v.fakeHV.record("create", nameOf(cfg), time.Now())
	f, err := os.OpenFile(v.console, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("Linux version 6.1.0\n\nPANIC: early exception 0x0e\n\x1b[31mtriple fault\x1b[0m\n")
	return err
}

// A guest that died at once (xl create succeeded, the domain vanished) is
// reported with the last lines of its console, escaped; not what an
// earlier boot wrote there.
func TestVanishedGuestShowsItsConsole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	console := filepath.Join(dir, "guest-fw.log")
	os.WriteFile(console, []byte("an earlier boot's last line\n"), 0o600)
	src := "[defaults]\nconsole_log_dir = \"" + dir + "\"\n[guest.fw]\n"
	r, _ := newRunner(t, src, &vanishingHV{fakeHV: newFake(), console: console})
	res := start(t, r)
	o := res.Outcomes[0]
	want := `xl create succeeded but the domain is not listed: it died at once; the last lines of its console (` + console + `): Linux version 6.1.0 | PANIC: early exception 0x0e | \x1b[31mtriple fault\x1b[0m`
	if o.Status != Failed || o.Err == nil || !strings.Contains(o.Err.Error(), want) {
		t.Errorf("got %v: %v\nwant %s", o.Status, o.Err, want)
	}
	if strings.Contains(o.Err.Error(), "earlier boot") {
		t.Errorf("an earlier boot's console in the message: %v", o.Err)
	}
}
