package render

// The JSON renderer: `xenorder status --json`.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/xenorder/xenorder/internal/runner"
)

// StatusJSON renders the report as indented JSON, with a final newline: the
// documented schema of `status --json` (runner.StatusReport's tags). Names
// are the names themselves; encoding/json escapes C0 controls, and DEL and
// the C1 controls are escaped too (\u007f, \u009b): valid JSON that decodes
// to the same names, and that cannot drive a terminal.
func StatusJSON(s *runner.StatusReport) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		// Such a rune is only ever inside a JSON string.
		if r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[:size])
		}
		b = b[size:]
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
