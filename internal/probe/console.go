package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// maxConsoleRead bounds how much new console output one attempt reads: the
// last 8 MiB written since the create began.
const maxConsoleRead = 8 << 20

// ConsoleLogPath is the console log xenconsoled writes for guest name in
// dir (XENCONSOLED_TRACE=guest): dir/guest-<name>.log.
func ConsoleLogPath(dir, name string) string {
	return filepath.Join(dir, "guest-"+name+".log")
}

// ConsoleSize is the current size of guest name's console log in dir, 0 if
// it is absent or unreadable. Record it (as Target.ConsoleOffset) before
// xl create.
func ConsoleSize(dir, name string) int64 {
	fi, err := os.Stat(ConsoleLogPath(dir, name))
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
}

type consoleProbe struct {
	dir     string
	pattern string
	re      *regexp.Regexp
}

// Console returns a probe that passes when the guest's console log
// (ConsoleLogPath(dir, Name)) has a match for the regexp pattern in what was
// written after Target.ConsoleOffset (from the start if the log is now
// shorter than that: it was truncated or rotated). The pattern is in
// multi-line mode (^ and $ match at line ends); CR LF reads as LF.
func Console(dir string, pattern string) (Probe, error) {
	if dir == "" {
		return nil, errors.New("console probe: empty console log directory")
	}
	if pattern == "" {
		return nil, errors.New("console probe: empty pattern")
	}
	re, err := regexp.Compile("(?m)" + pattern)
	if err != nil {
		return nil, fmt.Errorf("console probe: bad pattern %q: %v", pattern, err)
	}
	return &consoleProbe{dir: dir, pattern: pattern, re: re}, nil
}

func (p *consoleProbe) Check(ctx context.Context, t Target) error {
	if t.Name == "" || strings.ContainsRune(t.Name, '/') {
		return fmt.Errorf("bad guest name %q", t.Name)
	}
	path := ConsoleLogPath(p.dir, t.Name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no console log %s yet (is xenconsoled logging guests? XENCONSOLED_TRACE=guest)", path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	off := max(t.ConsoleOffset, 0)
	if fi.Size() < off {
		off = 0 // truncated or rotated since the create began
	}
	off = max(off, fi.Size()-maxConsoleRead)
	data, err := io.ReadAll(io.NewSectionReader(f, off, maxConsoleRead))
	if err != nil {
		return err
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if p.re.Match(data) {
		return nil
	}
	return fmt.Errorf("no match for %s yet", strconv.Quote(p.pattern))
}

func (p *consoleProbe) String() string { return "console " + strconv.Quote(p.pattern) }
func (p *consoleProbe) Kind() string   { return KindConsole }

// ConsoleTail returns the last n non-empty lines guest name's console log
// in dir got after offset (a start's Target.ConsoleOffset; from the start
// if the log is now shorter), reading at most its last 64 KiB; none when
// there is no log. For a message about a guest that died at once.
func ConsoleTail(dir, name string, offset int64, n int) []string {
	f, err := os.Open(ConsoleLogPath(dir, name))
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if offset > fi.Size() {
		offset = 0
	}
	offset = max(offset, fi.Size()-64<<10)
	b := make([]byte, fi.Size()-offset)
	k, _ := f.ReadAt(b, offset)
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(string(b[:k]), "\r", ""), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out[max(0, len(out)-n):]
}
