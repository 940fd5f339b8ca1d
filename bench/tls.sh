#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# What --tls costs: the same lazy migration (bench/migrate.sh, veth pair
# between two netns) in clear and with --tls (pre-shared key), runs
# interleaved so that both see the same load; appends a section with the
# medians to bench/RESULTS.md (or --out FILE).
#
#   bench/tls.sh [--reps N] [--shape "MIB VMAS THREADS"] [--out FILE]
#
# drain MB/s: bytes after resume / (resume -> last page installed).
# first-touch p50: the workload's own first access of a not-yet-arrived
# page (slow_p50_ns); daemon fault p50: fault_ns_p50 of the stats.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=5 SHAPE="256 64 1" OUT=bench/RESULTS.md
CMD="bench/tls.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--shape) SHAPE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) echo "usage: bench/tls.sh [--reps N] [--shape \"MIB VMAS THREADS\"] [--out FILE]" >&2; exit 2 ;;
	esac
done
TMP=$(mktemp -d /tmp/lazymig-tls.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= REPS; r++)); do
	for mode in clear tls; do
		echo "bench: $SHAPE $mode run $r" >&2
		tls=""
		[ $mode = tls ] && tls=1
		# shellcheck disable=SC2086
		LM_TLS=$tls bench/migrate.sh $SHAPE 2>"$TMP/err" >>"$TMP/$mode" ||
			{ cat "$TMP/err" >&2; exit 1; }
	done
done

# fig MODE KEY: median over the runs
fig() {
	local l
	case $2 in
	drain_MBps)
		while read -r l; do
			awk -v a="$(val "$l" bytes_after_resume)" -v r="$(val "$l" resume_realtime_ns)" \
			    -v z="$(val "$l" last_install_realtime_ns)" \
			    'BEGIN { print (z > r ? a / 1e6 / ((z - r) / 1e9) : 0) }'
		done <"$TMP/$1" | median ;;
	*)
		while read -r l; do val "$l" "$2"; done <"$TMP/$1" | median ;;
	esac
}
us() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1e3 }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%.2f", a / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

{
	echo
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`$CMD\`"
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), kernel $(uname -r), load average at start $LOAD (other jobs share the CPUs). Lazy migration of bench_wl ${SHAPE// //} (MiB/VMAs/threads) over a veth pair, clear and \`--tls\` (pre-shared key, TLS_AES_128_GCM_SHA256) runs interleaved; median of $REPS runs each."
	echo
	echo "| | drain MB/s | first-touch fault p50 us | p99 us | daemon fault p50 us | touches that faulted | downtime ms | total ms |"
	echo "|---|---|---|---|---|---|---|---|"
	for mode in clear tls; do
		echo "| $mode | $(awk -v d="$(fig $mode drain_MBps)" 'BEGIN { printf "%.0f", d }') | $(us "$(fig $mode slow_p50_ns)") | $(us "$(fig $mode slow_p99_ns)") | $(us "$(fig $mode fault_ns_p50)") | $(fig $mode slow)/$(fig $mode touches) | $(ms "$(fig $mode downtime_ns)") | $(ms "$(fig $mode total_ns)") |"
	done
	echo "| tls ÷ clear | $(ratio "$(fig tls drain_MBps)" "$(fig clear drain_MBps)") | $(ratio "$(fig tls slow_p50_ns)" "$(fig clear slow_p50_ns)") | $(ratio "$(fig tls slow_p99_ns)" "$(fig clear slow_p99_ns)") | $(ratio "$(fig tls fault_ns_p50)" "$(fig clear fault_ns_p50)") | | $(ratio "$(fig tls downtime_ns)" "$(fig clear downtime_ns)") | $(ratio "$(fig tls total_ns)" "$(fig clear total_ns)") |"
} >>"$OUT"
tail -n 8 "$OUT"
