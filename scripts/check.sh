#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check: install deps, build everything, run the selftests on the
# host and in QEMU on each kernel, and end with one summary line.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

scripts/deps.sh
make -j"$(nproc)" all || exit 1
make module || exit 1

out=build/check
mkdir -p "$out"
rm -f "$out"/*.log
suites=()
declare -A status

run_suite() {	# name, command...
	local name=$1
	shift
	echo "==== $name: $*"
	"$@" 2>&1 | tee "$out/$name.log"
	status[$name]=${PIPESTATUS[0]}
	suites+=("$name")
}

run_suite host build/selftests/run.sh host
# libFuzzer harnesses (fuzz/): replay fuzz/regress, then a short run each
run_suite fuzz make --no-print-directory fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
run_suite vm-stock qemu-test/run --kernel stock --timeout 1800 -- \
	build/selftests/run.sh vm
if [ -x qemu-test/kernel.sh ] && qemu-test/kernel.sh has-patches; then
	run_suite vm-patched qemu-test/run --kernel patched --timeout 1800 -- \
		build/selftests/run.sh vm
fi

pass=0 fail=0 skip=0
for s in "${suites[@]}"; do
	line=$(grep -E '^(host|vm|fuzz): [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' \
		"$out/$s.log" | tail -n1)
	if [ -z "$line" ]; then
		echo "check: suite $s ended without a summary: counted as 1 failed"
		fail=$((fail + 1))
		continue
	fi
	read -r p f k <<<"$(echo "$line" | sed -E 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')"
	echo "check: $s: $p passed, $f failed, $k skipped"
	# e.g. a kernel WARNING in the VM after all tests passed
	if [ "${status[$s]}" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "check: suite $s exited ${status[$s]} with no failed test (see $out/$s.log): counted as 1 failed"
		f=1
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + k))
done
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
