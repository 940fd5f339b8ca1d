# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Sourced by the bench scripts, from the top of the tree (bash): what they
# all do.  ME is the name their messages start with (default: the
# script's file name; set it before sourcing to say otherwise).
#
#   val LINE KEY        the value of KEY in a line of KEY=VALUE words
#   median              the median of the numbers on stdin, 0 if none
#   now_ns              CLOCK_REALTIME in ns (busybox date has no %N)
#   wait_for FILE PATTERN SECONDS
#                       until FILE holds PATTERN; 1, said on stderr, if not
#
# The scripts that migrate between two network namespaces (bench/netns.sh
# is sourced here too) use TOOL, DIR, SRC, DST, DST_IP and:
#   mig_dir TAG         DIR=/tmp/lazymig-TAG.XXXXXX, PIDS=() and an EXIT
#                       trap: kill PIDS and the process in DIR/pid, remove
#                       the namespaces and DIR
#   mig_token           a random token in DIR/token, mode 0600
#   mig_receive PORT SECONDS [RECEIVE OPTIONS...]
#                       receive in DST on DST_IP:PORT with the token, stats
#                       in DIR/stats.json, the pid in DIR/pid, its stderr in
#                       DIR/receive.log (WRAP_RECV, if set, before the
#                       tool); RECV=its pid once it listens
#   mig_workload SECONDS COMMAND...
#                       COMMAND in SRC; WLPID=its pid once DIR/state says
#                       ready
#   mig_result RC SECONDS
#                       exit 1, showing the logs, unless RC is 0 and the
#                       workload wrote "ok..." to DIR/state.result in time
#   num KEY             the number KEY in DIR/stats.json

ME=${ME:-$(basename "$0")}
. bench/netns.sh

val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }
now_ns() { local t=$EPOCHREALTIME; echo "${t/./}000"; }

wait_for() {	# FILE PATTERN SECONDS
	local i
	for ((i = 0; i < $3 * 200; i++)); do
		grep -qs "$2" "$1" && return 0
		sleep 0.005
	done
	echo "$ME: timed out waiting for '$2' in $1" >&2
	return 1
}

mig_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	if [ -s "$DIR/pid" ]; then
		kill -9 "$(cat "$DIR/pid")" 2>/dev/null || true
	fi
	netns_down
	rm -rf "$DIR"
}

mig_dir() {	# TAG
	DIR=$(mktemp -d "/tmp/lazymig-$1.XXXXXX")
	PIDS=()
	trap mig_cleanup EXIT
}

mig_token() {
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/token"
	chmod 600 "$DIR/token"
}

mig_receive() {	# PORT SECONDS [RECEIVE OPTIONS...]
	local port=$1 secs=$2
	shift 2
	# shellcheck disable=SC2086
	ip netns exec "$DST" ${WRAP_RECV:-} "$TOOL" receive \
		--listen "$DST_IP:$port" --token-file "$DIR/token" "$@" \
		--stats "$DIR/stats.json" --pidfile "$DIR/pid" --stdio null \
		2>"$DIR/receive.log" &
	RECV=$!
	PIDS+=("$RECV")
	wait_for "$DIR/receive.log" listening "$secs"
}

mig_workload() {	# SECONDS COMMAND...
	local secs=$1
	shift
	ip netns exec "$SRC" "$@" &
	WLPID=$!
	PIDS+=("$WLPID")
	wait_for "$DIR/state" ready "$secs"
}

mig_result() {	# RC SECONDS
	if [ "$1" -ne 0 ] || ! wait_for "$DIR/state.result" . "$2" ||
	   ! grep -q '^ok' "$DIR/state.result"; then
		echo "$ME: migration FAILED (rc $1)" >&2
		cat "$DIR/send.log" "$DIR/receive.log" "$DIR/state.result" >&2 2>/dev/null || true
		exit 1
	fi
}

num() { grep -o "\"$1\":[0-9]*" "$DIR/stats.json" | cut -d: -f2; }
