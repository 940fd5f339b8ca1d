#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where the downtime goes: lazymig migrations (bench/migrate.sh) with
# LAZYMIG_PHASES=1, under which send and receive print their own split
# of the downtime (CLOCK_MONOTONIC stamps in user/dump.c, cmd_send.c and
# cmd_receive.c; nothing is traced, so nothing is slowed):
#   send:    freeze, /proc, fds, VMAs (smaps), page scan, threads +
#            injected syscalls, settle, page server, metadata sent,
#            until RESUMED
#   receive: freeze to metadata read, restore prepared, daemon, eager
#            pages, resumed
# then the downtime from receive's stats (freeze -> resume).
#
#   bench/phases.sh MIB VMAS THREADS [REPS]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=$1 VMAS=$2 THREADS=$3 REPS=${4:-3}
T=$(mktemp /tmp/lazymig-phases.XXXXXX)
trap 'rm -f "$T" "$T.err"' EXIT
for ((r = 1; r <= REPS; r++)); do
	LAZYMIG_PHASES=1 bench/migrate.sh "$MIB" "$VMAS" "$THREADS" >"$T" 2>"$T.err" ||
		{ cat "$T.err" >&2; exit 1; }
	dt=$(tr ' ' '\n' <"$T" | sed -n 's/^downtime_ns=//p')
	echo "$MIB/$VMAS/$THREADS run $r: downtime $(awk -v d="$dt" 'BEGIN { printf "%.2f", d / 1e6 }') ms"
	grep 'phases:' "$T.err" | sed 's/^/  /'
	# the same as one line of key=value (ms), for bench/ab.sh --phases
	grep 'phases:' "$T.err" | awk -v dt="$dt" '
		{ side = $1 == "send:" ? "s" : "r"; sub(/.*phases: /, "")
		  n = split($0, part, ", ")
		  for (i = 1; i <= n; i++)
			if (match(part[i], / [0-9.]+ ms/)) {
				k = substr(part[i], 1, RSTART - 1)
				v = substr(part[i], RSTART + 1, RLENGTH - 4)
				gsub(/[^A-Za-z0-9]+/, "_", k)
				kv = kv side "_" k "=" v " "
			} }
		END { printf "kv: %sdowntime=%.2f\n", kv, dt / 1e6 }'
done
