package xdimport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSettings(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, src string
		want      Settings
	}{
		{"debian", "XENDOMAINS_SAVE=/var/lib/xen/save\nXENDOMAINS_STOP_MAXWAIT=300\n", Settings{Save: "/var/lib/xen/save", MaxWait: "300"}},
		{"quoted, comments, export", "# XENDOMAINS_SAVE=/x\nexport XENDOMAINS_MIGRATE=\"host2 -s 'ssh -p 2222'\"\nXENDOMAINS_SAVE=''\nXENDOMAINS_AUTO=/srv/auto # ours\n",
			Settings{Migrate: "host2 -s 'ssh -p 2222'", Auto: "/srv/auto"}},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		os.WriteFile(p, []byte(tt.src), 0o644)
		got, err := ReadSettings(p)
		tt.want.File = p
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v %v, want %+v", tt.name, got, err, tt.want)
		}
	}
	if s, err := ReadSettings(filepath.Join(dir, "absent")); err != nil || s != (Settings{}) {
		t.Errorf("absent: %+v %v", s, err)
	}
}

func TestWriteMigrateAndExtraBackend(t *testing.T) {
	dir := t.TempDir()
	auto := filepath.Join(dir, "auto")
	os.MkdirAll(auto, 0o755)
	os.WriteFile(filepath.Join(dir, "web.cfg"), []byte("name = 'web'\nvif = ['backend=drv,bridge=br0']\n"), 0o644)
	os.Symlink("../web.cfg", filepath.Join(auto, "web.cfg"))
	var b strings.Builder
	if err := Write(&b, auto, Settings{Migrate: "host2 -s ssh", File: "/etc/default/xendomains"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"stop_action = \"migrate\"\nmigrate_to = \"host2\"",
		"[guest.web]\nconfig = \"" + filepath.Join(dir, "web.cfg") + "\"\n# inferred: vif backend=drv\ndepends_on = [\"drv\"]",
		"[guest.drv]\nconfig = \"" + filepath.Join(dir, "drv.cfg") + "\"\nautostart = false",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// Two links creating one name are refused.
	os.Symlink("../web.cfg", filepath.Join(auto, "web2.cfg"))
	if err := Write(&b, auto, Settings{}); err == nil || !strings.Contains(err.Error(), `both create "web"`) {
		t.Errorf("err %v", err)
	}
}
