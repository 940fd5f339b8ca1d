#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Before/after for the destination's share of the downtime: each tree's
# bench/phases.sh (one migration, LAZYMIG_PHASES=1), alternating A B,
# then B A, ... so that the load of a shared machine falls on both alike;
# prints a markdown table of receive's phases and the downtime: every
# run sorted, the medians and B / A.
#
#   bench/ab_restore.sh [--reps N] A_DIR B_DIR MIB VMAS THREADS   (root)
#
# A_DIR and B_DIR are trees each holding bench/ and a build (see
# bench/ab.sh).  "restore prepared" is the stub, its cleanup, the uffd,
# vdso and every VMA's mmap; "resumed" is mlock/mprotect, threads, the
# mm fields, the last syscalls and the detach.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=10
if [ "${1:-}" = --reps ]; then
	REPS=$2
	shift 2
fi
[ $# -eq 5 ] || { echo "usage: bench/ab_restore.sh [--reps N] A_DIR B_DIR MIB VMAS THREADS" >&2; exit 2; }
A=$1 B=$2 MIB=$3 VMAS=$4 THREADS=$5
TMP=$(mktemp -d /tmp/lazymig-abr.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

one() {	# TREE TAG
	local out
	out=$("$1/bench/phases.sh" "$MIB" "$VMAS" "$THREADS" 1) || return 1
	awk '/run 1: downtime/ { d = $(NF - 1) }
	     /receive: .*phases:/ {
		sub(/.*phases: /, ""); n = split($0, f, ", ")
		for (i = 1; i <= n; i++) {
			k = f[i]; sub(/ [0-9.]+ ms$/, "", k); gsub(/ /, "_", k)
			v = f[i]; sub(/ ms$/, "", v); sub(/.* /, "", v)
			printf "%s=%s ", k, v
		}
	     }
	     END { printf "downtime=%s\n", d }' <<<"$out" >>"$TMP/$2"
}

for ((r = 1; r <= REPS; r++)); do
	echo "ab_restore: run $r of $REPS" >&2
	if ((r % 2)); then
		one "$A" a
		one "$B" b
	else
		one "$B" b
		one "$A" a
	fi
done

val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
col() { while read -r l; do val "$l" "$2"; done <"$TMP/$1"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }

echo "A = $A, B = $B; \`bench/phases.sh $MIB $VMAS $THREADS\`; $REPS runs each, alternating; ms."
echo
echo "| figure | A runs (sorted) | B runs (sorted) | A median | B median | B ÷ A |"
echo "|---|---|---|---|---|---|"
for k in restore_prepared daemon eager_pages resumed downtime; do
	a=$(col a "$k" | sort -n | tr '\n' ' ')
	b=$(col b "$k" | sort -n | tr '\n' ' ')
	ma=$(col a "$k" | median) mb=$(col b "$k" | median)
	echo "| ${k//_/ } | $a| $b| $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf (a > 0 ? "%.2f" : "-"), b / a }') |"
done
