#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench/tree_cow.sh [--eager]: what a process-tree migration costs in memory
# because copy-on-write sharing between its members is not preserved.
#
# Runs selftests/workloads/tree_wl (four processes; pages the parent filled
# before its forks stay shared copy-on-write until written), measures each
# member's anonymous memory (/proc/PID/smaps_rollup: Anonymous = resident
# anon pages, Pss_Anon = its proportional share), migrates the tree with
# `send --tree` over loopback into a PID namespace of its own (same PIDs),
# waits until every page is in, and measures the restored members again.
# Prints one table; the extra memory is sum(Pss_Anon after) - sum(before).
# Root; run from the top of the tree after `make`.
set -euo pipefail

B=${B:-build}
mode=lazy
[ "${1:-}" = --eager ] && mode=eager
dir=$(mktemp -d /tmp/lazymig-cow.XXXXXX)
port=$((30000 + RANDOM % 20000))
wl=0 rpid=0
cleanup() {
	[ "$rpid" -gt 0 ] && kill -9 "$rpid" 2>/dev/null
	[ "$wl" -gt 0 ] && kill -9 "$wl" 2>/dev/null
	wait "$rpid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

waitfor() {	# file, what, seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "tree_cow: no '$2' in $1" >&2
	return 1
}

anon() {	# pid -> "Anonymous Pss_Anon" in kB
	awk '/^Anonymous:/ { a = $2 } /^Pss_Anon:/ { p = $2 }
	     END { print a, p }' "/proc/$1/smaps_rollup"
}

# The outer PID of the process whose innermost PID is $1, in another pidns.
outer() {
	local s
	for s in /proc/[0-9]*/status; do
		awk -v p="$1" '/^NSpid:/ { if (NF == 3 && $3 == p && $2 != p)
			{ print $2; found = 1 } exit } END { exit !found }' \
			"$s" 2>/dev/null && return 0
	done
	return 1
}

"$B/selftests/workloads/tree_wl" "$dir" > "$dir/wl.log" 2>&1 &
wl=$!
disown "$wl"	# send kills it: no job-control notice
waitfor "$dir/ready" " " 10
read -r -a pids < "$dir/ready"
declare -a before
for p in "${pids[@]}"; do before+=("$(anon "$p")"); done

unshare --pid --fork --mount-proc --kill-child -- sh -c \
	"$B/lazymig receive --listen 127.0.0.1:$port --pidfile $dir/pid --stdio null --stats $dir/r.json; echo rc=\$? > $dir/rc; exec sleep 600" \
	> "$dir/recv.log" 2>&1 &
rpid=$!
waitfor "$dir/recv.log" listening 10
flags=()
[ $mode = eager ] && flags=(--eager)
"$B/lazymig" send --tree -t "${pids[0]}" --to "127.0.0.1:$port" \
	"${flags[@]}" --stats "$dir/s.json" > "$dir/send.log" 2>&1
waitfor "$dir/rc" rc=0 60
wl=0

names=(R A B G)
printf '| member | source Anonymous KiB | source Pss_Anon KiB | restored Anonymous KiB | restored Pss_Anon KiB |\n'
printf '|---|---|---|---|---|\n'
sb=0 sa=0
for i in 0 1 2 3; do
	o=$(outer "${pids[$i]}")
	read -r a0 p0 <<< "${before[$i]}"
	read -r a1 p1 <<< "$(anon "$o")"
	printf '| %s | %s | %s | %s | %s |\n' "${names[$i]}" "$a0" "$p0" "$a1" "$p1"
	sb=$((sb + p0))
	sa=$((sa + p1))
done
printf '\n%s migration of tree_wl (%s, %s): anonymous memory of the tree %d KiB at the source, %d KiB restored: +%d KiB (+%d pages of 4 KiB)\n' \
	"$mode" "$(uname -r)" "$(date -u +%FT%TZ)" "$sb" "$sa" $((sa - sb)) $(((sa - sb) / 4))
