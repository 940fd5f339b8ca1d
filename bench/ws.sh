#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Working-set-first push against address-order push (issue 8, item 3):
# build/bench/hot_wl (MIB MiB, HOT MiB of it a hot set of random pages
# written over and over in a fixed random order) migrated lazily between
# two netns over veth, alternately with `send --ws-sample 0` (address
# order) and `--ws-sample MS` (hot pages first), REPS times each.  The
# figure: demand faults in the first second after resume (receive's
# faults_1s), working set ÷ address order, plus all demand faults, the
# workload's passes over its hot set in its first second, downtime and
# total time.  Appends a section to bench/RESULTS.md.
#
#   bench/ws.sh [--reps N] [--mib M] [--hot H] [--sample MS] [--tbf RATE] [--out FILE]
#
# --tbf 100mbit: a token bucket on both veth ends (a slow link).  Root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

REPS=5 MIB=256 HOT=16 SAMPLE=200 TBF="" OUT=bench/RESULTS.md
CMD="bench/ws.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--mib) MIB=$2; shift 2 ;;
	--hot) HOT=$2; shift 2 ;;
	--sample) SAMPLE=$2; shift 2 ;;
	--tbf) TBF=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) echo "usage: bench/ws.sh [--reps N] [--mib M] [--hot H] [--sample MS] [--tbf RATE] [--out FILE]" >&2; exit 2 ;;
	esac
done
TOOL=$PWD/build/lazymig
WL=$PWD/build/bench/hot_wl
mig_dir ws
[ -x "$TOOL" ] && [ -x "$WL" ] || { echo "ws.sh: build first (make)" >&2; exit 1; }

netns_up lmw 10.81.0
[ -z "$TBF" ] || netns_qdisc tbf rate "$TBF" burst 32kbit latency 50ms
mig_token

run() {	# SAMPLE_MS REP: one migration; one key=value line on stdout
	local port=$((20000 + ($$ + $2) % 10000)) rc=0
	rm -f "$DIR/pid" "$DIR/state" "$DIR/state.result" "$DIR/stats.json"
	mig_receive "$port" 30
	mig_workload 300 "$WL" "$MIB" "$HOT" "$DIR/state"
	ip netns exec "$SRC" "$TOOL" send -t "$WLPID" --to "$DST_IP:$port" \
		--token-file "$DIR/token" --ws-sample "$1" 2>"$DIR/send.log" || rc=$?
	wait "$RECV" || rc=$?
	wait "$WLPID" 2>/dev/null || true	# the source, killed by send
	mig_result "$rc" 120
	kill -9 "$(cat "$DIR/pid")" 2>/dev/null || true
	echo "faults_1s=$(num faults_1s) faults=$(num faults) downtime_ns=$(num downtime_ns) total_ns=$(num total_ns) $(cut -d' ' -f2- "$DIR/state.result")"
}

for ((r = 1; r <= REPS; r++)); do
	for s in 0 "$SAMPLE"; do
		echo "ws.sh: run $r, --ws-sample $s" >&2
		run "$s" "$r" >>"$DIR/runs.$s"
		tail -n1 "$DIR/runs.$s" >&2
	done
done
grep -h "working set" "$DIR/send.log" >&2 || true

m() { while read -r l; do val "$l" "$3"; done <"$DIR/runs.$1" | median; }
all() { while read -r l; do val "$l" "$2"; done <"$DIR/runs.$1" | tr '\n' ' '; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf (÷ 0)" }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1e6 }'; }
A=0 W=$SAMPLE
{
	echo
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`$CMD\` (working-set-first push)"
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), kernel $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg).${TBF:+ tbf on both veth ends: rate $TBF.}"
	echo "hot_wl $MIB MiB, $HOT MiB hot (random pages, written in a fixed random order, a pass after a pass); $REPS runs per mode, alternating; medians. Working set by: $(grep -ho 'working set ([a-z-]*' "$DIR/send.log" | cut -d'(' -f2 || echo '?')."
	echo
	echo "| figure | address order (\`--ws-sample 0\`) | working set first (\`--ws-sample $SAMPLE\`) | address ÷ working set |"
	echo "|---|---|---|---|"
	echo "| demand faults in the first second after resume | $(m $A x faults_1s) | $(m $W x faults_1s) | **$(ratio "$(m $A x faults_1s)" "$(m $W x faults_1s)")** |"
	echo "| all demand faults | $(m $A x faults) | $(m $W x faults) | $(ratio "$(m $A x faults)" "$(m $W x faults)") |"
	echo "| hot-set passes in the workload's first second | $(m $A x passes_1s) | $(m $W x passes_1s) | $(ratio "$(m $A x passes_1s)" "$(m $W x passes_1s)") |"
	echo "| downtime ms | $(ms "$(m $A x downtime_ns)") | $(ms "$(m $W x downtime_ns)") | $(ratio "$(m $A x downtime_ns)" "$(m $W x downtime_ns)") |"
	echo "| freeze → last page in, ms | $(ms "$(m $A x total_ns)") | $(ms "$(m $W x total_ns)") | $(ratio "$(m $A x total_ns)" "$(m $W x total_ns)") |"
	echo
	echo "Every run, faults in the first second: address order: $(all $A faults_1s); working set: $(all $W faults_1s)."
} >>"$OUT"
tail -n 12 "$OUT"
