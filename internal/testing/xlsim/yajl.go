package xlsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// jobj is a JSON object with ordered keys; jarr a JSON array. Other values
// are strings, ints, int64s, uint32s and bools.
type (
	jobj []jkv
	jarr []any
	jkv  struct {
		k string
		v any
	}
)

// yajlGen renders v like libxl's yajl generator in beautify mode (four
// spaces of indent, "key": value, empty containers as "{\n\n<indent>}"),
// followed by a newline.
func yajlGen(v any) string {
	var b bytes.Buffer
	yajlValue(&b, v, 0)
	b.WriteByte('\n')
	return b.String()
}

func yajlValue(b *bytes.Buffer, v any, depth int) {
	ind := strings.Repeat("    ", depth)
	switch x := v.(type) {
	case jobj:
		b.WriteString("{\n")
		for i, kv := range x {
			b.WriteString(ind + "    ")
			yajlString(b, kv.k)
			b.WriteString(": ")
			yajlValue(b, kv.v, depth+1)
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		if len(x) == 0 {
			b.WriteByte('\n')
		}
		b.WriteString(ind + "}")
	case jarr:
		b.WriteString("[\n")
		for i, e := range x {
			b.WriteString(ind + "    ")
			yajlValue(b, e, depth+1)
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		if len(x) == 0 {
			b.WriteByte('\n')
		}
		b.WriteString(ind + "]")
	case string:
		yajlString(b, x)
	case bool:
		fmt.Fprint(b, x)
	case int, int64, uint32, uint64:
		fmt.Fprint(b, x)
	default:
		panic(fmt.Sprintf("yajlValue: %T", v))
	}
}

func yajlString(b *bytes.Buffer, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	b.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// actionJSON is libxl's JSON name of an xl on_* action.
func actionJSON(a string) string {
	switch a {
	case "rename-restart":
		return "restart_rename"
	case "coredump-destroy":
		return "coredump_destroy"
	case "coredump-restart":
		return "coredump_restart"
	case "soft-reset":
		return "soft_reset"
	}
	return a
}

// Modes of configJSON.
type cfgMode int

const (
	cfgList      cfgMode = iota // as stored for a running domain (`xl list -l`)
	cfgSave                     // in a save file: the domid left out
	cfgSaveDomid                // in a save file of `xl save -D`
	cfgDryrun                   // as xl parsed it from the cfg (`xl -N create`)
)

// configJSON is the domain's libxl_domain_config as JSON.
func configJSON(d *Domain, mode cfgMode) jobj {
	dryrun := mode == cfgDryrun
	if d.ID == 0 && !dryrun {
		return jobj{
			{"c_info", jobj{{"type", "pv"}, {"name", "Domain-0"}}},
			{"b_info", jobj{
				{"max_memkb", d.MaxMemMiB * 1024},
				{"target_memkb", d.MemMiB*1024 - 1},
				{"sched_params", jobj{{"sched", "credit2"}, {"weight", 256}, {"cap", 0}}},
				{"type.pv", jobj{}},
				{"arch_arm", jobj{}},
				{"arch_x86", jobj{}},
			}},
		}
	}
	cinfo := jobj{{"type", d.Type}, {"name", d.Name}}
	switch mode {
	case cfgList:
		cinfo = append(cinfo, jkv{"domid", uint32(1<<32 - 1)})
	case cfgSaveDomid:
		cinfo = append(cinfo, jkv{"domid", d.ID})
	}
	cinfo = append(cinfo, jkv{"uuid", d.UUID}, jkv{"run_hotplug_scripts", "True"})

	var binfo jobj
	if !dryrun || d.VCPUsGiven {
		avail := jarr{}
		for i := 0; i < d.VCPUs; i++ {
			avail = append(avail, i)
		}
		binfo = append(binfo, jkv{"max_vcpus", d.MaxVCPUs}, jkv{"avail_vcpus", avail})
	}
	if !dryrun || d.MemGiven {
		binfo = append(binfo, jkv{"max_memkb", d.MaxMemMiB * 1024}, jkv{"target_memkb", d.MemMiB * 1024})
	}
	if dryrun {
		binfo = append(binfo, jkv{"sched_params", jobj{}})
	} else {
		binfo = append(binfo, jkv{"video_memkb", 0},
			jkv{"sched_params", jobj{{"sched", "credit2"}, {"weight", 256}, {"cap", 0}}})
	}
	binfo = append(binfo, jkv{"claim_mode", "True"})
	if d.Kernel != "" {
		binfo = append(binfo, jkv{"kernel", d.Kernel})
	}
	if d.Cmdline != "" {
		binfo = append(binfo, jkv{"cmdline", d.Cmdline})
	}
	if d.Ramdisk != "" {
		binfo = append(binfo, jkv{"ramdisk", d.Ramdisk})
	}
	typeInfo := jobj{}
	if d.Type == "pv" && len(d.PCI) > 0 {
		// xl sets e820_host for a PV guest with PCI devices.
		typeInfo = append(typeInfo, jkv{"e820_host", "True"})
	}
	binfo = append(binfo, jkv{"type." + d.Type, typeInfo}, jkv{"arch_arm", jobj{}})
	if dryrun {
		binfo = append(binfo, jkv{"arch_x86", jobj{}})
	} else {
		binfo = append(binfo, jkv{"arch_x86", jobj{{"msr_relaxed", "False"}}})
	}

	cfg := jobj{{"c_info", cinfo}, {"b_info", binfo}}
	if len(d.Disks) > 0 {
		disks := jarr{}
		for _, k := range d.Disks {
			var o jobj
			if k.BackendDomname != "" {
				o = append(o, jkv{"backend_domname", k.BackendDomname})
			}
			if k.PdevPath != "" {
				o = append(o, jkv{"pdev_path", k.PdevPath})
			}
			if k.Vdev != "" {
				o = append(o, jkv{"vdev", k.Vdev})
			}
			if k.Format != "" {
				o = append(o, jkv{"format", k.Format})
			}
			if k.Readwrite {
				o = append(o, jkv{"readwrite", 1})
			}
			disks = append(disks, o)
		}
		cfg = append(cfg, jkv{"disks", disks})
	}
	if len(d.Nics) > 0 {
		nics := jarr{}
		for _, n := range d.Nics {
			var o jobj
			if n.BackendDomname != "" {
				o = append(o, jkv{"backend_domname", n.BackendDomname})
			}
			o = append(o, jkv{"devid", n.Devid})
			for _, kv := range []jkv{{"model", n.Model}, {"mac", n.Mac}, {"ip", n.IP}, {"bridge", n.Bridge},
				{"ifname", n.Ifname}, {"script", n.Script}, {"nictype", n.Nictype}} {
				if kv.v.(string) != "" {
					o = append(o, kv)
				}
			}
			nics = append(nics, o)
		}
		cfg = append(cfg, jkv{"nics", nics})
	}
	if len(d.PCI) > 0 {
		pcidevs := jarr{}
		for _, p := range d.PCI {
			pcidevs = append(pcidevs, pciJSON(p))
		}
		cfg = append(cfg, jkv{"pcidevs", pcidevs})
	}
	// libxl leaves out fields at their default, and destroy is the default
	// of every action.
	for _, kv := range []jkv{{"on_poweroff", d.OnPoweroff}, {"on_reboot", d.OnReboot},
		{"on_watchdog", d.OnWatchdog}, {"on_crash", d.OnCrash}, {"on_soft_reset", d.OnSoftReset}} {
		if a := kv.v.(string); a != "" && a != "destroy" {
			cfg = append(cfg, jkv{kv.k, actionJSON(a)})
		}
	}
	return cfg
}
