package xen

// SwitchSteps are the README's "Replacing xendomains on a Debian host" as
// commands: the systemd suite (TestRealXenSystemd) runs each of them, word
// for word, in the dom0 it builds (in its root filesystem, before the
// reboot that step 6 asks for), and TestReadmeHasSwitchSteps keeps the
// README saying the same. Between steps 1 and 2 the suite writes
// /etc/xen/xenorder.toml and the guests' xl configs.
var SwitchSteps = []struct {
	Step int
	Cmd  string
}{
	{1, "dpkg -i xenorder_*.deb"},
	{2, `echo 'XENCONSOLED_ARGS="--log=guest"' >> /etc/default/xen`},
	{2, "mkdir -p /var/log/xen/console"},
	{2, "xenorder check"},
	{3, `sed -i 's/^XENDOMAINS_SAVE=.*/XENDOMAINS_SAVE=""/' /etc/default/xendomains`},
	{4, "systemctl disable xendomains.service"},
	{5, "systemctl enable xenorder.service"},
}

// PlanSteps are step 2's look at what xenorder would do; they need a
// running Xen, so the suite runs them in the booted dom0.
var PlanSteps = []string{"xenorder plan", "xenorder plan stop"}
