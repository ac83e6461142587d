package xl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// DomainConfig is one domain of `xl list -l`: the parts of libxl's domain
// configuration that xenorder uses.
type DomainConfig struct {
	DomID       int
	Name        string
	Type        string // "pv", "pvh", "hvm"
	MaxMemKB    int64  // 0 if not set (absent, or libxl's "default" ~0)
	TargetMemKB int64  // 0 if not set
	Stubdom     bool   // b_info.device_model_stubdomain is "True"
	Backends    []Backend
}

// Backend is a device of a domain whose backend runs in another domain
// (a driver domain): a device entry with backend_domid or backend_domname.
type Backend struct {
	Kind    string // "disk", "nic", ...: the config array's name without the trailing "s"
	DomID   int    // -1 if absent
	DomName string // "" if absent
}

// listLongEntry is one element of the `xl list -l` array.
type listLongEntry struct {
	DomID  *json.Number               `json:"domid"`
	Config map[string]json.RawMessage `json:"config"`
}

// ParseListLong parses the JSON printed by `xl list -l`. Unknown fields are
// ignored. Backends are collected from every array of objects directly
// under "config" (disks, nics, vtpms, p9s, ...), in the order of the array
// names sorted, then the order of the devices.
func ParseListLong(out []byte) ([]DomainConfig, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, errors.New("xl list -l printed nothing")
	}
	var entries []listLongEntry
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&entries); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, fmt.Errorf("xl list -l: want an array of {\"domid\", \"config\"} objects: %v", err)
		}
		return nil, fmt.Errorf("xl list -l: invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("xl list -l: invalid JSON: text after the array")
	}
	if entries == nil {
		return nil, errors.New("xl list -l: want an array of {\"domid\", \"config\"} objects, got null")
	}

	configs := make([]DomainConfig, 0, len(entries))
	for i, e := range entries {
		c, err := parseDomainConfig(e)
		if err != nil {
			return nil, fmt.Errorf("xl list -l: domain #%d: %w", i, err)
		}
		configs = append(configs, c)
	}
	return configs, nil
}

func parseDomainConfig(e listLongEntry) (DomainConfig, error) {
	var c DomainConfig
	if e.DomID == nil {
		return c, errors.New(`no "domid"`)
	}
	id, err := strconv.Atoi(e.DomID.String())
	if err != nil || id < 0 {
		return c, fmt.Errorf("domid %s: want a non-negative number", e.DomID)
	}
	c.DomID = id
	if e.Config == nil {
		return c, fmt.Errorf("domid %d: no \"config\" object", id)
	}

	var cinfo struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	var binfo struct {
		MaxMemKB    json.Number `json:"max_memkb"`
		TargetMemKB json.Number `json:"target_memkb"`
		Stubdom     any         `json:"device_model_stubdomain"`
	}
	if err := unmarshalIfPresent(e.Config["c_info"], &cinfo); err != nil {
		return c, fmt.Errorf("domid %d: c_info: %v", id, err)
	}
	if err := unmarshalIfPresent(e.Config["b_info"], &binfo); err != nil {
		return c, fmt.Errorf("domid %d: b_info: %v", id, err)
	}
	c.Name, c.Type = cinfo.Name, cinfo.Type
	if c.MaxMemKB, err = memKB(binfo.MaxMemKB); err != nil {
		return c, fmt.Errorf("domid %d: b_info.max_memkb: %v", id, err)
	}
	if c.TargetMemKB, err = memKB(binfo.TargetMemKB); err != nil {
		return c, fmt.Errorf("domid %d: b_info.target_memkb: %v", id, err)
	}
	c.Stubdom = binfo.Stubdom == "True" || binfo.Stubdom == true

	keys := make([]string, 0, len(e.Config))
	for k := range e.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var devices []map[string]json.RawMessage
		if json.Unmarshal(e.Config[k], &devices) != nil {
			continue // not an array of objects: not a device list
		}
		for j, dev := range devices {
			b, ok, err := parseBackend(strings.TrimSuffix(k, "s"), dev)
			if err != nil {
				return c, fmt.Errorf("domid %d: %s[%d]: %v", id, k, j, err)
			}
			if ok {
				c.Backends = append(c.Backends, b)
			}
		}
	}
	return c, nil
}

// parseBackend reads backend_domid and backend_domname of one device.
func parseBackend(kind string, dev map[string]json.RawMessage) (Backend, bool, error) {
	rawID, hasID := dev["backend_domid"]
	rawName, hasName := dev["backend_domname"]
	if !hasID && !hasName {
		return Backend{}, false, nil
	}
	b := Backend{Kind: kind, DomID: -1}
	if hasID {
		var n json.Number
		if err := json.Unmarshal(rawID, &n); err != nil {
			return b, false, fmt.Errorf("backend_domid %s: want a number", rawID)
		}
		id, err := strconv.Atoi(n.String())
		if err != nil || id < 0 {
			return b, false, fmt.Errorf("backend_domid %s: want a non-negative number", n)
		}
		b.DomID = id
	}
	if hasName {
		if err := json.Unmarshal(rawName, &b.DomName); err != nil {
			return b, false, fmt.Errorf("backend_domname %s: want a string", rawName)
		}
	}
	return b, true, nil
}

// unmarshalIfPresent decodes raw into v unless raw is absent.
func unmarshalIfPresent(raw json.RawMessage, v any) error {
	if raw == nil {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// memKB converts a memory size in KiB; absent and libxl's "default"
// (all bits set) are 0.
func memKB(n json.Number) (int64, error) {
	if n == "" {
		return 0, nil
	}
	if v, err := strconv.ParseInt(n.String(), 10, 64); err == nil && v >= 0 {
		return v, nil
	}
	if v, err := strconv.ParseUint(n.String(), 10, 64); err == nil && v == math.MaxUint64 {
		return 0, nil
	}
	return 0, fmt.Errorf("%s: want a size in KiB", n)
}
