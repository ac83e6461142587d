package config

import (
	"fmt"
	"strings"
	"testing"
)

// bigConfig is a TOML file of n guests, each depending on five earlier
// ones: 5n edges.
func bigConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("[defaults]\nmax_parallel = 16\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "[guest.g%d]\n", i)
		if i == 0 {
			continue
		}
		deps := map[int]bool{}
		for k := 1; k <= 5; k++ {
			deps[(i*7919+k*104729)%i] = true
		}
		var q []string
		for d := range deps {
			q = append(q, fmt.Sprintf("\"g%d\"", d))
		}
		fmt.Fprintf(&b, "depends_on = [%s]\n", strings.Join(q, ", "))
	}
	return []byte(b.String())
}

// BenchmarkLoadValidate: TOML to a validated config with its graph and
// cycle check, for 1,000 and 10,000 guests (about 5 edges each).
func BenchmarkLoadValidate(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		src := bigConfig(n)
		b.Run(fmt.Sprintf("guests=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				cfg, err := Parse("/etc/xen/xenorder.toml", src)
				if err != nil || len(cfg.Guests) != n {
					b.Fatal(err)
				}
			}
		})
	}
}
