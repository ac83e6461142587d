package xlsim

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/xenorder/xenorder/internal/xlcfg"
)

// benchState is a host of n running guests as xenorder-bench makes them.
func benchState(b *testing.B, n int) *State {
	now := time.Now()
	st := newState(now)
	e := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	for i := range n {
		c, err := xlcfg.Parse("g.cfg", []byte(fmt.Sprintf("name = 'g%02d'\nmemory = 64\nvif = ['bridge=xenbr0,mac=00:16:3e:00:00:%02x']\ndisk = ['phy:/dev/vg/g%02d,xvda,w']\nxlsim_create_time = '1s'\nxlsim_xenstore = ['data/ready=1']\n", i, i, i)))
		if err != nil {
			b.Fatal(err)
		}
		d, rc := e.guestFromConfig(c)
		if rc >= 0 {
			b.Fatal(rc)
		}
		d.ID, d.Phase, d.Booted, d.CreatedAt, d.BuiltAt, d.RunSince, d.CPU = i+1, phaseRunning, true, now, now, now, 1.5
		st.Domains = append(st.Domains, d)
	}
	st.NextDomid = n + 1
	return st
}

// BenchmarkState: what every xl call costs to read state.json and most
// to write it, on a host of 60 guests. (With the hand-written codec this
// replaced: encode ~50 us, decode ~0.3 ms; encoding/json: ~0.4-0.6 ms and
// ~1.0-1.4 ms, on this 2-core VM under load.)
func BenchmarkState(b *testing.B) {
	st := benchState(b, 60)
	js := encodeState(st)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			encodeState(st)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeState(js); err != nil {
				b.Fatal(err)
			}
		}
	})
}
