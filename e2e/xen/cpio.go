//go:build xene2e

package xen

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// An archive is an initramfs being assembled: a cpio "newc" archive, the
// format the Linux kernel unpacks into its root filesystem. Entries are
// keyed by their path without a leading slash; parent folders are added as
// needed.
type archive struct {
	entries map[string]entry
}

type entry struct {
	mode     uint32 // type and permission bits, as in stat(2)
	data     []byte // regular file contents, when src is empty
	src      string // regular file: host file to copy
	target   string // symlink target
	devMaj   uint32 // device nodes
	devMin   uint32
	explicit bool // added by the caller, not implied as a parent
}

const (
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
	sIFCHR = 0o020000
)

func newArchive() *archive { return &archive{entries: map[string]entry{}} }

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

func (a *archive) parents(p string) {
	for d := path.Dir(p); d != "." && d != "/" && d != ""; d = path.Dir(d) {
		if _, ok := a.entries[d]; !ok {
			a.entries[d] = entry{mode: sIFDIR | 0o755}
		}
	}
}

func (a *archive) add(p string, e entry) {
	p = clean(p)
	e.explicit = true
	a.parents(p)
	a.entries[p] = e
}

// has reports whether p was added explicitly (not only as a parent folder).
func (a *archive) has(p string) bool {
	e, ok := a.entries[clean(p)]
	return ok && e.explicit
}

func (a *archive) dir(p string, perm uint32) { a.add(p, entry{mode: sIFDIR | perm}) }
func (a *archive) bytes(p string, perm uint32, b []byte) {
	a.add(p, entry{mode: sIFREG | perm, data: b})
}
func (a *archive) file(p string, perm uint32, src string) {
	a.add(p, entry{mode: sIFREG | perm, src: src})
}
func (a *archive) symlink(p, target string) { a.add(p, entry{mode: sIFLNK | 0o777, target: target}) }
func (a *archive) chardev(p string, perm, maj, min uint32) {
	a.add(p, entry{mode: sIFCHR | perm, devMaj: maj, devMin: min})
}

// writeFile writes the archive to the file name.
func (a *archive) writeFile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = a.write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// write writes the archive, in path order (so a folder precedes what it
// holds), owned by root, with mtime 0.
func (a *archive) write(w io.Writer) error {
	paths := make([]string, 0, len(a.entries))
	for p := range a.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	ino := uint32(1)
	for _, p := range paths {
		e := a.entries[p]
		var body []byte
		var size int64
		var src *os.File
		switch e.mode & 0o170000 {
		case sIFREG:
			if e.src != "" {
				f, err := os.Open(e.src)
				if err != nil {
					return err
				}
				fi, err := f.Stat()
				if err != nil {
					f.Close()
					return err
				}
				src, size = f, fi.Size()
			} else {
				body, size = e.data, int64(len(e.data))
			}
		case sIFLNK:
			body, size = []byte(e.target), int64(len(e.target))
		}
		err := writeHeader(w, ino, e.mode, 1, size, e.devMaj, e.devMin, p)
		if err == nil {
			if src != nil {
				var n int64
				n, err = io.Copy(w, src)
				if err == nil && n != size {
					err = fmt.Errorf("%s changed while archiving", e.src)
				}
				src.Close()
			} else {
				_, err = w.Write(body)
			}
		}
		if err == nil {
			err = pad(w, size)
		}
		if err != nil {
			return fmt.Errorf("cpio %s: %w", p, err)
		}
		ino++
	}
	return writeHeader(w, 0, 0, 1, 0, 0, 0, "TRAILER!!!")
}

func writeHeader(w io.Writer, ino, mode, nlink uint32, size int64, rmaj, rmin uint32, name string) error {
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rmaj, rmin, len(name)+1, 0)
	if _, err := io.WriteString(w, hdr+name+"\x00"); err != nil {
		return err
	}
	return pad(w, int64(len(hdr)+len(name)+1))
}

func pad(w io.Writer, n int64) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}

// gzipped is the archive as a gzip-compressed initramfs.
func (a *archive) gzipped() ([]byte, error) {
	var buf bytes.Buffer
	if err := a.write(&buf); err != nil {
		return nil, err
	}
	return gzipBytes(buf.Bytes(), gzip.BestCompression)
}
