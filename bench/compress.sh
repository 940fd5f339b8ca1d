#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `send --compress` on a slow link (issue 8, item 3): build/bench/hot_wl
# (MIB MiB, no hot set) migrated lazily between two netns over veth with
# a token bucket (tbf RATE) on both ends, with and without --compress,
# on compressible ("text") and incompressible ("random") memory, REPS
# times each, alternating.  The figures: drain time (resume -> last page
# in) and the bytes received after resume (both channels, message
# headers included), both from receive's stats.
# Appends a section to bench/RESULTS.md.
#
#   bench/compress.sh [--reps N] [--mib M] [--rate RATE] [--out FILE]
#
# Defaults: 3 reps, 64 MiB, 100mbit.  --ws-sample 0 throughout.  Root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

REPS=3 MIB=64 RATE=100mbit OUT=bench/RESULTS.md
CMD="bench/compress.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--mib) MIB=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) echo "usage: bench/compress.sh [--reps N] [--mib M] [--rate RATE] [--out FILE]" >&2; exit 2 ;;
	esac
done
TOOL=$PWD/build/lazymig
WL=$PWD/build/bench/hot_wl
mig_dir z
[ -x "$TOOL" ] && [ -x "$WL" ] || { echo "compress.sh: build first (make)" >&2; exit 1; }

netns_up lmz 10.83.0
netns_qdisc tbf rate "$RATE" burst 32kbit latency 50ms
mig_token

run() {	# FILL OPT N: one migration; one key=value line on stdout
	local port=$((20000 + ($$ + $3) % 10000)) rc=0 wire
	rm -f "$DIR/pid" "$DIR/state" "$DIR/state.result" "$DIR/stats.json"
	mig_receive "$port" 30
	mig_workload 300 "$WL" "$MIB" 0 "$DIR/state" "$1" 0.1
	# shellcheck disable=SC2086
	ip netns exec "$SRC" "$TOOL" send -t "$WLPID" --to "$DST_IP:$port" \
		--token-file "$DIR/token" --ws-sample 0 $2 2>"$DIR/send.log" || rc=$?
	wait "$RECV" || rc=$?
	wait "$WLPID" 2>/dev/null || true	# the source, killed by send
	mig_result "$rc" 120
	kill -9 "$(cat "$DIR/pid")" 2>/dev/null || true
	wire=$(awk -v b="$(num bytes_after_resume)" 'BEGIN { printf "%.1f", b / 1048576 }')
	echo "drain_ns=$(($(num last_install_realtime_ns) - $(num resume_realtime_ns))) total_ns=$(num total_ns) wire_mib=$wire"
}

n=0
for ((r = 1; r <= REPS; r++)); do
	for fill in text random; do
		for z in plain compress; do
			opt=""
			[ $z = compress ] && opt=--compress
			n=$((n + 1))
			echo "compress.sh: run $r, $fill, $z" >&2
			run $fill "$opt" $n >>"$DIR/runs.$fill.$z"
			tail -n1 "$DIR/runs.$fill.$z" >&2
		done
	done
done

m() { while read -r l; do val "$l" "$3"; done <"$DIR/runs.$1.$2" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%.0f", a / 1e6 }'; }
{
	echo
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`$CMD\` (--compress on a slow link)"
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), kernel $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg). tbf rate $RATE (burst 32kbit, latency 50ms) on both veth ends."
	echo "hot_wl $MIB MiB, no hot set; $REPS runs per cell, alternating; medians. Drain = resume → last page installed."
	echo
	echo "| memory | drain ms plain | drain ms --compress | compress ÷ plain | MiB received after resume plain | --compress | compress ÷ plain |"
	echo "|---|---|---|---|---|---|---|"
	for fill in text random; do
		dp=$(m $fill plain drain_ns) dz=$(m $fill compress drain_ns)
		wp=$(m $fill plain wire_mib) wz=$(m $fill compress wire_mib)
		echo "| $fill | $(ms "$dp") | $(ms "$dz") | **$(ratio "$dz" "$dp")** | $wp | $wz | $(ratio "$wz" "$wp") |"
	done
} >>"$OUT"
tail -n 7 "$OUT"
