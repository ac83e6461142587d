package xlcfg

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Spec is one device spec string parsed as xl reads its `key=value,...`
// form: vif, vtpm, p9, pvcalls, vkb, vdispl, vsnd, channel, usbctrl.
type Spec map[string]string

// ParseSpec parses a comma-separated key=value device spec. A bare word
// (no '=') is kept with an empty value. Whitespace around items is
// ignored, as xl does.
func ParseSpec(spec string) (Spec, error) {
	out := Spec{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, _ := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("%q: an item with no key", spec)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// Disk is one `disk` spec, as docs/misc/xl-disk-configuration.txt
// describes it: positional `target,format,vdev,access` (fewer are allowed;
// the legacy form `phy:/dev/vg/x,xvda,w` too) or keyed, mixed.
type Disk struct {
	Target  string
	Format  string
	Vdev    string
	Access  string
	Backend string // backend=DOMAIN, "" for dom0
	Params  Spec   // every key=value item
}

var (
	diskFormats = map[string]bool{"raw": true, "qcow": true, "qcow2": true, "vhd": true, "qed": true, "empty": true}
	diskAccess  = map[string]bool{"r": true, "ro": true, "w": true, "rw": true}
	// Compiled on first use: every xl call of the simulator loads this
	// package, few parse a disk or a PCI address.
	vdevRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(xvd|hd|sd)[a-z]+\d*(:cdrom)?$|^d\d+(p\d+)?$`)
	})
)

// ParseDisk parses a disk spec. `target=` takes the rest of the spec, as
// it may contain commas.
func ParseDisk(spec string) (Disk, error) {
	d := Disk{Params: Spec{}}
	rest := spec
	var positional []string
	for rest != "" {
		item := rest
		if i := strings.IndexByte(rest, ','); i >= 0 {
			item, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		item = strings.TrimSpace(item)
		if strings.HasPrefix(item, "target=") {
			// target= is last and takes everything after it
			t := strings.TrimPrefix(item, "target=")
			if rest != "" {
				t += "," + rest
			}
			d.Target, rest = t, ""
			d.Params["target"] = t
			break
		}
		if item == "" {
			continue
		}
		if k, v, ok := strings.Cut(item, "="); ok {
			d.Params[k] = v
			continue
		}
		positional = append(positional, item)
	}
	// Positional: the first is the target (unless keyed); then a format,
	// a vdev and an access, recognised by their values.
	for i, p := range positional {
		switch {
		case i == 0 && d.Target == "" && !diskFormats[p] && !vdevRE().MatchString(p):
			d.Target = p
		case diskFormats[p] && d.Format == "":
			d.Format = p
		case diskAccess[p] && d.Access == "":
			d.Access = p
		case d.Vdev == "":
			d.Vdev = p
		case d.Target == "":
			d.Target = p
		default:
			return d, fmt.Errorf("disk %q: too many positional parameters (%q)", spec, p)
		}
	}
	for k, dst := range map[string]*string{"format": &d.Format, "vdev": &d.Vdev, "access": &d.Access, "backend": &d.Backend} {
		if v, ok := d.Params[k]; ok {
			*dst = v
		}
	}
	if d.Vdev == "" {
		return d, fmt.Errorf("disk %q: no vdev (a virtual device name like xvda)", spec)
	}
	return d, nil
}

// PCI is one `pci` spec: a device and its options.
type PCI struct {
	BDF     string // normalised DDDD:BB:DD.F
	Options Spec   // permissive=1, seize=1, msitranslate=..., ...
}

var bdfRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])(?:@([0-9a-fA-F]{1,2}))?$`)
})

// ParsePCI parses `[DDDD:]BB:DD.F[@VSLOT][,key=value...]` (the BDF form
// xl accepts, with or without the domain part).
func ParsePCI(spec string) (PCI, error) {
	bdf, opts, _ := strings.Cut(strings.TrimSpace(spec), ",")
	if k, v, ok := strings.Cut(bdf, "="); ok && k == "bdf" {
		bdf = v
	}
	n, err := NormaliseBDF(bdf)
	if err != nil {
		return PCI{}, fmt.Errorf("pci %q: %w", spec, err)
	}
	o, err := ParseSpec(opts)
	if err != nil {
		return PCI{}, fmt.Errorf("pci %q: %w", spec, err)
	}
	return PCI{BDF: n, Options: o}, nil
}

// NormaliseBDF turns `BB:DD.F` or `DDDD:BB:DD.F` into `DDDD:BB:DD.F`,
// lower case.
func NormaliseBDF(bdf string) (string, error) {
	m := bdfRE().FindStringSubmatch(strings.TrimSpace(bdf))
	if m == nil {
		return "", fmt.Errorf("%q is not a PCI address like 0000:00:19.0", bdf)
	}
	num := func(s string) int64 { v, _ := strconv.ParseInt(s, 16, 32); return v }
	dom := int64(0)
	if m[1] != "" {
		dom = num(m[1])
	}
	dev := num(m[3])
	if dev > 0x1f {
		return "", fmt.Errorf("%q: device number %#x is over 0x1f", bdf, dev)
	}
	return fmt.Sprintf("%04x:%02x:%02x.%s", dom, num(m[2]), dev, m[4]), nil
}

// Backend is one device served by another domain than dom0.
type Backend struct {
	Kind   string // vif, disk, vtpm, p9, ...
	Domain string // the backend domain's name or domid, as written
	Line   int
}

// specKeys are the list keys whose items are key=value specs that may name
// a backend domain.
var specKeys = []string{"vif", "vtpm", "p9", "pvcalls", "vkb", "vdispl", "vsnd", "channel", "usbctrl"}

// Backends returns every device spec with backend=X, sorted by kind then
// domain, and the first spec that cannot be parsed.
func (c *Config) Backends() ([]Backend, error) {
	var out []Backend
	for _, k := range specKeys {
		for _, item := range c.List(k) {
			s, err := ParseSpec(item)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", c.File, c.Keys[k].Line, k, err)
			}
			if b := s["backend"]; b != "" {
				out = append(out, Backend{Kind: k, Domain: b, Line: c.Keys[k].Line})
			}
		}
	}
	for _, item := range c.List("disk") {
		d, err := ParseDisk(item)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", c.File, c.Keys["disk"].Line, err)
		}
		if d.Backend != "" {
			out = append(out, Backend{Kind: "disk", Domain: d.Backend, Line: c.Keys["disk"].Line})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Domain < out[j].Domain
	})
	return out, nil
}

// PCIDevices returns the guest's `pci` list, parsed.
func (c *Config) PCIDevices() ([]PCI, error) {
	var out []PCI
	for _, item := range c.List("pci") {
		p, err := ParsePCI(item)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", c.File, c.Keys["pci"].Line, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// IsDom0 reports whether a backend names dom0, which makes no dependency.
func IsDom0(backend string) bool {
	b := strings.TrimSpace(backend)
	return b == "0" || b == "Domain-0" || b == "dom0"
}
