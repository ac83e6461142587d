package xlsim

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles internal/testing/cmd/xlsim into binDir as "xl", with "xenstore-read",
// "xenstore-watch" and "xenstored" as symlinks to it, for tests and tools
// that put binDir on PATH (nothing starts xenstored: a test or tool that
// wants the daemon runs it). It runs the go command
// found on PATH, in the module of this package.
func Build(binDir string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	xl := filepath.Join(binDir, "xl")
	cmd := exec.Command(gobin, "build", "-o", xl, "github.com/xenorder/xenorder/internal/testing/cmd/xlsim")
	// Static: net (the simulated xenstored) would link libc for its
	// resolver, and loading it cost every invocation about a third of
	// its CPU.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build internal/testing/cmd/xlsim: %v\n%s", err, out)
	}
	for _, name := range []string{"xenstore-read", "xenstore-watch", "xenstored"} {
		link := filepath.Join(binDir, name)
		os.Remove(link)
		if err := os.Symlink("xl", link); err != nil {
			return err
		}
	}
	// xenorder refuses an xl that others can change, and a folder on
	// PATH they can write in: go build's 0777 minus a umask of 002 is not
	// enough.
	return SafeModes(binDir)
}

// SafeModes takes the group's and others' write permission from dir and
// everything under it (symbolic links aside), whatever the umask was when
// they were made: xenorder refuses a config, an xl config or a program
// that someone other than root (or its user) can change.
func SafeModes(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if m := fi.Mode(); m.Perm()&0o022 != 0 {
			return os.Chmod(p, m&^0o022)
		}
		return nil
	})
}

// SetFaults writes the fault file of the simulator state in dir, one
// fault per line (FaultList*); no faults removes it.
func SetFaults(dir string, faults ...string) error {
	path := filepath.Join(dir, "faults")
	if len(faults) == 0 {
		err := os.Remove(path)
		if os.IsNotExist(err) {
			err = nil
		}
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Join(faults, "\n")+"\n"), 0o644)
}

// SetHostPCI writes the host's PCI devices of the simulator state in dir
// ($XLSIM_DIR/pci), each "BDF DRIVER" (DRIVER "none" for an unbound
// device); no devices removes the file.
func SetHostPCI(dir string, devices ...string) error {
	path := filepath.Join(dir, PCIFile)
	if len(devices) == 0 {
		err := os.Remove(path)
		if os.IsNotExist(err) {
			err = nil
		}
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Join(devices, "\n")+"\n"), 0o644)
}

// SetPciback loads (creates $XLSIM_DIR/pciback-loaded) or unloads
// xen-pciback on the simulated host in dir.
func SetPciback(dir string, loaded bool) error {
	path := filepath.Join(dir, PCIbackLoadedFile)
	if !loaded {
		err := os.Remove(path)
		if os.IsNotExist(err) {
			err = nil
		}
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, nil, 0o644)
}
