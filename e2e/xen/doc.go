// Package xen is the real-Xen end-to-end suite: it builds a Xen 4.17 lab
// from Debian bookworm's packages (hypervisor, toolstack, kernel, busybox),
// boots it under QEMU (TCG), and runs the built xenorder in dom0 against
// tiny real PV guests: the sample host's topology, started, drained,
// resumed and stopped, checked against what xl and xenconsoled show.
//
// Everything but this file is behind the build tag xene2e, so that
// go test ./... does not boot a hypervisor:
//
//	make e2e
//	go test -tags xene2e -count=1 -timeout 40m -v -run 'TestRealXen$' ./e2e/xen/
//
// Nothing is installed on the host but QEMU: packages are fetched with
// apt-get download and unpacked with dpkg-deb -x into the lab folder
// ($XENORDER_LAB, default /var/tmp/xenorder-lab), which caches them
// between runs; the initramfs images are written by this package.
// See the README, "The real-Xen suite".
package xen
