#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install what lazymig needs from Debian's archive; quiet and idempotent.
# Also downloads (does not install) the Debian 6.1 kernel image that
# qemu-test boots, into a cache outside the repository.
set -euo pipefail

CACHE=${LAZYMIG_CACHE:-/var/cache/lazymig}
PKGS="gcc make clang llvm libbpf-dev libelf-dev zlib1g-dev libssl-dev bpftool
kmod busybox-static cpio qemu-system-x86 linux-headers-amd64 linux-source-6.1
iproute2 xz-utils bc flex bison libdw-dev dwarves python3 rsync
libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The stock kernel image matching linux-headers-amd64, for qemu-test.
hdr=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 |
	grep -o 'linux-headers-6[^ ,]*-amd64' | head -n1)
kver=${hdr#linux-headers-}
img="linux-image-$kver"
kdir="$CACHE/stock/$kver"
if [ ! -f "$kdir/vmlinuz" ]; then
	echo "deps: fetching $img into $kdir"
	$SUDO mkdir -p "$kdir/deb"
	(cd "$kdir/deb" && $SUDO apt-get download -qq "$img" >/dev/null 2>&1 ||
		{ $SUDO apt-get update -qq >/dev/null &&
		  $SUDO apt-get download -qq "$img" >/dev/null; })
	$SUDO rm -rf "$kdir/root"
	$SUDO dpkg -x "$kdir"/deb/"$img"_*.deb "$kdir/root"
	$SUDO cp "$kdir/root/boot/vmlinuz-$kver" "$kdir/vmlinuz"
fi
$SUDO ln -sfn "$kdir" "$CACHE/stock/current"

# linux-source ships as a tarball; the build extracts only what it needs.
ls /usr/src/linux-source-6.1.tar.xz >/dev/null
