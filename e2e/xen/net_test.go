//go:build xene2e

package xen

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The seed's network in TestRealXen: Domain-N is a real network driver
// domain, a PV guest given the lab's e1000 by PCI passthrough (pci=,
// driver_domain = 1) whose /init (rootfs/dnet/init) builds a bridge xenbr0
// over it, loads netback, runs xl devd and then writes data/ready = 1 in its
// xenstore tree; opnsense, fileserver, web, mail and db have a vif served by it
// (backend=Domain-N), and none of them says depends_on = ["Domain-N"] in
// the TOML: xenorder infers it from backend=.

// driverDomain is the network driver domain; dnetMemory its memory (MiB):
// xl and its libraries in its initramfs, and the 64 MiB bounce buffer
// (swiotlb-xen) the kernel sets up for a passed-through device.
//
// opnsense, the firewall, is PVH (pvhGuest), as on the seed's host: Xen
// needs nested paging for it, so TestRealXen's CPU has +svm,+npt. It is
// the one PVH guest and alone in its tier: QEMU's multi-threaded TCG made
// parallel PVH boots die of a triple fault (README, "PVH boots under
// QEMU"), one at a time they boot.
const (
	pvhGuest     = "opnsense"
	driverDomain = "Domain-N"
	dnetMemory   = 256
	bridge       = "xenbr0"
)

// A netGuest has a vif on Domain-N's bridge, a static address its init
// sets (lab.ip=), and, if ping is set, pings that address once it is
// ready, saying how it went on its console.
type netGuest struct {
	name, ip, ping string
}

var netGuests = []netGuest{
	{name: "opnsense", ip: "10.0.0.1/24"},
	{name: "fileserver", ip: "10.0.0.2/24"},
	{name: "web", ip: "10.0.0.3/24", ping: "10.0.0.2"},
	{name: "mail", ip: "10.0.0.4/24"},
	{name: "db", ip: "10.0.0.5/24"},
}

func netGuestNames() []string {
	var n []string
	for _, g := range netGuests {
		n = append(n, g.name)
	}
	return n
}

// netGuestCfg is a guest's xl config on the network host: Domain-N as the
// driver domain, the netGuests with their vif, the others as guestCfg.
func netGuestCfg(g guest) string {
	c := guestCfg(g)
	if g.name == driverDomain {
		c = strings.Replace(c, `"/lab/guest/initrd.gz"`, `"/lab/dnet/initrd.gz"`, 1)
		c = strings.Replace(c, fmt.Sprintf("memory      = %d\n", guestMemory), fmt.Sprintf("memory      = %d\n", dnetMemory), 1)
		return c + fmt.Sprintf(`# The network driver domain: the NIC by passthrough, a backend for others' vifs.
pci           = [ "%s" ]
driver_domain = 1
`, PassthroughNIC)
	}
	for _, ng := range netGuests {
		if ng.name != g.name {
			continue
		}
		extra := "lab.name=" + g.name + " lab.ip=" + ng.ip
		if ng.ping != "" {
			extra += " lab.ping=" + ng.ping
		}
		c = strings.Replace(c, "lab.name="+g.name, extra, 1)
		if g.name == pvhGuest {
			c = strings.Replace(c, `type        = "pv"`, `type        = "pvh"`, 1)
		}
		c += fmt.Sprintf("vif         = [ \"backend=%s,bridge=%s\" ]\n", driverDomain, bridge)
	}
	return c
}

// netToml is xenorder's config on the network host: the sample host's,
// without opnsense's depends_on = ["Domain-N"] (its vif's backend= says
// so), and Domain-N ready once its data/ready key says 1.
func netToml() string {
	t := xenorderToml(host)
	for _, ng := range netGuests {
		t = strings.Replace(t, fmt.Sprintf("[guest.%s]\ndepends_on = [%q]\n", ng.name, driverDomain),
			fmt.Sprintf("[guest.%s]\n# needs %s: inferred from its vif's backend=%s\n", ng.name, driverDomain, driverDomain), 1)
	}
	return strings.Replace(t, fmt.Sprintf("[[guest.%s.ready]]\nconsole = %q\n", driverDomain, readyPattern(driverDomain)),
		fmt.Sprintf("[[guest.%s.ready]]\nxenstore = \"data/ready\"   # written by its init once its bridge and xl devd are up\nequals   = \"1\"\n", driverDomain), 1)
}

// netFiles are dom0's xenorder.toml and the guests' xl configs.
func netFiles() map[string]File {
	extra := map[string]File{dom0Config[1:]: {Mode: 0o644, Data: []byte(netToml())}}
	for _, g := range host {
		extra["etc/xen/"+g.name+".cfg"] = File{Mode: 0o644, Data: []byte(netGuestCfg(g))}
	}
	return extra
}

// netRun collects what the network checks saw, for the report.
type netRun struct {
	s     *scenario
	notes []string
	// The console logs' sizes when the stop began: what Domain-N and
	// Xen said during the stop is what came after.
	dnetConsoleAt int
}

func (n *netRun) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n.notes = append(n.notes, msg)
	n.s.lab.logf("net: %s", msg)
}

func (n *netRun) report() {
	var b strings.Builder
	b.WriteString("the network driver domain (real xl and the guests' consoles):\n")
	for _, m := range n.notes {
		fmt.Fprintf(&b, "  %s\n", strings.ReplaceAll(m, "\n", "\n    "))
	}
	fmt.Print(b.String())
	os.WriteFile(filepath.Join(n.s.lab.runDir, "net-report.txt"), []byte(b.String()), 0o644)
}

// preflight: the NIC is there, bound to no driver, Xen runs with VT-d, and
// xen-pciback is not loaded (xenorder must load it).
func (n *netRun) preflight() {
	l, s := n.s.lab, n.s
	r := l.run(time.Minute, fmt.Sprintf(`d=/sys/bus/pci/devices/%s
echo "ids $(cat $d/vendor):$(cat $d/device)"
echo "driver $(readlink $d/driver | sed 's,.*/,,')"
echo "pciback-module $(grep -c '^xen_pciback ' /proc/modules)"
echo "pciback-driver $(test -d /sys/bus/pci/drivers/pciback && echo yes || echo no)"
echo @@; xl dmesg | grep -i -E 'vt-d|iommu|intremap|queued inv' | head -n 12
echo @@; xl pci-assignable-list; echo "rc=$?"`, PassthroughNIC))
	parts := strings.SplitN(r.Stdout, "@@\n", 3)
	if len(parts) != 3 {
		s.t.Fatalf("net preflight: %s", r)
	}
	if !strings.Contains(parts[0], "ids 0x8086:0x100e") {
		s.errorf("net preflight: %s is not the e1000 (8086:100e): %s", PassthroughNIC, parts[0])
	}
	if !slices.Contains(strings.Split(parts[0], "\n"), "driver ") {
		s.errorf("net preflight: %s bound to a dom0 driver: %s", PassthroughNIC, parts[0])
	}
	if !strings.Contains(parts[0], "pciback-module 0") || !strings.Contains(parts[0], "pciback-driver no") {
		s.errorf("net preflight: xen-pciback already loaded in dom0 before xenorder ran: %s", parts[0])
	}
	if !regexp.MustCompile(`(?i)intel vt-d iommu|vt-d`).MatchString(parts[1]) {
		s.errorf("net preflight: Xen's console says nothing of VT-d:\n%s", parts[1])
	}
	n.note("before the start: %s %s, no dom0 driver; xen-pciback not loaded (/proc/modules, /sys/bus/pci/drivers/pciback); xl pci-assignable-list: %s %s\nXen: %s",
		PassthroughNIC, strings.TrimPrefix(strings.Split(parts[0], "\n")[0], "ids "), strings.TrimSpace(r.Stderr), strings.TrimSpace(parts[2]), strings.TrimSpace(parts[1]))
}

// checkPlan: xenorder plan shows the dependencies on Domain-N the TOML
// does not state, inferred from backend=.
func (n *netRun) checkPlan() {
	l, s := n.s.lab, n.s
	r := l.run(time.Minute, "xenorder -c "+dom0Config+" plan; echo @@; xenorder -c "+dom0Config+" check")
	for _, ng := range netGuests {
		want := fmt.Sprintf("%s (inferred: vif backend=%s)", driverDomain, driverDomain)
		if !strings.Contains(r.Stdout, want) {
			s.errorf("xenorder plan does not say %s needs %q:\n%s", ng.name, want, r.Stdout)
		}
	}
	var lines []string
	for _, ln := range strings.Split(r.Stdout, "\n") {
		if strings.Contains(ln, "inferred") || strings.Contains(ln, "pci") {
			lines = append(lines, strings.TrimSpace(ln))
		}
	}
	n.note("xenorder plan/check:\n%s", strings.Join(lines, "\n"))
}

// orderPreventsAbsent: real xl creating a frontend whose backend domain
// does not run.
func (n *netRun) orderPreventsAbsent() {
	l, s := n.s.lab, n.s
	r := l.run(3*time.Minute, `read a _ < /proc/uptime
timeout 120 xl create /etc/xen/web.cfg > /run/absent.out 2>&1; rc=$?
read b _ < /proc/uptime
echo "rc=$rc a=$a b=$b"; cat /run/absent.out; echo @@; xl list`)
	head, list, _ := strings.Cut(r.Stdout, "@@\n")
	m := regexp.MustCompile(`rc=(\d+) a=(\S+) b=(\S+)`).FindStringSubmatch(head)
	if m == nil {
		s.t.Fatalf("xl create without Domain-N: %s", r)
	}
	a, _ := strconv.ParseFloat(m[2], 64)
	b, _ := strconv.ParseFloat(m[3], 64)
	out := strings.TrimSpace(head[strings.Index(head, "\n")+1:])
	n.note("xl create web (vif backend=%s) while %s does not run: exit %s after %.1fs:\n%s", driverDomain, driverDomain, m[1], b-a, out)
	if m[1] == "0" {
		s.errorf("xl create of a frontend whose backend domain does not run succeeded:\n%s", out)
	}
	doms, err := parseXlList(list)
	if err != nil {
		s.t.Fatal(err)
	}
	if got := names(doms); !slices.Equal(got, []string{"Domain-0"}) {
		n.note("it left %v: destroying", got)
		l.run(time.Minute, "xl destroy web")
	}
}

// checkPCI: after the start, xen-pciback is loaded (xenorder's modprobe),
// the NIC bound to it, Domain-N has it, and xenorder's recorded xl calls
// made it assignable before Domain-N's create.
func (n *netRun) checkPCI(p *phase) {
	l, s := n.s.lab, n.s
	r := l.run(time.Minute, fmt.Sprintf(`grep '^xen_pciback ' /proc/modules; echo @@
ls /sys/bus/pci/drivers/pciback/ | grep -c '%s'; echo @@
xl pci-list %s; echo @@; xl pci-assignable-list`, PassthroughNIC, driverDomain))
	parts := strings.SplitN(r.Stdout, "@@\n", 4)
	if len(parts) != 4 {
		s.t.Fatalf("pci after the start: %s", r)
	}
	if !strings.HasPrefix(parts[0], "xen_pciback ") {
		s.errorf("after the start, xen_pciback is not in /proc/modules: %s", r)
	}
	if strings.TrimSpace(parts[1]) != "1" {
		s.errorf("after the start, %s is not bound to pciback (/sys/bus/pci/drivers/pciback): %s", PassthroughNIC, r)
	}
	if !strings.Contains(parts[2], PassthroughNIC) {
		s.errorf("xl pci-list %s lacks %s:\n%s", driverDomain, PassthroughNIC, parts[2])
	}
	add := filterCalls(p.calls, "pci-assignable-add", "")
	create := filterCalls(p.calls, "create", driverDomain)
	switch {
	case len(add) != 1 || add[0].RC != 0:
		s.errorf("start: xl pci-assignable-add calls %v, want one that succeeded", add)
	case len(create) == 1 && add[0].T1 > create[0].T0:
		s.errorf("start: %s created before its NIC was made assignable (%v, %v)", driverDomain, add[0], create[0])
	}
	n.note("after the start: /proc/modules: %s; %s bound to pciback; xl pci-list %s:\n%s\nxl pci-assignable-list: %q; xenorder's xl calls: %v",
		strings.TrimSpace(parts[0]), PassthroughNIC, driverDomain, strings.TrimSpace(parts[2]), strings.TrimSpace(parts[3]), add)
}

var networkListRE = regexp.MustCompile(`(?m)^\s*(\d+)\s+(\d+)\s+([0-9a-f:]{17})\s+(\d+)\s+(\d+)\s`)

// checkNetwork: every vif is connected (xl network-list, state 4, backend
// Domain-N's domid), Domain-N's hotplug script put each on the bridge, and
// web's console says it reached fileserver, its n-th time (a boot of web
// pings once).
func (n *netRun) checkNetwork(when string, times int) {
	l, s := n.s.lab, n.s
	var script strings.Builder
	fmt.Fprintf(&script, "xl domid %s; echo @@\n", driverDomain)
	for _, g := range netGuests {
		fmt.Fprintf(&script, "xl network-list %s; echo @@\n", g.name)
	}
	// The firewall's domain type, as libxl has it (c_info.type).
	fmt.Fprintf(&script, "xl list -l %s | grep -m 1 '\"type\"'; echo @@\n", pvhGuest)
	r := l.run(time.Minute, script.String())
	parts := strings.Split(r.Stdout, "@@\n")
	if len(parts) < len(netGuests)+2 {
		s.t.Fatalf("network-list %s: %s", when, r)
	}
	if typ := strings.TrimSpace(parts[len(netGuests)+1]); !strings.Contains(typ, `"pvh"`) {
		s.errorf("%s: xl list -l %s says %q, want type pvh", when, pvhGuest, typ)
	}
	dn := strings.TrimSpace(parts[0])
	var states []string
	for i, g := range netGuests {
		out := parts[i+1]
		m := networkListRE.FindStringSubmatch(out)
		if m == nil {
			s.errorf("%s: xl network-list %s shows no vif:\n%s", when, g.name, out)
			continue
		}
		if m[2] != dn || m[5] != "4" {
			s.errorf("%s: xl network-list %s: backend %s state %s, want backend %s (%s) state 4:\n%s", when, g.name, m[2], m[5], dn, driverDomain, out)
		}
		states = append(states, fmt.Sprintf("%s BE %s state %s", g.name, m[2], m[5]))
	}
	// web pings fileserver after it says ready: wait for the line.
	var web netGuest
	for _, g := range netGuests {
		if g.ping != "" {
			web = g
		}
	}
	pat := fmt.Sprintf("lab: %s ping %s ", web.name, web.ping)
	r = l.run(2*time.Minute, fmt.Sprintf(`f=/var/log/xen/console/guest-%s.log
n=0; while [ $(grep -c '%s' $f) -lt %d ] && [ $n -lt 180 ]; do sleep 0.5; n=$((n+1)); done
grep '%s' $f | tail -n 1; echo @@; grep -E 'vif-bridge|state=|nic|bridge' /var/log/xen/console/guest-%s.log | tail -n 12`, web.name, pat, times, pat, driverDomain))
	got, dnlog, _ := strings.Cut(r.Stdout, "@@\n")
	if !strings.Contains(got, pat+"ok") {
		s.errorf("%s: %s's console does not say it reached %s: %q", when, web.name, web.ping, got)
	}
	n.note("%s: xl network-list: %s; xl list -l %s: %s; %s's console: %s\n%s's console:\n%s", when, strings.Join(states, ", "),
		pvhGuest, strings.TrimSpace(parts[len(netGuests)+1]), web.name, strings.TrimSpace(got),
		driverDomain, strings.TrimSpace(dnlog))
}

// beforeStop marks where Domain-N's console log and Xen's ring stand.
func (n *netRun) beforeStop() {
	r := n.s.lab.must(time.Minute, fmt.Sprintf("wc -c < /var/log/xen/console/guest-%s.log; xl dmesg -c > /dev/null", driverDomain))
	n.dnetConsoleAt, _ = strconv.Atoi(strings.TrimSpace(r.Stdout))
}

var errorRE = regexp.MustCompile(`(?i)error|fail|warn|bug|oops|call trace|fault|timed? ?out`)

// checkStop: every frontend was gone, in xl list and in Domain-N's own
// console (its hotplug script took each vif off the bridge), before xl
// shutdown Domain-N; nothing went wrong in Xen's console or Domain-N's
// during the stop; the NIC is assignable again.
func (n *netRun) checkStop(p *phase) {
	l, s := n.s.lab, n.s
	sh := filterCalls(p.calls, "shutdown", driverDomain)
	if len(sh) == 0 {
		s.errorf("stop: no xl shutdown %s", driverDomain)
		return
	}
	for _, g := range netGuests {
		if id, ok := sh[0].Listed(g.name); ok {
			s.errorf("stop: xl shutdown %s at %.2f while its frontend %s (domid %d) was listed", driverDomain, sh[0].T0, g.name, id)
		}
		if id := p.domid(g.name); id > 0 && sh[0].Doms[id] != "" {
			s.errorf("stop: xl shutdown %s at %.2f while domain %d (%s) was still listed as %q", driverDomain, sh[0].T0, id, g.name, sh[0].Doms[id])
		}
	}
	// When each frontend's last xl list row was seen (xenorder's polls),
	// against the shutdown's start.
	var last []string
	for _, g := range netGuests {
		seen := -1.0
		for _, ls := range p.lists {
			for _, row := range ls.Rows {
				if row.Name == g.name {
					seen = ls.T
				}
			}
		}
		if seen > sh[0].T0 {
			s.errorf("stop: xl list showed %s at %.2f, after xl shutdown %s began at %.2f", g.name, seen, driverDomain, sh[0].T0)
		}
		if seen >= 0 {
			last = append(last, fmt.Sprintf("%s last listed %.1fs after the stop began", g.name, seen-p.t0))
		}
	}
	r := l.run(time.Minute, fmt.Sprintf(`tail -c +%d /var/log/xen/console/guest-%s.log; echo @@; xl dmesg; echo @@; xl pci-assignable-list`, n.dnetConsoleAt+1, driverDomain))
	parts := strings.SplitN(r.Stdout, "@@\n", 3)
	if len(parts) != 3 {
		s.t.Fatalf("after the stop: %s", r)
	}
	cons, dmesg, assignable := parts[0], parts[1], parts[2]
	// In Domain-N's console: each frontend's vif taken off the bridge, then
	// its own poweroff.
	off := strings.Index(cons, "state=poweroff")
	if off < 0 {
		s.errorf("stop: %s's console does not end with its poweroff:\n%s", driverDomain, cons)
		off = len(cons)
	}
	if k := strings.Count(cons[:off], "vif-bridge offline"); k < len(netGuests) {
		s.errorf("stop: %s's console shows %d vifs taken off the bridge before its poweroff, want %d:\n%s", driverDomain, k, len(netGuests), cons)
	}
	for _, ln := range strings.Split(cons, "\n") {
		if errorRE.MatchString(ln) {
			s.errorf("stop: %s's console: %s", driverDomain, strings.TrimSpace(ln))
		}
	}
	for _, ln := range strings.Split(dmesg, "\n") {
		if errorRE.MatchString(ln) {
			s.errorf("stop: xl dmesg: %s", strings.TrimSpace(ln))
		}
	}
	if !strings.Contains(assignable, PassthroughNIC) {
		s.errorf("stop: %s is not assignable afterwards (xl pci-assignable-list: %q)", PassthroughNIC, assignable)
	}
	n.note("stop: xl shutdown %s began %.1fs after the stop began, no frontend listed (%s); %s's console during the stop:\n%s\nxl dmesg during the stop:\n%s\nxl pci-assignable-list afterwards: %s",
		driverDomain, sh[0].T0-p.t0, strings.Join(last, ", "), driverDomain, strings.TrimSpace(cons), strings.TrimSpace(dmesg), strings.TrimSpace(assignable))
}
