#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Several builds and send options on the same migration, in rotation
# (run r starts at config r mod N) so that the load of a shared machine
# falls on all alike; prints a markdown table of the medians.  Like
# bench/ab.sh, for more than two configs, e.g. push vs no push for two
# builds in one run:
#
#   bench/rot.sh [--reps N] MIB VMAS THREADS TAG=TREE[:SEND OPTS] ...
#
#   bench/rot.sh --reps 20 256 64 1 main=/tmp/main 'main_np=/tmp/main:--push-rate 1' \
#	new=/tmp/new 'new_np=/tmp/new:--push-rate 1'
#
# Each TREE holds bench/ and a build (see bench/ab.sh).  Every run's line
# goes to stderr as it comes.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=10
if [ "${1:-}" = --reps ]; then REPS=$2; shift 2; fi
[ $# -ge 4 ] || { echo "usage: bench/rot.sh [--reps N] MIB VMAS THREADS TAG=TREE[:SEND OPTS] ..." >&2; exit 2; }
MIB=$1 VMAS=$2 THREADS=$3
shift 3
CFG=("$@") N=$#
TMP=$(mktemp -d /tmp/lazymig-rot.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

for ((r = 0; r < REPS; r++)); do
	for ((k = 0; k < N; k++)); do
		c=${CFG[$(( (k + r) % N ))]}
		tag=${c%%=*} rest=${c#*=}
		tree=${rest%%:*} opts=""
		[ "$rest" != "$tree" ] && opts=${rest#*:}
		# shellcheck disable=SC2086
		out=$("$tree/bench/migrate.sh" "$MIB" "$VMAS" "$THREADS" $opts) || { echo "rot: $tag failed" >&2; continue; }
		res=$(( $(val "$out" last_install_realtime_ns) - $(val "$out" resume_realtime_ns) ))
		echo "$out drain_MBps=$(( $(val "$out" bytes_after_resume) * 1000 / (res > 0 ? res : 1) ))" >>"$TMP/$tag"
		echo "rot: run $((r + 1)) of $REPS: $tag fault_ns_p99=$(val "$out" fault_ns_p99) slow_p99_ns=$(val "$out" slow_p99_ns)" >&2
	done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }
KEYS="downtime_ns fault_ns_p50 fault_ns_p99 slow_p50_ns slow_p99_ns faults drain_MBps"
echo "\`$MIB $VMAS $THREADS\`; $REPS runs each, in rotation; medians."
echo
printf '| config |'; for k in $KEYS; do printf ' %s |' "$k"; done; echo
printf '|---|'; for k in $KEYS; do printf -- '---|'; done; echo
for c in "${CFG[@]}"; do
	tag=${c%%=*}
	[ -s "$TMP/$tag" ] || continue
	printf '| %s (%s) |' "$tag" "${c#*=}"
	for k in $KEYS; do
		printf ' %s |' "$(while read -r l; do val "$l" "$k"; done <"$TMP/$tag" | median)"
	done
	echo
done
