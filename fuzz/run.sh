#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the libFuzzer harnesses built by fuzz/fuzz.mk, one at a time.
#   fuzz/run.sh [HARNESS...]      (FUZZ_SECONDS per harness, default 60)
# For each harness: replay every input of fuzz/regress/HARNESS/ (each is
# one test), then fuzz for FUZZ_SECONDS from the corpus in
# build/fuzz/corpus/HARNESS plus fresh seeds (one test: no crash, no
# timeout).  An input that crashes is copied into fuzz/regress/HARNESS/
# so that it is replayed from then on.  Ends with
# "fuzz: N passed, N failed, N skipped"; exit 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

B=build/fuzz
secs=${FUZZ_SECONDS:-60}
harnesses=${*:-image dest source auth rx}
pass=0 fail=0 skip=0
log=$B/log
mkdir -p "$log"

# Seeds: images and conversations made by the real writer, and real
# images dumped from a running process when we may ptrace it.
seeds=$B/seeds
rm -rf "$seeds"
if ! $B/seedgen "$seeds"; then
	echo "fuzz: seedgen failed"
	echo "fuzz: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
if [ "$(id -u)" -eq 0 ] && [ -x build/lazymig ]; then
	# not a job of this shell: its death by dump is not reported here
	pid=$(sh -c 'sleep 600 >/dev/null 2>&1 </dev/null & echo $!')
	sleep 0.2
	if build/lazymig dump -t "$pid" -o "$seeds/image/real-sleep" \
		>"$log/dump.log" 2>&1; then
		echo "fuzz: seed image/real-sleep: dump of a running sleep(1), $(stat -c %s "$seeds/image/real-sleep") bytes"
	else
		echo "fuzz: no real image seed: $(tail -n1 "$log/dump.log")"
		rm -f "$seeds/image/real-sleep"
	fi
	kill "$pid" 2>/dev/null
fi

for h in $harnesses; do
	bin=$B/fuzz_$h
	if [ ! -x "$bin" ]; then
		echo "fuzz: $h: $bin not built"
		fail=$((fail + 1))
		continue
	fi
	for f in fuzz/regress/"$h"/*; do
		[ -f "$f" ] || continue
		if timeout 120 "$bin" -timeout=10 -rss_limit_mb=2048 "$f" \
			>"$log/regress.log" 2>&1; then
			echo "ok fuzz/regress: $f"
			pass=$((pass + 1))
		else
			echo "not ok fuzz/regress: $f"
			grep -E 'ERROR|SUMMARY|runtime error' "$log/regress.log" | head -n5
			fail=$((fail + 1))
		fi
	done
	corpus=$B/corpus/$h crash=$B/crash/$h
	mkdir -p "$corpus" "$crash"
	rm -f "$crash"/*
	timeout $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$crash/" "$corpus" "$seeds/$h" \
		>"$log/$h.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log/$h.log" | tail -n1)
	crashes=0
	for c in "$crash"/*; do
		[ -f "$c" ] || continue
		mkdir -p fuzz/regress/"$h"
		cp "$c" fuzz/regress/"$h"/
		echo "fuzz: $h: kept $(basename "$c") in fuzz/regress/$h/"
		crashes=$((crashes + 1))
	done
	echo "fuzz: $h: ${execs:-0} executions in ${secs} s, $crashes crashes, corpus $(find "$corpus" -type f | wc -l) inputs"
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then
		echo "ok fuzz: $h"
		pass=$((pass + 1))
	else
		echo "not ok fuzz: $h (exit $rc, see $log/$h.log)"
		grep -E 'ERROR|SUMMARY|runtime error|ALARM' "$log/$h.log" | head -n5
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
