package xlsim

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/xenorder/xenorder/internal/xlcfg"
)

// Host memory and dom0 ballooning (tools/xl/xl.c: parse_global_config,
// auto_autoballoon; tools/xl/xl_vmcontrol.c: freemem;
// tools/libs/light/libxl_mem.c: libxl_set_memory_target,
// libxl__domain_need_memory_calculate).
//
// Without autoballoon (the default) Xen boots with dom0_mem=1024M: Domain-0
// has 1024 MiB and the rest is free. With it Xen boots without dom0_mem=
// and gives Domain-0 all the memory but dom0SlackMiB; xl create balloons
// Domain-0 down to make room for each new domain.

// Defaults of the memory model.
const (
	DefaultDom0MinMemory = 512 // $XLSIM_DOM0_MIN_MEMORY, MiB
	dom0FixedMiB         = 1024
	// dom0SlackMiB is what Xen leaves free when it gives Domain-0 all the
	// memory: xl info's free_memory reads this on a fresh autoballoon host.
	dom0SlackMiB = 3
)

// The Xen command lines of the two kinds of host, as xl info shows them.
const (
	cmdlineDom0Mem = "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 loglvl=all guest_loglvl=all noreboot bootscrub=false"
	cmdlineNoMem   = "console=com1 com1=115200,8n1 dom0_max_vcpus=1 loglvl=all guest_loglvl=all noreboot bootscrub=false"
)

// dom0MemRE finds a dom0_mem= option on Xen's command line, as xl's
// auto_autoballoon does (a POSIX extended regular expression there).
var dom0MemRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(^| )dom0_mem=((|min:|max:)(-?[0-9]+[bBkKmMgGtT]?|(-?[0-9]+[bBkKmMgGtT]?\+)?[0-9]{1,2}%),?)+($| )`)
})

// xenCommandline is the hypervisor's command line (xl info's
// xen_commandline): with dom0_mem= unless Domain-0 is ballooned.
func (e *Env) xenCommandline() string {
	if e.Autoballoon {
		return cmdlineNoMem
	}
	return cmdlineDom0Mem
}

// readXLConf reads the xl.conf at $XLSIM_XL_CONF (if set) like xl reads
// /etc/xen/xl.conf and settles e.Autoballoon: "on"/"1" and "off"/"0"
// decide it; "auto", no autoballoon= or no file leave what the host's
// command line implies (no dom0_mem=: on). What xl would print about the
// file is kept in e.xlConfMsgs; e.xlConfFail is set when xl would exit.
func (e *Env) readXLConf() {
	if e.XLConf == "" {
		return
	}
	var msgs strings.Builder
	defer func() { e.xlConfMsgs = msgs.String() }()
	data, err := os.ReadFile(e.XLConf)
	if err != nil {
		fmt.Fprintf(&msgs, "Failed to read config file: %s: %s\n", e.XLConf, strerror(err))
		data = nil
	}
	c, err := xlcfg.Parse(e.XLConf, data)
	if err != nil {
		fmt.Fprintln(&msgs, err)
		fmt.Fprintf(&msgs, "Failed to parse config file: Invalid argument\n")
		e.xlConfFail = true
		return
	}
	v, ok := c.String("autoballoon")
	if !ok {
		return
	}
	switch v {
	case "on", "1":
		e.Autoballoon = true
	case "off", "0":
		e.Autoballoon = false
	case "auto":
		e.Autoballoon = !dom0MemRE().MatchString(e.xenCommandline())
	default:
		msgs.WriteString("invalid autoballoon option") // sic: no newline
		e.Autoballoon = !dom0MemRE().MatchString(e.xenCommandline())
	}
}

// bootDom0 sizes Domain-0 as Xen does at boot: dom0_mem=1024M, or with
// autoballoon all the host's memory but dom0SlackMiB.
func (e *Env) bootDom0(d0 *Domain) {
	if !e.Autoballoon {
		return
	}
	m := e.TotalMemMiB - dom0SlackMiB
	if m < 1 {
		m = e.TotalMemMiB
	}
	d0.MemMiB, d0.MaxMemMiB = m, m
}

// freeMiB is xl info's free_memory: what the domains leave of the host.
func (s *session) freeMiB() int64 {
	free := s.env.TotalMemMiB - s.st.usedMiB()
	if free < 0 {
		free = 0
	}
	return free
}

// needMemKiB is what libxl_domain_need_memory says a new domain needs, in
// KiB: its memory, the paging (shadow/HAP) pool (a MiB per vcpu and 4 KiB
// per MiB of maxmem on this host, whose hardware has HAP), the IOMMU page
// tables of a domain with PCI devices (passthrough "sync_pt": the host has
// no iommu_hap_pt_share), a constant for the domain's type and its stub
// domain (with video memory), rounded up to 2 MiB.
func needMemKiB(d *Domain) int64 {
	maxMiB := d.MaxMemMiB
	if maxMiB < d.MemMiB {
		maxMiB = d.MemMiB
	}
	vcpus := d.MaxVCPUs
	if vcpus < d.VCPUs {
		vcpus = d.VCPUs
	}
	if vcpus < 1 {
		vcpus = 1
	}
	need := d.MemMiB * 1024
	need += 4 * (256*int64(vcpus) + maxMiB)
	if len(d.PCI) > 0 {
		pages, iommu := maxMiB*256, int64(0)
		for level := 0; level < 4; level++ {
			pages = (pages + 511) / 512
			iommu += pages
		}
		need += iommu * 4
	}
	if d.Type == "pv" {
		need += 1024
	} else {
		need += 2048
		if d.WantStub {
			need += d.StubMemMiB * 1024
		}
	}
	if r := need % 2048; r != 0 {
		need += 2048 - r
	}
	return need
}

// reserveMemory is xl's freemem before it creates d, with the lock held:
// it reports false, after xl's and libxl's messages, if the domain cannot
// have its memory. Without autoballoon the domain's memory (and its stub
// domain's) must be free. With it Domain-0 is ballooned down by what is
// missing of libxl's estimate, unless that takes it below the minimum.
func (s *session) reserveMemory(d *Domain) bool {
	e := s.env
	if !e.Autoballoon {
		need := d.MemMiB
		if d.WantStub {
			need += d.StubMemMiB
		}
		if need > e.TotalMemMiB-s.st.usedMiB() {
			fmt.Fprintf(e.Stderr, "failed to free memory for the domain\n")
			return false
		}
		return true
	}
	needKiB := needMemKiB(d)
	freeKiB := s.freeMiB() * 1024
	if freeKiB >= needKiB {
		return true
	}
	d0 := s.st.byID(0)
	// libxl_set_memory_target(ctx, 0, free - need, relative, !enforce)
	target := d0.MemMiB*1024 + freeKiB - needKiB
	if target < 0 {
		target = 0
	}
	if target < e.Dom0MinMiB*1024 {
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_mem.c:287:libxl_set_memory_target: Domain 0:New target %d for dom0 is below the minimum threshold\n", target)
		fmt.Fprintf(e.Stderr, "failed to free memory for the domain\n")
		return false
	}
	xs := d0.XS.kv()
	if _, ok := xs["memory/static-max"]; !ok {
		xs["memory/static-max"] = fmt.Sprint(d0.MaxMemMiB * 1024)
	}
	xs["memory/target"] = fmt.Sprint(target)
	// The balloon driver reaches the target at once (xl waits for it).
	d0.MemMiB = target / 1024
	return true
}
