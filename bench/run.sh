#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The lazymig benchmarks, one command: measures the machine's floor
# (build/bench/floor), then migrates build/bench/bench_wl lazily and
# eagerly for each shape, REPS times each, and appends a section to
# bench/RESULTS.md (machine, date, command, every figure next to the
# reference it is divided by, and the targets of issue 8).
#
#   bench/run.sh [--reps N] [--quick] [--shapes LIST] [--netem "delay 5ms"] [--out FILE]
#
# --quick    only the 64 MiB and 256 MiB shapes (the VM, slow machines)
# --netem    passed to bench/migrate.sh (RTT = twice the delay)
# --shapes   "MIB VMAS THREADS,..." instead of the default list
# Each figure is the median over REPS runs (default 3).  Root.
# LM_FLOOR_ARGS: options for build/bench/floor (default "-p 16384 -m 1024").
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=3 QUICK=0 NETEM="" OUT=bench/RESULTS.md SHAPES_ARG=""
CMD="bench/run.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--netem) NETEM=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--shapes) SHAPES_ARG=$2; shift 2 ;;
	*) echo "usage: bench/run.sh [--reps N] [--quick] [--shapes LIST] [--netem SPEC] [--out FILE]" >&2; exit 2 ;;
	esac
done
export LM_NETEM=$NETEM
TMP=$(mktemp -d /tmp/lazymig-run.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# shapes: MIB VMAS THREADS
SHAPES=("64 64 1" "256 64 1" "1024 64 1" "250 1000 16")
[ $QUICK -eq 1 ] && SHAPES=("64 64 1" "256 64 1")
[ -n "$SHAPES_ARG" ] && IFS=, read -r -a SHAPES <<<"$SHAPES_ARG"

log() { echo "bench: $*" >&2; }

# key=value line -> value of key
val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# the median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }

log "floor"
# shellcheck disable=SC2086
build/bench/floor ${LM_FLOOR_ARGS:--p 16384 -m 1024} >"$TMP/floor.json"
fl() { grep -o "\"$1\": [0-9.]*" "$TMP/floor.json" | awk '{ print $2 }'; }
F50=$(fl uffd_fault_ns_p50) F99=$(fl uffd_fault_ns_p99) LOOP=$(fl loopback_MBps)
R50=$(fl tcp_page_rtt_ns_p50) R99=$(fl tcp_page_rtt_ns_p99)
N50=$((F50 + R50))	# a fault over a network: uffd round trip + one page RTT

for shape in "${SHAPES[@]}"; do
	for mode in lazy eager; do
		opt=""
		[ $mode = eager ] && opt=--eager
		for ((r = 1; r <= REPS; r++)); do
			log "$shape $mode run $r"
			# shellcheck disable=SC2086
			bench/migrate.sh $shape $opt 2>"$TMP/err" >>"$TMP/${shape// /_}.$mode" ||
				{ cat "$TMP/err" >&2; exit 1; }
		done
	done
done

# m SHAPE MODE KEY | EXPR: the median of one figure over the reps
m() {
	local f="$TMP/${1// /_}.$2" l
	case $3 in
	drain_MBps)	# bytes after resume / (resume -> last page in)
		while read -r l; do
			awk -v a="$(val "$l" bytes_after_resume)" -v r="$(val "$l" resume_realtime_ns)" \
			    -v z="$(val "$l" last_install_realtime_ns)" \
			    'BEGIN { print (z > r ? a / 1e6 / ((z - r) / 1e9) : 0) }'
		done <"$f" | median ;;
	detect_after_resume_ns)
		while read -r l; do
			echo $(($(val "$l" detect_ns) - $(val "$l" resume_realtime_ns)))
		done <"$f" | median ;;
	*)
		while read -r l; do val "$l" "$3"; done <"$f" | median ;;
	esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%.2f", a / 1e6 }'; }
us() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1e3 }'; }
kib() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1024 }'; }

{
	echo
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`$CMD\`"
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg).${NETEM:+ netem on both veth ends: \`$NETEM\`.}"
	echo "Median of $REPS runs per figure; migration between two netns over a veth pair."
	echo
	echo "Floor (build/bench/floor): uffd round trip p50 $(us "$F50") us, p99 $(us "$F99") us; loopback TCP $LOOP MB/s; loopback TCP round trip of a 64 B request + 4 KiB reply p50 $(us "$R50") us, p99 $(us "$R99") us. \"net floor\" = uffd p50 + TCP RTT p50 = $(us "$N50") us."
	echo
	echo "| shape (MiB/VMAs/threads) | downtime lazy ms | ÷ 10 ms target | ÷ eager downtime | bytes before resume (KiB) | ÷ 256 KiB target | ÷ process size | first-touch fault p50 ÷ uffd floor p50 | ÷ net floor | p99 ÷ uffd floor p99 | daemon fault p50 ÷ floor | touches that faulted | drain MB/s ÷ loopback | total lazy ÷ eager | total lazy ms / eager ms |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for shape in "${SHAPES[@]}"; do
		read -r mib _ _ <<<"$shape"
		dl=$(m "$shape" lazy downtime_ns) de=$(m "$shape" eager downtime_ns)
		bb=$(m "$shape" lazy bytes_before_resume)
		s50=$(m "$shape" lazy slow_p50_ns) s99=$(m "$shape" lazy slow_p99_ns)
		d50=$(m "$shape" lazy fault_ns_p50)
		slow=$(m "$shape" lazy slow) tch=$(m "$shape" lazy touches)
		dr=$(m "$shape" lazy drain_MBps)
		tl=$(m "$shape" lazy total_ns) te=$(m "$shape" eager total_ns)
		echo "| ${shape// //} | $(ms "$dl") | $(ratio "$dl" 10000000) | $(ratio "$dl" "$de") | $(kib "$bb") | $(ratio "$bb" 262144) | $(awk -v b="$bb" -v m="$mib" 'BEGIN { printf "%.5f", b / (m * 1048576) }') | $(ratio "$s50" "$F50") | $(ratio "$s50" "$N50") | $(ratio "$s99" "$F99") | $(ratio "$d50" "$F50") | $slow/$tch | $(awk -v d="$dr" 'BEGIN { printf "%.0f", d }') ÷ $LOOP = $(ratio "$dr" "$LOOP") | $(ratio "$tl" "$te") | $(ms "$tl") / $(ms "$te") |"
	done
	echo
	echo "Workload detected its resume a median $(us "$(m "${SHAPES[-1]}" lazy detect_after_resume_ns)") us after the restorer's resume stamp (${SHAPES[-1]// //} shape)."
} >>"$OUT"
tail -n $((${#SHAPES[@]} + 8)) "$OUT"
cp "$TMP"/*.lazy "$TMP"/*.eager "$TMP/floor.json" "${LM_RAW_DIR:-$TMP}/" 2>/dev/null || true
