package xlsim

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xenorder/xenorder/internal/xlcfg"
)

// strerror renders an error of a file operation like C's strerror.
func strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}

func (e *Env) cmdCreate(args []string) int { return e.create(args, false) }

// create is `xl create` (tools/xl/xl_vmcontrol.c: main_create and
// create_domain).
func (e *Env) create(args []string, dryrun bool) int {
	filename := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && !strings.Contains(args[0], "=") {
		filename = args[0]
		args = args[1:]
	}
	opts, operands, rc := e.getopt("create", args, "Fnqf:pcdeVA", map[string]rune{
		"dryrun": 'n', "quiet": 'q', "defconfig": 'f', "vncviewer": 'V', "vncviewer-autopass": 'A',
		"ignore-global-affinity-masks": 'i',
	}, 0)
	if rc >= 0 {
		return rc
	}
	quiet, paused := false, false
	for _, o := range opts {
		switch o.c {
		case 'f':
			filename = o.arg
		case 'p':
			paused = true
		case 'n':
			dryrun = true
		case 'q':
			quiet = true
		}
	}
	var extra strings.Builder
	for _, a := range operands {
		switch {
		case strings.Contains(a, "="):
			extra.WriteString(a + "\n")
		case filename == "":
			filename = a
		default:
			e.help("create")
			return 2
		}
	}
	if filename == "" {
		fmt.Fprintf(e.Stderr, "Config file not specified and none in save file\n")
		return 6
	}
	var data []byte
	if filename != "/dev/null" {
		var err error
		data, err = os.ReadFile(filename)
		if err != nil {
			fmt.Fprintf(e.Stderr, "Failed to read config file: %s: %s\n", filename, strerror(err))
			return 3
		}
	}
	if extra.Len() > 0 {
		data = append(data, "\n"+extra.String()+"\n"...)
	}
	if !quiet {
		fmt.Fprintf(e.Stderr, "Parsing config from %s\n", filename)
	}
	d, rc := e.parseGuest(filename, data)
	if rc >= 0 {
		return rc
	}
	if abs, err := filepath.Abs(filename); err == nil {
		d.CfgPath = abs
	}
	if dryrun {
		fmt.Fprint(e.Stdout, yajlGen(configJSON(d, cfgDryrun)))
		return 0
	}
	return e.launch(d, launchOpts{
		buildTime: d.B.CreateTime, hang: d.B.CreateHang, fail: d.B.CreateFail,
		paused: paused, failRC: 3, ev: "created",
	})
}

// parseGuest parses a guest config as xl does, printing xl's messages.
func (e *Env) parseGuest(source string, data []byte) (*Domain, int) {
	c, err := xlcfg.Parse(source, data)
	if err != nil {
		fmt.Fprintln(e.Stderr, err)
		var pe *xlcfg.ParseError
		if errors.As(err, &pe) && pe.LikelyPython {
			fmt.Fprint(e.Stderr, xlcfg.PythonWarning)
		}
		fmt.Fprintf(e.Stderr, "Failed to parse config: Invalid argument\n")
		return nil, 1
	}
	return e.guestFromConfig(c)
}

type launchOpts struct {
	buildTime time.Duration
	hang      bool // never finish building (xlsim_create_hang)
	fail      bool // fail at the end of building (xlsim_create_fail)
	paused    bool // leave the domain paused
	failRC    int  // exit code when libxl fails: 3 for create, 1 for restore
	ev        string
	restored  *Domain // restore: the saved domain, whose xenstore it gets
	onStart   func(domid int)
	// onDone is called once the domain is built (for restore: the stream
	// is read), also when attaching its PCI devices then fails.
	onDone func(domid int)
}

// errAlreadyExists prints libxl's errors for a name in use (the domid was
// taken all the same).
func (e *Env) errAlreadyExists(name string, domid int) {
	fmt.Fprintf(e.Stderr, "libxl: error: libxl_domain.c:81:libxl__domain_rename: Domain %d:Domain with name \"%s\" already exists.\n", domid, name)
	fmt.Fprintf(e.Stderr, "libxl: error: libxl_create.c:1296:initiate_domain_create: Domain %d:cannot make domain: -6\n", domid)
	e.errDestroyNonexistent(domid)
}

func (e *Env) errDestroyNonexistent(domid int) {
	fmt.Fprintf(e.Stderr, "libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain %d:Non-existant domain\n", domid)
	fmt.Fprintf(e.Stderr, "libxl: error: libxl_domain.c:1137:domain_destroy_callback: Domain %d:Unable to destroy guest\n", domid)
	fmt.Fprintf(e.Stderr, "libxl: error: libxl_domain.c:1064:domain_destroy_cb: Domain %d:Destruction of domain failed\n", domid)
}

// missingNicBackend returns the index of d's first vif whose backend=
// names a domain that does not exist (libxl_name_to_domid finds no domain
// of that name: a domid, dom0 and a domain being built or shut down
// resolve).
func (s *session) missingNicBackend(d *Domain) (int, bool) {
	for i, n := range d.Nics {
		b := strings.TrimSpace(n.BackendDomname)
		if b == "" || xlcfg.IsDom0(b) {
			continue
		}
		if _, err := strconv.Atoi(b); err == nil {
			continue
		}
		if s.st.byName(b) == nil {
			return i, true
		}
	}
	return 0, false
}

// launch builds a new domain from d (create or restore): it takes a domid
// for it (and one for its stub domain), keeps it being built (--p---) for
// buildTime without holding the lock, then finishes it.
func (e *Env) launch(d *Domain, o launchOpts) int {
	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	// xl's freemem, under the lock like xl's: the memory is the new
	// domain's from here on (it holds it while it is being built).
	if !s.reserveMemory(d) {
		if err := s.commit(); err != nil {
			return e.fatal(err)
		}
		return o.failRC
	}
	d.ID = s.st.NextDomid
	s.st.NextDomid++
	if s.st.byName(d.Name) != nil {
		e.errAlreadyExists(d.Name, d.ID)
		if err := s.commit(); err != nil {
			return e.fatal(err)
		}
		return o.failRC
	}
	if nic, ok := s.missingNicBackend(d); ok {
		// libxl makes the domain, then resolves each vif's backend=
		// domain name (libxl__device_nic_setdefault), fails and
		// destroys what it made; the domid is spent. Real xl 4.17:
		// exit 3 after ~5s (the e2e suite, a guest with
		// vif = ["backend=Domain-N"] while Domain-N does not run).
		if err := s.commit(); err != nil {
			return e.fatal(err)
		}
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_nic.c:520:libxl__device_nic_set_devids: Domain %d:Unable to set nic defaults for nic %d\n", d.ID, nic)
		e.errDestroyNonexistent(d.ID)
		return o.failRC
	}
	d.Phase = phaseBuilding
	d.CreatedAt = s.now
	d.StubID, d.StubFor = 0, 0
	d.Paused = false
	d.CPU, d.RunSince = 0, time.Time{}
	d.PCIAttached = nil
	d.XS = xsOf(baseXenstore(d))
	s.st.add(d)
	if d.WantStub {
		s.newStub(d, s.now)
	}
	id := d.ID
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}
	if o.onStart != nil {
		o.onStart(id)
	}

	// Building, unlocked. SIGINT/SIGTERM abort it: libxl destroys the
	// half-built domain.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	var done <-chan time.Time
	if !o.hang {
		done = time.After(o.buildTime)
	}
	select {
	case <-done:
	case <-sigc:
		if s, err := e.begin(); err == nil {
			if dd := s.st.byID(id); dd != nil && dd.Phase == phaseBuilding {
				s.removeDomain(dd, s.now, GoneInfo{Why: "destroyed"}, "destroyed")
			}
			s.commit()
		}
		return 1
	}

	s, err = e.begin()
	if err != nil {
		return e.fatal(err)
	}
	dd := s.st.byID(id)
	if dd == nil || dd.Phase != phaseBuilding {
		// Destroyed behind our back.
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain %d:cannot (re-)build domain: -3\n", id)
		if dd == nil {
			e.errDestroyNonexistent(id)
		}
		s.commit()
		return o.failRC
	}
	if o.fail {
		s.removeDomain(dd, s.now, GoneInfo{Why: "destroyed"}, "destroyed")
		if err := s.commit(); err != nil {
			return e.fatal(err)
		}
		fmt.Fprintf(e.Stderr, "xc: error: panic: xg_dom_core.c:690: xc_dom_find_loader: no loader found: Invalid kernel\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_dom.c:571:libxl__build_dom: xc_dom_parse_image failed\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain %d:cannot (re-)build domain: -3\n", id)
		return o.failRC
	}
	// The devices are attached last; PCI passthrough can fail.
	var pciMsgs strings.Builder
	pciOK, err := s.attachPCI(&pciMsgs, dd)
	if err != nil {
		s.removeDomain(dd, s.now, GoneInfo{Why: "destroyed"}, "destroyed")
		s.commit()
		return e.fatal(err)
	}
	if !pciOK {
		s.removeDomain(dd, s.now, GoneInfo{Why: "destroyed"}, "destroyed")
		if err := s.commit(); err != nil {
			return e.fatal(err)
		}
		if o.onDone != nil {
			o.onDone(id)
		}
		fmt.Fprint(e.Stderr, pciMsgs.String())
		// libxl destroys the domain; then xl destroys it again.
		e.errDestroyNonexistent(id)
		return o.failRC
	}
	s.built(dd, s.now)
	s.event(dd, s.now, o.ev)
	if stub := s.st.byID(dd.StubID); stub != nil && dd.StubID != 0 {
		s.built(stub, s.now)
		s.event(stub, s.now, "created")
	}
	if o.restored != nil {
		// The guest comes back up as it was saved.
		dd.Booted = true
		dd.BootDue = time.Time{}
		for k, v := range o.restored.XS.kv() {
			switch k {
			case "name", "domid", "vm", "console/backend", "image/device-model-domid":
			default:
				dd.XS.kv()[k] = v
			}
		}
	} else {
		s.console(dd, kernelBanner)
	}
	if o.paused {
		dd.Paused = true
		dd.PausedAt = s.now
		dd.syncCPU(s.now)
	}
	s.advance()
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}
	if o.onDone != nil {
		o.onDone(id)
	}
	return 0
}
