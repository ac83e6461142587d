package xl

import (
	"fmt"
	"strconv"
	"strings"
)

// Info is the output of `xl info`.
type Info struct {
	TotalMemoryMiB int64             // total_memory
	FreeMemoryMiB  int64             // free_memory
	XenCommandline string            // xen_commandline
	XenVersion     string            // xen_version, e.g. "4.17.7"
	Fields         map[string]string // every "key : value" line, values trimmed
}

// ParseInfo parses the "key : value" lines of `xl info`. total_memory and
// free_memory must be present; a line without a colon is an error.
func ParseInfo(out []byte) (Info, error) {
	text := strings.TrimRight(string(out), " \t\r\n")
	if strings.TrimSpace(text) == "" {
		return Info{}, fmt.Errorf("xl info printed nothing")
	}
	info := Info{Fields: make(map[string]string)}
	for i, line := range strings.Split(text, "\n") {
		key, value, ok := strings.Cut(line, ":")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return Info{}, fmt.Errorf("xl info: line %d: %q: want \"key : value\"", i+1, clip(line))
		}
		info.Fields[key] = strings.TrimSpace(value)
	}
	for _, m := range []struct {
		key string
		dst *int64
	}{{"total_memory", &info.TotalMemoryMiB}, {"free_memory", &info.FreeMemoryMiB}} {
		v, ok := info.Fields[m.key]
		if !ok {
			return Info{}, fmt.Errorf("xl info: no %s", m.key)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return Info{}, fmt.Errorf("xl info: %s %q: want MiB as a number", m.key, clip(v))
		}
		*m.dst = n
	}
	info.XenCommandline = info.Fields["xen_commandline"]
	info.XenVersion = info.Fields["xen_version"]
	return info, nil
}
