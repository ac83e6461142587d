//go:build xene2e

package xen

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRealXenPVHBoots is an experiment for issue 16, not part of make e2e:
// it boots the lab with HVM and nested paging in the emulated CPU
// (qemu64,+svm,+npt unless XENORDER_E2E_CPU says otherwise) and, for
// XENORDER_E2E_PVH_BOOTS rounds (10), creates XENORDER_E2E_PVH_PARALLEL
// PVH guests (1) at once from the lab's Debian kernel, each watched until
// its console says it is ready or its domain is gone, with
// XENORDER_E2E_PVH_EXTRA added to the guest kernel's command line and, with
// XENORDER_E2E_LOAD=1, this host's CPUs kept busy meanwhile. It counts the
// triple faults Xen reports (each reboots its guest, which xl restarts)
// and fails if there was any.
//
//	XENORDER_E2E_PVH_EXTRA='no_timer_check' go test -tags xene2e -count=1 -v -run TestRealXenPVHBoots ./e2e/xen/
func TestRealXenPVHBoots(t *testing.T) {
	if os.Getenv("XENORDER_E2E_CPU") == "" {
		t.Setenv("XENORDER_E2E_CPU", "qemu64,+svm,+npt")
	}
	boots := 10
	if n, err := strconv.Atoi(os.Getenv("XENORDER_E2E_PVH_BOOTS")); err == nil && n > 0 {
		boots = n
	}
	parallel := 1
	if n, err := strconv.Atoi(os.Getenv("XENORDER_E2E_PVH_PARALLEL")); err == nil && n > 0 {
		parallel = n
	}
	extra := os.Getenv("XENORDER_E2E_PVH_EXTRA")
	files := map[string]File{}
	var names []string
	for k := 1; k <= parallel; k++ {
		name := fmt.Sprintf("pvh%d", k)
		cfg := strings.Replace(guestCfg(guest{name: name}), `type        = "pv"`, `type        = "pvh"`, 1)
		if extra != "" {
			cfg = strings.Replace(cfg, "lab.name="+name, "lab.name="+name+" "+extra, 1)
		}
		files["etc/xen/"+name+".cfg"] = File{Mode: 0o644, Data: []byte(cfg)}
		names = append(names, name)
	}
	l := startLab(t, files)
	info := l.must(time.Minute, "xl info | grep -E 'virt_caps|xen_version'")
	l.logf("cpu %s; %s; guest extra %q", os.Getenv("XENORDER_E2E_CPU"), strings.TrimSpace(info.Stdout), extra)

	var stop atomic.Bool
	if os.Getenv("XENORDER_E2E_LOAD") == "1" {
		for range runtime.NumCPU() {
			go func() {
				for x := 0; !stop.Load(); x++ {
					_ = x * x
				}
			}()
		}
		defer stop.Store(true)
	}
	died := 0
	// One round: every guest created at once, each watched until its
	// console says it is ready or its domain is gone, then destroyed.
	l.must(time.Minute, "xl dmesg -c >/dev/null")
	script := `for n in ` + strings.Join(names, " ") + `; do
	: > /var/log/xen/console/guest-$n.log 2>/dev/null
	xl create /etc/xen/$n.cfg >/tmp/create-$n.log 2>&1 &
done
wait
for n in ` + strings.Join(names, " ") + `; do
	i=0; out=timeout
	while [ $i -lt 180 ]; do
		grep -q "lab: $n state=ready" /var/log/xen/console/guest-$n.log 2>/dev/null && { out=ready; break; }
		xl list $n >/dev/null 2>&1 || { out=gone; break; }
		sleep 1; i=$((i+1))
	done
	echo "$n $out"
	[ $out = ready ] || sed "s/^/  $n create: /" /tmp/create-$n.log
done
xl dmesg | grep -iE 'triple|fault|shutdown|crash|d[0-9]+v0' | tail -n 20 | sed 's/^/  xen: /' 
for n in ` + strings.Join(names, " ") + `; do xl destroy $n >/dev/null 2>&1; done
echo "triple faults: $(xl dmesg -c | grep -c 'Triple fault')"
sleep 2`
	for i := 1; i <= boots; i++ {
		began := time.Now()
		r := l.run(12*time.Minute, script) // 5 at once under load took over 5m30s once
		out := strings.TrimSpace(r.Stdout)
		l.logf("PVH round %d/%d (%d at once): %s after %s", i, boots, parallel, strings.ReplaceAll(out, "\n", ", "), time.Since(began).Round(100*time.Millisecond))
		// A triple fault makes Xen reboot the guest (HVM shutdown action
		// 1) and xl restarts it (on_reboot): it may still end ready.
		faults := 0
		if _, f, ok := strings.Cut(out, "\ntriple faults: "); ok {
			faults, _ = strconv.Atoi(strings.TrimSpace(f))
		}
		if n := max(len(names)-strings.Count(out, " ready\n"), faults); n > 0 {
			died += n
			con := l.run(time.Minute, "xl dmesg | grep -iE 'triple|fault|shutdown' | tail -n 8; tail -n 5 /var/log/xen/console/guest-pvh*.log")
			l.logf("round %d: Xen and the guests' consoles:\n%s", i, indent(con.Stdout))
		}
	}
	boots *= parallel
	l.logf("PVH boots: %d of %d ready (cpu %s, guest extra %q, host load %v)", boots-died, boots, os.Getenv("XENORDER_E2E_CPU"), extra, os.Getenv("XENORDER_E2E_LOAD") == "1")
	if died > 0 {
		t.Errorf("%d of %d PVH boots died", died, boots)
	}
	fmt.Fprintln(os.Stderr)
}
