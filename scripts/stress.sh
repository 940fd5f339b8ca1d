#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make stress: what does not fit in `make check`, host only.
#   - every libFuzzer harness for FUZZ_SECONDS (default 300) each;
#   - load_mig with LOAD_ROUNDS (default 64) migrations through one
#     `receive --keep-listening` (fd count checked after each);
#   - events_stress and lost_peer, STRESS_REPEAT (default 10) times each.
# `make check` keeps the short versions (20 s fuzz, 8 rounds, once).
# Ends with "stress: N passed, N failed, N skipped"; exit 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

make -j"$(nproc)" all || exit 1
out=build/stress
mkdir -p "$out"
rm -f "$out"/*.log
repeat=${STRESS_REPEAT:-10}
pass=0 fail=0 skip=0

count() {	# log: add its last summary line to the totals
	local line p f k
	line=$(grep -E '^(host|fuzz): [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' \
		"$1" | tail -n1)
	if [ -z "$line" ]; then
		echo "stress: $1 ended without a summary: counted as 1 failed"
		fail=$((fail + 1))
		return
	fi
	read -r p f k <<<"$(echo "$line" | sed -E 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')"
	echo "stress: $(basename "$1" .log): $p passed, $f failed, $k skipped"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + k))
}

run() {		# name, command...
	local name=$1
	shift
	echo "==== $name: $*"
	"$@" >"$out/$name.log" 2>&1
	count "$out/$name.log"
}

run fuzz make --no-print-directory fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-300}"
run load env LAZYMIG_LOAD_ROUNDS="${LOAD_ROUNDS:-64}" \
	build/selftests/run.sh host load_mig
for i in $(seq 1 "$repeat"); do
	run "events_stress.$i" build/selftests/run.sh host events_stress
	run "lost_peer.$i" build/selftests/run.sh host lost_peer
done
echo "stress: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
