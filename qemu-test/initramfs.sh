#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the two halves of the qemu-test initramfs (newc cpio archives, which
# the kernel unpacks one after the other):
#
#   initramfs.sh base KVER MODDIR MODULES
#	Prints the path of the cached base archive: busybox-static, dash as
#	/bin/sh, /init, bpftool, ip, tc, the shared libraries of these and of
#	the project's binaries, and the kernel modules MODULES (comma-separated
#	names) with what they need (hard and soft dependencies, resolved by
#	modprobe against a depmod of the whole tree), decompressed, with the
#	modules.dep and modules.alias busybox modprobe reads.  MODDIR is the
#	kernel's lib/modules/KVER (may be empty: no modules).  Rebuilt only
#	when one of its inputs changed; the key is in the file name.
#
#   initramfs.sh overlay OUT KO CMDFILE NONCE
#	Writes OUT: the project's build outputs under /lazymig/build (same
#	relative paths as on the host), KO as build/lazymig.ko when given,
#	and the command to run (CMDFILE) with the run's marker NONCE.
#
# Run from the top of the checkout.  Nothing here touches the host system.
set -euo pipefail

die() {
	echo "qemu-test/initramfs.sh: $*" >&2
	exit 1
}

HERE=$(cd "$(dirname "$0")" && pwd)
QDIR=build/qemu
# Build outputs the guest never needs (kernel build trees, harness headers,
# our own caches, check logs, fuzzing corpora).
SKIP_DIRS="kmod kselftest qemu check fuzz"
# Scratch directories, removed on exit.
stage="" keyfile=""
trap 'rm -rf "$stage" "$keyfile"' EXIT

[ -d build ] || die "no build/ here: run it from the top of the checkout after 'make'"

# Executables the guest runs from the host: iproute2 and bpftool.
host_bins() {
	local b

	for b in bpftool ip tc; do
		command -v "$b" >/dev/null 2>&1 ||
			die "'$b' not found on the host: run scripts/deps.sh"
	done
	command -v bpftool ip tc
	echo /bin/dash
}

# The project's ELF executables under build/ (skipping SKIP_DIRS).
build_elves() {
	local prune="" d

	for d in $SKIP_DIRS; do
		prune="$prune -path build/$d -prune -o"
	done
	# shellcheck disable=SC2086
	find build $prune -type f -perm -u+x -print | sort | while read -r f; do
		[ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && echo "$f"
	done
}

# Shared libraries (and the dynamic loader) that the given ELF files need,
# as absolute host paths, one per line, sorted.
needed_libs() {
	[ $# -gt 0 ] || return 0
	# ldd exits 1 when one of its arguments is static: that is fine.
	{ ldd "$@" 2>/dev/null || true; } | awk '
		/=> \// { print $3; next }
		/^[ \t]*\/[^ ]*ld-linux/ { print $1 }' | sort -u
}

# A depmod of the whole module tree of MODDIR, cached: a tree of symlinks
# to MODDIR's directories plus depmod's output.  Prints its base directory.
mod_tree() {
	local kver=$1 key dir tmp e

	key=$(stat -L -c '%n %s %Y' "$MODDIR" "$MODDIR"/modules.order 2>/dev/null |
	      sha256sum | cut -c1-16)
	dir=$QDIR/modtree-$kver-$key
	if [ ! -d "$dir" ]; then
		tmp=$dir.tmp.$$
		rm -rf "$tmp"
		mkdir -p "$tmp/lib/modules/$kver"
		for e in "$MODDIR"/*; do
			if [ -d "$e" ]; then
				ln -s "$(realpath "$e")" "$tmp/lib/modules/$kver/${e##*/}"
			elif [[ ${e##*/} =~ ^modules\.(order|builtin|builtin\.modinfo)$ ]]; then
				cp "$e" "$tmp/lib/modules/$kver/"
			fi
		done
		depmod -b "$tmp" "$kver" ||
			die "depmod of $MODDIR failed"
		mv "$tmp" "$dir"
		# shellcheck disable=SC2012
		ls -dt "$QDIR"/modtree-* | tail -n +5 | xargs -r rm -rf
	fi
	echo "$dir"
}

# NAME... and everything they need, hard and soft ("pre:") dependencies
# resolved through modules.alias as modprobe would: module files under
# MODDIR, one per line, in load order.  Built-in modules need no file.
mod_closure() {
	local kver=$1 tree conf out
	shift

	tree=$(realpath "$(mod_tree "$kver")")	# modprobe prints absolute paths
	conf=$(mktemp -d)	# no host /etc/modprobe.d blacklist or options
	if ! out=$(modprobe -C "$conf" -d "$tree" -S "$kver" --show-depends \
		   -a "$@" 2>&1); then
		rm -rf "$conf"
		die "$(echo "$out" | sed -n 's/^modprobe: [A-Z]*: //p' | head -n1): check the names given to --modules"
	fi
	rm -rf "$conf"
	echo "$out" | awk '$1 == "insmod" { print $2 }' |
		sed "s,^$tree/lib/modules/$kver/,$MODDIR/,"
}

stat_key() {	# path...: what identifies these files' contents cheaply
	[ $# -gt 0 ] || return 0
	stat -L -c '%n %s %Y' "$@"
}

cmd_base() {
	local kver=$1 modules=$2 key out elves libs mods lib f rel list
	MODDIR=$3

	mkdir -p "$QDIR"
	host_bins >/dev/null
	mapfile -t hbins < <(host_bins)
	mapfile -t elves < <(build_elves)
	mapfile -t libs < <(needed_libs "${hbins[@]}" "${elves[@]}")
	[ -x /bin/busybox ] || die "/bin/busybox missing: run scripts/deps.sh (busybox-static)"
	mods=()
	if [ -n "$MODDIR" ]; then
		[ -d "$MODDIR" ] || die "module directory $MODDIR does not exist"
		list=$(mktemp)
		# shellcheck disable=SC2086
		mod_closure "$kver" ${modules//,/ } >"$list"
		mapfile -t mods < <(awk '!seen[$0]++' "$list")
		rm -f "$list"
	fi
	# Everything the archive is made of, cheaply: if this text is the
	# same, so is the archive.
	keyfile=$(mktemp)
	{
		echo "kver $kver moddir $MODDIR modules $modules"
		stat_key "$HERE/init" "$HERE/initramfs.sh" /bin/busybox \
			"${hbins[@]}" "${libs[@]}" "${mods[@]}"
		[ -d /usr/lib/x86_64-linux-gnu/tc ] &&
			stat_key /usr/lib/x86_64-linux-gnu/tc/*.dist
	} >"$keyfile"
	key=$(sha256sum "$keyfile" | cut -c1-16)
	out=$QDIR/base-$kver-$key.cpio
	if [ -f "$out" ]; then
		rm -f "$keyfile"
		echo "$out"
		return
	fi

	stage=$(mktemp -d "$QDIR/stage.XXXXXX")
	mkdir -p "$stage"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,etc,dev,proc,sys,tmp,run,root,mnt,lazymig}
	# merged /usr, as on the host, so ldd's paths resolve unchanged
	ln -s usr/bin "$stage/bin"
	ln -s usr/sbin "$stage/sbin"
	ln -s usr/lib "$stage/lib"
	ln -s usr/lib64 "$stage/lib64"
	cp /bin/busybox "$stage/usr/bin/busybox"
	/bin/busybox --list-full | while read -r f; do
		case $f in
		bin/busybox) continue ;;
		usr/*) rel=$f ;;
		*) rel=usr/$f ;;
		esac
		mkdir -p "$stage/${rel%/*}"
		ln -sf /usr/bin/busybox "$stage/$rel"
	done
	# /bin/sh is dash, as on the host: busybox ash runs its own applets
	# before PATH, and its ip and tc are not iproute2's
	rm -f "$stage/usr/bin/sh"
	cp -L /bin/dash "$stage/usr/bin/dash"
	ln -s dash "$stage/usr/bin/sh"
	# real iproute2 and bpftool replace busybox's ip/tc applets
	for f in "${hbins[@]}"; do
		[ "$f" = /bin/dash ] && continue
		rm -f "$stage/usr/sbin/${f##*/}" "$stage/usr/bin/${f##*/}"
		cp -L "$f" "$stage/usr/sbin/${f##*/}"
	done
	for lib in "${libs[@]}"; do
		rel=${lib#/usr}
		mkdir -p "$stage/usr${rel%/*}"
		cp -L "$lib" "$stage/usr$rel"
	done
	if [ -d /usr/lib/x86_64-linux-gnu/tc ]; then	# netem distributions
		mkdir -p "$stage/usr/lib/x86_64-linux-gnu/tc"
		cp /usr/lib/x86_64-linux-gnu/tc/*.dist "$stage/usr/lib/x86_64-linux-gnu/tc/"
	fi
	if [ ${#mods[@]} -gt 0 ]; then
		local kmd=$stage/usr/lib/modules/$kver

		mkdir -p "$kmd"
		for f in "${mods[@]}"; do
			rel=${f#"$MODDIR"/}
			mkdir -p "$kmd/${rel%/*}"
			case $f in
			*.ko.xz) xz -dc "$f" >"$kmd/${rel%.xz}" ;;
			*.ko.zst) zstd -qdc "$f" >"$kmd/${rel%.zst}" ;;
			*.ko.gz) gzip -dc "$f" >"$kmd/${rel%.gz}" ;;
			*) cp "$f" "$kmd/$rel" ;;
			esac
		done
		for f in modules.builtin modules.builtin.modinfo modules.order; do
			[ -f "$MODDIR/$f" ] &&
				sed 's/\.ko\.\(xz\|zst\|gz\)$/.ko/' "$MODDIR/$f" >"$kmd/$f"
		done
		depmod -b "$stage/usr" "$kver" ||
			die "depmod failed on the guest's module tree ($kver)"
		# depmod -b DIR looks in DIR/lib/modules: that is usr/lib here
	fi
	cp "$HERE/init" "$stage/init"
	chmod 0755 "$stage/init"
	echo "lazymig-vm" >"$stage/etc/hostname"
	echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
	echo "root:x:0:" >"$stage/etc/group"
	# the kernel opens /dev/console for /init before devtmpfs is mounted
	mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$out.tmp.$$"
	mv "$out.tmp.$$" "$out"
	rm -rf "$stage" "$keyfile"
	# keep the few newest bases (stock and patched may alternate)
	ls -t "$QDIR"/base-*.cpio 2>/dev/null | tail -n +7 | xargs -r rm -f
	echo "$out"
}

cmd_overlay() {
	local out=$1 ko=$2 cmdfile=$3 nonce=$4 excl=() d rc=0

	stage=$(mktemp -d "$(dirname "$out")/overlay.XXXXXX")
	mkdir -p "$stage/lazymig/build" "$stage/etc" "$stage/usr/local/bin"
	for d in $SKIP_DIRS; do
		excl+=(--exclude "/$d")
	done
	# headers, objects of the tool and archives are build-time only
	rsync -a "${excl[@]}" --exclude '/user' --exclude '*.a' \
		--exclude '*.h' --exclude '*.d' --exclude '*.ko' \
		build/ "$stage/lazymig/build/" || rc=$?
	# 24: files vanished while copying (a build running meanwhile)
	[ "$rc" -eq 0 ] || [ "$rc" -eq 24 ] || die "copying build/ failed (rsync $rc)"
	if [ -n "$ko" ]; then
		cp "$ko" "$stage/lazymig/build/lazymig.ko"
	fi
	cp "$cmdfile" "$stage/etc/lazymig-cmd"
	echo "$nonce" >"$stage/etc/lazymig-nonce"
	ln -s /lazymig/build/lazymig "$stage/usr/local/bin/lazymig"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$out"
	rm -rf "$stage"
}

case ${1:-} in
base)
	[ $# -eq 4 ] || die "usage: initramfs.sh base KVER MODDIR MODULES"
	cmd_base "$2" "$4" "$3"
	;;
overlay)
	[ $# -eq 5 ] || die "usage: initramfs.sh overlay OUT KO CMDFILE NONCE"
	cmd_overlay "$2" "$3" "$4" "$5"
	;;
*)
	die "usage: initramfs.sh base|overlay ..."
	;;
esac
