package main

// The fault suite's rows about save images, signals mid-save and stops
// that meet a reboot: each runs once (the death watch does not matter).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/testing/xlsim"
)

// waitEnded waits until the simulator's first call matching ok has ended.
func waitEnded(t *testing.T, h *host, ok func(xlsim.Call) bool) xlsim.Call {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range h.calls() {
			if c.Prog == "xl" && ok(c) && c.Ended {
				return c
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the awaited xl call never ended")
	return xlsim.Call{}
}

func isXL(sub, arg string) func(xlsim.Call) bool {
	return func(c xlsim.Call) bool {
		return len(c.Args) > 1 && c.Args[0] == sub && strings.HasSuffix(c.Args[1], arg)
	}
}

// savedImage is a guest's image in the host's save folder.
func (h *host) savedImage(guest string) string {
	return filepath.Join(h.dir, "state", "save", guest+".save")
}

// saveMidStop runs a stop that saves fileserver (2 s) and sends sig twice
// to xenorder's process group while xl save runs, as a terminal's Ctrl-C or
// hang-up does.
func saveMidStop(sig syscall.Signal) func(*testing.T, *host) result {
	return func(t *testing.T, h *host) result {
		mustExit(t, h.xenorder("start"), 0)
		bg := h.background("stop")
		waitFor(t, h, isXL("save", "fileserver"))
		bg.signalGroup(sig)
		time.Sleep(100 * time.Millisecond)
		bg.signalGroup(sig) // a second signal does not cut the save short either
		r := bg.wait()
		if want := "xenorder: " + sig.String() + " again: still finishing what is in flight"; !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
		save := waitEnded(t, h, isXL("save", "fileserver"))
		if save.RC != 0 {
			t.Errorf("xl save was cut short: rc %d", save.RC)
		}
		fi, err := os.Stat(h.savedImage("fileserver"))
		if err != nil {
			t.Fatalf("the save in flight did not finish: %v", err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("the image is mode %#o, want 0600: it holds guest memory", m)
		}
		if up := running(h); !equalSets(up, []string{"Domain-N", "opnsense"}) {
			t.Errorf("running after the interrupted stop: %v, want Domain-N and opnsense", up)
		}
		return r
	}
}

func saveFaults() []fault {
	withSave := func(guest, extra string) func(h *host) {
		return func(h *host) {
			h.edit("xenorder.toml", "[guest."+guest+"]\n", "[guest."+guest+"]\nstop_action = \"save\"\n")
			if extra != "" {
				h.appendTo("xl/"+guest+".cfg", extra)
			}
		}
	}
	// withSlow: withSave, and the guest's key (xlsim_save_time or
	// xlsim_restore_time) lasts d of real time on the fast host.
	withSlow := func(guest, key string, d time.Duration) func(h *host) {
		return func(h *host) { withSave(guest, key+" = "+h.realDur(d))(h) }
	}
	return []fault{
		{name: "SIGINT to the process group mid-save", once: true,
			setup: withSlow("fileserver", "xlsim_save_time", 2*time.Second), act: saveMidStop(syscall.SIGINT), code: 4,
			msgs: []string{"fileserver: saved to ", "INTERRUPTED opnsense: not stopped; still running (domid "}},
		{name: "SIGHUP to the process group mid-save", once: true,
			setup: withSlow("fileserver", "xlsim_save_time", 2*time.Second), act: saveMidStop(syscall.SIGHUP), code: 4,
			msgs: []string{"fileserver: saved to ", "INTERRUPTED Domain-N: not stopped; still running (domid "}},
		{name: "save slower than save_timeout", once: true,
			setup: func(h *host) {
				withSlow("fileserver", "xlsim_save_time", 3*time.Second)(h)
				h.edit("xenorder.toml", "[guest.fileserver]\n", "[guest.fileserver]\nsave_timeout = \"1s\"\n")
			}, act: startThenStop, code: 0,
			msgs: []string{"fileserver: xl save IS STILL RUNNING AFTER save_timeout = 1s: NOT INTERRUPTING IT", "fileserver: saved to "}},
		{name: "restore slower than start_timeout", once: true,
			setup: withSlow("db", "xlsim_restore_time", 3*time.Second),
			act: func(t *testing.T, h *host) result {
				mustExit(t, h.xenorder("start"), 0)
				mustExit(t, h.xenorder("stop"), 0)
				h.edit("xenorder.toml", "[guest.db]\n", "[guest.db]\nstart_timeout = \"2s\"\n")
				r := h.xenorder("start")
				if _, err := os.Stat(h.savedImage("db")); !os.IsNotExist(err) {
					t.Errorf("the image stays after its restore succeeded: %v", err)
				}
				return r
			}, code: 0,
			msgs: []string{"db: xl restore IS STILL RUNNING AFTER start_timeout = 2s: NOT INTERRUPTING IT", "db: restored and ready after"}},
		{name: "a stale image", once: true, setup: withSave("db", ""),
			act: func(t *testing.T, h *host) result {
				mustExit(t, h.xenorder("start"), 0)
				mustExit(t, h.xenorder("stop"), 0)
				// An admin boots db by hand, monitoring's status sees it,
				// the admin shuts it down again: the image is stale. Without
				// its vif: its backend, Domain-N, is down, and xl create
				// fails then, as on real Xen.
				mustExit(t, h.run("xl", "create", filepath.Join(h.dir, "xl", "db.cfg"), "vif=[]"), 0)
				st := h.xenorder("status")
				// Once it has booted far enough to acknowledge. A request
				// that timed out (a slow boot under load) still sits in
				// xenstore: the guest takes it once up, and is gone then.
				for i := 0; ; i++ {
					sd := h.run("xl", "shutdown", "-w", "db")
					if sd.code == 0 || h.run("xl", "domid", "db").code != 0 {
						break
					}
					if i == 100 {
						t.Fatalf("db never acknowledged xl shutdown: the last one: %s\nxl list:\n%s", sd, h.run("xl", "list").stdout)
					}
					time.Sleep(100 * time.Millisecond)
				}
				r := h.xenorder("start")
				if _, ok := h.callsOf("restore")["db.save"]; ok {
					t.Error("a stale image was restored")
				}
				if stale, _ := filepath.Glob(h.savedImage("db") + ".stale-*"); len(stale) != 1 {
					t.Errorf("the stale image is not kept aside: %v", stale)
				}
				return result{stdout: st.stdout + r.stdout, stderr: st.stderr + r.stderr, code: r.code}
			}, code: 0,
			msgs: []string{"db: SAVE IMAGE IS STALE: the guest ran since it was saved"}},
		{name: "parallel saves with too little space", once: true,
			setup: func(h *host) {
				withSlow("mail", "xlsim_save_time", 2*time.Second)(h)
				withSlow("db", "xlsim_save_time", 2*time.Second)(h)
				// db (2048 MiB) needs 2166 MiB, mail (768 MiB) 822: each
				// fits alone, not both.
				dir := filepath.Join(h.dir, "state", "save")
				os.MkdirAll(dir, 0o700)
				if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2400m,mode=0700"); err != nil {
					h.t.Skipf("needs a tmpfs of its own (root): %v", err)
				}
				h.t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
			}, act: startThenStop, code: 1,
			msgs: []string{"MiB of it taken by the saves in flight", "FELL BACK "}},
		{name: "SIGKILL of xenorder mid-save", once: true,
			setup: withSlow("fileserver", "xlsim_save_time", 2*time.Second),
			act: func(t *testing.T, h *host) result {
				mustExit(t, h.xenorder("start"), 0)
				bg := h.background("stop")
				waitFor(t, h, isXL("save", "fileserver"))
				bg.signal(syscall.SIGKILL)
				bg.wait()
				if c := waitEnded(t, h, isXL("save", "fileserver")); c.RC != 0 {
					t.Errorf("xl save died with xenorder: rc %d", c.RC)
				}
				// Nobody recorded the end of that save: whole or partial,
				// nobody can vouch for the image; it is neither restored
				// nor booted over.
				r := h.xenorder("start")
				if _, ok := h.callsOf("restore")["fileserver.save"]; ok {
					t.Error("restored an image whose save never recorded its end")
				}
				if _, err := os.Stat(h.savedImage("fileserver")); err != nil {
					t.Error(err)
				}
				return r
			}, code: 1,
			msgs: []string{"FAILED  fileserver: its save to ", "never recorded its end", "xenorder restore fileserver"}},
		{name: "undeclared domains under save", once: true,
			setup: func(h *host) {
				h.edit("xenorder.toml", "[defaults]\n", "[defaults]\nstop_action = \"save\"\n")
				os.WriteFile(filepath.Join(h.dir, "stray.cfg"), []byte("name = \"stray\"\ntype = \"pvh\"\nkernel = \"/k\"\nmemory = 256\n"), 0o600)
			},
			act: func(t *testing.T, h *host) result {
				mustExit(t, h.xenorder("start"), 0)
				mustExit(t, h.run("xl", "create", filepath.Join(h.dir, "stray.cfg")), 0)
				r := h.xenorder("stop")
				if _, ok := h.callsOf("save")["stray"]; ok {
					t.Error("an undeclared domain was saved")
				}
				if _, ok := h.callsOf("shutdown")["stray"]; !ok {
					t.Error("the undeclared domain was not shut down")
				}
				return r
			}, code: 0,
			msgs: []string{"stray: shutting down (grace period "}},
		{name: "a reboot during stop", once: true,
			setup: func(h *host) {
				h.edit("xl/mail.cfg", `on_poweroff = "destroy"`, `on_poweroff = "restart"`)
				h.edit("xenorder.toml", "[guest.mail]\n", "[guest.mail]\nstop_timeout = \"1500ms\"\n")
			}, act: startThenStop, code: 1,
			msgs: []string{"mail: came back as domid ", "FORCED  mail: destroyed after its grace period of 1.5s: it came back under a new domid after each shutdown request"}},
		{name: "the lock held at shutdown under systemd", once: true, setup: neverReady,
			act: func(t *testing.T, h *host) result {
				holder := h.background("start") // an admin's start, waiting on fileserver's probe
				waitFor(t, h, isCall("create", "fileserver"))
				notifySocket(t, h)
				stop := h.xenorder("stop", "--wait-lock", "1m", "--interrupt-holder")
				held := holder.wait()
				if held.code != 1 {
					t.Errorf("the holder: %s", held)
				}
				if up := running(h); len(up) != 0 {
					t.Errorf("still running after the unit's stop: %v", up)
				}
				return stop
			}, code: 0,
			msgs: []string{"--interrupt-holder: sent SIGTERM to pid ", "stop: "}},
		{name: "a damaged drains.json", once: true,
			setup: func(h *host) {
				file := filepath.Join(h.dir, "state", "drains.json")
				os.MkdirAll(filepath.Dir(file), 0o700)
				os.WriteFile(file, []byte(`{"version": 1, "drained": {"db"`), 0o600)
				os.WriteFile(file+".prev", []byte("\x00\x00"), 0o600)
			},
			act: func(t *testing.T, h *host) result {
				r := h.xenorder("start")
				if n := len(stateChanging(h)); n != 0 {
					t.Errorf("a start with no readable drain record changed %d things", n)
				}
				return r
			}, code: 2,
			msgs: []string{"drains.json is damaged", "xenorder drains --clear"}},
		{name: "a numeric guest name", once: true,
			setup: func(h *host) { h.appendTo("xenorder.toml", "\n[guest.\"3\"]\nautostart = false") },
			act: func(t *testing.T, h *host) result {
				r := h.xenorder("stop", "3")
				if n := len(stateChanging(h)); n != 0 {
					t.Errorf("stop 3 changed %d things", n)
				}
				return r
			}, code: 2,
			msgs: []string{`guest name "3" is all digits: xl reads it as a domain id`}},
		{name: "on_crash restart during start", once: true,
			setup: func(h *host) {
				// It crashes 500ms into its 1.5s boot, in real time: after
				// xenorder's first looks at it.
				h.edit("xl/fileserver.cfg", `xlsim_boot_time     = "1500ms"`, "xlsim_boot_time     = "+h.realDur(1500*time.Millisecond))
				h.appendTo("xl/fileserver.cfg", "xlsim_crash_after = "+h.realDur(500*time.Millisecond))
				h.edit("xl/fileserver.cfg", `on_poweroff = "destroy"`, "on_poweroff = \"destroy\"\non_crash = \"restart\"")
			}, act: startThenStop, code: 0,
			msgs: []string{"fileserver: rebooted: now domid "}},
	}
}

// signalGroup sends s to xenorder's whole process group, as a terminal
// does on Ctrl-C or a hang-up: every xl xenorder runs must be out of it.
func (b *bgRun) signalGroup(s syscall.Signal) {
	if err := syscall.Kill(-b.cmd.Process.Pid, s); err != nil {
		panic(fmt.Sprintf("signal the group: %v", err))
	}
}
