#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: a real lazy migration of a 256 MiB workload between two
# network namespaces joined by a veth pair, with a token, printing the
# figures from the stats JSON.
#   bench/demo.sh [MIB] [extra send options, e.g. --eager or --push-rate 64]
set -euo pipefail
cd "$(dirname "$0")/.."
ME=demo
. bench/lib.sh

MIB=${1:-256}
shift || true
TOOL=$PWD/build/lazymig
WL=$PWD/build/selftests/workloads/lazy_wl
PORT=$((20000 + $$ % 10000))
mig_dir demo

[ -x "$TOOL" ] && [ -x "$WL" ] || { echo "demo: build first (make)"; exit 1; }
netns_up lmdemo 10.78.0
mig_token

echo "demo: source netns $SRC ($SRC_IP), destination netns $DST ($DST_IP)"
mig_receive "$PORT" 10
mig_workload 30 "$WL" "$MIB" "$DIR/state"
echo "demo: workload pid $WLPID filled $MIB MiB with a pattern in $SRC"

ip netns exec "$SRC" "$TOOL" send -t "$WLPID" --to "$DST_IP:$PORT" \
	--token-file "$DIR/token" "$@" 2>"$DIR/send.log" &
PIDS+=($!)
SEND=$!
wait_for "$DIR/pid" . 60
NEWPID=$(cat "$DIR/pid")
echo "demo: resumed in $DST as pid $NEWPID; it now verifies every page in random order"
kill -USR1 "$NEWPID"

rc=0
wait "$SEND" || rc=$?
wait "$RECV" || rc=$?
wait "$WLPID" 2>/dev/null || true	# the source: killed by send
wait_for "$DIR/state.result" . 120
sed 's/^/demo: workload says: /' "$DIR/state.result"
cat "$DIR/send.log" "$DIR/receive.log" | sed 's/^/  /'
[ $rc -eq 0 ] && grep -q '^ok' "$DIR/state.result" || { echo "demo: FAILED"; exit 1; }

events=$(grep -o '"events":{[^}]*}' "$DIR/stats.json")
awk -v d="$(num downtime_ns)" -v t="$(num total_ns)" -v b="$(num bytes_before_resume)" \
    -v f="$(num faults)" -v pf="$(num pages_faulted)" -v pp="$(num pages_pushed)" \
    -v pz="$(num pages_zero)" -v pt="$(num pages_total)" \
    -v p50="$(num fault_ns_p50)" -v p99="$(num fault_ns_p99)" -v ev="$events" 'BEGIN {
	printf "\nlazy migration of %s MiB\n", '"$MIB"'
	printf "  downtime (freeze -> resume)   %10.3f ms\n", d / 1e6
	printf "  bytes before resume           %10d (%.1f KiB)\n", b, b / 1024
	printf "  total (freeze -> last page)   %10.3f ms\n", t / 1e6
	printf "  demand faults                 %10d (p50 %.1f us, p99 %.1f us)\n", f, p50 / 1e3, p99 / 1e3
	printf "  pages faulted in              %10d\n", pf
	printf "  pages pushed                  %10d\n", pp
	printf "  zero pages (never sent)       %10d\n", pz
	printf "  pages total                   %10d\n", pt
	printf "  %s\n", ev
}'
