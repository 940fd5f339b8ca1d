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
# LAZYMIG_PHASES=1 prints send's and receive's split of the downtime on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ME=migrate
. bench/lib.sh

MIB=$1 VMAS=$2 THREADS=$3
shift 3
TOOL=$PWD/build/lazymig
WL=$PWD/build/bench/bench_wl
PORT=$((20000 + $$ % 10000))
mig_dir bench

[ -x "$TOOL" ] && [ -x "$WL" ] || { echo "migrate: build first (make)" >&2; exit 1; }
netns_up lmb 10.79.0
# shellcheck disable=SC2086
[ -z "${LM_NETEM:-}" ] || netns_qdisc netem $LM_NETEM
mig_token
TLS=()
[ -n "${LM_TLS:-}" ] && TLS=(--tls)

WRAP_RECV=${LM_WRAP_RECV:-}
mig_receive "$PORT" 30 "${TLS[@]}"
mig_workload 300 "$WL" "$MIB" "$VMAS" "$THREADS" "$DIR/state"

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
mig_result "$rc" 600
# flat JSON numbers -> key=value; then the workload's own figures
tr -d '{}"' <"$DIR/stats.json" | tr ',' '\n' | grep -E '^[a-z_0-9]+:[0-9]+$' |
	sed 's/:/=/' | tr '\n' ' '
echo "start_ns=$t0 end_ns=$t1 wall_ns=$((t1 - t0)) $(cut -d' ' -f2- "$DIR/state.result")"
# LAZYMIG_PHASES=1: send's and receive's split of the downtime, on stderr
[ -z "${LAZYMIG_PHASES:-}" ] || grep -h 'phases:' "$DIR/send.log" "$DIR/receive.log" >&2 || true
