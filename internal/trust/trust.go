// Package trust judges whether a file xenorder acts on could have been
// written by someone other than root, as sshd's StrictModes and sudo do:
// xenorder runs as root, so whoever can change its config, the guests' xl
// configs or a program they name runs code as root.
//
// A path is trusted when every component of it, from / down, is owned by
// root or by the real uid running xenorder, and is writable neither by its
// group nor by others. A folder with the sticky bit that root owns, like
// /tmp, is trusted although anyone may write in it: nobody but root and
// an entry's owner can rename or delete that entry. Each component is
// looked at with lstat; a symbolic link must be owned as above (its mode
// means nothing) and is judged by what it points to: the target's path is
// walked from / as well. A program named without a slash is found on PATH
// as exec finds it; the folders searched before it (all of them, when it
// is not found) are judged too, since a program put there would be found
// first.
//
// A Checker only looks (lstat, stat, readlink); it never changes a file.
package trust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds the symbolic links followed for one path, as the
// kernel's ELOOP does.
const maxLinks = 40

// Checker judges paths and collects the problems found. Its zero value is
// not usable: see New.
type Checker struct {
	// UID is the user who, besides root, may own what is judged: the
	// real uid running xenorder (os.Getuid, never $SUDO_UID). Tests set
	// another to pretend to be that user.
	UID int
	// PATH is the search path for programs named without a slash.
	PATH string
	// Dir is the working folder relative names are taken from.
	Dir string

	problems []Problem
	judged   map[string]bool // paths with a problem recorded
	// What was looked at already: a config names the same folders and
	// programs many times.
	lstats   map[string]lstat
	programs map[string]bool
}

type lstat struct {
	fi  fs.FileInfo
	err error
}

// New returns a Checker for uid, searching programs on pathList (a $PATH)
// and taking relative names from dir.
func New(uid int, pathList, dir string) *Checker {
	return &Checker{UID: uid, PATH: pathList, Dir: dir}
}

// Problem is one path someone other than root (or the running user) can
// change.
type Problem struct {
	Path string // the file, folder or link at fault
	// What names what xenorder uses through Path: "the config", "guest
	// web's exec probe program", ...
	What string
	// Role says how Path leads to what: "" when Path is the file itself,
	// else e.g. "a folder above /opt/probes/check".
	Role   string
	Reason string // e.g. "writable by others (mode 0666)"
	Fix    string // the command that fixes it; "" when none is known
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(quote(p.Path))
	b.WriteString(" (")
	if p.Role != "" {
		b.WriteString(p.Role + ", for ")
	}
	b.WriteString(p.What + "): " + p.Reason)
	if p.Fix != "" {
		b.WriteString("; fix: " + p.Fix)
	}
	return b.String()
}

// Problems returns the problems found so far, in the order found.
func (c *Checker) Problems() []Problem { return c.problems }

// File judges path (taken from Dir when relative), every folder above it
// and every link on the way. what names what xenorder uses it for. A path
// that does not exist is not a problem (whoever reads or runs it fails),
// but the folders above it that exist are judged.
func (c *Checker) File(path, what string) {
	c.walk(c.abs(path), &walk{what: what, target: path})
}

// Program judges the program exec would run for name: name itself when
// it holds a slash, else the first executable NAME on PATH, with the
// folders of PATH searched before it (all of them when there is none).
func (c *Checker) Program(name, what string) {
	if name == "" {
		return
	}
	if strings.Contains(name, "/") {
		c.File(name, what)
		return
	}
	if c.programs[name] {
		return // its problems are listed once, for the first what
	}
	if c.programs == nil {
		c.programs = map[string]bool{}
	}
	c.programs[name] = true
	for _, dir := range filepath.SplitList(c.PATH) {
		if dir == "" {
			dir = "."
		}
		cand := c.abs(dir) + "/" + name
		if executable(cand) {
			c.File(cand, what)
			return
		}
		c.walk(c.abs(dir), &walk{what: what, target: dir, self: "a folder on $PATH searched for " + quote(name)})
	}
}

func (c *Checker) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return strings.TrimSuffix(c.Dir, "/") + "/" + p
}

// executable reports whether exec.LookPath would take path: an existing
// non-folder with an execute bit.
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// walk is one path being judged, for messages.
type walk struct {
	what   string
	target string // the path as named (before any link)
	self   string // the role of the last component: "" for the file itself
	links  int    // symbolic links followed so far
}

// walk judges each component of the absolute path p. p is not cleaned
// first: ".." is taken after the links before it are resolved, as the
// kernel does. Every component is judged even after a problem, so that
// all of a path's problems are listed at once.
func (c *Checker) walk(p string, w *walk) {
	comps := strings.Split(p, "/")
	last := -1 // the last component that names something
	for i, s := range comps {
		if s != "" && s != "." && s != ".." {
			last = i
		}
	}
	above := "a folder above " + quote(w.target)
	if w.links > 0 {
		above = "a folder on the way to " + quote(w.target)
	}
	if !c.judge("/", w.what, above) {
		return
	}
	cur := "/"
	for i := 1; i < len(comps); i++ {
		switch comps[i] {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, comps[i])
		fi, err := c.lstat(next)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				c.add(Problem{Path: next, What: w.what, Role: above, Reason: fmt.Sprintf("cannot be checked: %v", unwrapPath(err))})
			}
			return
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			role := above
			if i == last {
				role = w.self
			}
			if !c.judgeInfo(next, fi, w.what, role) {
				return
			}
			cur = next
			continue
		}
		role := "a symbolic link on the way to " + quote(w.target)
		if !c.judgeInfo(next, fi, w.what, role) {
			return
		}
		if w.links++; w.links > maxLinks {
			c.add(Problem{Path: w.target, What: w.what, Reason: "cannot be checked: too many levels of symbolic links"})
			return
		}
		dest, err := os.Readlink(next)
		if err != nil {
			c.add(Problem{Path: next, What: w.what, Role: role, Reason: fmt.Sprintf("cannot be checked: %v", unwrapPath(err))})
			return
		}
		if !filepath.IsAbs(dest) {
			dest = strings.TrimSuffix(cur, "/") + "/" + dest
		}
		if rest := strings.Join(comps[i+1:], "/"); rest != "" {
			dest += "/" + rest
		}
		if w.self == "" {
			w.self = "what " + quote(w.target) + " leads to"
		}
		c.walk(dest, w)
		return
	}
}

// lstat is os.Lstat, once per path.
func (c *Checker) lstat(path string) (fs.FileInfo, error) {
	if l, ok := c.lstats[path]; ok {
		return l.fi, l.err
	}
	if c.lstats == nil {
		c.lstats = map[string]lstat{}
	}
	fi, err := os.Lstat(path)
	c.lstats[path] = lstat{fi, err}
	return fi, err
}

// judge lstat's path and judges it.
func (c *Checker) judge(path, what, role string) bool {
	fi, err := c.lstat(path)
	if err != nil {
		c.add(Problem{Path: path, What: what, Role: role, Reason: fmt.Sprintf("cannot be checked: %v", unwrapPath(err))})
		return false
	}
	return c.judgeInfo(path, fi, what, role)
}

// judgeInfo judges one component from its lstat. It reports whether the
// walk may go on: it does after a problem too, so that every problem of a
// path is listed at once.
func (c *Checker) judgeInfo(path string, fi fs.FileInfo, what, role string) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		c.add(Problem{Path: path, What: what, Role: role, Reason: "cannot be checked: no owner known"})
		return false
	}
	uid := int(st.Uid)
	ownerOK := uid == 0 || uid == c.UID
	link := fi.Mode()&fs.ModeSymlink != 0
	perm := uint32(st.Mode) & 0o7777
	var reasons, fixes []string
	if !ownerOK {
		who := "root"
		if c.UID != 0 {
			who = fmt.Sprintf("root or uid %d (you)", c.UID)
		}
		reasons = append(reasons, fmt.Sprintf("owned by uid %d, not by %s", uid, who))
		if link {
			fixes = append(fixes, "chown -h root "+quote(path))
		} else {
			fixes = append(fixes, "chown root "+quote(path))
		}
	}
	if !link && perm&0o022 != 0 {
		sticky := fi.IsDir() && perm&0o1000 != 0
		switch {
		case sticky && uid == 0:
			// Like /tmp: only root and an entry's owner can replace it.
		case sticky && !ownerOK:
			// chown root makes it a folder like /tmp.
			reasons = append(reasons, fmt.Sprintf("%s (mode %04o; sticky, which is safe only when root owns it)", writableBy(perm), perm))
		default:
			reasons = append(reasons, fmt.Sprintf("%s (mode %04o)", writableBy(perm), perm))
			fixes = append(fixes, "chmod go-w "+quote(path))
		}
	}
	if len(reasons) > 0 {
		c.add(Problem{Path: path, What: what, Role: role, Reason: strings.Join(reasons, ", "), Fix: strings.Join(fixes, " && ")})
	}
	return true
}

func writableBy(perm uint32) string {
	switch {
	case perm&0o020 != 0 && perm&0o002 != 0:
		return "writable by group and others"
	case perm&0o020 != 0:
		return "writable by group"
	}
	return "writable by others"
}

// add records a problem once per path: a folder above many files is named
// once, for the first.
func (c *Checker) add(p Problem) {
	if c.judged == nil {
		c.judged = map[string]bool{}
	}
	if c.judged[p.Path] {
		return
	}
	c.judged[p.Path] = true
	c.problems = append(c.problems, p)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// quote makes a path safe to paste into a shell and to print: as it is
// when it holds only ordinary characters, else in single quotes; control
// characters are shown as Go escapes, never sent raw to the terminal.
func quote(p string) string {
	plain := p != ""
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%=", r)) {
			plain = false
			break
		}
	}
	if plain {
		return p
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Sprintf("%q", p)
		}
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
