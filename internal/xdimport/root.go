package xdimport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxLinks is how many symbolic links one path may go through (Linux's
// limit for a path lookup).
const maxLinks = 40

// fsRoot reads a host's files under a folder (import --root: a mounted
// disk, a chroot, a test fixture) as that host sees them: every path
// import handles is the host's, absolute, and an absolute symbolic link
// points inside the root, as in a chroot.
type fsRoot struct {
	dir string // "" for the running host
}

// real is where a host path is on this machine.
func (r fsRoot) real(host string) string {
	if r.dir == "" {
		return host
	}
	return filepath.Join(r.dir, host)
}

// resolve follows every symbolic link of host (an absolute path), inside
// the root, and returns the host path it names.
func (r fsRoot) resolve(host string) (string, error) {
	resolved := "/"
	rest := splitPath(host)
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		fi, err := os.Lstat(r.real(next))
		if err != nil {
			if links == 0 {
				next = host // no link followed: the path as given
			}
			return "", fmt.Errorf("%s: %w", next, unwrapPath(err))
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: more than %d symbolic links (a loop?)", host, maxLinks)
		}
		target, err := os.Readlink(r.real(next))
		if err != nil {
			return "", fmt.Errorf("%s: %w", next, unwrapPath(err))
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return resolved, nil
}

func splitPath(p string) []string { return strings.Split(filepath.ToSlash(p), "/") }

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
