#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The patched test kernel: Debian's linux-source-6.1 + patches/series,
# configured from qemu-test/kernel.config, built and cached outside the
# repository.
#
#   kernel.sh has-patches     exit 0 if patches/series lists patches
#   kernel.sh key             print the cache key of the patched kernel
#   kernel.sh ensure patched  build what is missing, print (only) the
#                             directory holding vmlinuz, modules/ and
#                             lazymig.ko built for that kernel
#   kernel.sh clean           drop the incremental build tree
#
# Layout under $LAZYMIG_KERNEL_CACHE (default /var/cache/lazymig/patched):
#   work/src   the extracted source, a git repository: branch "pristine" is
#              the tarball, branch "build" pristine + the series
#   work/obj   the kbuild output tree (O=), reused across keys so that a
#              new series rebuilds only what it touches
#   <key>/     the finished result: vmlinuz, modules/lib/modules/<kver>/,
#              lazymig.ko, kver, config.  It is assembled in <key>.tmp.PID
#              and renamed when complete, so an interrupted run leaves no
#              half result behind; kbuild itself resumes an interrupted
#              build of work/obj.
# key = hash of the linux-source package version, the series and its
# patches, kernel.config and this script's RECIPE.  lazymig.ko is rebuilt
# whenever the module sources (Kbuild, module/, include/) change.
set -euo pipefail

RECIPE=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LAZYMIG_KERNEL_CACHE:-/var/cache/lazymig/patched}
TARBALL=/usr/src/linux-source-6.1.tar.xz
SRCPKG=linux-source-6.1
WORK=$CACHE/work
SRC=$WORK/src
OBJ=$WORK/obj
JOBS=$(nproc)

exec 3>&1 1>&2		# stdout is the answer only; progress goes to stderr

die() {
	echo "kernel.sh: $*"
	exit 1
}

log() {
	echo "kernel.sh: $*"
}

series_patches() {	# the patch files named by patches/series, in order
	[ -f "$ROOT/patches/series" ] || return 0
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$ROOT/patches/series"
}

has_patches() {
	[ -n "$(series_patches)" ]
}

src_version() {
	dpkg-query -W -f='${Version}' "$SRCPKG" 2>/dev/null ||
		die "$SRCPKG is not installed (run scripts/deps.sh)"
}

kernel_key() {
	{
		echo "recipe $RECIPE"
		echo "source $SRCPKG $(src_version)"
		series_patches | while read -r p; do
			[ -f "$ROOT/patches/$p" ] ||
				die "patches/series names $p, which is missing"
			echo "patch $p"
			cat "$ROOT/patches/$p"
		done
		echo config
		cat "$ROOT/qemu-test/kernel.config"
	} | sha256sum | cut -c1-16
}

module_key() {
	(cd "$ROOT" && find Kbuild module include -type f ! -name '*.mk' |
		LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16
}

# Which build of the work tree: a module must be built against the very
# vmlinux of the kernel it is loaded into (BTF type ids).
vmlinux_sum() {
	sha256sum "$OBJ/vmlinux" 2>/dev/null | cut -c1-16
}

kmake() {
	make -C "$SRC" O="$OBJ" LOCALVERSION= "$@"
}

# A fresh git repository of the pristine source in $SRC.  tar keeps the
# archive's mtimes, so objects in $OBJ stay valid across extractions.
extract_source() {
	local ver tmp

	ver=$(src_version)
	log "extracting $TARBALL ($ver) into $SRC"
	tmp=$WORK/src.tmp
	rm -rf "$SRC" "$tmp"
	mkdir -p "$tmp"
	tar -xf "$TARBALL" -C "$tmp" --strip-components=1
	(
		cd "$tmp"
		git init -q -b pristine
		git config user.name "lazymig kernel.sh"
		git config user.email "kernel.sh@lazymig.invalid"
		# Debian's .gitignore ignores the whole top level
		git add -f -A
		git commit -q -m "$SRCPKG $ver"
	)
	echo "$ver" >"$WORK/source-version"
	mv "$tmp" "$SRC"
}

# Commit pristine + the series (applied in a scratch index) and check it
# out: git rewrites only the files that differ from what is checked out,
# so kbuild rebuilds only what changed since the last build.
apply_series() {
	local p tree commit idx=$WORK/series.index

	(
		cd "$SRC" || exit 1
		rm -f "$idx"
		GIT_INDEX_FILE=$idx git read-tree pristine || exit 1
		series_patches | while read -r p; do
			GIT_INDEX_FILE=$idx git apply --cached --whitespace=nowarn \
				"$ROOT/patches/$p" ||
				die "patches/$p does not apply to $SRCPKG $(src_version)"
		done || exit 1
		tree=$(GIT_INDEX_FILE=$idx git write-tree) || exit 1
		rm -f "$idx"
		commit=$(git commit-tree -p pristine -m "pristine + patches/series" \
			"$tree") || exit 1
		git checkout -q -f -B build "$commit" || exit 1
		git clean -q -f -d -x
	)
}

configure() {
	local new=$WORK/config.new

	mkdir -p "$OBJ"
	rm -rf "$WORK/cfg"
	mkdir -p "$WORK/cfg"
	make -s -C "$SRC" O="$WORK/cfg" LOCALVERSION= defconfig >/dev/null
	"$SRC/scripts/kconfig/merge_config.sh" -m -O "$WORK/cfg" \
		"$WORK/cfg/.config" "$SRC/kernel/configs/kvm_guest.config" \
		"$ROOT/qemu-test/kernel.config" >/dev/null
	make -s -C "$SRC" O="$WORK/cfg" LOCALVERSION= olddefconfig >/dev/null
	cp "$WORK/cfg/.config" "$new"
	rm -rf "$WORK/cfg"
	check_config "$new"
	# an unchanged .config keeps its mtime: no needless rebuild
	if ! cmp -s "$new" "$OBJ/.config"; then
		mv "$new" "$OBJ/.config"
		kmake -s olddefconfig >/dev/null
	else
		rm -f "$new"
	fi
}

# Every symbol the fragment sets must survive olddefconfig.
check_config() {
	local cfg=$1 line sym bad=0

	while read -r line; do
		case $line in
		CONFIG_*=*)
			grep -qxF "$line" "$cfg" ||
				{ log "config: $line did not survive olddefconfig"; bad=1; }
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			! grep -q "^$sym=" "$cfg" ||
				{ log "config: $sym is still set"; bad=1; }
			;;
		esac
	done <"$ROOT/qemu-test/kernel.config"
	[ "$bad" -eq 0 ] || die "qemu-test/kernel.config: symbols above are not what it asks"
}

# Bring $WORK to the series and config of $1 and build it.
build_tree() {
	local key=$1 blog=$CACHE/build-$1.log start

	command -v pahole >/dev/null || die "pahole not found (dwarves; run scripts/deps.sh)"
	if [ "$(cat "$WORK/source-version" 2>/dev/null)" != "$(src_version)" ]; then
		rm -rf "$WORK"	# new source: nothing in obj/ is reusable
		mkdir -p "$WORK"
		extract_source
	elif ! git -C "$SRC" rev-parse -q --verify pristine >/dev/null 2>&1; then
		extract_source
	fi
	apply_series || exit 1
	echo "building $key" >"$WORK/state"
	configure
	start=$(date +%s)
	log "building linux $(src_version) + $(series_patches | wc -l) patches" \
		"with -j$JOBS (log: $blog)"
	if ! kmake -j"$JOBS" bzImage modules >"$blog" 2>&1; then
		tail -n 30 "$blog"
		die "kernel build failed; full log: $blog"
	fi
	log "kernel built in $(($(date +%s) - start)) s"
	echo "$key" >"$WORK/state"
}

build_module() {	# output file
	local out=$1

	(cd "$ROOT" && make -s module KDIR="$OBJ" KMOD_OUT="$out") ||
		die "lazymig.ko does not build against the patched kernel"
}

assemble() {	# key: the result directory from the built work tree
	local key=$1 dir=$CACHE/$1 tmp kver

	tmp=$CACHE/$key.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp/modules"
	kver=$(cat "$OBJ/include/config/kernel.release")
	cp "$OBJ/arch/x86/boot/bzImage" "$tmp/vmlinuz"
	cp "$OBJ/.config" "$tmp/config"
	echo "$kver" >"$tmp/kver"
	kmake -s INSTALL_MOD_PATH="$tmp/modules" INSTALL_MOD_STRIP=1 \
		modules_install >/dev/null
	rm -f "$tmp/modules/lib/modules/$kver/build" \
		"$tmp/modules/lib/modules/$kver/source"
	[ -f "$tmp/modules/lib/modules/$kver/modules.dep" ] ||
		die "modules_install left no modules.dep (is depmod from kmod installed?)"
	build_module "$tmp/lazymig.ko"
	module_key >"$tmp/lazymig.ko.key"
	vmlinux_sum >"$tmp/vmlinux.sum"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	prune "$key"
}

prune() {	# key: keep it and the two newest other results, and their logs
	local keep=$1 d k n=0

	for d in $(ls -td "$CACHE"/[0-9a-f]*/ 2>/dev/null); do
		k=$(basename "$d")
		[ "$k" = "$keep" ] && continue
		n=$((n + 1))
		[ "$n" -le 2 ] && continue
		rm -rf "$CACHE/$k" "$CACHE/build-$k.log"
	done
	for d in "$CACHE"/build-*.log; do	# logs of builds that never finished
		k=${d##*/build-}
		k=${k%.log}
		[ "$k" = "$keep" ] || [ -d "$CACHE/$k" ] || rm -f "$d"
	done
}

ensure() {
	local key dir

	has_patches || die "patches/series lists no patches: nothing to build"
	key=$(kernel_key)
	dir=$CACHE/$key
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	rm -rf "$CACHE"/*.tmp.*	# left by interrupted runs; we hold the lock

	if [ ! -f "$dir/vmlinuz" ]; then
		log "no patched kernel for key $key: building it"
		build_tree "$key"
		assemble "$key"
	elif [ "$(cat "$dir/lazymig.ko.key" 2>/dev/null)" != "$(module_key)" ]; then
		log "module sources changed: rebuilding lazymig.ko"
		if [ "$(cat "$WORK/state" 2>/dev/null)" != "$key" ]; then
			build_tree "$key"
		fi
		if [ "$(cat "$dir/vmlinux.sum" 2>/dev/null)" != "$(vmlinux_sum)" ]; then
			# A module's BTF names the type ids of the vmlinux it
			# was built against: a rebuilt tree (not byte for byte
			# the same) needs its own kernel in the cache too, or
			# insmod fails with EINVAL ("BPF: Invalid name").
			log "the work tree is not the cached kernel's build: caching both again"
			assemble "$key"
		else
			build_module "$dir/lazymig.ko.new"
			mv "$dir/lazymig.ko.new" "$dir/lazymig.ko"
			module_key >"$dir/lazymig.ko.key"
		fi
	fi
	echo "$dir" >&3
}

case "${1:-}" in
has-patches)
	has_patches
	;;
key)
	key=$(kernel_key)
	echo "$key" >&3
	;;
ensure)
	[ "${2:-patched}" = patched ] || die "ensure: only 'patched' is built here"
	ensure
	;;
clean)
	exec 9>"$CACHE/.lock"
	flock 9
	rm -rf "$WORK"
	;;
*)
	sed -n '7,13s/^# \{0,1\}//p' "$0"
	exit 2
	;;
esac
