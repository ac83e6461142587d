//go:build xene2e

package xen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The systemd dom0: a Debian bookworm system made with debootstrap from
// the Debian archive this machine's apt uses, with Debian's own Xen
// userland and kernel installed into it by apt, booted from a disk image.

// debootstrapArgs make the base system: minbase plus systemd as init.
var debootstrapArgs = []string{"--variant=minbase", "--include=systemd,systemd-sysv,dbus,udev,kmod"}

// debianPackages are installed into it with apt (--no-install-recommends:
// no qemu-system-xen, no grub).
var debianPackages = []string{
	"xen-hypervisor-4.17-amd64", "xen-utils-4.17", "xen-utils-common", "xenstore-utils",
	"linux-image-amd64", "initramfs-tools",
}

// initrdModules are what dom0's initramfs needs to mount its root
// (MODULES=list: the image is built in a chroot, where "dep" cannot see
// the hardware).
var initrdModules = []string{"virtio_pci", "virtio_blk", "ext4"}

// baseVersion changes when the way the base is made changes, so that a
// cached base made the old way is rebuilt.
const baseVersion = "1"

// DebianRoot is a built root filesystem.
type DebianRoot struct {
	Dir           string
	KernelVersion string
}

// debianMirror is the Debian archive apt uses here: the URI of the first
// source that carries bookworm.
func debianMirror() (string, error) {
	var files []string
	if m, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources"); m != nil {
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, stanza := range strings.Split(string(b), "\n\n") {
			var uri, suites string
			for _, l := range strings.Split(stanza, "\n") {
				if v, ok := strings.CutPrefix(l, "URIs:"); ok {
					uri = strings.Fields(v + " ")[0]
				}
				if v, ok := strings.CutPrefix(l, "Suites:"); ok {
					suites = " " + v + " "
				}
			}
			if uri != "" && strings.Contains(suites, " bookworm ") {
				return uri, nil
			}
		}
	}
	lists := []string{"/etc/apt/sources.list"}
	if m, _ := filepath.Glob("/etc/apt/sources.list.d/*.list"); m != nil {
		lists = append(lists, m...)
	}
	for _, f := range lists {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			// deb [options] URI SUITE COMPONENTS...
			if len(fs) < 3 || fs[0] != "deb" {
				continue
			}
			i := 1
			if strings.HasPrefix(fs[1], "[") {
				for i < len(fs) && !strings.HasSuffix(fs[i], "]") {
					i++
				}
				i++
			}
			if i+1 < len(fs) && fs[i+1] == "bookworm" {
				fh.Close()
				return fs[i], nil
			}
		}
		fh.Close()
	}
	return "", errors.New("no Debian bookworm source in /etc/apt/sources.list or /etc/apt/sources.list.d/: debootstrap needs the archive apt uses")
}

// chroot runs a command in root with a clean environment.
func chroot(ctx context.Context, root string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "HOME=/root"}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("chroot %s %s: %v\n%s", root, strings.Join(args, " "), err, tail(string(out), 30))
	}
	return out, nil
}

func writeFile(root, rel string, mode os.FileMode, data string) error {
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// DebianBase returns Dir/debian/base: debootstrap's bookworm with
// Debian's Xen and kernel installed, made unless an earlier run made it
// the same way. It needs root (debootstrap, chroot) and the network to the
// Debian archive.
func (l *Lab) DebianBase(ctx context.Context) (*DebianRoot, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("building the systemd dom0 needs root (debootstrap, chroot)")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return nil, errors.New("debootstrap not found: apt-get install debootstrap (.ci/run does)")
	}
	mirror, err := debianMirror()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(l.Dir, "debian")
	base := filepath.Join(dir, "base")
	key := strings.Join([]string{baseVersion, mirror, strings.Join(debootstrapArgs, " "), strings.Join(debianPackages, " "), strings.Join(initrdModules, " ")}, "\n")
	if k, err := os.ReadFile(filepath.Join(dir, "base.key")); err == nil && string(k) == key {
		if kv, err := kernelVersion(base); err == nil {
			l.logf("debian: base system cached in %s (kernel %s)", base, kv)
			return &DebianRoot{Dir: base, KernelVersion: kv}, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(dir, "base.key"))
	tmp := base + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	start := time.Now()
	args := append(append([]string{}, debootstrapArgs...), "bookworm", tmp, mirror)
	if _, err := run(ctx, "", "debootstrap", args...); err != nil {
		return nil, fmt.Errorf("debootstrap: %w (its log: %s)", err, filepath.Join(tmp, "debootstrap/debootstrap.log"))
	}
	l.logf("debian: debootstrap %s bookworm from %s in %s", strings.Join(debootstrapArgs, " "), mirror, time.Since(start).Round(time.Second))

	t1 := time.Now()
	// Maintainer scripts must not start services in the chroot.
	if err := writeFile(tmp, "usr/sbin/policy-rc.d", 0o755, "#!/bin/sh\n# The image is built in a chroot: start nothing.\nexit 101\n"); err != nil {
		return nil, err
	}
	// The same sources as this machine's apt (security updates included),
	// when it uses deb822 files; else debootstrap's own sources.list.
	if b, err := os.ReadFile("/etc/apt/sources.list.d/debian.sources"); err == nil {
		if err := writeFile(tmp, "etc/apt/sources.list.d/debian.sources", 0o644, string(b)); err != nil {
			return nil, err
		}
		os.Remove(filepath.Join(tmp, "etc/apt/sources.list"))
	}
	// The initramfs is made in the chroot, where it cannot see the VM's
	// hardware: list what mounting the root needs.
	if err := writeFile(tmp, "etc/initramfs-tools/conf.d/lab.conf", 0o644, "# dom0 boots from a virtio disk; built in a chroot.\nMODULES=list\n"); err != nil {
		return nil, err
	}
	if _, err := chroot(ctx, tmp, "apt-get", "update", "-qq"); err != nil {
		return nil, err
	}
	inst := append([]string{"apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold"}, debianPackages...)
	if _, err := chroot(ctx, tmp, inst...); err != nil {
		return nil, err
	}
	mods, err := os.ReadFile(filepath.Join(tmp, "etc/initramfs-tools/modules"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "etc/initramfs-tools/modules"), []byte(string(mods)+strings.Join(initrdModules, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	if _, err := chroot(ctx, tmp, "update-initramfs", "-u", "-k", "all"); err != nil {
		return nil, err
	}
	if _, err := chroot(ctx, tmp, "apt-get", "clean"); err != nil {
		return nil, err
	}
	kv, err := kernelVersion(tmp)
	if err != nil {
		return nil, err
	}
	l.logf("debian: %s installed in %s (kernel %s)", strings.Join(debianPackages, " "), time.Since(t1).Round(time.Second), kv)
	if err := os.RemoveAll(base); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, base); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "base.key"), []byte(key), 0o644); err != nil {
		return nil, err
	}
	return &DebianRoot{Dir: base, KernelVersion: kv}, nil
}

// CopyRoot copies the base to dir (replacing what is there), keeping
// owners, modes, links and device nodes.
func CopyRoot(ctx context.Context, base, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	_, err := run(ctx, "", "cp", "-a", "--reflink=auto", base, dir)
	return err
}

// MakeImage writes root into an ext4 image of size (e.g. "3G"), with
// mke2fs -d: no loop mount.
func MakeImage(ctx context.Context, root, image, size string) error {
	os.Remove(image)
	_, err := run(ctx, "", "mke2fs", "-q", "-F", "-t", "ext4", "-L", "dom0", "-d", root, image, size)
	return err
}

// ReadBack copies paths (absolute, in the image) out of an ext4 image into
// dir, with debugfs: no mount.
func ReadBack(ctx context.Context, image, dir string, paths ...string) error {
	for _, p := range paths {
		dst := filepath.Join(dir, filepath.Dir(p))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		out, err := run(ctx, "", "debugfs", "-R", fmt.Sprintf("rdump %s %s", p, dst), image)
		if err != nil {
			return err
		}
		if strings.Contains(string(out), "File not found") {
			return fmt.Errorf("debugfs rdump %s: %s", p, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
