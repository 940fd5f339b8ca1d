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

MIB=$1 VMAS=$2 THREADS=$3
shift 3
TOOL=$PWD/build/lazymig
WL=$PWD/build/bench/bench_wl
SRC=lmb-src-$$
DST=lmb-dst-$$
VA=lmb$$a
VB=lmb$$b
PORT=$((20000 + $$ % 10000))
DIR=$(mktemp -d /tmp/lazymig-bench.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	[ -s "$DIR/pid" ] && kill -9 "$(cat "$DIR/pid")" 2>/dev/null || true
	ip netns del "$SRC" 2>/dev/null || true
	ip netns del "$DST" 2>/dev/null || true
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
ip netns add "$SRC"
ip netns add "$DST"
ip link add "$VA" type veth peer name "$VB"
ip link set "$VA" netns "$SRC"
ip link set "$VB" netns "$DST"
ip -n "$SRC" addr add 10.79.0.1/24 dev "$VA"
ip -n "$DST" addr add 10.79.0.2/24 dev "$VB"
for ns in "$SRC" "$DST"; do ip -n "$ns" link set lo up; done
ip -n "$SRC" link set "$VA" up
ip -n "$DST" link set "$VB" up
if [ -n "${LM_NETEM:-}" ]; then
	# shellcheck disable=SC2086
	ip netns exec "$SRC" tc qdisc add dev "$VA" root netem $LM_NETEM
	# shellcheck disable=SC2086
	ip netns exec "$DST" tc qdisc add dev "$VB" root netem $LM_NETEM
fi
TLS=()
[ -n "${LM_TLS:-}" ] && TLS=(--tls)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/token"
chmod 600 "$DIR/token"

ip netns exec "$DST" ${LM_WRAP_RECV:-} "$TOOL" receive --listen 10.79.0.2:$PORT \
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
ip netns exec "$SRC" ${LM_WRAP_SEND:-} "$TOOL" send -t "$WLPID" --to 10.79.0.2:$PORT \
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
