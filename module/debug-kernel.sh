#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A small debug build of Debian's linux-source-6.1 for lazymig.ko: lockdep
# (PROVE_LOCKING, PROVE_RCU), DEBUG_ATOMIC_SLEEP, DEBUG_OBJECTS, DEBUG_LIST,
# kmemleak and full preemption (tinyconfig + module/debug.config), with
# lazymig.ko built for it.  Everything lands outside the repository; the
# one line on stdout is the directory for qemu-test/run --kernel:
#
#   kdir=$(module/debug-kernel.sh)     # first run: ~30 min on 2 busy cores
#   qemu-test/run --kernel "$kdir" -- build/selftests/run.sh vm 'module_*'
#
# Then read /proc/lockdep_stats (debug_locks: 1 means no splat so far) and
# /sys/kernel/debug/kmemleak in the guest.  Later runs are incremental.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${LAZYMIG_DEBUG_KERNEL:-/var/cache/lazymig/debug}
TARBALL=/usr/src/linux-source-6.1.tar.xz
SRC=$OUT/linux-source-6.1
OBJ=$OUT/obj
KERN=$OUT/kernel
FRAG=$TOP/module/debug.config
JOBS=${JOBS:-2}

exec 3>&1 1>&2		# stdout is the answer only
die() {
	echo "debug-kernel: $*"
	exit 1
}

[ -f "$TARBALL" ] || die "$TARBALL missing: run scripts/deps.sh"
mkdir -p "$OUT"
if [ ! -f "$SRC/Makefile" ]; then
	echo "debug-kernel: extracting $TARBALL into $OUT"
	tar -xJf "$TARBALL" -C "$OUT"
fi

key=$(sha256sum "$FRAG" | cut -c1-16)
if [ "$(cat "$OBJ/.lazymig-config" 2>/dev/null)" != "$key" ]; then
	echo "debug-kernel: configuring $OBJ (tinyconfig + $FRAG)"
	make -s -C "$SRC" O="$OBJ" tinyconfig >/dev/null
	"$SRC"/scripts/kconfig/merge_config.sh -m -O "$OBJ" "$OBJ/.config" \
		"$FRAG" >/dev/null
	make -s -C "$SRC" O="$OBJ" olddefconfig >/dev/null
	for o in $(grep -o '^CONFIG_[A-Z0-9_]*=[ym]' "$FRAG" | cut -d= -f1); do
		grep -q "^$o=[ym]" "$OBJ/.config" ||
			die "$o did not survive olddefconfig: fix $FRAG"
	done
	echo "$key" >"$OBJ/.lazymig-config"
fi

echo "debug-kernel: building (make -j$JOBS, log in $OUT/build.log)"
nice make -C "$SRC" O="$OBJ" -j"$JOBS" bzImage modules >"$OUT/build.log" 2>&1 ||
	die "kernel build failed: see $OUT/build.log"

rm -rf "$KERN.tmp"
mkdir -p "$KERN.tmp"
cp "$OBJ/arch/x86/boot/bzImage" "$KERN.tmp/bzImage"
make -s -C "$SRC" O="$OBJ" INSTALL_MOD_PATH="$KERN.tmp/modules" \
	modules_install >/dev/null
rm -f "$KERN.tmp"/modules/lib/modules/*/build "$KERN.tmp"/modules/lib/modules/*/source
make -s -C "$TOP" module KDIR="$OBJ" KMOD_OUT="$KERN.tmp/lazymig.ko" >/dev/null ||
	die "lazymig.ko does not build against $OBJ"
rm -rf "$KERN"
mv "$KERN.tmp" "$KERN"
echo "$KERN" >&3
