package xlsim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// The header of xl's save files (tools/xl/xl.h): a 32-byte magic, then
// byte order, mandatory flags, optional flags and optional data length as
// uint32s in the host's byte order; the optional data is the length of the
// domain's JSON config (uint32) and the config with its NUL. Real xl then
// has libxc's stream; the simulator has recordMarker and a JSON record of
// the Domain.
const (
	saveMagic      = "Xen saved domain, xl format\n \x00 \r"
	saveByteorder  = 0x01020304
	flagJSON       = 1 << 0
	flagStreamV2   = 1 << 1
	saveHeaderSize = 48
	recordMarker   = "\nxlsim domain record\n"
)

// SaveFileMagic is how every xl save file starts.
const SaveFileMagic = saveMagic

func archName(d *Domain) string {
	if d.Type == "pv" {
		return "x86 PV"
	}
	return "x86 HVM"
}

// cmdSave is `xl save [-c] [-p] DOMAIN FILE [CFG]`
// (tools/xl/xl_saverestore.c).
// savable resolves the domain a save or a migration takes: a guest, not
// Domain-0 or a stub domain. On failure it has committed the session,
// printed xl's message and returns its exit code; else rc is -1.
func (e *Env) savable(s *session, ident string) (d *Domain, rc int) {
	id, ok := s.resolve(ident)
	if !ok {
		s.commit()
		return nil, e.errInvalidDomain(ident)
	}
	d = s.st.byID(id)
	if d == nil || id == 0 || d.StubFor != 0 {
		s.commit()
		fmt.Fprintf(e.Stderr, "unable to retrieve domain configuration\n")
		return nil, 1
	}
	return d, -1
}

func (e *Env) cmdSave(args []string) int {
	opts, operands, rc := e.getopt("save", args, "cpD", nil, 2)
	if rc >= 0 {
		return rc
	}
	if len(operands) > 3 {
		e.help("save")
		return 1
	}
	var checkpoint, leavePaused bool
	mode := cfgSave
	for _, o := range opts {
		switch o.c {
		case 'c':
			checkpoint = true
		case 'p':
			leavePaused = true
		case 'D':
			mode = cfgSaveDomid
		}
	}
	filename := operands[1]

	s, err := e.begin()
	if err != nil {
		return e.fatal(err)
	}
	d, rc := e.savable(s, operands[0])
	if rc >= 0 {
		return rc
	}
	id := d.ID
	if len(operands) == 3 {
		data, err := os.ReadFile(operands[2])
		if err != nil {
			s.commit()
			fmt.Fprintf(e.Stderr, "unable to read overridden config file\n")
			return 1
		}
		nd, rc := e.parseGuest(operands[2], data)
		if rc >= 0 {
			s.commit()
			return rc
		}
		d.Name, d.MemMiB, d.MaxMemMiB, d.B = nd.Name, nd.MemMiB, nd.MaxMemMiB, nd.B
	}
	config := yajlGen(configJSON(d, mode))
	f, err := os.OpenFile(filename, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		s.commit()
		fmt.Fprintf(e.Stderr, "Failed to open temp file %s for writing\n", filename)
		return 1
	}
	defer f.Close()
	optLen := 4 + len(config) + 1
	var hdr bytes.Buffer
	hdr.WriteString(saveMagic)
	for _, v := range []uint32{saveByteorder, flagJSON | flagStreamV2, 0, uint32(optLen), uint32(len(config) + 1)} {
		binary.Write(&hdr, binary.LittleEndian, v)
	}
	hdr.WriteString(config)
	hdr.WriteByte(0)
	if _, err := f.Write(hdr.Bytes()); err != nil {
		s.commit()
		return e.fatal(err)
	}
	fmt.Fprintf(e.Stderr, "Saving to %s new xl format (info 0x%x/0x0/%d)\n", filename, flagJSON|flagStreamV2, optLen)
	fmt.Fprintf(e.Stderr, "xc: info: Saving domain %d, type %s\n", id, archName(d))
	// The guest is suspended while its memory is copied.
	wasPaused := d.Paused
	d.Phase = phaseSuspended
	d.ShutdownReason = reasonSuspend
	d.syncCPU(s.now)
	saveFail := d.B.SaveFail
	saveTime := d.B.SaveTime
	frames := d.MemMiB * 256
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}

	resume := func(s *session, d *Domain, paused bool) {
		d.Phase = phaseRunning
		d.ShutdownReason = 0
		if paused && !d.Paused {
			d.Paused, d.PausedAt = true, s.now
		}
		d.syncCPU(s.now)
	}
	if saveFail {
		time.Sleep(saveTime / 2)
		s, err := e.begin()
		if err != nil {
			return e.fatal(err)
		}
		if d := s.st.byID(id); d != nil && d.Phase == phaseSuspended {
			resume(s, d, wasPaused)
		}
		s.commit()
		fmt.Fprintf(e.Stderr, "xc: error: Save failed (5 = Input/output error): Internal error\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_stream_write.c:347:libxl__xc_domain_save_done: Domain %d:saving domain: domain responded to suspend request: Input/output error\n", id)
		fmt.Fprintf(e.Stderr, "Failed to save domain, resuming domain\n")
		return 1
	}

	// A save that is not live: all frames in one pass, spread over the
	// save time.
	progress := &xcProgress{w: e.Stderr}
	progress.single("Start of stream")
	progress.single("Domain now suspended")
	progress.pass("Frames", frames, saveTime)

	s, err = e.begin()
	if err != nil {
		return e.fatal(err)
	}
	d = s.st.byID(id)
	if d == nil || d.Phase != phaseSuspended {
		s.commit()
		fmt.Fprintf(e.Stderr, "xc: error: Save failed (3 = No such process): Internal error\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_stream_write.c:347:libxl__xc_domain_save_done: Domain %d:saving domain: domain responded to suspend request: No such process\n", id)
		fmt.Fprintf(e.Stderr, "Failed to save domain, resuming domain\n")
		return 1
	}
	rec, err := json.Marshal(d)
	if err == nil {
		_, err = f.Write(append([]byte(recordMarker), append(rec, '\n')...))
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		s.commit()
		return e.fatal(err)
	}
	progress.single("End of stream")
	progress.single("Complete")
	if checkpoint || leavePaused {
		resume(s, d, leavePaused || wasPaused)
	} else {
		s.removeDomain(d, s.now, GoneInfo{Why: "shutdown", Reason: reasonSuspend}, "saved")
	}
	if err := s.commit(); err != nil {
		return e.fatal(err)
	}
	return 0
}

// cmdRestore is `xl restore [-p] [CFG] FILE`.
func (e *Env) cmdRestore(args []string) int {
	opts, operands, rc := e.getopt("restore", args, "FcpdeVA", map[string]rune{
		"vncviewer": 'V', "vncviewer-autopass": 'A',
	}, 1)
	if rc >= 0 {
		return rc
	}
	paused := false
	for _, o := range opts {
		if o.c == 'p' {
			paused = true
		}
	}
	var cfgFile, file string
	switch len(operands) {
	case 1:
		file = operands[0]
	case 2:
		cfgFile, file = operands[0], operands[1]
	default:
		e.help("restore")
		return 1
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(e.Stderr, "Can't open restore file: %s\n", strerror(err))
		return 1
	}
	defer f.Close()
	hdr := make([]byte, saveHeaderSize)
	if _, err := io.ReadFull(f, hdr); err != nil {
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading header from %s\n", file)
		fmt.Fprintf(e.Stderr, "xl: fatal error: xl_vmcontrol.c:713: Protocol error: libxl_read_exactly( ctx, restore_fd, &hdr, sizeof(hdr), restore_source, \"header\")\n")
		return 1
	}
	if string(hdr[:32]) != saveMagic {
		fmt.Fprintf(e.Stderr, "File has wrong magic number - corrupt or for a different tool?\n")
		return 1
	}
	u32 := func(i int) uint32 { return binary.LittleEndian.Uint32(hdr[32+4*i:]) }
	if u32(0) != saveByteorder {
		fmt.Fprintf(e.Stderr, "File has wrong byte order\n")
		return 1
	}
	mandatory, optional, optLen := u32(1), u32(2), u32(3)
	fmt.Fprintf(e.Stderr, "Loading new save file %s (new xl fmt info 0x%x/0x%x/%d)\n", file, mandatory, optional, optLen)
	if bad := mandatory &^ (flagJSON | flagStreamV2); bad != 0 {
		fmt.Fprintf(e.Stderr, "Savefile has mandatory flag(s) 0x%x which are not supported; need newer xl\n", bad)
		return 1
	}
	if optLen > 0 {
		opt := make([]byte, optLen)
		if _, err := io.ReadFull(f, opt); err != nil {
			fmt.Fprintf(e.Stderr, "libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading optdata from %s\n", file)
			fmt.Fprintf(e.Stderr, "xl: fatal error: xl_vmcontrol.c:740: Protocol error: libxl_read_exactly( ctx, restore_fd, optdata_begin, hdr.optional_data_len, restore_source, \"optdata\")\n")
			return 1
		}
		js := ""
		if mandatory&flagJSON != 0 {
			js = " in JSON format"
		}
		fmt.Fprintf(e.Stderr, " Savefile contains xl domain config%s\n", js)
		if len(opt) < 4 || int(binary.LittleEndian.Uint32(opt)) > len(opt)-4 {
			fmt.Fprintf(e.Stderr, "Savefile truncated.\n")
			return 1
		}
	}

	// The simulator's record of the domain, where real xl has libxc's
	// stream.
	rest, err := io.ReadAll(f)
	var saved Domain
	if err == nil {
		body, ok := strings.CutPrefix(string(rest), recordMarker)
		if !ok {
			err = fmt.Errorf("no record")
		} else {
			err = json.Unmarshal([]byte(body), &saved)
		}
	}
	var spec *Domain
	if cfgFile != "" {
		data, rerr := os.ReadFile(cfgFile)
		if rerr != nil {
			fmt.Fprintf(e.Stderr, "Failed to read config file: %s: %s\n", cfgFile, strerror(rerr))
			return 1
		}
		fmt.Fprintf(e.Stderr, "Parsing config from %s\n", cfgFile)
		nd, rc := e.parseGuest(cfgFile, data)
		if rc >= 0 {
			return 1
		}
		spec = nd
	} else {
		if optLen == 0 {
			fmt.Fprintf(e.Stderr, "Config file not specified and none in save file\n")
			return 1
		}
		fmt.Fprintf(e.Stderr, "Parsing config from <saved>\n")
	}
	if err != nil || saved.Name == "" {
		fmt.Fprintf(e.Stderr, "xc: error: Failed to read Image Header from Stream (0 = Success): Internal error\n")
		fmt.Fprintf(e.Stderr, "libxl: error: libxl_stream_read.c:850:libxl__xc_domain_restore_done: restoring domain: Success\n")
		return 1
	}
	d := saved
	if spec != nil {
		spec.XS = saved.XS
		spec.CrashDone, spec.RebootDone = saved.CrashDone, saved.RebootDone
		d = *spec
	}
	d.ShutdownPending = false
	d.ShutdownDue = time.Time{}
	d.ShutdownReason = 0
	restored := &Domain{XS: d.XS}
	return e.launch(&d, launchOpts{
		buildTime: d.B.RestoreTime, paused: paused, failRC: 1, ev: "restored", restored: restored,
		onStart: func(int) {
			fmt.Fprintf(e.Stderr, "xc: info: Found %s domain from Xen 4.17\n", archName(&d))
			fmt.Fprintf(e.Stderr, "xc: info: Restoring domain\n")
		},
		onDone: func(id int) {
			fmt.Fprintf(e.Stderr, "xc: info: Restore successful\n")
			fmt.Fprintf(e.Stderr, "xc: info: XenStore: mfn 0xa7aab, dom 0, evt 1\n")
			fmt.Fprintf(e.Stderr, "xc: info: Console: mfn 0xa7aaa, dom 0, evt 2\n")
		},
	})
}
