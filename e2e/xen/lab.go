//go:build xene2e

package xen

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

//go:embed rootfs
var rootfsFS embed.FS

// xenVersion is the Xen release the lab runs; its tools live in
// /usr/lib/xen-<xenVersion>/bin.
const xenVersion = "4.17"

// basePackages are the Debian packages the lab is built from, besides the
// kernel (linux-image-amd64 names the current ABI's package, resolved at
// download time). The libraries are the run-time closure of the tools the
// lab copies (checked when the image is built: a missing one is an error
// naming it).
var basePackages = []string{
	"xen-hypervisor-4.17-amd64", "xen-utils-4.17", "xen-utils-common", "xenstore-utils",
	"libxencall1", "libxendevicemodel1", "libxenevtchn1", "libxenforeignmemory1",
	"libxengnttab1", "libxenhypfs1", "libxenmisc4.17", "libxenstore4", "libxentoolcore1",
	"libxentoollog1", "libyajl2", "libuuid1", "zlib1g", "liblzma5", "libzstd1",
	"libc6", "libgcc-s1", "libtinfo6", "libncurses6",
	"busybox-static",
}

// dom0Tools are the toolstack programs copied into dom0, from
// /usr/lib/xen-4.17/bin.
var dom0Tools = []string{
	"xl", "oxenstored", "xenstored", "xenconsoled", "xen-init-dom0", "libxl-save-helper", "xenconsole",
}

// xenstoreTools are copied from /usr/bin (one multi-call binary under
// several names: the name decides what it does).
var xenstoreTools = []string{
	"xenstore-read", "xenstore-write", "xenstore-ls", "xenstore-exists", "xenstore-list", "xenstore-rm",
}

// dom0Modules are loaded in dom0, after their dependencies (read from each
// module's .modinfo). Debian's 6.1 builds these as modules; hvc, xenbus,
// the balloon and the backends' core are built in.
var dom0Modules = []string{
	"virtio_pci", "virtio_console", // the host <-> dom0 command channel
	"xen_evtchn", "xenfs", "xen_privcmd", "xen_gntdev", "xen_gntalloc",
}

// Lab is the lab's work folder: downloaded packages, their unpacked tree
// and the built images, all rebuilt from packages and the checkout only.
type Lab struct {
	Dir  string
	Logf func(format string, args ...any)
}

// Images are what QEMU boots.
type Images struct {
	Xen           string // the hypervisor, gunzipped (QEMU's multiboot loader)
	Dom0Kernel    string // Debian's bzImage
	Dom0Initrd    string // busybox, the toolstack, xenorder, guest images
	Dom0Cmdline   string // dom0 Linux's command line; Dom0Cmdline if empty
	KernelVersion string // e.g. 6.1.0-56-amd64
	Packages      []string
}

// File is an extra file for dom0's root filesystem.
type File struct {
	Mode os.FileMode
	Data []byte // or
	Src  string // a host file to copy
}

func (l *Lab) logf(format string, args ...any) {
	if l.Logf != nil {
		l.Logf(format, args...)
	}
}

func run(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out.String(), 20))
	}
	return out.Bytes(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Fetch downloads the packages into Dir/debs unless a complete earlier
// download is there (Dir/debs/MANIFEST names its files), and returns the
// .deb paths. It needs apt's package lists (apt-get update).
func (l *Lab) Fetch(ctx context.Context) ([]string, error) {
	debs := filepath.Join(l.Dir, "debs")
	if m, err := os.ReadFile(filepath.Join(debs, "MANIFEST")); err == nil {
		var files []string
		ok := true
		for _, f := range strings.Fields(string(m)) {
			p := filepath.Join(debs, f)
			if _, err := os.Stat(p); err != nil {
				ok = false
				break
			}
			files = append(files, p)
		}
		if ok && len(files) > 0 {
			l.logf("packages: %d cached in %s", len(files), debs)
			return files, nil
		}
	}
	pkgs, err := l.resolve(ctx)
	if err != nil && os.Geteuid() == 0 {
		// A clean machine may have no package lists yet.
		l.logf("packages: %v; running apt-get update", err)
		if _, err := run(ctx, "", "apt-get", "update", "-qq"); err != nil {
			return nil, err
		}
		pkgs, err = l.resolve(ctx)
	}
	if err != nil {
		return nil, err
	}
	tmp := debs + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	start := time.Now()
	args := append([]string{"download", "-q", "-o", "APT::Sandbox::User=root"}, pkgs...)
	if _, err := run(ctx, tmp, "apt-get", args...); err != nil {
		return nil, fmt.Errorf("downloading the lab's packages: %w", err)
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".deb") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) != len(pkgs) {
		return nil, fmt.Errorf("apt-get download fetched %d files for %d packages: %v", len(names), len(pkgs), names)
	}
	if err := os.WriteFile(filepath.Join(tmp, "MANIFEST"), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(debs)
	if err := os.Rename(tmp, debs); err != nil {
		return nil, err
	}
	l.logf("packages: downloaded %d in %s", len(names), time.Since(start).Round(100*time.Millisecond))
	var files []string
	for _, n := range names {
		files = append(files, filepath.Join(debs, n))
	}
	return files, nil
}

// resolve names the packages to download: basePackages and the kernel
// that linux-image-amd64 depends on.
func (l *Lab) resolve(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "", "apt-cache", "depends", "linux-image-amd64")
	if err != nil {
		return nil, fmt.Errorf("resolving the kernel package (no package lists? apt-get update): %w", err)
	}
	m := regexp.MustCompile(`(?m)^\s*Depends:\s*(linux-image-[0-9][^\s]*-amd64)\s*$`).FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("apt-cache depends linux-image-amd64 names no kernel package (no package lists? apt-get update):\n%s", out)
	}
	return append(slices.Clone(basePackages), string(m[1])), nil
}

// Unpack unpacks the packages into Dir/root with dpkg-deb -x (nothing is
// installed), unless Dir/root already holds exactly these packages.
func (l *Lab) Unpack(ctx context.Context, debs []string) (string, error) {
	root := filepath.Join(l.Dir, "root")
	stampFile := filepath.Join(l.Dir, "root.stamp")
	var names []string
	for _, d := range debs {
		names = append(names, filepath.Base(d))
	}
	stamp := strings.Join(names, "\n") + "\n" + strings.Join(kernelFiles, "\n") + "\n"
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp {
		if _, err := os.Stat(root); err == nil {
			return root, nil
		}
	}
	start := time.Now()
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	os.Remove(stampFile)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	for _, d := range debs {
		if strings.HasPrefix(filepath.Base(d), "linux-image-") {
			// 400 MB of modules: only the kernel and the folders of the
			// modules dom0 loads.
			if err := extractSome(ctx, d, tmp, kernelFiles); err != nil {
				return "", err
			}
			continue
		}
		if _, err := run(ctx, "", "dpkg-deb", "-x", d, tmp); err != nil {
			return "", err
		}
	}
	os.RemoveAll(root)
	if err := os.Rename(tmp, root); err != nil {
		return "", err
	}
	if err := os.WriteFile(stampFile, []byte(stamp), 0o644); err != nil {
		return "", err
	}
	l.logf("packages: unpacked in %s", time.Since(start).Round(100*time.Millisecond))
	return root, nil
}

// kernelFiles are what the lab takes from the kernel package (tar
// patterns): the bzImage and config, and the folders of dom0Modules and
// their dependencies.
var kernelFiles = []string{
	"./boot/*",
	"./lib/modules/*/kernel/drivers/xen/*",
	"./lib/modules/*/kernel/drivers/virtio/*",
	"./lib/modules/*/kernel/drivers/char/virtio_console.ko",
	// The network: the guests' netfront; the driver domain's pcifront,
	// its NIC's driver, netback and the bridge.
	"./lib/modules/*/kernel/drivers/net/xen-netfront.ko",
	"./lib/modules/*/kernel/drivers/net/xen-netback/*",
	"./lib/modules/*/kernel/drivers/pci/xen-pcifront.ko",
	"./lib/modules/*/kernel/drivers/net/ethernet/intel/e1000/*",
	"./lib/modules/*/kernel/net/bridge/bridge.ko",
	"./lib/modules/*/kernel/net/802/stp.ko",
	"./lib/modules/*/kernel/net/llc/llc.ko",
}

// dom0Modprobe are modules dom0 has but does not load at boot: what
// xenorder loads with modprobe (busybox's, which reads modules.dep).
var dom0Modprobe = []string{"xen-pciback"}

// guestModules are in every guest's initramfs: its /init loads them when
// the guest has a network (lab.ip= on its command line).
var guestModules = []string{"xen-netfront"}

// dnetModules are the network driver domain's, loaded by its /init in this
// order: the device files xl needs, the passed-through NIC (pcifront, then
// its driver), netback and the bridge.
var dnetModules = []string{
	"xen-evtchn", "xen-privcmd", "xen-gntdev", "xen-gntalloc", "xenfs",
	"xen-pcifront", "e1000", "xen-netback", "bridge",
}

// dnetTools are the Xen tools in the driver domain: xl (for xl devd) and
// the xenstore tools its init and hotplug script use.
var dnetTools = []string{"xl"}

// extractSome unpacks the files of deb that match patterns into dir:
// dpkg-deb --fsys-tarfile | tar -x.
func extractSome(ctx context.Context, deb, dir string, patterns []string) error {
	dp := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	tr := exec.CommandContext(ctx, "tar", append([]string{"-x", "-C", dir, "--wildcards"}, patterns...)...)
	pipe, err := dp.StdoutPipe()
	if err != nil {
		return err
	}
	tr.Stdin = pipe
	var e1, e2 bytes.Buffer
	dp.Stderr, tr.Stderr = &e1, &e2
	if err := dp.Start(); err != nil {
		return err
	}
	err = tr.Run()
	if werr := dp.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", deb, werr, e1.String())
	}
	if err != nil {
		return fmt.Errorf("unpacking %s: %v: %s", filepath.Base(deb), err, e2.String())
	}
	return nil
}

// inRoot resolves rel (a path inside root) to a host path, following
// symlinks inside root: packages carry absolute links (/lib64/ld-linux...)
// that must not be followed into the host.
func inRoot(root, rel string) (string, error) {
	rel = clean(rel)
	for hops := 0; hops < 40; hops++ {
		p := filepath.Join(root, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			// A folder on the way may still be a link: resolve each part.
			dir, base := path.Split(rel)
			if dir == "" {
				return p, nil
			}
			d, err := inRoot(root, dir)
			if err != nil {
				return "", err
			}
			return filepath.Join(d, base), nil
		}
		t, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(t, "/") {
			rel = clean(t)
		} else {
			rel = clean(path.Join(path.Dir(rel), t))
		}
	}
	return "", fmt.Errorf("%s: too many symlinks", rel)
}

var libDirs = []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "usr/lib/xen-" + xenVersion + "/lib/x86_64-linux-gnu"}

// libClosure returns the shared libraries (soname -> host path) that the
// ELF programs need, transitively, found in root's library folders.
func libClosure(root string, progs []string) (map[string]string, error) {
	libs := map[string]string{}
	queue := slices.Clone(progs)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		f, err := elf.Open(p)
		if err != nil {
			return nil, err
		}
		needed, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		for _, so := range needed {
			if _, ok := libs[so]; ok {
				continue
			}
			var found string
			for _, d := range libDirs {
				if hp, err := inRoot(root, path.Join(d, so)); err == nil {
					found = hp
					break
				}
			}
			if found == "" {
				return nil, fmt.Errorf("%s needs %s, which no unpacked package has: add its package to basePackages", filepath.Base(p), so)
			}
			libs[so] = found
			queue = append(queue, found)
		}
	}
	return libs, nil
}

// moduleOrder returns the .ko files of mods and their dependencies, a
// dependency before what needs it, read from each module's .modinfo
// (the package ships no modules.dep: depmod makes it at install time).
func moduleOrder(root, kver string, mods []string) ([]string, error) {
	norm := func(s string) string { return strings.ReplaceAll(s, "-", "_") }
	byName := map[string]string{}
	kdir := filepath.Join(root, "lib/modules", kver, "kernel")
	err := filepath.WalkDir(kdir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko") {
			byName[norm(strings.TrimSuffix(d.Name(), ".ko"))] = p
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var order []string
	seen := map[string]bool{}
	var visit func(m string, chain []string) error
	visit = func(m string, chain []string) error {
		m = norm(m)
		if seen[m] {
			return nil
		}
		seen[m] = true
		p, ok := byName[m]
		if !ok {
			return fmt.Errorf("module %s (needed by %v) not in %s: built in? check /boot/config-%s", m, chain, kdir, kver)
		}
		deps, err := modDepends(p)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, append(chain, m)); err != nil {
				return err
			}
		}
		order = append(order, p)
		return nil
	}
	for _, m := range mods {
		if err := visit(m, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func modDepends(ko string) ([]string, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("%s: no .modinfo", ko)
	}
	b, err := s.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}

// kernelVersion is the one kernel the unpacked packages hold.
func kernelVersion(root string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(root, "boot/vmlinuz-*"))
	if len(m) != 1 {
		return "", fmt.Errorf("want one kernel in %s/boot, found %v", root, m)
	}
	return strings.TrimPrefix(filepath.Base(m[0]), "vmlinuz-"), nil
}

// vmlinuxFromBzImage returns the ELF kernel inside a bzImage: the
// payload (offset and length in the setup header), xz-compressed on Debian.
func vmlinuxFromBzImage(ctx context.Context, bz string) ([]byte, error) {
	b, err := os.ReadFile(bz)
	if err != nil {
		return nil, err
	}
	if len(b) < 0x250 || string(b[0x202:0x206]) != "HdrS" {
		return nil, fmt.Errorf("%s: not a bzImage", bz)
	}
	setupSects := int(b[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	off := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(b[0x248:]))
	n := int(binary.LittleEndian.Uint32(b[0x24c:]))
	if off+n > len(b) {
		return nil, fmt.Errorf("%s: payload outside the file", bz)
	}
	payload := b[off : off+n]
	if !bytes.HasPrefix(payload, []byte("\xfd7zXZ\x00")) {
		return nil, fmt.Errorf("%s: payload is not xz (starts %x)", bz, payload[:8])
	}
	cmd := exec.CommandContext(ctx, "xz", "-dc", "--single-stream")
	cmd.Stdin = bytes.NewReader(payload)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xz -d of the kernel payload: %v: %s", err, errb.String())
	}
	if !bytes.HasPrefix(out.Bytes(), []byte("\x7fELF")) {
		return nil, errors.New("the kernel payload is not an ELF file")
	}
	return out.Bytes(), nil
}

func gzipBytes(b []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cached returns the file Dir/images/name, made by mk unless it exists
// with the same key (the packages it is made from).
func (l *Lab) cached(name, key string, mk func() ([]byte, error)) (string, error) {
	dir := filepath.Join(l.Dir, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if k, err := os.ReadFile(p + ".key"); err == nil && string(k) == key {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	b, err := mk()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return "", err
	}
	return p, os.WriteFile(p+".key", []byte(key), 0o644)
}

// busyboxApplets adds busybox and a link per applet, except where a file
// is already (the lab's own /sbin/poweroff, say).
func busyboxApplets(ctx context.Context, a *archive, root string) error {
	bb := filepath.Join(root, "bin/busybox")
	out, err := run(ctx, "", bb, "--list-full")
	if err != nil {
		return err
	}
	a.file("bin/busybox", 0o755, bb)
	for _, p := range strings.Fields(string(out)) {
		if p == "bin/busybox" || a.has(p) {
			continue
		}
		a.symlink(p, "/bin/busybox")
	}
	return nil
}

func baseDirs(a *archive) {
	for _, d := range []string{"proc", "sys", "dev", "run", "etc", "root", "mnt"} {
		a.dir(d, 0o755)
	}
	a.dir("tmp", 0o1777)
	a.chardev("dev/console", 0o600, 5, 1)
	a.chardev("dev/null", 0o666, 1, 3)
}

func embedded(name string) []byte {
	b, err := rootfsFS.ReadFile("rootfs/" + name)
	if err != nil {
		panic(err)
	}
	return b
}

// guestInitrd is the PV guests' root filesystem: busybox, an /init that
// says when it boots and when it is ready, and an /sbin/poweroff (what the
// kernel runs on xl shutdown) that obeys, or, with lab.stubborn=1 on the
// kernel command line, ignores the request.
func guestInitrd(ctx context.Context, root string) ([]byte, error) {
	a := newArchive()
	baseDirs(a)
	a.bytes("init", 0o755, embedded("guest/init"))
	a.bytes("sbin/poweroff", 0o755, embedded("guest/poweroff"))
	if err := addModules(a, root, guestModules); err != nil {
		return nil, err
	}
	if err := busyboxApplets(ctx, a, root); err != nil {
		return nil, err
	}
	return a.gzipped()
}

// addModules adds mods and their dependencies as lib/modules/NAME.ko, and
// lab/modules, their names in the order to insmod them.
func addModules(a *archive, root string, mods []string) error {
	kver, err := kernelVersion(root)
	if err != nil {
		return err
	}
	kos, err := moduleOrder(root, kver, mods)
	if err != nil {
		return err
	}
	var names []string
	for _, m := range kos {
		n := filepath.Base(m)
		a.file("lib/modules/"+n, 0o644, m)
		names = append(names, strings.TrimSuffix(n, ".ko"))
	}
	a.bytes("lab/modules", 0o644, []byte(strings.Join(names, "\n")+"\n"))
	return nil
}

// addXenTools adds the Xen tools progs (from /usr/lib/xen-4.17/bin, linked
// from /usr/sbin when link), the xenstore tools, xl.conf, and the
// libraries they need. It returns the libraries' number.
func addXenTools(a *archive, root string, progs []string, link []string) (int, error) {
	bin := "usr/lib/xen-" + xenVersion + "/bin/"
	var elves []string
	for _, t := range progs {
		hp, err := inRoot(root, bin+t)
		if err != nil {
			return 0, err
		}
		a.file(bin+t, 0o755, hp)
		elves = append(elves, hp)
	}
	for _, t := range link {
		a.symlink("usr/sbin/"+t, "/"+bin+t)
	}
	for _, t := range xenstoreTools {
		hp, err := inRoot(root, "usr/bin/"+t)
		if err != nil {
			return 0, err
		}
		a.file("usr/bin/"+t, 0o755, hp)
		elves = append(elves, hp)
	}
	hp, err := inRoot(root, "etc/xen/xl.conf")
	if err != nil {
		return 0, err
	}
	a.file("etc/xen/xl.conf", 0o644, hp)
	libs, err := libClosure(root, elves)
	if err != nil {
		return 0, err
	}
	// glibc dlopens libgcc_s for pthread_cancel (xl create aborts without
	// it) and ldd does not list it.
	for _, so := range []string{"libgcc_s.so.1", "ld-linux-x86-64.so.2"} {
		hp, err := inRoot(root, "lib/x86_64-linux-gnu/"+so)
		if err != nil {
			return 0, err
		}
		libs[so] = hp
	}
	for so, hp := range libs {
		a.file("lib/x86_64-linux-gnu/"+so, 0o755, hp)
	}
	a.symlink("lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	return len(libs), nil
}

// dnetInitrd is the network driver domain's root filesystem: busybox, the
// modules of dnetModules, xl with its libraries and the xenstore tools, the
// lab's vif hotplug script, and an /init that builds the bridge over the
// passed-through NIC, starts xl devd and then says it is ready in xenstore.
func dnetInitrd(ctx context.Context, root string) ([]byte, error) {
	a := newArchive()
	baseDirs(a)
	for _, d := range []string{"var/log/xen", "var/lib/xen", "run/xen", "run/lock"} {
		a.dir(d, 0o755)
	}
	a.symlink("var/run", "../run")
	a.bytes("init", 0o755, embedded("dnet/init"))
	a.bytes("sbin/poweroff", 0o755, embedded("guest/poweroff"))
	a.bytes("etc/xen/scripts/vif-bridge", 0o755, embedded("dnet/vif-bridge"))
	a.bytes("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	if err := addModules(a, root, dnetModules); err != nil {
		return nil, err
	}
	if _, err := addXenTools(a, root, dnetTools, dnetTools); err != nil {
		return nil, err
	}
	if err := busyboxApplets(ctx, a, root); err != nil {
		return nil, err
	}
	return a.gzipped()
}

// guestImages are the lab guests' kernel and initramfs, made from the
// unpacked packages (cached under key, the package list).
func (l *Lab) guestImages(ctx context.Context, root, key string) (vmlinux, initrd string, err error) {
	kver, err := kernelVersion(root)
	if err != nil {
		return "", "", err
	}
	// The guests' kernel: the ELF inside the bzImage, uncompressed. Under
	// TCG xl create takes 4.3-4.6s with it, 6-7.5s with it gzipped (the
	// domain builder inflates it in dom0), more with the xz bzImage.
	vmlinux, err = l.cached("vmlinux", key, func() ([]byte, error) {
		return vmlinuxFromBzImage(ctx, filepath.Join(root, "boot/vmlinuz-"+kver))
	})
	if err != nil {
		return "", "", err
	}
	initrd, err = l.cached("guest-initrd.gz", key+string(embedded("guest/init"))+string(embedded("guest/poweroff"))+strings.Join(guestModules, " "), func() ([]byte, error) {
		return guestInitrd(ctx, root)
	})
	return vmlinux, initrd, err
}

// debKey is the cache key of what is made from debs: their file names.
func debKey(debs []string) string {
	key := ""
	for _, d := range debs {
		key += filepath.Base(d) + "\n"
	}
	return key
}

// Build makes the images from the unpacked packages plus extra (dom0 path
// -> file: xenorder, its config, the guests' xl configs).
func (l *Lab) Build(ctx context.Context, root string, debs []string, extra map[string]File) (*Images, error) {
	start := time.Now()
	kver, err := kernelVersion(root)
	if err != nil {
		return nil, err
	}
	key := debKey(debs)
	xen, err := l.cached("xen", key, func() ([]byte, error) {
		f, err := os.Open(filepath.Join(root, "boot/xen-"+xenVersion+"-amd64.gz"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(z)
	})
	if err != nil {
		return nil, err
	}
	vmlinux, ginitrd, err := l.guestImages(ctx, root, key)
	if err != nil {
		return nil, err
	}

	a := newArchive()
	baseDirs(a)
	for _, d := range []string{"var/log/xen/console", "var/log/lab", "var/lib/xen", "var/lib/xenorder", "run/xen", "run/xenstored", "run/lock"} {
		a.dir(d, 0o755)
	}
	a.symlink("var/run", "../run")
	a.symlink("var/lock", "../run/lock")
	a.symlink("init", "/bin/busybox") // busybox init, reaping every orphan (xl's monitors)
	a.bytes("etc/inittab", 0o644, embedded("dom0/inittab"))
	a.bytes("lab/rc", 0o755, embedded("dom0/rc"))
	a.bytes("lab/serve", 0o755, embedded("dom0/serve"))
	a.bytes("lab/bin/xl", 0o755, embedded("dom0/xl-trace"))
	a.bytes("etc/default/xen", 0o644, []byte("# As on a Debian host whose xenconsoled logs guest consoles (console probes).\nXENCONSOLED_ARGS=\"--log=guest\"\n"))
	a.bytes("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	a.bytes("etc/group", 0o644, []byte("root:x:0:\n"))

	nlibs, err := addXenTools(a, root, dom0Tools, []string{"xl", "xenconsoled", "oxenstored", "xenstored"})
	if err != nil {
		return nil, err
	}
	hp, err := inRoot(root, "etc/xen/oxenstored.conf")
	if err != nil {
		return nil, err
	}
	a.file("etc/xen/oxenstored.conf", 0o644, hp)

	mods, err := moduleOrder(root, kver, dom0Modules)
	if err != nil {
		return nil, err
	}
	var modList []string
	for _, m := range mods {
		n := filepath.Base(m)
		a.file("lib/modules/"+n, 0o644, m)
		modList = append(modList, strings.TrimSuffix(n, ".ko"))
	}
	a.bytes("lab/modules", 0o644, []byte(strings.Join(modList, "\n")+"\n"))
	// What modprobe may load later, where it looks, with a modules.dep.
	pmods, err := moduleOrder(root, kver, dom0Modprobe)
	if err != nil {
		return nil, err
	}
	var dep strings.Builder
	for _, m := range pmods {
		rel, err := filepath.Rel(filepath.Join(root, "lib/modules", kver), m)
		if err != nil {
			return nil, err
		}
		a.file(filepath.Join("lib/modules", kver, rel), 0o644, m)
		deps, err := modDepends(m)
		if err != nil {
			return nil, err
		}
		var drel []string
		for _, d := range deps {
			for _, o := range pmods {
				if strings.ReplaceAll(strings.TrimSuffix(filepath.Base(o), ".ko"), "-", "_") == strings.ReplaceAll(d, "-", "_") {
					r, _ := filepath.Rel(filepath.Join(root, "lib/modules", kver), o)
					drel = append(drel, r)
				}
			}
		}
		fmt.Fprintf(&dep, "%s:%s\n", rel, strings.Join(append([]string{""}, drel...), " "))
	}
	a.bytes(filepath.Join("lib/modules", kver, "modules.dep"), 0o644, []byte(dep.String()))

	dnet, err := l.cached("dnet-initrd.gz", key+string(embedded("dnet/init"))+string(embedded("dnet/vif-bridge"))+string(embedded("guest/poweroff"))+strings.Join(dnetModules, " "), func() ([]byte, error) {
		return dnetInitrd(ctx, root)
	})
	if err != nil {
		return nil, err
	}
	a.file("lab/guest/vmlinux", 0o644, vmlinux)
	a.file("lab/guest/initrd.gz", 0o644, ginitrd)
	a.file("lab/dnet/initrd.gz", 0o644, dnet)
	for p, f := range extra {
		if f.Src != "" {
			a.file(p, uint32(f.Mode.Perm()), f.Src)
		} else {
			a.bytes(p, uint32(f.Mode.Perm()), f.Data)
		}
	}
	if err := busyboxApplets(ctx, a, root); err != nil {
		return nil, err
	}
	// Uncompressed: the kernel unpacks it without spending TCG time on
	// decompression.
	initrd := filepath.Join(l.Dir, "images", "dom0-initrd.cpio")
	if err := a.writeFile(initrd); err != nil {
		return nil, err
	}
	l.logf("images: built in %s (kernel %s, %d libraries, modules %s)", time.Since(start).Round(100*time.Millisecond), kver, nlibs, strings.Join(modList, " "))
	var pk []string
	for _, d := range debs {
		pk = append(pk, strings.TrimSuffix(filepath.Base(d), ".deb"))
	}
	return &Images{
		Xen:           xen,
		Dom0Kernel:    filepath.Join(root, "boot/vmlinuz-"+kver),
		Dom0Initrd:    initrd,
		KernelVersion: kver,
		Packages:      pk,
	}, nil
}
