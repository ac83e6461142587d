//go:build xene2e

package xen

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// localSSH stands in for ssh in dom0, for xl migrate to localhost (as
// OSSTest does): xl runs `sh -c "exec ssh HOST xl migrate-receive"`, and
// this runs the command after HOST here.
const localSSH = `#!/bin/sh
# The lab's ssh: runs the command after the host here (xl migrate to localhost).
shift
exec "$@"
`

// TestRealXenMigrateLocalhost proves xenorder's xl migrate path on real
// Xen: mig (stop_action = "migrate", migrate_to = "localhost", with a
// heartbeat on its console) and front, which depends on it. xenorder stop
// shuts front down first, then migrates mig to this very host; afterwards
// mig runs under a new domid, the same kernel (its heartbeat's count and
// boot id go on), xenorder counts it migrated (exit 0) and never asked it
// to shut down. Checked against the recorder's xl call log, xl list and
// the console, not xenorder's word.
//
// mig is PVH: xl migrate needs log-dirty mode, which Xen gives a PV guest
// through shadow paging, and Debian's Xen here has none ("xc: error:
// Failed to enable logdirty: 95,22,0" for a PV guest); a PVH guest gets it
// from nested paging, so the lab's CPU has +svm,+npt.
func TestRealXenMigrateLocalhost(t *testing.T) {
	if os.Getenv("XENORDER_E2E_CPU") == "" {
		t.Setenv("XENORDER_E2E_CPU", "qemu64,+svm,+npt")
	}
	gs := []guest{{name: "mig"}, {name: "front", deps: []string{"mig"}}}
	toml := strings.Replace(xenorderToml(gs), "[guest.mig]\n",
		"[guest.mig]\nstop_action = \"migrate\"\nmigrate_to = \"localhost\"\n", 1)
	extra := map[string]File{dom0Config[1:]: {Mode: 0o644, Data: []byte(toml)}, "usr/bin/ssh": {Mode: 0o755, Data: []byte(localSSH)}}
	for _, g := range gs {
		c := guestCfg(g)
		if g.name == "mig" {
			c = strings.Replace(c, "lab.name=mig", "lab.name=mig lab.heartbeat=1", 1)
			c = strings.Replace(c, `type        = "pv"`, `type        = "pvh"`, 1)
		}
		extra["etc/xen/"+g.name+".cfg"] = File{Mode: 0o644, Data: []byte(c)}
	}
	l := startLab(t, extra)
	s := &scenario{lab: l, t: t}
	defer s.report()
	s.preflightRunning()

	start := s.phase("start", startTimeout, "start")
	if start.res.Code != 0 {
		t.Fatalf("start: %s", start.res)
	}
	// A heartbeat or two before the migration.
	r := l.must(time.Minute, `until grep -q ' alive n=2 ' /var/log/xen/console/guest-mig.log; do sleep 1; done; xl domid mig`)
	before, _ := strconv.Atoi(strings.TrimSpace(r.Stdout))

	stop := s.phase("stop (mig migrated to localhost)", stopTimeout, "stop")
	if stop.res.Code != 0 {
		s.errorf("stop: exit %d, want 0:\n%s", stop.res.Code, stop.res)
	}
	mig := filterCalls(stop.calls, "migrate", "")
	if len(mig) != 1 || mig[0].RC != 0 || !strings.Contains(strings.Join(mig[0].Args, " "), "mig localhost") {
		s.errorf("stop: xl migrate calls %v, want one xl migrate mig localhost that succeeded", mig)
	}
	if sh := filterCalls(stop.calls, "shutdown", "mig"); len(sh) > 0 {
		s.errorf("stop: the migrated guest was asked to shut down: %v", sh)
	}
	if ds := filterCalls(stop.calls, "destroy", "mig"); len(ds) > 0 {
		s.errorf("stop: the migrated guest was destroyed: %v", ds)
	}
	fs := filterCalls(stop.calls, "shutdown", "front")
	switch {
	case len(fs) == 0:
		s.errorf("stop: front was never asked to shut down")
	case len(mig) > 0 && mig[0].T0 < fs[0].T1:
		s.errorf("stop: xl migrate mig began at %.2fs, before front's shutdown returned (%.2fs)", mig[0].T0, fs[0].T1)
	}
	if !strings.Contains(stop.res.Stdout, "localhost is this host: the guest runs on here as domid") {
		s.errorf("stop: xenorder did not say mig runs on here:\n%s", stop.res.Stdout)
	}

	// On here under a new domid, the same kernel.
	r = l.must(2*time.Minute, `xl domid mig; n=$(grep -c ' alive n=' /var/log/xen/console/guest-mig.log)
for i in $(seq 30); do [ "$(grep -c ' alive n=' /var/log/xen/console/guest-mig.log)" -gt "$n" ] && break; sleep 2; done
echo @@; cat /var/log/xen/console/guest-mig.log; echo @@; xl list`)
	parts := strings.SplitN(r.Stdout, "@@\n", 3)
	if len(parts) != 3 {
		t.Fatalf("after the stop: %s", r)
	}
	after, _ := strconv.Atoi(strings.TrimSpace(parts[0]))
	if after <= 0 || after == before {
		s.errorf("after the migration mig has domid %d, before %d: want a new domid", after, before)
	}
	boots := bootedRE.FindAllStringSubmatch(parts[1], -1)
	beats := heartbeatRE.FindAllStringSubmatch(parts[1], -1)
	if len(boots) != 1 || len(beats) == 0 {
		s.errorf("mig's console: %d boots, %d heartbeats; want one boot and its heartbeats:\n%s", len(boots), len(beats), indent(parts[1]))
	} else {
		last := 0
		for _, b := range beats {
			n, _ := strconv.Atoi(b[1])
			if b[3] != boots[0][1] || n != last+1 {
				s.errorf("mig's heartbeat %q after n=%d: want n=%d from boot %s", b[0], last, last+1, boots[0][1])
			}
			last = n
		}
		l.logf("mig migrated to localhost: domid %d -> %d, heartbeat on to n=%d, one kernel boot", before, after, last)
	}
	if regexp.MustCompile(`(?m)^front\s`).MatchString(parts[2]) {
		s.errorf("front still listed after the stop:\n%s", parts[2])
	}
	l.must(time.Minute, "xl destroy mig")
}
