#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where the downtime goes: one lazymig migration (bench/migrate.sh) with
# `send` under strace --seccomp-bpf stopping only at openat and sendto
# (the rest runs untraced), whose stamps mark the phases of the source:
#   freeze -> open smaps (or maps, when smaps was read before the freeze)
#   -> open pagemap -> open task/TID/comm (threads, then injected
#   syscalls; the pagemaps may be filled meanwhile by another thread)
#   -> first record sent -> resume (receive stamp).  Only opens after the
#   freeze count.
#
#   bench/phases.sh MIB VMAS THREADS [REPS]   (root; strace >= 5.3)
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=$1 VMAS=$2 THREADS=$3 REPS=${4:-3}
T=$(mktemp /tmp/lazymig-phases.XXXXXX)
trap 'rm -f "$T"' EXIT
for ((r = 1; r <= REPS; r++)); do
	out=$(LM_WRAP_SEND="strace --seccomp-bpf -f -ttt -o $T -e trace=openat,sendto -e signal=none" \
	      bench/migrate.sh "$MIB" "$VMAS" "$THREADS" 2>/dev/null)
	v() { tr ' ' '\n' <<<"$out" | sed -n "s/^$1=//p"; }
	fz=$(v freeze_realtime_ns)
	first() { awk -v f="${fz:0:10}.${fz:10:6}" '$2 >= f' "$T" | grep -m1 "$1" | awk '{ print $2 }'; }
	awk -v s="$MIB/$VMAS/$THREADS" -v fz="$fz" -v rs="$(v resume_realtime_ns)" \
	    -v sm="$(first '[0-9]/s*maps"')" -v pm="$(first '[0-9]/pagemap"')" \
	    -v th="$(first '/task/[0-9]*/comm"')" -v s1="$(first 'sendto(3, "LZM')" 'BEGIN {
		f = fz / 1e9
		printf "%s: freeze->smaps %.1f | smaps %.1f | pagemap %.1f | threads+injected syscalls %.1f | first record->resume (network+restore) %.1f | downtime %.1f ms\n",
		       s, (sm - f) * 1e3, (pm - sm) * 1e3, (th - pm) * 1e3, (s1 - th) * 1e3, (rs / 1e9 - s1) * 1e3, (rs - fz) / 1e6 }'
done
