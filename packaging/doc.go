// Package packaging holds no code. Its tests check xenorder's install path
// against the code and the README: the Makefile's build, install and deb
// targets, the systemd unit as installed, the man pages, the annotated
// example config (contrib/xenorder.toml.example) and the bash completion;
// and the Debian package: lintian on it, dpkg installing it into a scratch
// root, upgrading it from 0.1.0 (packaging/testdata/xenorder-0.1.0: the
// package that shipped the example as the conffile /etc/xen/xenorder.toml),
// removing, reinstalling and purging it, with recording stand-ins for
// systemctl and deb-systemd-invoke (deb_test.go).
//
// The package's DEBIAN files live in packaging/debian: control.in,
// conffiles (/etc/default/xenorder alone: no live config), the maintainer
// scripts, the Debian changelog, the machine-readable copyright file, the
// lintian override and /etc/default/xenorder.
//
// # Why dpkg-deb, not debhelper
//
// `make deb` packs the tree of `make install` with dpkg-deb, and the
// maintainer scripts are written by hand. Building the Debian way, a
// debian/ folder with debhelper and dpkg-buildpackage -b, was weighed and
// not taken:
//
//   - A source package promises a build from its Build-Depends in a clean
//     chroot (sbuild, pbuilder). None can name the toolchain here: go.mod
//     needs a Go far newer than bookworm's golang (1.19), so no dh-golang
//     either, and Debian packages none of the Go modules at the versions
//     used. dpkg-buildpackage would run only with -d, on a machine
//     prepared by hand, the same machine `make deb` needs.
//
//   - The maintainer scripts are the package's one danger: a stop of
//     xenorder.service stops every guest. What dh_installsystemd writes
//     depends on its options and on debhelper's version;
//     TestDebhelperWouldTouchTheUnit runs its output the way dpkg would.
//     With debhelper 13.11 (bookworm): by default the scripts enable and
//     start the unit at installation, restart it on every upgrade and stop
//     it on remove (`deb-systemd-invoke stop`); --no-stop-on-upgrade alone
//     still starts it, and stops it on remove; --no-start
//     --no-stop-on-upgrade still enable it at installation, so that
//     xendomains and xenorder would both run at the next boot.
//     Only --no-enable --no-start --no-stop-on-upgrade leaves the unit
//     alone, and that test keeps the package's deb-systemd-helper calls
//     (the enable state across upgrades, removals and purges) the same as
//     that output. Hand-written, the scripts say what they do in plain
//     text, and no option or debhelper upgrade can add a stop.
//
//   - The build needs dpkg-deb (in every Debian), make and Go, and nothing
//     from the archive; DEB_ARCH=arm64 cross-builds with GOARCH alone.
//
// What debhelper would add is provided by hand and checked: the changelog
// (changelog.gz: a native package), the copyright file, md5sums, modes and
// ownership (root), the compressed man pages, and lintian's verdict (no
// error, no warning: TestLintian, and .ci/run).
package packaging
