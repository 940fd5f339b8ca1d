#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run the selftests built under build/selftests/ and total their TAP counts.
#   run.sh host|vm [NAME-PATTERN]
# host: build/selftests/{host,both}/*   vm: build/selftests/{vm,both}/*
# Ends with "WHERE: N passed, N failed, N skipped"; exit 1 if any failed.
# POSIX sh: it also runs under busybox in the QEMU guest.

where=${1:?usage: run.sh host|vm [PATTERN]}
pat=${2:-*}
here=$(cd "$(dirname "$0")" && pwd)
case $where in
host) dirs="host both" ;;
vm) dirs="vm both" ;;
*) echo "run.sh: unknown suite '$where'" >&2; exit 2 ;;
esac

pass=0 fail=0 skip=0 ran=0
tmp=${TMPDIR:-/tmp}/lazymig-st.$$
for d in $dirs; do
	for t in "$here/$d"/$pat; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		name="$d/$(basename "$t")"
		ran=$((ran + 1))
		echo "# ---- $name"
		timeout "${LAZYMIG_TEST_TIMEOUT:-900}" "$t" >"$tmp" 2>&1
		rc=$?
		cat "$tmp"
		tot=$(grep '^# Totals:' "$tmp" | tail -n1)
		if [ -z "$tot" ]; then
			echo "# $name: exit $rc without TAP totals: counted as 1 failed"
			fail=$((fail + 1))
			continue
		fi
		p=$(echo "$tot" | sed -n 's/.* pass:\([0-9]*\) .*/\1/p')
		f=$(echo "$tot" | sed -n 's/.* fail:\([0-9]*\) .*/\1/p')
		s=$(echo "$tot" | sed -n 's/.* skip:\([0-9]*\) .*/\1/p')
		e=$(echo "$tot" | sed -n 's/.* error:\([0-9]*\).*/\1/p')
		pass=$((pass + p)); fail=$((fail + f + ${e:-0})); skip=$((skip + s))
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && [ "${e:-0}" -eq 0 ]; then
			echo "# $name: exit $rc with no failed test: counted as 1 failed"
			fail=$((fail + 1))
		fi
	done
done
rm -f "$tmp"
if [ "$ran" -eq 0 ]; then
	echo "# no test binary matches '$pat' under $here/{$(echo $dirs | tr ' ' ,)}: counted as 1 failed"
	fail=1
fi
echo "$where: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
