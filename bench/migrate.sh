#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# One lazymig migration of build/bench/bench_wl between two network
# namespaces joined by a veth pair; prints one line of key=value figures:
# the stats JSON of receive plus what the workload measured itself.
#
#   bench/migrate.sh MIB VMAS THREADS [send options, e.g. --eager]
#
# Used by bench/run.sh; runs on the host and in the VM (qemu-test/run).
# LM_NETEM="delay 5ms" adds netem on both veth ends (RTT = 2x delay).
# LM_WRAP_SEND / LM_WRAP_RECV prefix send / receive (e.g. "perf record
# -g -o F --"), to profile one side.
# LM_TLS=1 adds --tls to both sides (pre-shared key from the token).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/netns.sh

MIB=$1 VMAS=$2 THREADS=$3
shift 3
TOOL=$PWD/build/lazymig
WL=$PWD/build/bench/bench_wl
PORT=$((20000 + $$ % 10000))
DIR=$(mktemp -d /tmp/lazymig-bench.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	[ -s "$DIR/pid" ] && kill -9 "$(cat "$DIR/pid")" 2>/dev/null || true
	netns_down
	rm -rf "$DIR"
}
trap cleanup EXIT

now_ns() { local t=$EPOCHREALTIME; echo "${t/./}000"; }	# busybox date has no %N

wait_for() {	# FILE PATTERN SECONDS
	local i
	for ((i = 0; i < $3 * 200; i++)); do
		grep -qs "$2" "$1" && return 0
		sleep 0.005
	done
	echo "migrate: timed out waiting for '$2' in $1" >&2
	return 1
}

[ -x "$TOOL" ] && [ -x "$WL" ] || { echo "migrate: build first (make)" >&2; exit 1; }
netns_up lmb 10.79.0
# shellcheck disable=SC2086
[ -z "${LM_NETEM:-}" ] || netns_qdisc netem $LM_NETEM
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/token"
chmod 600 "$DIR/token"
TLS=()
[ -n "${LM_TLS:-}" ] && TLS=(--tls)

ip netns exec "$DST" ${LM_WRAP_RECV:-} "$TOOL" receive --listen "$DST_IP:$PORT" \
	--token-file "$DIR/token" "${TLS[@]}" --stats "$DIR/stats.json" \
	--pidfile "$DIR/pid" --stdio null 2>"$DIR/receive.log" &
RECV=$!
PIDS+=("$RECV")
wait_for "$DIR/receive.log" listening 30

ip netns exec "$SRC" "$WL" "$MIB" "$VMAS" "$THREADS" "$DIR/state" &
WLPID=$!
PIDS+=("$WLPID")
wait_for "$DIR/state" ready 300

t0=$(now_ns)
ip netns exec "$SRC" ${LM_WRAP_SEND:-} "$TOOL" send -t "$WLPID" --to "$DST_IP:$PORT" \
	--token-file "$DIR/token" "${TLS[@]}" "$@" 2>"$DIR/send.log" &
SEND=$!
PIDS+=("$SEND")
rc=0
wait "$SEND" || rc=$?
wait "$RECV" || rc=$?
# LM_BENCH_IDLE: bench_wl sleeps until told (see bench/bench_wl.c)
[ -n "${LM_BENCH_IDLE:-}" ] && [ -s "$DIR/pid" ] && kill -USR1 "$(cat "$DIR/pid")"
t1=$(now_ns)
wait "$WLPID" 2>/dev/null || true	# the source, killed by send
if [ $rc -ne 0 ] || ! wait_for "$DIR/state.result" . 600 ||
   ! grep -q '^ok' "$DIR/state.result"; then
	echo "migrate: FAILED (rc $rc)" >&2
	cat "$DIR/send.log" "$DIR/receive.log" "$DIR/state.result" >&2 2>/dev/null || true
	exit 1
fi
# flat JSON numbers -> key=value; then the workload's own figures
tr -d '{}"' <"$DIR/stats.json" | tr ',' '\n' | grep -E '^[a-z_0-9]+:[0-9]+$' |
	sed 's/:/=/' | tr '\n' ' '
echo "start_ns=$t0 end_ns=$t1 wall_ns=$((t1 - t0)) $(cut -d' ' -f2- "$DIR/state.result")"
