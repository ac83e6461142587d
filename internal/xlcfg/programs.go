package xlcfg

// ScriptDir is where libxl finds a hotplug script (a vif's or a disk's
// script=) named by a relative path: XEN_SCRIPT_DIR, /etc/xen/scripts on
// Debian and in upstream's default build.
const ScriptDir = "/etc/xen/scripts"

// Program is a program an xl config makes xl run in dom0, as root.
type Program struct {
	// Key is where it is named: "bootloader", "device_model_override",
	// "vif script" or "disk script".
	Key  string
	Name string // as written
	Line int
}

// Programs returns the programs the config names, in the file's order of
// keys: bootloader= (libxl looks for a name without a leading slash in its
// private bindir first, then runs it as execvp would),
// device_model_override= (run as execvp would), and the script= of each
// vif and disk (relative to ScriptDir unless absolute). A vif spec that
// cannot be parsed is skipped: Backends reports it.
func (c *Config) Programs() []Program {
	var out []Program
	for _, key := range c.Order {
		v := c.Keys[key]
		switch key {
		case "bootloader", "device_model_override":
			if s, ok := c.String(key); ok && s != "" {
				out = append(out, Program{Key: key, Name: s, Line: v.Line})
			}
		case "vif":
			for _, item := range c.List(key) {
				if s, err := ParseSpec(item); err == nil && s["script"] != "" {
					out = append(out, Program{Key: "vif script", Name: s["script"], Line: v.Line})
				}
			}
		case "disk":
			for _, item := range c.List(key) {
				// Even from a spec ParseDisk refuses: xl may read it.
				if d, _ := ParseDisk(item); d.Params["script"] != "" {
					out = append(out, Program{Key: "disk script", Name: d.Params["script"], Line: v.Line})
				}
			}
		}
	}
	return out
}
