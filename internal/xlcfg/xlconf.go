package xlcfg

import (
	"bufio"
	"os"
	"strings"
)

// Autoballoon reads autoballoon= from xl's own config file, xl.conf, at
// path: "auto" when the file or the key is absent (as xl defaults), else
// the value of the last line that sets it, unquoted, without its comment
// ("off", "on", "0", "1", "auto"...). The file is read line by line, not
// parsed: a line xl would reject elsewhere in it does not hide the key.
func Autoballoon(path string) string {
	mode := "auto"
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "autoballoon" {
				v = strings.Trim(strings.TrimSpace(strings.SplitN(v, "#", 2)[0]), `"'`)
				mode = v
			}
		}
		f.Close()
	}
	return mode
}
