#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where one lazy fault's time goes, hop by hop: bench/migrate.sh with
# LAZYMIG_FAULT_TRACE (user/faulttrace.h), the daemon's and the page
# server's records joined per request, and each hop's p50 / p90 / p99
# over every request of every run (ns; both ends on one host share
# CLOCK_MONOTONIC).
#
#   bench/hops.sh [--reps N] [--keep DIR] MIB VMAS THREADS [send options]
#
# Hops (d = daemon, s = page server):
#   d_read      d wakes (epoll) -> the fault is read from the uffd
#   d_req       fault read -> REQ written to the socket
#   net_req     REQ written -> s wakes (poll returns)
#   s_recv      s wakes -> the REQ is parsed (recv, queueing behind others)
#   s_read      REQ parsed -> the pages are read (process_vm_readv)
#   s_send      pages read -> the answer is written (send)
#   net_ans     answer written -> d wakes for it (negative: d woke and
#               read part of it while s was still in send)
#   d_parse     d wakes -> the whole answer is parsed
#   d_install   answer parsed -> its pages are in (UFFDIO_COPY)
#   d_total     fault read -> pages in (the daemon's fault_ns)
#   sent_wake   REQ written -> d wakes for the answer
# The workload's own figure (slow_p50_ns) also holds the time from the
# fault to the daemon's wake, which no stamp here sees.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=1 KEEP=""
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--keep) KEEP=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 3 ] || { echo "usage: bench/hops.sh [--reps N] [--keep DIR] MIB VMAS THREADS [send options]" >&2; exit 2; }
T=$(mktemp -d /tmp/lazymig-hops.XXXXXX)
trap 'rm -rf "$T"' EXIT
val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

for ((r = 1; r <= REPS; r++)); do
	out=$(LAZYMIG_FAULT_TRACE=$T/r$r bench/migrate.sh "$@")
	if [ ! -s "$T/r$r.dst" ] || [ ! -s "$T/r$r.src" ]; then
		echo "hops: run $r left no trace" >&2
		exit 1
	fi
	echo "run $r: slow_p50_ns=$(val "$out" slow_p50_ns) slow_p99_ns=$(val "$out" slow_p99_ns) fault_ns_p50=$(val "$out" fault_ns_p50) fault_ns_p99=$(val "$out" fault_ns_p99) faults=$(val "$out" faults) requests=$(wc -l <"$T/r$r.dst")"
	# join: the k-th request for (space, addr) on each side
	awk '
	FNR == 1 { side = FILENAME ~ /\.src$/ ? "s" : "d" }
	{
		k = $1 " " $2; n = ++seen[side, k]
		for (i = 4; i <= 9; i++) v[side, k, n, i - 4] = $i
		if (side == "s") pages[k, n] = $3
		if (side == "d") keys[++nd] = k SUBSEP n
	}
	END {
		for (j = 1; j <= nd; j++) {
			split(keys[j], kk, SUBSEP); k = kk[1]; n = kk[2]
			d0 = v["d", k, n, 0]; d1 = v["d", k, n, 1]; d2 = v["d", k, n, 2]
			d3 = v["d", k, n, 3]; d4 = v["d", k, n, 4]; d5 = v["d", k, n, 5]
			s0 = v["s", k, n, 0]; s1 = v["s", k, n, 1]
			s2 = v["s", k, n, 2]; s3 = v["s", k, n, 3]
			if (!d5 || !s3 || !d2)	# unanswered or not joined
				continue
			if (d0) print "d_read", d1 - d0
			print "d_req", d2 - d1
			print "net_req", s0 - d2
			print "s_recv", s1 - s0
			print "s_read", s2 - s1
			print "s_send", s3 - s2
			print "net_ans", d3 - s3
			print "d_parse", d4 - d3
			print "d_install", d5 - d4
			print "d_total", d5 - d1
			print "sent_wake", d3 - d2
			print "pages", pages[k, n]
		}
	}' "$T/r$r.dst" "$T/r$r.src" >>"$T/hops"
done
[ -z "$KEEP" ] || cp "$T"/r*.dst "$T"/r*.src "$KEEP"/

echo
echo "| hop | requests | p50 (µs) | p90 (µs) | p99 (µs) |"
echo "|---|---|---|---|---|"
for h in d_read d_req net_req s_recv s_read s_send net_ans d_parse d_install d_total sent_wake pages; do
	grep "^$h " "$T/hops" | cut -d' ' -f2 | sort -n | awk -v h="$h" '
	{ v[NR] = $1 }
	function q(p) { i = int(NR * p + 0.999999); return v[i < 1 ? 1 : i] }
	END {
		if (!NR) exit
		if (h == "pages")
			printf "| %s (per answer) | %d | %d | %d | %d |\n", h, NR, q(0.5), q(0.9), q(0.99)
		else
			printf "| %s | %d | %.1f | %.1f | %.1f |\n", h, NR, q(0.5) / 1e3, q(0.9) / 1e3, q(0.99) / 1e3
	}'
done
