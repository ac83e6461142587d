package probe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// maxValue bounds the xenstore value read (xenstore values are at most 4 KiB).
const maxValue = 64 << 10

type xenstoreProbe struct {
	readCmd string
	key     string
	equals  *string
}

// Xenstore returns a probe that runs `readCmd /local/domain/<DomID>/<key>`
// (readCmd, e.g. "xenstore-read", is looked up on PATH unless it contains a
// slash; no shell). With equals nil it passes when the key exists; otherwise
// when its value (without the trailing newline) equals *equals. key is
// relative to the guest's xenstore home.
func Xenstore(readCmd string, key string, equals *string) (Probe, error) {
	if readCmd == "" {
		return nil, errors.New("xenstore probe: empty read command")
	}
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("xenstore probe: %v", err)
	}
	p := &xenstoreProbe{readCmd: readCmd, key: key}
	if equals != nil {
		v := *equals
		p.equals = &v
	}
	return p, nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("key %q must be relative to the guest's /local/domain/<domid> (no leading /)", key)
	case strings.HasPrefix(key, "-"):
		return fmt.Errorf("key %q starts with -", key)
	case strings.HasSuffix(key, "/") || strings.Contains(key, "//"):
		return fmt.Errorf("key %q has an empty path element", key)
	}
	for _, el := range strings.Split(key, "/") {
		if el == "." || el == ".." {
			return fmt.Errorf("key %q has a %q path element", key, el)
		}
	}
	for _, r := range key {
		if r <= ' ' || r == 0x7f || !strconv.IsPrint(r) {
			return fmt.Errorf("key %q has a space or control character", key)
		}
	}
	return nil
}

// path is the absolute xenstore path read for domain domid.
func (p *xenstoreProbe) path(domid int) string {
	return "/local/domain/" + strconv.Itoa(domid) + "/" + p.key
}

func (p *xenstoreProbe) Check(ctx context.Context, t Target) error {
	if t.DomID <= 0 {
		return fmt.Errorf("guest has no domid (%d)", t.DomID)
	}
	stdout := &headBuffer{max: maxValue}
	stderr := &tailBuffer{max: maxOutput}
	err := run(ctx, []string{p.readCmd, p.path(t.DomID)}, stdout, stderr, execWaitDelay)
	if err != nil {
		if ctx.Err() == nil && keyAbsent(stderr.Bytes()) {
			return &shortError{"key absent", err}
		}
		return runError(ctx, err, stderr.Bytes())
	}
	if stdout.overflow {
		return fmt.Errorf("value longer than %d bytes", maxValue)
	}
	if p.equals == nil {
		return nil
	}
	v := strings.TrimSuffix(string(stdout.b), "\n")
	if v != *p.equals {
		return fmt.Errorf("value %q, want %q", capString(v, maxLine), *p.equals)
	}
	return nil
}

// keyAbsent reports whether xenstore-read's stderr says the path could not
// be read (xenstore-read reports ENOENT this way).
func keyAbsent(stderr []byte) bool {
	s := strings.ToLower(string(stderr))
	return strings.Contains(s, "couldn't read path") ||
		strings.Contains(s, "could not read path") ||
		strings.Contains(s, "no such file or directory")
}

func (p *xenstoreProbe) String() string {
	if p.equals == nil {
		return "xenstore " + p.key
	}
	return "xenstore " + p.key + " = " + quoteArg(*p.equals)
}

func (p *xenstoreProbe) Kind() string { return KindXenstore }

// headBuffer keeps the first max bytes written to it and notes overflow.
type headBuffer struct {
	mu       sync.Mutex
	max      int
	b        []byte
	overflow bool
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	room := h.max - len(h.b)
	if len(p) > room {
		h.overflow = true
		h.b = append(h.b, p[:room]...)
	} else {
		h.b = append(h.b, p...)
	}
	return len(p), nil
}
