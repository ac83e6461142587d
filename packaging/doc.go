// Package packaging holds no code. Its tests check xenorder's install path
// against the code and the README: the Makefile's build, install and deb
// targets, the systemd unit as installed, the man pages, the annotated
// example config (contrib/xenorder.toml.example) and the bash completion.
//
// The Debian maintainer scripts, with which the deb target builds the
// package, live in packaging/debian.
package packaging
