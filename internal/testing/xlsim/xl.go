package xlsim

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Env is the environment of one invocation.
type Env struct {
	Dir        string        // $XLSIM_DIR
	ConsoleDir string        // $XLSIM_CONSOLE_DIR, default $XLSIM_DIR/console
	AckTimeout time.Duration // $XLSIM_ACK_TIMEOUT, default 1s
	// MonitorDelay: a guest that powered off (on_poweroff destroy) stays
	// listed --ps-- this long before xl's monitor destroys it, as on real
	// Xen ($XLSIM_MONITOR_DELAY; default 0: at once).
	MonitorDelay time.Duration
	// PCITeardown: what a guest with passed-through devices adds to
	// MonitorDelay, while xl's monitor hands them back (10–15 s on real
	// Xen in the lab; $XLSIM_PCI_TEARDOWN; default 0).
	PCITeardown time.Duration
	// TimeScale multiplies the simulated host's durations: a guest's
	// xlsim_*_time and xlsim_*_after keys (and their defaults), the ack
	// timeout, the monitor delay and the PCI teardown ($XLSIM_TIME_SCALE; default 1, 0.1: ten
	// times as fast). Tests that do not measure time run faster with it.
	TimeScale   float64
	TotalMemMiB int64 // $XLSIM_TOTAL_MEMORY, default 3071
	// Autoballoon: the host boots without dom0_mem= and xl balloons
	// Domain-0 down to make room ($XLSIM_AUTOBALLOON=on, or the
	// autoballoon= of $XLSIM_XL_CONF).
	Autoballoon bool
	Dom0MinMiB  int64  // $XLSIM_DOM0_MIN_MEMORY, default 512
	XLConf      string // $XLSIM_XL_CONF: an xl.conf to read, or ""
	Stdout      io.Writer
	Stderr      io.Writer

	xlConfMsgs string // what xl prints about XLConf
	xlConfFail bool   // xl exits 1 for XLConf
}

// Defaults of the environment.
const (
	DefaultAckTimeout  = time.Second
	DefaultTotalMemory = 3071
)

// EnvFromOS reads the environment variables.
func EnvFromOS(stdout, stderr io.Writer) (*Env, error) {
	e := &Env{
		Dir:         os.Getenv("XLSIM_DIR"),
		ConsoleDir:  os.Getenv("XLSIM_CONSOLE_DIR"),
		AckTimeout:  DefaultAckTimeout,
		TimeScale:   1,
		TotalMemMiB: DefaultTotalMemory,
		Dom0MinMiB:  DefaultDom0MinMemory,
		XLConf:      os.Getenv("XLSIM_XL_CONF"),
		Stdout:      stdout,
		Stderr:      stderr,
	}
	if e.Dir == "" {
		return nil, fmt.Errorf("XLSIM_DIR is not set")
	}
	if abs, err := filepath.Abs(e.Dir); err == nil {
		e.Dir = abs
	}
	if e.ConsoleDir == "" {
		e.ConsoleDir = filepath.Join(e.Dir, "console")
	}
	if v := os.Getenv("XLSIM_ACK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad XLSIM_ACK_TIMEOUT %q", v)
		}
		e.AckTimeout = d
	}
	if v := os.Getenv("XLSIM_MONITOR_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad XLSIM_MONITOR_DELAY %q", v)
		}
		e.MonitorDelay = d
	}
	if v := os.Getenv("XLSIM_PCI_TEARDOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad XLSIM_PCI_TEARDOWN %q", v)
		}
		e.PCITeardown = d
	}
	if v := os.Getenv("XLSIM_TIME_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("bad XLSIM_TIME_SCALE %q (a factor > 0)", v)
		}
		e.TimeScale = f
	}
	e.AckTimeout, e.MonitorDelay, e.PCITeardown = e.scaled(e.AckTimeout), e.scaled(e.MonitorDelay), e.scaled(e.PCITeardown)
	if v := os.Getenv("XLSIM_TOTAL_MEMORY"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad XLSIM_TOTAL_MEMORY %q", v)
		}
		e.TotalMemMiB = n
	}
	switch v := os.Getenv("XLSIM_AUTOBALLOON"); v {
	case "", "off":
	case "on":
		e.Autoballoon = true
	default:
		return nil, fmt.Errorf("bad XLSIM_AUTOBALLOON %q (off or on)", v)
	}
	if v := os.Getenv("XLSIM_DOM0_MIN_MEMORY"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad XLSIM_DOM0_MIN_MEMORY %q", v)
		}
		e.Dom0MinMiB = n
	}
	e.readXLConf()
	return e, nil
}

// scaled is d on the simulated host's time scale.
func (e *Env) scaled(d time.Duration) time.Duration {
	if e.TimeScale == 0 || e.TimeScale == 1 {
		return d
	}
	return time.Duration(float64(d) * e.TimeScale)
}

var callSeq atomic.Int64

// Main runs the simulator as the program argv[0] with arguments argv[1:]
// and returns the exit code. It dispatches on the base name of argv[0]:
// "xenstore-read" reads xenstore, "xenstore-watch" watches it, "xenstored"
// serves it on a socket, anything else is xl; "xlsim xenstore-read
// PATH...", "xlsim xenstored" and "xlsim xl ARGS..." also work.
func Main(argv []string, stdout, stderr io.Writer) int {
	prog := "xl"
	var args []string
	base := "xl"
	if len(argv) > 0 {
		base = filepath.Base(argv[0])
		args = argv[1:]
	}
	if base == "xenstore-read" || base == "xenstore-watch" || base == "xenstored" {
		prog = base
	} else if len(args) > 0 && (args[0] == "xenstore-read" || args[0] == "xenstore-watch" || args[0] == "xenstored" || args[0] == "xl") && base != "xl" {
		prog = args[0]
		args = args[1:]
	}
	env, err := EnvFromOS(stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "xlsim: %v\n", err)
		return 2
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()+callSeq.Add(1))
	env.logBegin(id, prog, args, time.Now())
	var rc int
	if prog == "xenstore-watch" {
		rc = env.xenstoreWatch(args)
	} else if prog == "xenstored" {
		rc = env.xenstored(args)
	} else if prog == "xenstore-read" {
		argv0 := "xenstore-read"
		if base == "xenstore-read" && len(argv) > 0 {
			argv0 = argv[0]
		}
		rc = env.xenstoreRead(argv0, args)
	} else {
		rc = env.xl(args)
	}
	env.logEnd(id, rc)
	return rc
}

// cmdSpec is an entry of xl's command table (tools/xl/xl_cmdtable.c).
type cmdSpec struct {
	name      string
	run       func(e *Env, args []string) int
	canDryrun bool
	modifies  bool
	desc      string
	usage     string
	options   string
}

var cmdTable []cmdSpec

func init() {
	cmdTable = []cmdSpec{
		{"create", (*Env).cmdCreate, true, true,
			"Create a domain from config file <filename>",
			"<ConfigFile> [options] [vars]",
			"-c                      Connect to the console after the domain is created.\n" +
				"-d                      Enable debug messages.\n" +
				"-e                      Do not wait in the background for the death of the domain.\n" +
				"-F                      Run in foreground until death of the domain.\n" +
				"-f FILE, --defconfig=FILE\n                     Use the given configuration file.\n" +
				"-h                      Print this help.\n" +
				"-n, --dryrun            Dry run - prints the resulting configuration\n" +
				"                         (deprecated in favour of global -N option).\n" +
				"-p                      Leave the domain paused after it is created.\n" +
				"-q, --quiet             Quiet.\n" +
				"-V, --vncviewer         Connect to the VNC display after the domain is created.\n" +
				"-A, --vncviewer-autopass\n" +
				"                        Pass VNC password to viewer via stdin.\n" +
				"--ignore-global-affinity-masks Ignore global masks in xl.conf."},
		{"list", (*Env).cmdList, false, false,
			"List information about all/some domains",
			"[options] [Domain]\n",
			"-l, --long              Output all VM details\n" +
				"-v, --verbose           Prints out UUIDs and security context\n" +
				"-Z, --context           Prints out security context\n" +
				"-c, --cpupool           Prints the cpupool the domain is in\n" +
				"-n, --numa              Prints out NUMA node affinity"},
		{"destroy", (*Env).cmdDestroy, false, true,
			"Terminate a domain immediately",
			"[options] <Domain>\n",
			"-f                      Permit destroying domain 0, which will only succeed\n" +
				"                        when run from disaggregated toolstack domain with a\n" +
				"                        hardware domain distinct from domain 0."},
		{"shutdown", (*Env).cmdShutdown, false, true,
			"Issue a shutdown signal to a domain",
			"[options] <-a|Domain>",
			"-a, --all               Shutdown all guest domains.\n" +
				"-h                      Print this help.\n" +
				"-F                      Fallback to ACPI power event for HVM guests with\n" +
				"                        no PV drivers.\n" +
				"-w, --wait              Wait for guest(s) to shutdown.\n"},
		{"pci-assignable-add", (*Env).cmdPCIAssignableAdd, false, true,
			"Make a device assignable for pci-passthru",
			"[options] <BDF>",
			"-n NAME, --name=NAME    Name the assignable device.\n" +
				"-h                      Print this help.\n"},
		{"pci-assignable-remove", (*Env).cmdPCIAssignableRemove, false, true,
			"Remove a device from being assignable",
			"[options] <BDF>|NAME",
			"-h                      Print this help.\n" +
				"-r                      Attempt to re-assign the device to the\n" +
				"                        original driver."},
		{"pci-assignable-list", (*Env).cmdPCIAssignableList, false, false,
			"List all the assignable pci devices",
			"[options]",
			"-h                      Print this help.\n" +
				"-n, --show-names        Display assignable device names where\n" +
				"                        supplied.\n"},
		{"pause", (*Env).cmdPause, false, true, "Pause execution of a domain", "<Domain>", ""},
		{"unpause", (*Env).cmdUnpause, false, true, "Unpause a paused domain", "<Domain>", ""},
		{"save", (*Env).cmdSave, false, true,
			"Save a domain state to restore later",
			"[options] <Domain> <CheckpointFile> [<ConfigFile>]",
			"-h  Print this help.\n" +
				"-c  Leave domain running after creating the snapshot.\n" +
				"-p  Leave domain paused after creating the snapshot.\n" +
				"-D  Store the domain id in the configuration."},
		{"migrate", (*Env).cmdMigrate, false, true,
			"Migrate a domain to another host",
			"[options] <Domain> <host>",
			"-h              Print this help.\n" +
				"-C <config>     Send <config> instead of config file from creation.\n" +
				"-s <sshcommand> Use <sshcommand> instead of ssh.  String will be passed\n" +
				"                to sh. If empty, run <host> instead of ssh <host> xl\n" +
				"                migrate-receive [-d -e]\n" +
				"-e              Do not wait in the background (on <host>) for the death\n" +
				"                of the domain.\n" +
				"--debug         Print huge (!) amount of debug during the migration process.\n" +
				"-p              Do not unpause domain after migrating it.\n" +
				"-D              Preserve the domain id"},
		{"restore", (*Env).cmdRestore, false, true,
			"Restore a domain from a saved state",
			"[options] [<ConfigFile>] <CheckpointFile>",
			"-h                       Print this help.\n" +
				"-p                       Do not unpause domain after restoring it.\n" +
				"-e                       Do not wait in the background for the death of the domain.\n" +
				"-d                       Enable debug messages.\n" +
				"-V, --vncviewer          Connect to the VNC display after the domain is created.\n" +
				"-A, --vncviewer-autopass Pass VNC password to viewer via stdin."},
		{"info", (*Env).cmdInfo, false, false,
			"Get information about Xen host",
			"-n, --numa         List host NUMA topology information", ""},
		{"domid", (*Env).cmdDomid, false, false, "Convert a domain name to domain id", "<DomainName>", ""},
	}
}

// allCommands are the names of every command of real xl 4.17, in its
// table's order, for its unambiguous-prefix lookup.
var allCommands = strings.Fields(`create config-update list destroy shutdown reboot
pci-attach pci-detach pci-list pci-assignable-add pci-assignable-remove
pci-assignable-list pause unpause console vncviewer save migrate restore
migrate-receive dump-core cd-insert cd-eject mem-max mem-set button-press
vcpu-list vcpu-pin vcpu-set vm-list info sharing sched-credit sched-credit2
sched-rtds domid domname rename trigger sysrq debug-keys set-parameters dmesg
top network-attach network-list network-detach channel-list block-attach
block-list block-detach vtpm-attach vtpm-list vtpm-detach vkb-attach vkb-list
vkb-detach vdispl-attach vdispl-list vdispl-detach vsnd-attach vsnd-list
vsnd-detach uptime claims cpupool-create cpupool-list cpupool-destroy
cpupool-rename cpupool-cpu-add cpupool-cpu-remove cpupool-migrate
cpupool-numa-split getenforce setenforce loadpolicy remus devd psr-hwinfo
psr-cmt-attach psr-cmt-detach psr-cmt-show psr-cat-set psr-cat-show
psr-mba-set psr-mba-show usbctrl-attach usbctrl-detach usbdev-attach
usbdev-detach usb-list qemu-monitor-command`)

// lookupCommand finds a command like xl does: an exact name, or a prefix
// of exactly one name.
func lookupCommand(s string) string {
	found, count := "", 0
	for _, c := range allCommands {
		if strings.HasPrefix(c, s) {
			if c == s {
				return c
			}
			found = c
			count++
		}
	}
	if count == 1 {
		return found
	}
	return ""
}

func findSpec(name string) *cmdSpec {
	for i := range cmdTable {
		if cmdTable[i].name == name {
			return &cmdTable[i]
		}
	}
	return nil
}

// xlGlobals are the options given before the command.
type xlGlobals struct{ dryrun bool }

func (e *Env) xl(args []string) int {
	var g xlGlobals
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for _, c := range a[1:] {
			switch c {
			case 'v', 'f', 't', 'T':
			case 'N':
				g.dryrun = true
			default:
				fmt.Fprintf(e.Stderr, "unknown global option\n")
				return 1
			}
		}
	}
	args = args[i:]
	if len(args) == 0 {
		e.help("")
		return 1
	}
	// xl reads its xl.conf before it looks at the command.
	fmt.Fprint(e.Stderr, e.xlConfMsgs)
	if e.xlConfFail {
		return 1
	}
	cmd := args[0]
	name := lookupCommand(cmd)
	if name == "" {
		if cmd == "help" {
			h := ""
			if len(args) > 1 {
				h = args[1]
			}
			e.help(h)
			return 0
		}
		fmt.Fprintf(e.Stderr, "command not implemented\n")
		return 1
	}
	spec := findSpec(name)
	if spec == nil {
		fmt.Fprintf(e.Stderr, "xlsim: 'xl %s' is not simulated\n", name)
		return 1
	}
	if g.dryrun && !spec.canDryrun {
		fmt.Fprintf(e.Stderr, "command does not implement -N (dryrun) option\n")
		return 1
	}
	if name == "create" && g.dryrun {
		return e.create(args[1:], true)
	}
	return spec.run(e, args[1:])
}

// help prints xl's help for a command, or the list of commands.
func (e *Env) help(command string) {
	w := e.Stdout
	if command == "" || command == "help" {
		fmt.Fprintf(w, "Usage xl [-vfNtT] <subcommand> [args]\n\n")
		fmt.Fprintf(w, "xl full list of subcommands:\n\n")
		for _, c := range cmdTable {
			fmt.Fprintf(w, " %-19s ", c.name)
			fmt.Fprintf(w, "%s\n", c.desc)
		}
		return
	}
	name := lookupCommand(command)
	spec := findSpec(name)
	if spec == nil {
		fmt.Fprintf(w, "command \"%s\" not implemented\n", command)
		return
	}
	f, n := "", ""
	if spec.modifies {
		f = "f"
	}
	if spec.canDryrun {
		n = "N"
	}
	fmt.Fprintf(w, "Usage: xl [-vtT%s%s] %s %s\n\n%s.\n\n", f, n, spec.name, spec.usage, spec.desc)
	if spec.options != "" {
		fmt.Fprintf(w, "Options:\n\n%s\n", spec.options)
	}
}

// opt is one option found by getopt.
type opt struct {
	c   rune
	arg string
}

// getopt parses a command's arguments like xl's def_getopt (GNU
// getopt_long, permuting): it returns the options and the operands, or
// prints the error/help and returns an exit code >= 0.
func (e *Env) getopt(cmd string, args []string, short string, long map[string]rune, reqargs int) ([]opt, []string, int) {
	var opts []opt
	var operands []string
	takesArg := func(c rune) bool {
		i := strings.IndexRune(short, c)
		return i >= 0 && i+1 < len(short) && short[i+1] == ':'
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			operands = append(operands, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			c, ok := long[name]
			if name == "help" {
				c, ok = 'h', true
			}
			if !ok {
				fmt.Fprintf(e.Stderr, "option `%s' not supported.\n", a)
				return nil, nil, 2
			}
			if c == 'h' {
				e.help(cmd)
				return nil, nil, 0
			}
			if takesArg(c) && !hasVal {
				if i+1 >= len(args) {
					fmt.Fprintf(e.Stderr, "option `%c' not supported.\n", c)
					return nil, nil, 2
				}
				i++
				val = args[i]
			}
			opts = append(opts, opt{c, val})
			continue
		}
		for j, c := range a[1:] {
			if c == 'h' {
				e.help(cmd)
				return nil, nil, 0
			}
			if c == ':' || !strings.ContainsRune(short, c) {
				fmt.Fprintf(e.Stderr, "option `%c' not supported.\n", c)
				return nil, nil, 2
			}
			if takesArg(c) {
				val := a[2+j:]
				if val == "" {
					if i+1 >= len(args) {
						fmt.Fprintf(e.Stderr, "option `%c' not supported.\n", c)
						return nil, nil, 2
					}
					i++
					val = args[i]
				}
				opts = append(opts, opt{c, val})
				break
			}
			opts = append(opts, opt{c, ""})
		}
	}
	if len(operands) < reqargs {
		s := ""
		if reqargs > 1 {
			s = "s"
		}
		fmt.Fprintf(e.Stderr, "'xl %s' requires at least %d argument%s.\n\n", cmd, reqargs, s)
		e.help(cmd)
		return nil, nil, 2
	}
	return opts, operands, -1
}

// errDomain reports an unknown domain the way find_domain does.
func (e *Env) errInvalidDomain(q string) int {
	fmt.Fprintf(e.Stderr, "%s is an invalid domain identifier (rc=-6)\n", q)
	return 1
}

// resolve turns a domain qualifier (a domid or a name) into a domid like
// libxl_domain_qualifier_to_domid: all digits is a domid, whether or not it
// exists; anything else must be the name of a domain.
func (s *session) resolve(q string) (int, bool) {
	if q != "" && strings.Trim(q, "0123456789") == "" {
		n, err := strconv.ParseUint(q, 10, 32)
		if err != nil {
			n = 1<<32 - 1
		}
		return int(n), true
	}
	if d := s.st.byName(q); d != nil {
		return d.ID, true
	}
	return 0, false
}

// fatal reports an internal failure of the simulator (not of xl).
func (e *Env) fatal(err error) int {
	fmt.Fprintf(e.Stderr, "xlsim: %v\n", err)
	return 1
}
