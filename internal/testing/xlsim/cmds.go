package xlsim

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ---- faults ----

// Fault names understood in $XLSIM_DIR/faults (one per line).
const (
	FaultListGarbage  = "list-garbage"   // xl list prints garbage, rc 0
	FaultListEmpty    = "list-empty"     // xl list prints nothing, rc 0
	FaultListFailOnce = "list-fail-once" // the next xl list fails (rc 1), then the line goes
	FaultListHang     = "list-hang"      // xl list sleeps until killed
)

// readFaults returns the words of the faults file.
func (e *Env) readFaults() []string {
	f, err := os.Open(filepath.Join(e.Dir, "faults"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.TrimSpace(sc.Text())
		if w != "" && !strings.HasPrefix(w, "#") {
			out = append(out, w)
		}
	}
	return out
}

// dropFault removes the first line holding word from the faults file
// (called with the lock held).
func (e *Env) dropFault(word string) error {
	path := filepath.Join(e.Dir, "faults")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(b), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == word {
			lines = append(lines[:i], lines[i+1:]...)
			break
		}
	}
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "")), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func hasWord(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// ---- list ----

// cmdList is `xl list` (tools/xl/xl_info.c: main_list, list_domains,
// list_domains_details).
func (e *Env) cmdList(args []string) int {
	opts, operands, rc := e.getopt("list", args, "lvhZcn", map[string]rune{
		"long": 'l', "verbose": 'v', "context": 'Z', "cpupool": 'c', "numa": 'n',
	}, 0)
	if rc >= 0 {
		return rc
	}
	var long, verbose, context, cpupool, numa bool
	for _, o := range opts {
		switch o.c {
		case 'l':
			long = true
		case 'v':
			verbose = true
		case 'Z':
			context = true
		case 'c':
			cpupool = true
		case 'n':
			numa = true
		}
	}
	s, err := e.view()
	if err != nil {
		return e.fatal(err)
	}
	faults := e.readFaults()
	if s.shared && (hasWord(faults, FaultListHang) || hasWord(faults, FaultListFailOnce) ||
		hasWord(faults, FaultListEmpty) || hasWord(faults, FaultListGarbage)) {
		// A fault may be used up: that is a change.
		s.abort()
		if s, err = e.begin(); err != nil {
			return e.fatal(err)
		}
		faults = e.readFaults()
	}
	switch {
	case hasWord(faults, FaultListHang):
		s.commit()
		for {
			time.Sleep(time.Hour)
		}
	case hasWord(faults, FaultListFailOnce):
		err := e.dropFault(FaultListFailOnce)
		s.commit()
		if err != nil {
			return e.fatal(err)
		}
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_domain.c:335:libxl_list_domain: getting domain info list: Permission denied\n")
		fmt.Fprintf(e.Stderr, "libxl_list_domain failed.\n")
		return 1
	case hasWord(faults, FaultListEmpty):
		s.commit()
		return 0
	case hasWord(faults, FaultListGarbage):
		s.commit()
		e.Stdout.Write([]byte("Name  \x00\xff\xfe ID Mem\x1b[2J\x7fgarbage\xc3\x28 \x01\x02\x03\n@@@@ 12 x -- \xf0\x9f\n"))
		return 0
	}
	defer s.commit()

	doms := s.st.Domains
	if len(operands) == 1 {
		id, ok := s.resolve(operands[0])
		if !ok {
			return e.errInvalidDomain(operands[0])
		}
		d := s.st.byID(id)
		if d == nil {
			fmt.Fprintf(e.Stderr, "Error: Domain '%s' does not exist.\n", operands[0])
			return 1
		}
		doms = []*Domain{d}
	} else if len(operands) > 1 {
		e.help("list")
		return 1
	}

	var b strings.Builder
	if long {
		arr := jarr{}
		for _, d := range doms {
			arr = append(arr, jobj{{"domid", d.ID}, {"config", configJSON(d, cfgList)}})
		}
		b.WriteString(yajlGen(arr))
		b.WriteString("\n")
		fmt.Fprint(e.Stdout, b.String())
		return 0
	}
	b.WriteString("Name                                        ID   Mem VCPUs\tState\tTime(s)")
	if verbose {
		b.WriteString("   UUID                            Reason-Code\tSecurity Label")
	}
	if context && !verbose {
		b.WriteString("   Security Label")
	}
	if cpupool {
		b.WriteString("         Cpupool")
	}
	if numa {
		b.WriteString(" NODE Affinity")
	}
	b.WriteString("\n")
	for _, d := range doms {
		fmt.Fprintf(&b, "%-40s %5d %5d %5d     %s  %8.1f", d.Name, d.ID, d.MemMiB, d.VCPUs, d.flags(), d.cpuAt(s.now))
		if verbose {
			fmt.Fprintf(&b, " %s", d.UUID)
			if d.Phase == phaseShutdown || d.Phase == phaseSuspended {
				fmt.Fprintf(&b, " %8x", d.ShutdownReason)
			} else {
				fmt.Fprintf(&b, " %8s", "-")
			}
		}
		if verbose || context {
			fmt.Fprintf(&b, " %16s", "-")
		}
		if cpupool {
			fmt.Fprintf(&b, "%16s", "Pool-0")
		}
		if numa {
			b.WriteString(" all")
		}
		b.WriteString("\n")
	}
	fmt.Fprint(e.Stdout, b.String())
	return 0
}

// ---- info ----

const infoTemplate = `host                   : dom0
release                : 6.1.0-56-amd64
version                : #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)
machine                : x86_64
nr_cpus                : 2
max_cpu_id             : 1
nr_nodes               : 1
cores_per_socket       : 2
threads_per_core       : 1
cpu_mhz                : 2596.153
hw_caps                : 1fcbf3fd:f6d8320b:ec500800:00000077:00000005:018843a9:0000020c:00000000
virt_caps              : %s
total_memory           : %d
free_memory            : %d
sharing_freed_memory   : 0
sharing_used_memory    : 0
outstanding_claims     : 0
free_cpus              : 0
xen_major              : 4
xen_minor              : 17
xen_extra              : .7
xen_version            : 4.17.7
xen_caps               : xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64 
xen_scheduler          : credit2
xen_pagesize           : 4096
platform_params        : virt_start=0xffff800000000000
xen_changeset          : 
xen_commandline        : %s
cc_compiler            : x86_64-linux-gnu-gcc (Debian 12.2.0-14+deb12u1) 12.2.0
cc_compile_by          : pkg-xen-devel
cc_compile_domain      : lists.alioth.debian.org
cc_compile_date        : Wed Nov  4 16:52:28 UTC 2026
build_id               : 151b373fd64b321593bf987fd923cd10dabadac4
xend_config_format     : 4
`

// cmdInfo is `xl info`.
func (e *Env) cmdInfo(args []string) int {
	_, _, rc := e.getopt("info", args, "n", map[string]rune{"numa": 'n'}, 0)
	if rc >= 0 {
		return rc
	}
	s, err := e.view()
	if err != nil {
		return e.fatal(err)
	}
	free := s.freeMiB()
	s.commit()
	fmt.Fprintf(e.Stdout, infoTemplate, e.virtCaps(), e.TotalMemMiB, free, e.xenCommandline())
	return 0
}

// ---- domid ----

func (e *Env) cmdDomid(args []string) int {
	_, operands, rc := e.getopt("domid", args, "", nil, 1)
	if rc >= 0 {
		return rc
	}
	s, err := e.view()
	if err != nil {
		return e.fatal(err)
	}
	defer s.commit()
	d := s.st.byName(operands[0])
	if d == nil {
		fmt.Fprintf(e.Stderr, "Can't get domid of domain name '%s', maybe this domain does not exist.\n", operands[0])
		return 1
	}
	fmt.Fprintf(e.Stdout, "%d\n", d.ID)
	return 0
}

// ---- pause, unpause ----

func (e *Env) cmdPause(args []string) int   { return e.pauseUnpause("pause", args, true) }
func (e *Env) cmdUnpause(args []string) int { return e.pauseUnpause("unpause", args, false) }

func (e *Env) pauseUnpause(cmd string, args []string, pause bool) int {
	_, operands, rc := e.getopt(cmd, args, "", nil, 1)
	if rc >= 0 {
		return rc
	}
	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	defer s.commit()
	id, ok := s.resolve(operands[0])
	if !ok {
		return e.errInvalidDomain(operands[0])
	}
	d := s.st.byID(id)
	if d == nil {
		// xl ignores what libxl returns here.
		if pause {
			fmt.Fprintf(e.Stderr, "libxl: error: libxl_domain.c:587:libxl_domain_pause: Domain %d:Pausing domain: No such process\n", id)
		} else {
			fmt.Fprintf(e.Stderr, "libxl: error: libxl_dom.c:37:libxl__domain_type: unable to get domain type for domid=%d\n", id)
		}
		return 0
	}
	if id == 0 {
		return 0
	}
	if pause {
		if !d.Paused {
			d.Paused = true
			d.PausedAt = s.now
			d.syncCPU(s.now)
		}
		return 0
	}
	if d.Paused {
		// Time stood still for the guest while it was paused.
		delta := s.now.Sub(d.PausedAt)
		for _, t := range []*time.Time{&d.BootDue, &d.ShutdownDue, &d.CrashDue, &d.RebootDue} {
			if !t.IsZero() {
				*t = t.Add(delta)
			}
		}
		d.Paused = false
		d.PausedAt = time.Time{}
		d.syncCPU(s.now)
		if d.ShutdownPending && d.canAck() {
			s.ack(d, s.now)
		}
	}
	return 0
}

// ---- destroy ----

func (e *Env) cmdDestroy(args []string) int {
	opts, operands, rc := e.getopt("destroy", args, "f", nil, 1)
	if rc >= 0 {
		return rc
	}
	force := len(opts) > 0
	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	defer s.commit()
	id, ok := s.resolve(operands[0])
	if !ok {
		return e.errInvalidDomain(operands[0])
	}
	if id == 0 {
		if !force {
			fmt.Fprintf(e.Stderr, "Not destroying domain 0; use -f to force.\n"+
				"This can only be done when using a disaggregated hardware domain and toolstack.\n\n")
			return 1
		}
		fmt.Fprintf(e.Stderr, "destroy failed (rc=-3)\n")
		return 1
	}
	d := s.st.byID(id)
	if d == nil {
		e.errDestroyNonexistent(id)
		fmt.Fprintf(e.Stderr, "destroy failed (rc=-21)\n")
		return 1
	}
	s.removeDomain(d, s.now, GoneInfo{Why: "destroyed"}, "destroyed")
	return 0
}
