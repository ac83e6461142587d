package xlsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// state.json is JSON written and read by the codec below rather than by
// encoding/json: every invocation reads and (most) rewrite the whole state,
// and encoding/json's reflection, its parsing of times and the memory it
// touches were most of what an `xl shutdown` cost, all of it under the
// exclusive lock. Each struct lists its fields once (domainFields, ...),
// in one order, for both directions: the encoder writes the fields that
// are not zero in that order, the decoder takes them back in that order
// and leaves the others zero. Times are Unix nanoseconds; a domain's
// xenstore keys are not in state.json (see xenstore). The PCI devices'
// state (rare, small) is as encoding/json writes it.
//
// The decoder reads only what the encoder writes: a key it does not expect
// where it is is an error, as is a state.json of another format.

// codec encodes (dec false) into out, or decodes (dec true) in.
type codec struct {
	dec bool
	out []byte
	n   int // fields written in the object being encoded

	in  []byte
	pos int
	key []byte // decoding: the key read and not taken yet, nil at the object's end
	err error
}

// ---- the fields of the state's structs ----

func domainFields(d *Domain, c *codec) {
	c.int("id", &d.ID)
	c.str("name", &d.Name)
	c.str("uuid", &d.UUID)
	c.str("type", &d.Type)
	c.int64("mem_mib", &d.MemMiB)
	c.int64("maxmem_mib", &d.MaxMemMiB)
	c.int("vcpus", &d.VCPUs)
	c.int("maxvcpus", &d.MaxVCPUs)
	c.str("cfg", &d.CfgPath)
	c.str("kernel", &d.Kernel)
	c.str("ramdisk", &d.Ramdisk)
	c.str("cmdline", &d.Cmdline)
	objList(c, "disks", &d.Disks, diskFields)
	objList(c, "nics", &d.Nics, nicFields)
	objList(c, "pci", &d.PCI, pciSpecFields)
	c.strs("pci_attached", &d.PCIAttached)
	c.bool("mem_given", &d.MemGiven)
	c.bool("vcpus_given", &d.VCPUsGiven)
	c.str("on_poweroff", &d.OnPoweroff)
	c.str("on_reboot", &d.OnReboot)
	c.str("on_watchdog", &d.OnWatchdog)
	c.str("on_crash", &d.OnCrash)
	c.str("on_soft_reset", &d.OnSoftReset)
	object(c, "behaviour", &d.B, behaviourFields)
	c.bool("want_stub", &d.WantStub)
	c.int64("stub_mem_mib", &d.StubMemMiB)
	c.int("stub_id", &d.StubID)
	c.int("stub_for", &d.StubFor)
	c.str("phase", &d.Phase)
	c.int("shutdown_reason", &d.ShutdownReason)
	c.bool("paused", &d.Paused)
	c.time("paused_at", &d.PausedAt)
	c.time("created_at", &d.CreatedAt)
	c.time("built_at", &d.BuiltAt)
	c.bool("booted", &d.Booted)
	c.time("boot_due", &d.BootDue)
	c.time("crash_due", &d.CrashDue)
	c.time("reboot_due", &d.RebootDue)
	c.bool("crash_done", &d.CrashDone)
	c.bool("reboot_done", &d.RebootDone)
	c.time("shutdown_due", &d.ShutdownDue)
	c.time("reap_due", &d.ReapDue)
	c.bool("shutdown_pending", &d.ShutdownPending)
	c.float("cpu", &d.CPU)
	c.time("run_since", &d.RunSince)
	// XS: in its own file (xenstore).
}

func behaviourFields(b *Behaviour, c *codec) {
	c.dur("create_time", &b.CreateTime)
	c.dur("boot_time", &b.BootTime)
	c.dur("shutdown_time", &b.ShutdownTime)
	c.dur("save_time", &b.SaveTime)
	c.dur("restore_time", &b.RestoreTime)
	c.dur("migrate_time", &b.MigrateTime)
	c.dur("crash_after", &b.CrashAfter)
	c.dur("reboot_after", &b.RebootAfter)
	c.bool("ignore_shutdown", &b.IgnoreShutdown)
	c.bool("needs_acpi", &b.NeedsACPI)
	c.bool("create_fail", &b.CreateFail)
	c.bool("create_hang", &b.CreateHang)
	c.bool("save_fail", &b.SaveFail)
	c.bool("migrate_fail", &b.MigrateFail)
	c.strs("xenstore", &b.Xenstore)
	c.strs("console", &b.Console)
}

func diskFields(d *Disk, c *codec) {
	c.str("backend_domname", &d.BackendDomname)
	c.str("pdev_path", &d.PdevPath)
	c.str("vdev", &d.Vdev)
	c.str("format", &d.Format)
	c.bool("readwrite", &d.Readwrite)
}

func nicFields(n *Nic, c *codec) {
	c.str("backend_domname", &n.BackendDomname)
	c.int("devid", &n.Devid)
	c.str("model", &n.Model)
	c.str("mac", &n.Mac)
	c.str("ip", &n.IP)
	c.str("bridge", &n.Bridge)
	c.str("ifname", &n.Ifname)
	c.str("script", &n.Script)
	c.str("nictype", &n.Nictype)
}

func pciSpecFields(p *PCISpec, c *codec) {
	object(c, "addr", &p.Addr, pciAddrFields)
	c.bool("has_bdf", &p.HasBDF)
	c.uint32("vfunc_mask", &p.VfuncMask)
	c.uint32("vdevfn", &p.Vdevfn)
	c.bool("msitranslate", &p.Msitranslate)
	c.bool("power_mgmt", &p.PowerMgmt)
	c.bool("permissive", &p.Permissive)
	c.bool("seize", &p.Seize)
	c.str("rdm_policy", &p.RdmPolicy)
	c.str("name", &p.Name)
	c.bool("has_name", &p.HasName)
}

func pciAddrFields(a *pciAddr, c *codec) {
	c.uint32("domain", &a.Dom)
	c.uint32("bus", &a.Bus)
	c.uint32("dev", &a.Dev)
	c.uint32("func", &a.Func)
}

func goneFields(g *GoneInfo, c *codec) {
	c.str("why", &g.Why)
	c.int("reason", &g.Reason)
}

// ---- the state ----

// encodeState appends state.json for st to dst: one domain a line. (The
// commit gives it the buffer state.json was read into: memory that a
// process touches for the first time costs a page fault, which on some
// virtual machines costs as much as encoding a domain.)
func encodeState(dst []byte, st *State) []byte {
	c := &codec{out: dst}
	c.out = append(c.out, '{')
	c.int("next_domid", &st.NextDomid)
	c.field("domains")
	c.out = append(c.out, '[')
	for i, d := range st.Domains {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, '\n')
		object(c, "", d, domainFields)
	}
	c.out = append(c.out, ']')
	if len(st.Gone) > 0 {
		ids := make([]int, 0, len(st.Gone))
		for id := range st.Gone {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		c.out = append(c.out, '\n')
		c.field("gone")
		c.out = append(c.out, '{')
		for i, id := range ids {
			if i > 0 {
				c.out = append(c.out, ',')
			}
			c.out = append(c.out, '"')
			c.out = strconv.AppendInt(c.out, int64(id), 10)
			c.out = append(c.out, "\":"...)
			g := st.Gone[id]
			object(c, "", &g, goneFields)
		}
		c.out = append(c.out, '}')
	}
	if len(st.PCI) > 0 {
		b, err := json.Marshal(st.PCI)
		if err != nil {
			panic(err) // strings, bools and pointers to them
		}
		c.out = append(c.out, '\n')
		c.field("pci")
		c.out = append(c.out, b...)
	}
	return append(c.out, "}\n"...)
}

// decodeState reads what encodeState wrote.
func decodeState(b []byte) (*State, error) {
	st := &State{}
	c := &codec{dec: true, in: b}
	c.open('{')
	c.int("next_domid", &st.NextDomid)
	if c.match("domains") {
		c.list(func() {
			d := &Domain{}
			object(c, "", d, domainFields)
			st.Domains = append(st.Domains, d)
		})
		c.next()
	}
	if c.match("gone") {
		st.Gone = map[int]GoneInfo{}
		c.expect('{')
		if !c.peek('}') {
			for c.err == nil {
				k := c.readString()
				c.expect(':')
				id, err := strconv.Atoi(k)
				if err != nil {
					c.fail("gone: domid %q", k)
				}
				var g GoneInfo
				object(c, "", &g, goneFields)
				st.Gone[id] = g
				if !c.peek(',') {
					break
				}
				c.pos++
			}
		}
		c.expect('}')
		c.next()
	}
	if c.match("pci") {
		start := c.pos
		c.skipValue()
		if c.err == nil {
			if err := json.Unmarshal(c.in[start:c.pos], &st.PCI); err != nil {
				c.fail("pci: %v", err)
			}
		}
		c.next()
	}
	c.close()
	c.ws()
	if c.err == nil && c.pos != len(c.in) {
		c.fail("garbage after the state")
	}
	if c.err != nil {
		return nil, c.err
	}
	return st, nil
}

// ---- xenstore keys ----

// encodeXS is the file of a domain's xenstore keys: a JSON object, the
// keys sorted.
func encodeXS(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	n := 2
	for k, v := range m {
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}', '\n')
}

// decodeXS reads what encodeXS wrote into m, as much of it as it can.
func decodeXS(b []byte, m map[string]string) {
	if len(b) == 0 {
		return
	}
	c := &codec{dec: true, in: b}
	c.expect('{')
	if !c.peek('}') {
		for c.err == nil {
			k := c.readString()
			c.expect(':')
			v := c.readString()
			if c.err == nil {
				m[k] = v
			}
			if !c.peek(',') {
				break
			}
			c.pos++
		}
	}
}

// ---- encoding and decoding ----

// object is a struct value: the field name (or "" for an element of a
// list or a map's value) and its fields.
func object[T any](c *codec, name string, p *T, fields func(*T, *codec)) {
	if c.dec {
		if name != "" && !c.match(name) {
			return
		}
		c.open('{')
		fields(p, c)
		c.close()
		if name != "" {
			c.next()
		}
		return
	}
	if name != "" {
		c.field(name)
	}
	saved := c.n
	c.n = 0
	c.out = append(c.out, '{')
	fields(p, c)
	c.out = append(c.out, '}')
	c.n = saved
}

// objList is a slice of structs, left out when empty.
func objList[T any](c *codec, name string, p *[]T, fields func(*T, *codec)) {
	if c.dec {
		if c.match(name) {
			c.list(func() {
				var v T
				object(c, "", &v, fields)
				*p = append(*p, v)
			})
			c.next()
		}
		return
	}
	if len(*p) == 0 {
		return
	}
	c.field(name)
	c.out = append(c.out, '[')
	for i := range *p {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		object(c, "", &(*p)[i], fields)
	}
	c.out = append(c.out, ']')
}

// field starts the value of a field being encoded.
func (c *codec) field(name string) {
	if c.n > 0 {
		c.out = append(c.out, ',')
	}
	c.n++
	c.out = append(c.out, '"')
	c.out = append(c.out, name...)
	c.out = append(c.out, '"', ':')
}

// match tells whether the next key of the object being decoded is name:
// then its value is to be read, and next called.
func (c *codec) match(name string) bool {
	return c.err == nil && c.key != nil && string(c.key) == name
}

func (c *codec) int(name string, p *int) {
	if c.dec {
		if c.match(name) {
			*p = int(c.readInt(64))
			c.next()
		}
	} else if *p != 0 {
		c.field(name)
		c.out = strconv.AppendInt(c.out, int64(*p), 10)
	}
}

func (c *codec) int64(name string, p *int64) {
	if c.dec {
		if c.match(name) {
			*p = c.readInt(64)
			c.next()
		}
	} else if *p != 0 {
		c.field(name)
		c.out = strconv.AppendInt(c.out, *p, 10)
	}
}

func (c *codec) uint32(name string, p *uint32) {
	if c.dec {
		if c.match(name) {
			n := c.readInt(64)
			if n < 0 || n > 1<<32-1 {
				c.fail("%s: %d is not a uint32", name, n)
			}
			*p = uint32(n)
			c.next()
		}
	} else if *p != 0 {
		c.field(name)
		c.out = strconv.AppendUint(c.out, uint64(*p), 10)
	}
}

func (c *codec) dur(name string, p *time.Duration) {
	c.int64(name, (*int64)(p))
}

// time is a time as Unix nanoseconds (in the local zone when read, as
// time.Now gives them), left out when zero.
func (c *codec) time(name string, p *time.Time) {
	if c.dec {
		if c.match(name) {
			*p = time.Unix(0, c.readInt(64))
			c.next()
		}
	} else if !p.IsZero() {
		c.field(name)
		c.out = strconv.AppendInt(c.out, p.UnixNano(), 10)
	}
}

func (c *codec) float(name string, p *float64) {
	if c.dec {
		if c.match(name) {
			start := c.pos
			for c.pos < len(c.in) && isNumberByte(c.in[c.pos]) {
				c.pos++
			}
			f, err := strconv.ParseFloat(string(c.in[start:c.pos]), 64)
			if err != nil {
				c.fail("%s: %v", name, err)
			}
			*p = f
			c.next()
		}
	} else if *p != 0 {
		c.field(name)
		c.out = strconv.AppendFloat(c.out, *p, 'g', -1, 64)
	}
}

func (c *codec) bool(name string, p *bool) {
	if c.dec {
		if c.match(name) {
			if c.literal("true") {
				*p = true
			} else if !c.literal("false") {
				c.fail("%s: not a bool", name)
			}
			c.next()
		}
	} else if *p {
		c.field(name)
		c.out = append(c.out, "true"...)
	}
}

func (c *codec) str(name string, p *string) {
	if c.dec {
		if c.match(name) {
			*p = c.readString()
			c.next()
		}
	} else if *p != "" {
		c.field(name)
		c.out = appendJSONString(c.out, *p)
	}
}

// strs is a list of strings, left out when empty (read back nil).
func (c *codec) strs(name string, p *[]string) {
	if c.dec {
		if c.match(name) {
			c.list(func() { *p = append(*p, c.readString()) })
			c.next()
		}
	} else if len(*p) > 0 {
		c.field(name)
		c.out = append(c.out, '[')
		for i, s := range *p {
			if i > 0 {
				c.out = append(c.out, ',')
			}
			c.out = appendJSONString(c.out, s)
		}
		c.out = append(c.out, ']')
	}
}

// appendJSONString appends s as a JSON string. Bytes that are not UTF-8
// go as they are (the decoder gives them back as they were): the state
// keeps what it was given, where the logs' appendStdJSONString writes
// what json.Marshal would.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 0x20 && ch != '"' && ch != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch ch {
		case '"', '\\':
			b = append(b, '\\', ch)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ---- the decoder's reading ----

func (c *codec) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("offset %d: %s", c.pos, fmt.Sprintf(format, args...))
	}
	c.pos = len(c.in)
}

func (c *codec) ws() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\n', '\t', '\r':
			c.pos++
		default:
			return
		}
	}
}

// peek skips white space and tells whether b is next.
func (c *codec) peek(b byte) bool {
	c.ws()
	return c.pos < len(c.in) && c.in[c.pos] == b
}

func (c *codec) expect(b byte) {
	if !c.peek(b) {
		c.fail("want %q", b)
		return
	}
	c.pos++
}

func (c *codec) literal(s string) bool {
	c.ws()
	if len(c.in)-c.pos >= len(s) && string(c.in[c.pos:c.pos+len(s)]) == s {
		c.pos += len(s)
		return true
	}
	return false
}

// open starts decoding an object (or the state, with '{'): it reads its
// first key.
func (c *codec) open(b byte) {
	c.expect(b)
	c.key = nil
	if !c.peek('}') {
		c.readKey()
	}
}

// next reads the key after a value just read, nil at the object's end.
func (c *codec) next() {
	c.key = nil
	if c.peek(',') {
		c.pos++
		c.readKey()
	}
}

// close ends decoding an object: every key must have been taken.
func (c *codec) close() {
	if c.key != nil {
		c.fail("unexpected key %q", c.key)
		return
	}
	c.expect('}')
	c.key = nil
}

func (c *codec) readKey() {
	c.expect('"')
	start := c.pos
	for c.pos < len(c.in) && c.in[c.pos] != '"' && c.in[c.pos] != '\\' {
		c.pos++
	}
	if c.pos >= len(c.in) || c.in[c.pos] != '"' {
		c.fail("bad key")
		return
	}
	c.key = c.in[start:c.pos]
	c.pos++
	c.expect(':')
}

// list reads a JSON array, calling elem for each element.
func (c *codec) list(elem func()) {
	saved := c.key
	c.expect('[')
	if !c.peek(']') {
		for c.err == nil {
			elem()
			if !c.peek(',') {
				break
			}
			c.pos++
		}
	}
	c.expect(']')
	c.key = saved
}

func isNumberByte(b byte) bool {
	return b >= '0' && b <= '9' || b == '-' || b == '+' || b == '.' || b == 'e' || b == 'E'
}

// readInt reads an integer that fits in bits bits.
func (c *codec) readInt(bits int) int64 {
	c.ws()
	neg := false
	if c.pos < len(c.in) && c.in[c.pos] == '-' {
		neg = true
		c.pos++
	}
	start := c.pos
	var n uint64
	for c.pos < len(c.in) && c.in[c.pos] >= '0' && c.in[c.pos] <= '9' {
		if n > (1<<63)/10 {
			c.fail("integer overflow")
			return 0
		}
		n = n*10 + uint64(c.in[c.pos]-'0')
		c.pos++
	}
	if c.pos == start || c.pos < len(c.in) && isNumberByte(c.in[c.pos]) {
		c.fail("not an integer")
		return 0
	}
	limit := uint64(1) << (bits - 1)
	if !neg && n >= limit || neg && n > limit {
		c.fail("integer overflow")
		return 0
	}
	if neg {
		return -int64(n)
	}
	return int64(n)
}

// readString reads a JSON string.
func (c *codec) readString() string {
	c.expect('"')
	if c.err != nil {
		return ""
	}
	start := c.pos
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case '"':
			s := string(c.in[start:c.pos])
			c.pos++
			return s
		case '\\':
			return c.readEscaped(start)
		}
		c.pos++
	}
	c.fail("unterminated string")
	return ""
}

// readEscaped reads the rest of a string that has escapes, from start
// (after its quote).
func (c *codec) readEscaped(start int) string {
	b := append([]byte(nil), c.in[start:c.pos]...)
	for c.pos < len(c.in) {
		ch := c.in[c.pos]
		switch {
		case ch == '"':
			c.pos++
			return string(b)
		case ch != '\\':
			b = append(b, ch)
			c.pos++
			continue
		}
		c.pos++
		if c.pos >= len(c.in) {
			break
		}
		e := c.in[c.pos]
		c.pos++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := c.readHex4()
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if c.pos+1 < len(c.in) && c.in[c.pos] == '\\' && c.in[c.pos+1] == 'u' {
					c.pos += 2
					r2 = c.readHex4()
				}
				r = utf16.DecodeRune(r, r2)
			}
			b = utf8.AppendRune(b, r)
		default:
			c.fail("bad escape \\%c", e)
			return ""
		}
	}
	c.fail("unterminated string")
	return ""
}

func (c *codec) readHex4() rune {
	if len(c.in)-c.pos < 4 {
		c.fail("bad \\u escape")
		return 0
	}
	var r rune
	for _, h := range c.in[c.pos : c.pos+4] {
		r <<= 4
		switch {
		case h >= '0' && h <= '9':
			r |= rune(h - '0')
		case h >= 'a' && h <= 'f':
			r |= rune(h - 'a' + 10)
		case h >= 'A' && h <= 'F':
			r |= rune(h - 'A' + 10)
		default:
			c.fail("bad \\u escape")
			return 0
		}
	}
	c.pos += 4
	return r
}

// skipValue skips any JSON value.
func (c *codec) skipValue() {
	c.ws()
	if c.pos >= len(c.in) {
		c.fail("want a value")
		return
	}
	switch c.in[c.pos] {
	case '"':
		c.readString()
	case '{':
		c.pos++
		if !c.peek('}') {
			for c.err == nil {
				c.readString()
				c.expect(':')
				c.skipValue()
				if !c.peek(',') {
					break
				}
				c.pos++
			}
		}
		c.expect('}')
	case '[':
		c.pos++
		if !c.peek(']') {
			for c.err == nil {
				c.skipValue()
				if !c.peek(',') {
					break
				}
				c.pos++
			}
		}
		c.expect(']')
	default:
		start := c.pos
		for c.pos < len(c.in) && (isNumberByte(c.in[c.pos]) || c.in[c.pos] >= 'a' && c.in[c.pos] <= 'z') {
			c.pos++
		}
		if c.pos == start {
			c.fail("want a value")
		}
	}
}
