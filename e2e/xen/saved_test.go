//go:build xene2e

package xen

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The systemd suite's save and restore: savedGuest (stop_action = "save")
// is saved by the unit's stop and restored by its next start, once when
// a start is cut short (ExecStopPost saves it, the unit's start again
// restores it) and once across a real reboot (saved at systemctl poweroff,
// restored at the next boot of the same dom0 image). Everything is checked
// against what xl, the disk and the guest's console say: the recorder's
// image log (rootfs/dom0/xl-trace: mode, owner and size of the image before
// and after each xl save and xl restore), debugfs on the powered-off
// disk, and the guest's heartbeat, whose counter and boot id go on only if
// the same kernel runs on.

// saveDir is where xenorder keeps save images (state_dir = /var/lib/xenorder).
const saveDir = "/var/lib/xenorder/save"

func savedImage() string { return saveDir + "/" + savedGuest + ".save" }

// imageRecord is one line of /var/log/lab/xl-images.log.
type imageRecord struct {
	verb          string
	rc            int
	before, after string // MODE:OWNER:SIZE of the image, or "gone"
	line          string
}

var imageLineRE = regexp.MustCompile(`rc=(\d+) verb=(\S+) before=(.*) after=(.*)$`)

func parseImageLog(log string) []imageRecord {
	var out []imageRecord
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		m := imageLineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		rc, _ := strconv.Atoi(m[1])
		out = append(out, imageRecord{verb: m[2], rc: rc, before: imageState(m[3]), after: imageState(m[4]), line: l})
	}
	return out
}

// imageState picks savedImage()'s state out of "PATH=STATE PATH=STATE ".
func imageState(field string) string {
	for _, f := range strings.Fields(field) {
		if p, st, ok := strings.Cut(f, "="); ok && p == savedImage() {
			return st
		}
	}
	return "-"
}

// rootOnly: MODE:OWNER:SIZE says a root-owned image no one else can read.
func rootOnly(st string) bool {
	f := strings.Split(st, ":")
	return len(f) == 3 && f[0] == "600" && f[1] == "root" && f[2] != "0"
}

// checkImageLog: the last save wrote the image root-only, and the restore
// after it read a root-only image that was still there when xl restore
// returned (xenorder removes it only after the restore succeeded).
func (s *scenario) checkImageLog(when string, recs []imageRecord) {
	var save, restore *imageRecord
	for i := range recs {
		switch recs[i].verb {
		case "save":
			save, restore = &recs[i], nil
		case "restore":
			restore = &recs[i]
		}
	}
	switch {
	case save == nil:
		s.errorf("%s: the recorder saw no xl save of %s", when, savedGuest)
	case save.rc != 0 || !rootOnly(save.after):
		s.errorf("%s: xl save: exit %d, image afterwards %q, want exit 0 and a non-empty image of mode 600 owned by root: %s", when, save.rc, save.after, save.line)
	}
	switch {
	case restore == nil:
		s.errorf("%s: the recorder saw no xl restore of %s after its save", when, savedGuest)
	case restore.rc != 0:
		s.errorf("%s: xl restore failed: %s", when, restore.line)
	case !rootOnly(restore.before) || !rootOnly(restore.after):
		s.errorf("%s: the image before xl restore %q, after %q: want it there, mode 600, owned by root, until the restore returned", when, restore.before, restore.after)
	}
}

var (
	heartbeatRE = regexp.MustCompile(`lab: \S+ alive n=(\d+) uptime=(\S+)s boot=(\S+)`)
	bootedRE    = regexp.MustCompile(`state=booting uptime=\S+ boot=(\S+)`)
)

// checkHeartbeat: the console log shows one boot of one kernel, whose
// counter never restarted or skipped back; it returns the last count and
// uptime.
func (s *scenario) checkHeartbeat(when, log string) (last int, uptime string) {
	boots := bootedRE.FindAllStringSubmatch(log, -1)
	if len(boots) != 1 {
		s.errorf("%s: %s's console shows %d boots, want 1 (a restore goes on; a fresh boot starts again)", when, savedGuest, len(boots))
		return -1, ""
	}
	for _, m := range heartbeatRE.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		if m[3] != boots[0][1] {
			s.errorf("%s: %s's heartbeat n=%s comes from kernel boot %s, not %s", when, savedGuest, m[1], m[3], boots[0][1])
		}
		if n != last+1 {
			s.errorf("%s: %s's heartbeat went from n=%d to n=%d", when, savedGuest, last, n)
		}
		last, uptime = n, m[2]
	}
	if last == 0 {
		s.errorf("%s: %s's console shows no heartbeat", when, savedGuest)
	}
	return last, uptime
}

// checkCutShortRestore: after the cut-short start, whose ExecStopPost saved
// savedGuest, the unit's start restored it; its kernel runs on.
func (sd *sdRun) checkCutShortRestore() {
	l := sd.lab
	r := l.must(2*time.Minute, fmt.Sprintf(`cat /var/log/lab/xl-images.log; echo @@
ls -a %s; echo @@
for i in $(seq 30); do n=$(grep -c ' alive n=' /var/log/xen/console/guest-%s.log); [ "$n" -gt "${n0:-$n}" ] && break; n0=${n0:-$n}; sleep 2; done
cat /var/log/xen/console/guest-%s.log`, saveDir, savedGuest, savedGuest))
	parts := strings.SplitN(r.Stdout, "@@\n", 3)
	if len(parts) != 3 {
		sd.t.Fatalf("cut short, restore: %s", r)
	}
	sd.checkImageLog("cut short, then started again", parseImageLog(parts[0]))
	if strings.Contains(parts[1], savedGuest+".save") {
		sd.errorf("cut short, then started again: %s still holds the image after the restore:\n%s", saveDir, parts[1])
	}
	n, up := sd.checkHeartbeat("cut short, then started again", parts[2])
	l.logf("cut short, then started again: %s restored from its image; heartbeat n=%d at uptime %ss", savedGuest, n, up)
}

// checkImageOnDisk: between the two boots, with dom0 powered off, its disk
// holds savedGuest's image and record, root's alone (debugfs reads the
// inodes).
func (sd *sdRun) checkImageOnDisk() {
	l := sd.lab
	for _, c := range []struct{ path, mode string }{{saveDir, "0700"}, {savedImage(), "0600"}, {saveDir + "/" + savedGuest + ".record", "0600"}} {
		out, err := run(l.ctx, "", "debugfs", "-R", "stat "+c.path, sd.disk)
		if err != nil {
			sd.errorf("powered off: debugfs stat %s: %v\n%s", c.path, err, out)
			continue
		}
		mode := regexp.MustCompile(`Mode:\s+(\d+)`).FindStringSubmatch(string(out))
		user := regexp.MustCompile(`User:\s+(\d+)`).FindStringSubmatch(string(out))
		if mode == nil || user == nil || mode[1] != c.mode || user[1] != "0" {
			sd.errorf("powered off: %s: want mode %s owned by root (uid 0); debugfs says:\n%s", c.path, c.mode, indent(string(out)))
			continue
		}
		l.logf("powered off: %s is mode %s, uid 0", c.path, mode[1])
	}
}

// bootAgain boots the same dom0 image again: the unit's start restores
// savedGuest from the image the poweroff wrote (never boots it afresh),
// and removes the image only after the restore succeeded.
func (sd *sdRun) bootAgain() {
	l := sd.lab
	when := "the next boot"
	prev, err := os.ReadFile(filepath.Join(sd.readBack, "var/log/xen/console", "guest-"+savedGuest+".log"))
	if err != nil {
		sd.t.Fatal(err)
	}
	lastN, lastUp := sd.checkHeartbeat("at poweroff", string(prev))
	l.logf("== the same dom0 image booted again: %s (heartbeat n=%d at uptime %ss when saved) must be restored, not booted afresh", savedGuest, lastN, lastUp)
	began := time.Now()
	l.bootVM(sd.disk)
	sd.waitBooted()
	if m := sd.unitProps(); m["ActiveState"] != "active" {
		sd.errorf("%s: xenorder.service ActiveState=%s, want active", when, m["ActiveState"])
	}
	r := l.must(3*time.Minute, fmt.Sprintf(`cat /var/log/lab/xl-calls.log; echo @@
cat /var/log/lab/xl-images.log; echo @@
ls -a %s; echo @@
xl list; echo @@
for i in $(seq 30); do grep -q ' alive n=%d ' /var/log/xen/console/guest-%s.log && break; sleep 2; done
cat /var/log/xen/console/guest-%s.log`, saveDir, lastN+1, savedGuest, savedGuest))
	parts := strings.SplitN(r.Stdout, "@@\n", 5)
	if len(parts) != 5 {
		sd.t.Fatalf("%s: %s", when, r)
	}
	os.WriteFile(filepath.Join(l.runDir, "2-boot-xl-calls.log"), []byte(parts[0]), 0o644)
	os.WriteFile(filepath.Join(l.runDir, "xl-images.log"), []byte(parts[1]), 0o644)
	calls, err := parseCalls(parts[0])
	if err != nil {
		sd.t.Fatal(err)
	}
	// The log holds the poweroff's calls, then this boot's: the poweroff
	// created nothing, so a create of savedGuest is this boot's.
	if cs := filterCalls(calls, "create", savedGuest); len(cs) > 0 {
		sd.errorf("%s: %s booted afresh instead of restored: %v", when, savedGuest, cs)
	}
	sd.checkImageLog(when, parseImageLog(parts[1]))
	if strings.Contains(parts[2], savedGuest+".save") {
		sd.errorf("%s: %s still holds the image after the restore:\n%s", when, saveDir, parts[2])
	}
	doms, err := parseXlList(parts[3])
	if err != nil {
		sd.t.Fatal(err)
	}
	if _, ok := doms[savedGuest]; !ok {
		sd.errorf("%s: xl list lacks %s:\n%s", when, savedGuest, parts[3])
	}
	n, up := sd.checkHeartbeat(when, parts[4])
	if n <= lastN {
		sd.errorf("%s: %s's heartbeat stopped at n=%d, the count at poweroff: the restored guest does not run", when, savedGuest, n)
	}
	l.note("second boot -> "+savedGuest+" restored and beating", time.Since(began))
	l.logf("%s: %s restored: heartbeat n=%d (uptime %ss) after n=%d (uptime %ss) at poweroff, same kernel boot", when, savedGuest, n, up, lastN, lastUp)
}
