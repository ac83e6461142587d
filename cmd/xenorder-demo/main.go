// Command xenorder-demo runs xenorder's main job against the project's own
// xl simulator, no Xen needed: it builds xenorder and the simulator into a
// temporary folder, copies the sample host (testdata/seed) there, and runs
// plan, start, status, stop and status, printing each command as it goes.
//
//	go run ./cmd/xenorder-demo
//
// Nothing outside the temporary folder is changed; -keep keeps it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

func main() {
	keep := flag.Bool("keep", false, "keep the temporary folder (simulator state, call log)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := demo(ctx, *keep, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "xenorder-demo:", err)
		os.Exit(1)
	}
}

func demo(ctx context.Context, keep bool, stdout, stderr io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "xenorder-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(stdout, "# working in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "bin")
	// -tags xenorder_simhost: xenorder reads /proc/xen/capabilities from
	// the simulated host (cmd/xenorder/seams_simhost.go), which says dom0.
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "xenorder_simhost", "-o", filepath.Join(bin, "xenorder"), "./cmd/xenorder")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/xenorder: %w", err)
	}
	// The simulator as xl, xenstore-read, xenstore-watch and xenstored.
	if err := xlsim.Build(bin); err != nil {
		return err
	}
	host := filepath.Join(tmp, "host")
	if err := os.CopyFS(host, os.DirFS(filepath.Join(root, "testdata", "seed"))); err != nil {
		return err
	}
	// As an admin's files, whatever the umask: xenorder refuses a config
	// that others can change.
	if err := xlsim.SafeModes(host); err != nil {
		return err
	}
	sim := filepath.Join(tmp, "sim")
	if err := os.MkdirAll(sim, 0o755); err != nil {
		return err
	}
	// Xen's dom0, as xenfs says.
	caps := filepath.Join(sim, "simhost", "proc", "xen", "capabilities")
	if err := os.MkdirAll(filepath.Dir(caps), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(caps, []byte("control_d\n"), 0o644); err != nil {
		return err
	}
	// The host's NIC for Domain-N's passthrough, with xen-pciback loaded.
	if err := xlsim.SetHostPCI(sim, "0000:00:19.0 e1000e"); err != nil {
		return err
	}
	if err := xlsim.SetPciback(sim, true); err != nil {
		return err
	}
	env := append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"XLSIM_DIR="+sim,
		"XLSIM_TOTAL_MEMORY=16384", // the sample host has 16 GiB
		"XLSIM_CONSOLE_DIR="+filepath.Join(host, "console"),
		"XENORDER_CONFIG="+filepath.Join(host, "xenorder.toml"),
		"XENSTORED_PATH="+filepath.Join(sim, "xenstored.sock"), // never a real host's
	)
	// The simulated xenstored, whose socket tells a stop of each death.
	stopXenstored, err := xlsim.StartXenstored(bin, env, filepath.Join(sim, "xenstored.sock"))
	if err != nil {
		return err
	}
	defer stopXenstored()
	fmt.Fprintf(stdout, "# The sample host (testdata/seed): Domain-N → opnsense → fileserver → web, mail, db;\n# monitor and scratch depend on nothing. xl is the simulator (%s).\n\n", filepath.Join(bin, "xl"))
	steps := [][]string{
		{"xenorder", "plan"},
		{"xenorder", "start"},
		{"xenorder", "status"},
		{"xl", "list"},
		{"xenorder", "stop"},
		{"xenorder", "status"},
	}
	for _, args := range steps {
		fmt.Fprintf(stdout, "$ %s\n", strings.Join(args, " "))
		began := time.Now()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, args[0]), args[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Dir = env, stdout, stderr, host
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "# exit %d after %s\n\n", code, time.Since(began).Round(10*time.Millisecond))
		// status exits 1 when autostart guests are down: expected at the end.
		if code != 0 && !(args[1] == "status" && code == 1) {
			return fmt.Errorf("%s exited %d", strings.Join(args, " "), code)
		}
	}
	return nil
}

// moduleRoot finds the checkout from the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "testdata", "seed")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run me inside the xenorder checkout: %w", fs.ErrNotExist)
		}
		dir = parent
	}
}
