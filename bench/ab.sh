#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Before/after: the same migration with two builds, alternating (A B, then
# B A, ...) so that the load of a shared machine falls on both alike;
# prints a markdown table of every run's figures, sorted, and the medians.
#
#   bench/ab.sh [--reps N] [--phases] [--b-opts "OPTS"] A_DIR B_DIR MIB VMAS THREADS [send options]
#
# --b-opts adds send options to B's runs only (A_DIR may equal B_DIR: the
# same build with and without an option).
#
# A_DIR and B_DIR are trees each holding bench/ and a build (build/lazymig,
# build/bench/bench_wl), e.g. `git worktree add` or `git archive | tar x`
# of two commits, each built with make.  Each run is that tree's
# bench/migrate.sh (or with --phases its bench/phases.sh, for where the
# downtime goes on the source).  LM_BENCH_ORDER=seq makes bench_wl's
# timed touches sequential (see bench/bench_wl.c).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=10 PHASES=0 BOPTS=""
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--phases) PHASES=1; shift ;;
	--b-opts) BOPTS=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 5 ] || { echo "usage: bench/ab.sh [--reps N] [--phases] [--b-opts OPTS] A_DIR B_DIR MIB VMAS THREADS [send options]" >&2; exit 2; }
A=$1 B=$2 MIB=$3 VMAS=$4 THREADS=$5
shift 5
TMP=$(mktemp -d /tmp/lazymig-ab.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

one() {	# TREE TAG [send options]
	local tree=$1 tag=$2 out res
	shift 2
	if [ $PHASES -eq 1 ]; then
		out=$("$tree/bench/phases.sh" "$MIB" "$VMAS" "$THREADS" 1) || return 1
		# "kv: s_freeze=0.05 s_VMAs_smaps_=0.57 ... r_resumed=0.60 downtime=8.1" (ms)
		grep '^kv: ' <<<"$out" | sed 's/^kv: //' >>"$TMP/$tag"
		return 0
	fi
	out=$("$tree/bench/migrate.sh" "$MIB" "$VMAS" "$THREADS" "$@") || return 1
	res=$(( $(val "$out" last_install_realtime_ns) - $(val "$out" resume_realtime_ns) ))
	echo "$out drain_MBps=$(( $(val "$out" bytes_after_resume) * 1000 / (res > 0 ? res : 1) ))" >>"$TMP/$tag"
}

for ((r = 1; r <= REPS; r++)); do
	echo "ab: run $r of $REPS" >&2
	if ((r % 2)); then
		one "$A" a "$@"
		one "$B" b "$@" $BOPTS
	else
		one "$B" b "$@" $BOPTS
		one "$A" a "$@"
	fi
done

median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }
col() { while read -r l; do val "$l" "$2"; done <"$TMP/$1"; }

if [ $PHASES -eq 1 ]; then	# every phase either build printed (ms)
	KEYS=$(cat "$TMP/a" "$TMP/b" | tr ' ' '\n' | sed -n 's/=.*//p' | awk '!seen[$0]++' | tr '\n' ' ')
	declare -A NAME=()
else
	KEYS="downtime_ns slow_p50_ns slow_p99_ns slow fault_ns_p50 fault_ns_p99 faults zero_faults pages_faulted touch_sum_ns drain_MBps"
	declare -A NAME=()
fi
echo "A = $A, B = $B${BOPTS:+ with send $BOPTS}; \`$MIB $VMAS $THREADS\`${*:+, send $*}${LM_BENCH_ORDER:+, LM_BENCH_ORDER=$LM_BENCH_ORDER}; $REPS runs each, alternating."
echo
echo "| figure | A runs (sorted) | B runs (sorted) | A median | B median | B ÷ A |"
echo "|---|---|---|---|---|---|"
for k in $KEYS; do
	a=$(col a "$k" | sort -n | tr '\n' ' ')
	b=$(col b "$k" | sort -n | tr '\n' ' ')
	ma=$(col a "$k" | median) mb=$(col b "$k" | median)
	echo "| ${NAME[$k]:-$k} | $a| $b| $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf (a > 0 ? "%.2f" : "-"), b / a }') |"
done
