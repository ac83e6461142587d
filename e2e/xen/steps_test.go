package xen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeHasSwitchSteps: the README's switch procedure names every
// command the systemd suite runs, in the same order.
func TestReadmeHasSwitchSteps(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "### Replacing xendomains on a Debian host")
	if start < 0 {
		t.Fatal(`README lacks "### Replacing xendomains on a Debian host"`)
	}
	sec := readme[start:]
	if end := strings.Index(sec[4:], "\n## "); end >= 0 {
		sec = sec[:end+4]
	}
	pos := 0
	var cmds []string
	for _, s := range SwitchSteps {
		cmds = append(cmds, s.Cmd)
	}
	// The plan commands come right after `xenorder check`.
	var all []string
	for _, c := range cmds {
		all = append(all, c)
		if c == "xenorder check" {
			all = append(all, PlanSteps...)
		}
	}
	cmds = all
	for _, c := range cmds {
		i := strings.Index(sec[pos:], "`"+c+"`")
		if i < 0 {
			t.Errorf("the README's switch procedure lacks `%s` (after position %d), or names it out of order", c, pos)
			continue
		}
		pos += i + len(c)
	}
}
