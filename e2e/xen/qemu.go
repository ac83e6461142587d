//go:build xene2e

package xen

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// XenCmdline is the hypervisor's command line. bootscrub=false: otherwise
// Xen scrubs all of memory at boot and QEMU's RSS grows to the whole -m.
const XenCmdline = "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 " +
	"loglvl=all guest_loglvl=all noreboot bootscrub=false"

// PassthroughNIC is the NIC that VMOptions.Passthrough adds, as dom0 sees
// it: an Intel 82540EM (8086:100e), which dom0 has no driver for.
const PassthroughNIC = "0000:00:05.0"

// Dom0Cmdline is dom0 Linux's command line (hvc0 is Xen's console, which
// Xen writes to the serial port).
const Dom0Cmdline = "console=hvc0 earlyprintk=xen"

// VMOptions configure the QEMU machine.
type VMOptions struct {
	Dir     string // run folder: console.log, ctl.sock, qemu.log
	PidFile string // QEMU's pid, so that a later run can end a QEMU this one left
	Disk    string // a raw disk image for dom0 (/dev/vda), if any
	Memory  int    // MiB
	CPUs    int
	// CPU is QEMU's -cpu model; "" is qemu64 (see Boot). PVH guests need
	// HVM with nested paging: qemu64,+svm,+npt.
	CPU string
	// Passthrough gives the machine an emulated VT-d (q35, intel-iommu
	// with interrupt remapping; Xen's iommu=1) and a NIC for a guest:
	// an e1000 on user networking that reaches nothing (restrict=on), dom0's
	// PCI device PassthroughNIC.
	Passthrough bool
	Logf        func(format string, args ...any)
}

// VM is a running QEMU with Xen, dom0 and its command channel.
type VM struct {
	opts      VMOptions
	cmd       *exec.Cmd
	Console   string // the serial console: Xen's and dom0's messages
	started   time.Time
	exited    chan struct{}
	exitErr   error
	conn      net.Conn
	lines     chan string
	readErr   error
	mu        sync.Mutex // one command at a time
	nextID    int
	closeOnce sync.Once
	rssMu     sync.Mutex
	peakRSS   int64
}

// Boot starts QEMU (TCG: /dev/kvm is not usable for this kernel here;
// -cpu qemu64: with -cpu max Xen turns on SMAP and PV dom0 crashes at its
// first exception under TCG, and with max,-smp programs in dom0 crash now
// and then). It returns once QEMU runs and its command socket is
// connected; WaitDom0 waits for dom0.
func Boot(ctx context.Context, img *Images, opts VMOptions) (*VM, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, errors.New("qemu-system-x86_64 not found: apt-get install qemu-system-x86")
	}
	sock := filepath.Join(opts.Dir, "ctl.sock")
	os.Remove(sock)
	v := &VM{opts: opts, Console: filepath.Join(opts.Dir, "console.log"), exited: make(chan struct{}), lines: make(chan string, 4096)}
	cmdline := img.Dom0Cmdline
	if cmdline == "" {
		cmdline = Dom0Cmdline
	}
	cpu := opts.CPU
	if cpu == "" {
		cpu = "qemu64"
	}
	machine, xenCmdline := "pc", XenCmdline
	if opts.Passthrough {
		machine, xenCmdline = "q35,kernel-irqchip=split", XenCmdline+" iommu=1"
	}
	args := []string{
		"-machine", machine, "-accel", accel(), "-cpu", cpu,
		"-smp", strconv.Itoa(opts.CPUs), "-m", strconv.Itoa(opts.Memory),
		"-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
	}
	if opts.Passthrough {
		// The IOMMU before the PCI devices it translates for.
		args = append(args, "-device", "intel-iommu,intremap=on,caching-mode=on")
	}
	args = append(args,
		"-serial", "file:"+v.Console,
		"-kernel", img.Xen,
		"-append", xenCmdline,
		"-initrd", img.Dom0Kernel+" "+cmdline+","+img.Dom0Initrd,
		"-device", "virtio-serial-pci",
		"-chardev", "socket,id=ctl,path="+sock+",server=on,wait=off",
		"-device", "virtserialport,chardev=ctl,name=lab.ctl",
		"-pidfile", opts.PidFile,
	)
	if opts.Passthrough {
		args = append(args, "-device", "e1000,netdev=n0,addr=0x5", "-netdev", "user,id=n0,restrict=on")
	}
	if opts.Disk != "" {
		args = append(args, "-drive", "file="+opts.Disk+",if=virtio,format=raw,cache=unsafe")
	}
	v.cmd = exec.Command(qemu, args...)
	// Its own process group, killed whole on every exit path; and killed by
	// the kernel if this process dies first.
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	qlog, err := os.Create(filepath.Join(opts.Dir, "qemu.log"))
	if err != nil {
		return nil, err
	}
	v.cmd.Stdout, v.cmd.Stderr = qlog, qlog
	os.WriteFile(filepath.Join(opts.Dir, "qemu.cmdline"), []byte(qemu+" "+strings.Join(args, " ")+"\n"), 0o644)
	// Pdeathsig is sent when the thread that started QEMU ends: start it
	// from a goroutine locked to its thread until QEMU is gone.
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		v.started = time.Now()
		if err := v.cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		v.exitErr = v.cmd.Wait()
		qlog.Close()
		close(v.exited)
	}()
	if err := <-startErr; err != nil {
		qlog.Close()
		return nil, err
	}
	go v.watchRSS()
	// QEMU creates the socket at start-up, before the guest runs.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			v.conn = c
			break
		}
		select {
		case <-v.exited:
			b, _ := os.ReadFile(filepath.Join(opts.Dir, "qemu.log"))
			return nil, fmt.Errorf("qemu exited at start-up (%v): %s", v.exitErr, b)
		case <-ctx.Done():
			v.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			v.Close()
			return nil, fmt.Errorf("no command socket %s after 30s: %v", sock, err)
		}
	}
	go v.read()
	return v, nil
}

// PID is QEMU's pid.
func (v *VM) PID() int { return v.cmd.Process.Pid }

func (v *VM) read() {
	sc := bufio.NewScanner(v.conn)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		v.lines <- sc.Text()
	}
	v.readErr = sc.Err()
	if v.readErr == nil {
		v.readErr = errors.New("command channel closed")
	}
	close(v.lines)
}

func (v *VM) watchRSS() {
	status := fmt.Sprintf("/proc/%d/status", v.cmd.Process.Pid)
	for {
		if b, err := os.ReadFile(status); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
					if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
						v.rssMu.Lock()
						v.peakRSS = max(v.peakRSS, kb<<10)
						v.rssMu.Unlock()
					}
				}
			}
		}
		select {
		case <-v.exited:
			return
		case <-time.After(time.Second):
		}
	}
}

// PeakRSS is QEMU's peak resident memory so far (VmHWM).
func (v *VM) PeakRSS() int64 {
	v.rssMu.Lock()
	defer v.rssMu.Unlock()
	return v.peakRSS
}

// WaitDom0 waits for dom0's command server to say hello: the toolstack is
// up (xenstored, xen-init-dom0, xenconsoled), or failed to come up.
func (v *VM) WaitDom0(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-v.lines:
			if !ok {
				return 0, fmt.Errorf("dom0 did not come up: %v", v.readErr)
			}
			if rest, ok := strings.CutPrefix(l, "@@HELLO "); ok {
				if strings.HasSuffix(rest, " up") {
					return time.Since(v.started), nil
				}
				return 0, fmt.Errorf("dom0 booted but its toolstack did not come up (%s)", rest)
			}
		case <-v.exited:
			return 0, fmt.Errorf("qemu exited before dom0 came up: %v", v.exitErr)
		case <-t.C:
			return 0, fmt.Errorf("dom0 did not come up within %s", timeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Result is what a command in dom0 did.
type Result struct {
	Cmd      string
	Stdout   string
	Stderr   string
	Code     int
	Duration time.Duration // measured on the host, channel included
}

func (r *Result) String() string {
	return fmt.Sprintf("$ %s\n[exit %d, %s]\n--- stdout\n%s--- stderr\n%s", r.Cmd, r.Code, r.Duration.Round(10*time.Millisecond), r.Stdout, r.Stderr)
}

// Run runs script with sh in dom0 and returns its output and exit code.
// timeout bounds it in dom0 (busybox timeout) and, with a margin, here.
func (v *VM) Run(ctx context.Context, timeout time.Duration, script string) (*Result, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.nextID++
	id := strconv.Itoa(v.nextID)
	secs := int(timeout.Seconds())
	if secs < 1 {
		secs = 1
	}
	req := fmt.Sprintf("%s %d %s\n", id, secs, base64.StdEncoding.EncodeToString([]byte(script)))
	start := time.Now()
	v.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := v.conn.Write([]byte(req)); err != nil {
		return nil, fmt.Errorf("sending %q to dom0: %v", script, err)
	}
	t := time.NewTimer(timeout + 30*time.Second)
	defer t.Stop()
	var out, errb strings.Builder
	var cur *strings.Builder
	for {
		select {
		case l, ok := <-v.lines:
			if !ok {
				return nil, fmt.Errorf("running %q in dom0: %v", script, v.readErr)
			}
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "@@OUT":
				cur = nil
				if f[1] == id {
					cur = &out
				}
			case len(f) == 2 && f[0] == "@@ERR":
				cur = nil
				if f[1] == id {
					cur = &errb
				}
			case len(f) == 3 && f[0] == "@@END" && f[1] == id:
				code, _ := strconv.Atoi(f[2])
				o, err1 := base64.StdEncoding.DecodeString(out.String())
				e, err2 := base64.StdEncoding.DecodeString(errb.String())
				if err := errors.Join(err1, err2); err != nil {
					return nil, fmt.Errorf("running %q in dom0: garbled answer: %v", script, err)
				}
				return &Result{Cmd: script, Stdout: string(o), Stderr: string(e), Code: code, Duration: time.Since(start)}, nil
			case strings.HasPrefix(l, "@@"):
				cur = nil // another command's frame, or a hello after a reconnect
			default:
				if cur != nil {
					cur.WriteString(strings.TrimSpace(l))
				}
			}
		case <-v.exited:
			return nil, fmt.Errorf("running %q in dom0: qemu exited: %v", script, v.exitErr)
		case <-t.C:
			return nil, fmt.Errorf("running %q in dom0: no answer after %s", script, timeout+30*time.Second)
		case <-ctx.Done():
			return nil, fmt.Errorf("running %q in dom0: %w", script, ctx.Err())
		}
	}
}

// WaitExit waits for QEMU to exit by itself (dom0 powered off and Xen
// halted the machine) and returns how long it took.
func (v *VM) WaitExit(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-v.exited:
		return time.Since(start), nil
	case <-t.C:
		return 0, fmt.Errorf("qemu still running %s later", timeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// ConsoleTail is the last n lines of the serial console.
func (v *VM) ConsoleTail(n int) string {
	b, err := os.ReadFile(v.Console)
	if err != nil {
		return fmt.Sprintf("(no console log: %v)", err)
	}
	return tail(strings.ReplaceAll(string(b), "\r", ""), n)
}

// Close kills QEMU's whole process group and waits for it. Safe to call
// more than once, from any exit path.
func (v *VM) Close() {
	v.closeOnce.Do(func() {
		if v.conn != nil {
			v.conn.Close()
		}
		if v.cmd.Process != nil {
			syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
		}
		select {
		case <-v.exited:
		case <-time.After(30 * time.Second):
			if v.opts.Logf != nil {
				v.opts.Logf("qemu (pid %d) not gone 30s after SIGKILL", v.cmd.Process.Pid)
			}
		}
		os.Remove(filepath.Join(v.opts.Dir, "ctl.sock"))
	})
}

// KillStale ends a QEMU that an earlier run left behind (one whose pid is
// in pidFile and whose command line names pidFile too: never anything
// else), and reports its pid, 0 if there was none.
func KillStale(pidFile string) int {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "qemu-system") || !strings.Contains(string(cmdline), pidFile) {
		return 0
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	os.Remove(pidFile)
	return pid
}

// accel is QEMU's -accel: tcg (multi-threaded, one host thread per vCPU),
// or what XENORDER_E2E_ACCEL says, e.g. "tcg,thread=single" (one host
// thread for every vCPU; the PVH experiment's finding, see README).
func accel() string {
	if a := os.Getenv("XENORDER_E2E_ACCEL"); a != "" {
		return a
	}
	return "tcg"
}
