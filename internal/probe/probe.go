// Package probe implements the readiness probes of xenorder: a guest is
// ready when all of its probes pass. Each probe makes one attempt per Check;
// the caller retries and bounds each attempt with its context.
package probe

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Target is the guest being probed.
type Target struct {
	Name          string    // Xen domain name
	DomID         int       // current domid (changes when the guest reboots)
	Since         time.Time // when this create/restore began (for delay)
	ConsoleOffset int64     // size of the console log when this create began: only what was written after counts
}

// Probe is one readiness check.
type Probe interface {
	// Check makes one attempt, bounded by ctx (the caller applies the
	// attempt timeout). nil means passed; an error says briefly what was
	// seen ("connection refused", "key absent", "HTTP 503", ...).
	Check(ctx context.Context, t Target) error
	// String names the probe for messages, e.g. "tcp 192.168.1.4:22".
	String() string
	// Kind is one of the Kind* constants.
	Kind() string
}

// Kinds of probe, as returned by Probe.Kind.
const (
	KindTCP      = "tcp"
	KindExec     = "exec"
	KindXenstore = "xenstore"
	KindHTTP     = "http"
	KindConsole  = "console"
	KindDelay    = "delay"
)

// shortError is a brief message that still unwraps to the underlying error.
type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }
func (e *shortError) Unwrap() error { return e.err }

// ctxError reports why ctx ended ("timed out" or "canceled"), with detail
// appended if non-empty; it unwraps to ctx.Err().
func ctxError(ctx context.Context, detail string) error {
	msg := "canceled"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg = "timed out"
	}
	if detail != "" {
		msg += ": " + detail
	}
	return &shortError{msg, ctx.Err()}
}

// netError shortens a dial or HTTP transport error to what was seen.
func netError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxError(ctx, "")
	}
	for _, c := range []struct {
		errno syscall.Errno
		msg   string
	}{
		{syscall.ECONNREFUSED, "connection refused"},
		{syscall.ECONNRESET, "connection reset"},
		{syscall.EHOSTUNREACH, "no route to host"},
		{syscall.ENETUNREACH, "network unreachable"},
		{syscall.ETIMEDOUT, "connection timed out"},
	} {
		if errors.Is(err, c.errno) {
			return &shortError{c.msg, err}
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &shortError{"lookup " + dnsErr.Name + ": " + dnsErr.Err, err}
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		return &shortError{sysErr.Err.Error(), err}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return &shortError{opErr.Err.Error(), err}
	}
	return err
}

// tailBuffer keeps the last max bytes written to it. It is safe for
// concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.b = append(t.b[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		k := copy(t.b, t.b[len(t.b)-t.max:])
		t.b = t.b[:k]
	}
	return n, nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}

// maxLine caps the length of output lines quoted in errors.
const maxLine = 200

// lastLine returns the last non-blank line of b, trimmed and capped.
func lastLine(b []byte) string {
	s := strings.TrimRight(string(b), " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return capString(strings.TrimSpace(s), maxLine)
}

// capString makes s valid UTF-8 and at most n bytes (plus "...").
func capString(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// quoteArg quotes s for messages if it is empty or has spaces, quotes,
// backslashes or unprintable characters.
func quoteArg(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '\'' || r == '\\' || r == 0x7f || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
