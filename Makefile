# xenorder: build, test, install and package for a Debian dom0.
#
#   make                         build bin/xenorder (static, CGO_ENABLED=0)
#   make test                    go test ./...
#   make e2e                     the real-Xen suite (e2e/xen): Xen 4.17 under QEMU
#   make e2e-systemd             the same with a Debian systemd dom0: boot and poweroff
#   make bench                   benchmarks (docs/performance.md)
#   make install                 install under $(DESTDIR)$(PREFIX) (default /usr)
#   make deb                     dist/xenorder_$(VERSION)_amd64.deb
#   make clean
#
# Go lives in /usr/local/go/bin on a stock install: put it on PATH or run
# `make GO=/usr/local/go/bin/go`.
#
# Neither `make install` nor the package writes /etc/xen/xenorder.toml: the
# admin writes it (`xenorder import > /etc/xen/xenorder.toml`, or from the
# example in $(DOCDIR)/examples). Neither `install` nor the package's
# maintainer scripts start, stop, restart or enable xenorder.service: its
# stop stops every guest.
#
# Why `make deb` builds with dpkg-deb, not with debhelper and
# dpkg-buildpackage (packaging/doc.go has the long version, and
# packaging/packaging_test.go the proof):
#  - No Build-Depends can name the Go this project needs: bookworm's golang
#    is 1.19 (so no dh-golang either). A debian/ source package would build
#    only with -d, on a machine prepared by hand: none of what a source
#    package promises (sbuild, a clean chroot from Build-Depends) holds.
#  - The maintainer scripts are the package's one danger: a stop of
#    xenorder.service stops every guest. dh_installsystemd writes a
#    `deb-systemd-invoke stop` on remove, a stop before upgrade or a
#    restart after it, and an enable at installation, unless the exact
#    options --no-enable --no-start --no-stop-on-upgrade are given; its
#    output depends on those options and on debhelper's version. Here the
#    scripts are plain text in packaging/debian, with debhelper's
#    deb-systemd-helper snippets (enable state, purge) copied in, and the
#    test runs them, and dh_installsystemd's, with recording fakes.
#  - The build needs dpkg-deb (in every Debian), make and Go; the tree it
#    packs is exactly `make install`'s. DEB_ARCH=arm64 cross-builds with
#    GOARCH alone, no cross toolchain.
# lintian reports no error on the result (the packaging test runs it).

GO      ?= go
# The version is the first entry of the Debian changelog.
VERSION ?= $(shell head -n 1 packaging/debian/changelog | cut -d ' ' -f 2 | tr -d '()')
PREFIX  ?= /usr
DESTDIR ?=

# Where the build and the package go; the tests point them at a scratch folder.
BUILDDIR ?= bin
DISTDIR  ?= dist

# The Debian architecture of the package; the binary is built for the same
# GOARCH (Debian and Go spell amd64 and arm64 alike).
DEB_ARCH ?= amd64
MAINTAINER ?= xenorder maintainers <maintainers@xenorder.org>

GOBUILDFLAGS ?= -trimpath -buildvcs=false
# The version is also xenorder's own (xenorder --version): -X main.version.
GOLDFLAGS    ?= -s -w -buildid=

SBINDIR    = $(PREFIX)/sbin
MANDIR     = $(PREFIX)/share/man
DOCDIR     = $(PREFIX)/share/doc/xenorder
COMPLDIR   = $(PREFIX)/share/bash-completion/completions
UNITDIR    = /lib/systemd/system
CONFDIR    = /etc/xen
DEFAULTDIR = /etc/default

DEB       = $(DISTDIR)/xenorder_$(VERSION)_$(DEB_ARCH).deb
DEBROOT   = $(DISTDIR)/debroot

.PHONY: all build test install deb clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOBUILDFLAGS) -ldflags '$(GOLDFLAGS) -X main.version=$(VERSION)' -o $(BUILDDIR)/xenorder ./cmd/xenorder

test:
	$(GO) test ./...

install: build
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(COMPLDIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DEFAULTDIR)
	install -m 0755 $(BUILDDIR)/xenorder $(DESTDIR)$(SBINDIR)/xenorder
# The unit names /usr/sbin/xenorder; follow PREFIX (no change for /usr).
	sed 's|/usr/sbin/xenorder|$(SBINDIR)/xenorder|g' contrib/systemd/xenorder.service > $(DESTDIR)$(UNITDIR)/xenorder.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/xenorder.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/xenorder.service.tmp $(DESTDIR)$(UNITDIR)/xenorder.service
	gzip -9n -c man/xenorder.1 > $(DESTDIR)$(MANDIR)/man1/xenorder.1.gz
	gzip -9n -c man/xenorder.toml.5 > $(DESTDIR)$(MANDIR)/man5/xenorder.toml.5.gz
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/xenorder.1.gz $(DESTDIR)$(MANDIR)/man5/xenorder.toml.5.gz
	install -m 0644 contrib/bash-completion/xenorder $(DESTDIR)$(COMPLDIR)/xenorder
	install -m 0644 contrib/xenorder.toml.example $(DESTDIR)$(DOCDIR)/examples/xenorder.toml
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
# /etc/default/xenorder (the unit's XENORDER_OPTS) is the admin's once there.
	@if [ -e $(DESTDIR)$(DEFAULTDIR)/xenorder ] || [ -L $(DESTDIR)$(DEFAULTDIR)/xenorder ]; then \
		echo "note: $(DESTDIR)$(DEFAULTDIR)/xenorder exists and was left alone"; \
	else \
		echo "install -m 0644 packaging/debian/default $(DESTDIR)$(DEFAULTDIR)/xenorder"; \
		install -m 0644 packaging/debian/default $(DESTDIR)$(DEFAULTDIR)/xenorder; \
	fi
	@if [ ! -e $(DESTDIR)$(CONFDIR)/xenorder.toml ]; then \
		echo "note: no $(DESTDIR)$(CONFDIR)/xenorder.toml: write it with xenorder import > $(CONFDIR)/xenorder.toml, or from the example $(DOCDIR)/examples/xenorder.toml"; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
		echo "note: xenorder.service is neither enabled nor started; run systemctl daemon-reload, and see NOTES in xenorder(1) to switch from xendomains"; \
	fi

# The package: a staging tree from `make install`, plus DEBIAN/. The binary is
# built for $(DEB_ARCH) whatever the build machine is.
deb:
	rm -rf $(DEBROOT)
	mkdir -p $(DEBROOT)
	$(MAKE) install DESTDIR=$(abspath $(DEBROOT)) PREFIX=/usr GOOS=linux GOARCH=$(DEB_ARCH)
# What a Debian package carries beyond `make install`: the changelog (a
# native package's: changelog.gz), the copyright file and lintian's override.
	gzip -9n -c packaging/debian/changelog > $(DEBROOT)/usr/share/doc/xenorder/changelog.gz
	chmod 0644 $(DEBROOT)/usr/share/doc/xenorder/changelog.gz
	install -m 0644 packaging/debian/copyright $(DEBROOT)/usr/share/doc/xenorder/copyright
	install -d -m 0755 $(DEBROOT)/usr/share/lintian/overrides
	install -m 0644 packaging/debian/lintian-overrides $(DEBROOT)/usr/share/lintian/overrides/xenorder
	install -d -m 0755 $(DEBROOT)/DEBIAN
# dpkg-deb takes the modes as they are: make them independent of the umask.
	find $(DEBROOT) -type d -exec chmod 0755 {} +
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@ARCH@|$(DEB_ARCH)|' -e 's|@MAINTAINER@|$(MAINTAINER)|' \
		-e "s/@INSTALLED_SIZE@/$$(du -sk --exclude=DEBIAN $(DEBROOT) | cut -f1)/" \
		packaging/debian/control.in > $(DEBROOT)/DEBIAN/control
	install -m 0644 packaging/debian/conffiles $(DEBROOT)/DEBIAN/conffiles
	install -m 0755 packaging/debian/preinst packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm $(DEBROOT)/DEBIAN/
	cd $(DEBROOT) && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums
	chmod 0644 $(DEBROOT)/DEBIAN/md5sums
	dpkg-deb --root-owner-group --build $(DEBROOT) $(DEB)

clean:
	rm -rf $(BUILDDIR) $(DISTDIR)

# The real-Xen suite: boots Xen 4.17 and dom0 from Debian bookworm's packages
# under QEMU (TCG) and runs a static xenorder in dom0 against real PV guests.
# Needs qemu-system-x86 and apt's package lists; caches packages and images in
# $(XENORDER_LAB) (outside the checkout). See the README, "The real-Xen suite".
# Then xl migrate to localhost, of a PVH guest (TestRealXenMigrateLocalhost).
XENORDER_LAB ?= /var/tmp/xenorder-lab
E2E_TIMEOUT  ?= 40m
.PHONY: e2e
e2e:
	XENORDER_LAB=$(XENORDER_LAB) $(GO) test -tags xene2e -count=1 -timeout $(E2E_TIMEOUT) -v -run 'TestRealXen$$|TestRealXenMigrateLocalhost$$' ./e2e/xen/

# The systemd suite: a Debian bookworm dom0 made with debootstrap (root, the
# network to the Debian archive, debootstrap), xenorder installed from its .deb
# and switched to as the README says, booted by systemd; boot and poweroff.
.PHONY: e2e-systemd
e2e-systemd:
	XENORDER_LAB=$(XENORDER_LAB) $(GO) test -tags xene2e -count=1 -timeout $(E2E_TIMEOUT) -v -run 'TestRealXenSystemd$$' ./e2e/xen/

# Benchmarks: the graph and config on 1,000 and 10,000 guests (ns/op,
# allocations), what one xl call costs xenorder's CPU, then makespan, xl
# load and CPU against the simulator, and status on 1,000 domains.
# docs/performance.md has the numbers.
.PHONY: bench
bench:
	$(GO) test -run XXX -bench . -benchtime 10x ./internal/graph ./internal/config
	$(GO) test -run XXX -bench . -benchtime 400x ./internal/xl
	$(GO) run ./cmd/xenorder-bench
