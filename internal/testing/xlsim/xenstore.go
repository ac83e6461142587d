package xlsim

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// xsPath makes a xenstore path absolute and drops trailing slashes. A
// relative path is relative to /local/domain/0, the home of dom0's tools.
func xsPath(path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/local/domain/0/" + path
	}
	if len(path) > 1 {
		path = strings.TrimRight(path, "/")
	}
	return path
}

// xsRead looks a path up in the simulated xenstore. Every domain has its
// keys under /local/domain/<domid>/; a path that is a parent of keys reads
// as "" like xenstore's directory nodes. A relative path is relative to
// /local/domain/0, the home of dom0's tools. xenstore-read and the
// simulated xenstored's XS_READ both answer with it.
func (s *session) xsRead(path string) (string, bool) {
	path = xsPath(path)
	switch path {
	case "/", "/local", "/local/domain", "/vm", "/tool", "/libxl":
		return "", true
	}
	if path == "/libxl/pci" {
		return s.xsReadPCI("")
	}
	if rest, ok := strings.CutPrefix(path, "/libxl/pci/"); ok {
		return s.xsReadPCI(rest)
	}
	if rest, ok := strings.CutPrefix(path, "/vm/"); ok {
		for _, d := range s.st.Domains {
			if d.UUID == rest {
				return "", true
			}
			if r, ok := strings.CutPrefix(rest, d.UUID+"/"); ok && r == "name" {
				return d.Name, true
			}
		}
		return "", false
	}
	rest, ok := strings.CutPrefix(path, "/local/domain/")
	if !ok {
		return "", false
	}
	idStr, rel, _ := strings.Cut(rest, "/")
	id, err := strconv.Atoi(idStr)
	if err != nil || strconv.Itoa(id) != idStr {
		return "", false
	}
	d := s.st.byID(id)
	if d == nil {
		return "", false
	}
	if rel == "" {
		return "", true
	}
	xs := d.XS.kv()
	if v, ok := xs[rel]; ok {
		return v, true
	}
	for k := range xs {
		if strings.HasPrefix(k, rel+"/") {
			return "", true
		}
	}
	return "", false
}

// xsDirectory lists the children of a path of the simulated xenstore
// (XS_DIRECTORY), sorted, false when the path does not exist (xsRead). The
// children of /local/domain are the listed domains' domids in ascending
// order; those of /local/domain/<domid>/... come from the domain's keys, as
// xsRead reads them. A node without children lists none.
func (s *session) xsDirectory(path string) ([]string, bool) {
	path = xsPath(path)
	if _, ok := s.xsRead(path); !ok {
		return nil, false
	}
	var kids []string
	switch path {
	case "/":
		return []string{"libxl", "local", "tool", "vm"}, true
	case "/local":
		return []string{"domain"}, true
	case "/libxl":
		return []string{"pci"}, true
	case "/local/domain":
		ids := make([]int, 0, len(s.st.Domains))
		for _, d := range s.st.Domains {
			ids = append(ids, d.ID)
		}
		sort.Ints(ids)
		for _, id := range ids {
			kids = append(kids, strconv.Itoa(id))
		}
		return kids, true
	case "/vm":
		for _, d := range s.st.Domains {
			kids = append(kids, d.UUID)
		}
	case "/libxl/pci":
		for bdf := range s.st.PCI {
			if a, _, _, ok := parseBDF(bdf); ok {
				if _, ok := s.xsReadPCI(a.xsNode()); ok {
					kids = append(kids, a.xsNode())
				}
			}
		}
	default:
		var keys []string
		var under string
		if rest, ok := strings.CutPrefix(path, "/local/domain/"); ok {
			idStr, rel, _ := strings.Cut(rest, "/")
			id, _ := strconv.Atoi(idStr) // xsRead checked it
			for k := range s.st.byID(id).XS.kv() {
				keys = append(keys, k)
			}
			under = rel
		} else if rest, ok := strings.CutPrefix(path, "/vm/"); ok && !strings.Contains(rest, "/") {
			keys, under = []string{"name"}, ""
		} else if rest, ok := strings.CutPrefix(path, "/libxl/pci/"); ok && !strings.Contains(rest, "/") {
			for _, k := range []string{"domid", "driver_path", "name"} {
				if _, ok := s.xsReadPCI(rest + "/" + k); ok {
					keys = append(keys, k)
				}
			}
			under = ""
		}
		for _, k := range keys {
			if under != "" {
				var ok bool
				if k, ok = strings.CutPrefix(k, under+"/"); !ok {
					continue
				}
			}
			if first, _, _ := strings.Cut(k, "/"); first != "" {
				kids = append(kids, first)
			}
		}
	}
	sort.Strings(kids)
	return slices.Compact(kids), true
}

// sanitise renders a value like xenstore-read does (xs_lib.c:
// sanitise_value).
func sanitise(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= ' ' && c <= '~' && c != '\\' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('\\')
		switch c {
		case '\t':
			b.WriteByte('t')
		case '\n':
			b.WriteByte('n')
		case '\r':
			b.WriteByte('r')
		case '\\':
			b.WriteByte('\\')
		default:
			if c < 010 {
				fmt.Fprintf(&b, "%03o", c)
			} else {
				fmt.Fprintf(&b, "x%02x", c)
			}
		}
	}
	return b.String()
}

// xenstoreRead is `xenstore-read [-p] [-R] [-s] PATH...`
// (tools/xenstore/xenstore_client.c).
func (e *Env) xenstoreRead(argv0 string, args []string) int {
	var prefix, raw bool
	var paths []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			paths = append(paths, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			paths = append(paths, a)
			continue
		}
		var flags []rune
		switch a {
		case "--prefix":
			flags = []rune{'p'}
		case "--raw":
			flags = []rune{'R'}
		case "--help":
			flags = []rune{'h'}
		default:
			if strings.HasPrefix(a, "--") {
				flags = []rune{'?'}
			} else {
				flags = []rune(a[1:])
			}
		}
		for _, c := range flags {
			switch c {
			case 'p':
				prefix = true
			case 'R':
				raw = true
			case 's':
			default:
				if c != 'h' {
					fmt.Fprintf(e.Stderr, "xenstore-read: unrecognized option '%s'\n", a)
				}
				fmt.Fprintf(e.Stderr, "xenstore-read: Usage: %s [-h] [-p] [-s] [-R] key [...]\n", argv0)
				return 1
			}
		}
	}
	if len(paths) == 0 {
		fmt.Fprintf(e.Stderr, "xenstore-read: Usage: %s [-h] [-p] [-s] [-R] key [...]\n", argv0)
		return 1
	}
	begin := e.view
	for _, p := range paths {
		if strings.Contains(p, "/libxl/pci") {
			begin = e.begin // fills in the PCI devices' state as it reads
		}
	}
	s, err := begin()
	if err != nil {
		fmt.Fprintf(e.Stderr, "xenstore-read: xs_open: %v\n", err)
		return 1
	}
	var out strings.Builder
	rc := 0
	for _, p := range paths {
		v, ok := s.xsRead(p)
		if !ok {
			fmt.Fprintf(e.Stderr, "xenstore-read: couldn't read path %s\n", p)
			rc = 1
			break
		}
		if prefix {
			out.WriteString(p + ": ")
		}
		if raw {
			out.WriteString(v)
		} else {
			out.WriteString(sanitise(v) + "\n")
		}
	}
	s.commit()
	fmt.Fprint(e.Stdout, out.String())
	return rc
}
