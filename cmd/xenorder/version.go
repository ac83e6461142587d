package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version is xenorder's version, set when it is built for a release:
//
//	go build -ldflags "-X main.version=0.2.0" ./cmd/xenorder
//
// (the Makefile passes the Debian changelog's version). The linker can set
// only a package variable, hence this one; nothing writes it at run time.
var version string

// versionLine is what xenorder --version prints: "xenorder 0.2.0" (then a
// line naming the Go release and platform it was built with), or for
// a build without -X main.version the module's version as the Go toolchain
// recorded it (go install ...@v0.2.0), else "xenorder (devel)" and the
// commit when the build recorded one.
func versionLine() string {
	v := version
	var rev string
	modified := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
		if rev != "" {
			v = "(devel, commit " + rev[:min(len(rev), 12)]
			if modified {
				v += ", modified"
			}
			v += ")"
		}
	}
	return "xenorder " + strings.TrimPrefix(v, "v") + "\nbuilt with " + runtime.Version() + " for " + runtime.GOOS + "/" + runtime.GOARCH
}
