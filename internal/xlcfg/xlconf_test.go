package xlcfg

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAutoballoon(t *testing.T) {
	for _, tt := range []struct {
		name, conf, want string
	}{
		{"absent key", "# autoballoon=\"off\"\nlockfile=\"/var/lock/xl\"\n", "auto"},
		{"quoted", "autoballoon=\"off\"\n", "off"},
		{"single quotes, spaces, comment", "  autoballoon = 'on'  # dom0 is small\n", "on"},
		{"a number", "autoballoon=0\n", "0"},
		{"the last wins", "autoballoon=\"off\"\nautoballoon=\"auto\"\n", "auto"},
		{"a line xl would reject does not hide it", "this is not xl.cfg\nautoballoon=\"1\"\n", "1"},
		{"another key ending so", "xautoballoon=\"off\"\n", "auto"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "xl.conf")
			os.WriteFile(p, []byte(tt.conf), 0o644)
			if got := Autoballoon(p); got != tt.want {
				t.Errorf("Autoballoon = %q, want %q", got, tt.want)
			}
		})
	}
	if got := Autoballoon(filepath.Join(t.TempDir(), "none")); got != "auto" {
		t.Errorf("no xl.conf: %q, want auto", got)
	}
}
