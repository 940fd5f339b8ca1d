#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The peer: one CRIU lazy migration of build/bench/bench_wl between two
# network namespaces joined by a veth pair, the way bench/migrate.sh does
# it with lazymig, printing the same kind of key=value line:
#
#   source netns:  criu dump --lazy-pages --address SRC --port P
#   dest netns:    criu lazy-pages --page-server --address SRC --port P
#                  criu restore --lazy-pages (in a new PID namespace: the
#                  frozen source keeps its PID until every page is served)
#
#   bench/criu.sh MIB VMAS THREADS
#
# start_ns: just before `criu dump` starts; dumped_ns: the page server is
# up (the images are written); detect_ns: the workload sees itself
# resumed; allin_ns: `criu lazy-pages` exits (every page is in);
# bytes_before_resume: the image files restore reads (all of them must
# reach the destination before it can start).  dump logs at -v4: its
# "Starting page server" line is how this script knows it is ready.  Root; CRIU >= 3.x in PATH
# (the VM: bench/vm.sh).  LM_NETEM as in bench/migrate.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

MIB=$1 VMAS=$2 THREADS=$3
WL=$PWD/build/bench/bench_wl
PORT=$((20000 + $$ % 10000))
DIR=$(mktemp -d /tmp/lazymig-criu.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	# the source workload, if a failed dump left it (by PID, if still it)
	[ -n "${WLPID:-}" ] && grep -qs bench_wl "/proc/$WLPID/cmdline" &&
		kill -9 "$WLPID" 2>/dev/null || true
	netns_down
	rm -rf "$DIR"
}
trap cleanup EXIT

wait_pid() {	# PID SECONDS: wait for it, at most that long; its status
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return; }
		sleep 0.05
	done
	echo "criu.sh: PID $1 still running after $2 s" >&2
	return 124
}

fail() {
	echo "criu.sh: FAILED: $*" >&2
	tail -n 8 "$DIR"/*.log "$DIR/state.result" >&2 2>/dev/null || true
	exit 1
}

command -v criu >/dev/null || { echo "criu.sh: criu not found" >&2; exit 1; }
netns_up lmc 10.80.0
# shellcheck disable=SC2086
[ -z "${LM_NETEM:-}" ] || netns_qdisc netem $LM_NETEM
mkdir "$DIR/img"

# its own session, no terminal: what CRIU dumps without --shell-job.
# nsenter, not `ip netns exec`: that one also makes a mount namespace,
# which CRIU would then have to dump ("unreachable sharing").
innet() {	# NETNS COMMAND...: run it in that network namespace only
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}
setsid "$(command -v nsenter)" --net="/run/netns/$SRC" "$WL" "$MIB" "$VMAS" "$THREADS" "$DIR/state" \
	</dev/null >"$DIR/wl.out" 2>&1 &
wait_for "$DIR/state" ready 300 || fail "the workload did not start"
WLPID=$(cut -d' ' -f2 "$DIR/state")

t0=$(now_ns)
innet "$SRC" criu dump -t "$WLPID" -D "$DIR/img" --lazy-pages \
	--address "$SRC_IP" --port "$PORT" -v4 -o "$DIR/dump.log" &
DUMP=$!
PIDS+=("$DUMP")
for ((i = 0; i < 6000; i++)); do	# the page server is up, or dump failed
	grep -qs "Starting page server" "$DIR/dump.log" && break
	kill -0 $DUMP 2>/dev/null || fail "criu dump"
	sleep 0.01
done
t_dumped=$(now_ns)
bytes=$(cat "$DIR"/img/*.img | wc -c)

innet "$DST" criu lazy-pages --page-server --address "$SRC_IP" \
	--port "$PORT" -D "$DIR/img" -v2 -o "$DIR/lp.log" &
LP=$!
PIDS+=("$LP")
for ((i = 0; i < 6000; i++)); do	# it listens for restore, or it failed
	[ -S "$DIR/img/lazy-pages.socket" ] && break
	kill -0 $LP 2>/dev/null || fail "criu lazy-pages"
	sleep 0.01
done
unshare -p -f -m --mount-proc nsenter --net="/run/netns/$DST" \
	criu restore -D "$DIR/img" --lazy-pages -v2 -o "$DIR/rs.log" &
RS=$!
PIDS+=("$RS")
wait_pid $LP "${LM_CRIU_TIMEOUT:-300}" || fail "criu lazy-pages: exit $?"
t_allin=$(now_ns)
wait_pid $DUMP 60 || fail "criu dump: exit $?"
wait_for "$DIR/state.result" . 600 && grep -q '^ok' "$DIR/state.result" ||
	fail "the restored workload did not verify its memory"
wait_pid $RS 60 || true
echo "start_ns=$t0 dumped_ns=$t_dumped allin_ns=$t_allin bytes_before_resume=$bytes $(cut -d' ' -f2- "$DIR/state.result")"
