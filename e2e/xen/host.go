//go:build xene2e

package xen

import (
	"fmt"
	"strings"
)

// guest is one lab guest: a tiny PV domain booting the Debian kernel and
// the lab's busybox initramfs.
type guest struct {
	name        string
	deps        []string
	stubborn    bool   // its /sbin/poweroff ignores xl shutdown
	stopTimeout string // xenorder's grace period, if not the default
}

// host is the sample host (testdata/seed) as real guests: Domain-N →
// opnsense → fileserver → web, mail, db; monitor depends on nothing; db
// ignores shutdown, so that stop must destroy it after its 20s grace
// period, and only then shut fileserver down.
var host = []guest{
	{name: "Domain-N"},
	{name: "opnsense", deps: []string{"Domain-N"}},
	{name: "fileserver", deps: []string{"opnsense"}},
	{name: "web", deps: []string{"fileserver"}},
	{name: "mail", deps: []string{"fileserver"}},
	{name: "db", deps: []string{"fileserver"}, stubborn: true, stopTimeout: "20s"},
	{name: "monitor"},
}

// guestMemory is the least this kernel boots in (MiB).
const guestMemory = 96

func guestCfg(g guest) string {
	extra := "console=hvc0 quiet lab.name=" + g.name
	if g.stubborn {
		extra += " lab.stubborn=1"
	}
	return fmt.Sprintf(`# A lab guest: PV, the Debian kernel (its ELF vmlinux) and the lab's busybox initramfs.
name        = "%s"
type        = "pv"
kernel      = "/lab/guest/vmlinux"
ramdisk     = "/lab/guest/initrd.gz"
extra       = "%s"
memory      = %d
vcpus       = 1
on_poweroff = "destroy"
on_reboot   = "restart"
on_crash    = "preserve"
`, g.name, extra, guestMemory)
}

// readyPattern is what a guest's init prints on its console once it is up.
func readyPattern(name string) string { return "lab: " + name + " state=ready" }

func xenorderToml(gs []guest) string {
	var b strings.Builder
	b.WriteString(`# The lab's xenorder config (dom0: /etc/xen/xenorder.toml).
[defaults]
xl              = "/lab/bin/xl"   # the real xl, through the lab's call recorder
config_dir      = "/etc/xen"
start_timeout   = "4m"            # TCG is slow, and its speed varies with load
stop_timeout    = "90s"
max_parallel    = 4
poll_interval   = "500ms"
probe_interval  = "500ms"
console_log_dir = "/var/log/xen/console"
state_dir       = "/var/lib/xenorder"
lock_file       = "/run/xenorder.lock"
`)
	for _, g := range gs {
		fmt.Fprintf(&b, "\n[guest.%s]\n", g.name)
		if len(g.deps) > 0 {
			fmt.Fprintf(&b, "depends_on = [%s]\n", quoteAll(g.deps))
		}
		if g.stopTimeout != "" {
			fmt.Fprintf(&b, "stop_timeout = %q\n", g.stopTimeout)
		}
		fmt.Fprintf(&b, "[[guest.%s.ready]]\nconsole = %q\n", g.name, readyPattern(g.name))
	}
	return b.String()
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
