#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The benchmarks in the VM (Debian's 6.1 kernel under QEMU TCG, through
# qemu-test/run), where netem works and CRIU 3.17.1 runs: for no added
# delay, 1 ms and 10 ms RTT (netem "delay 0.5ms" / "delay 5ms" on both
# veth ends), bench/run.sh on one shape, then lazymig against CRIU's lazy
# pages on that shape (bench/criu.sh, bench/migrate.sh).  Appends the
# guest's section to bench/RESULTS.md.
#
#   bench/vm.sh [--shape "MIB VMAS THREADS"] [--reps N] [--timeout S] [--no-criu | --criu-only]
#
# The guest gets bash, criu and util-linux unshare from the host (copied
# under build/bench/vm/, so qemu-test packs them and their libraries) and
# the modules CRIU needs.  Figures from TCG are slow in absolute terms:
# read them as ratios against the VM's own floor and against CRIU.
set -euo pipefail
cd "$(dirname "$0")/.."

SHAPE="32 32 1" REPS=1 TIMEOUT=1500 NOCRIU=0 CRIUONLY=0 ARGS="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--shape) SHAPE=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--no-criu) NOCRIU=1; shift ;;
	--criu-only) CRIUONLY=1; shift ;;
	*) echo "usage: bench/vm.sh [--shape \"MIB VMAS THREADS\"] [--reps N] [--timeout S] [--no-criu | --criu-only]" >&2; exit 2 ;;
	esac
done
CRIU=$(command -v criu || true)
[ $NOCRIU -eq 1 ] && CRIU=""
[ -n "$CRIU" ] || echo "bench/vm.sh: criu not installed on the host (apt-get install criu): the CRIU rows are skipped" >&2
V=build/bench/vm
mkdir -p "$V"
cp /bin/bash "$(command -v unshare)" "$(command -v nsenter)" "$V/"
rm -f "$V/criu"
[ -n "$CRIU" ] && cp "$CRIU" "$V/"
cp bench/*.sh "$V/"
cat >"$V/inside.sh" <<IN
#!/bin/bash
set -u
ln -sf /lazymig/$V/bash /bin/bash
export PATH=/lazymig/$V:\$PATH
mkdir -p bench && cp $V/*.sh bench/
OUT=/tmp/res.md
: >\$OUT
export LM_FLOOR_ARGS="-p 2048 -m 64"	# TCG: every wake-up is slow
for d in "" "delay 0.5ms" "delay 5ms"; do
	echo "vm: run.sh netem '\$d'" >&2
	[ $CRIUONLY -eq 1 ] || bash bench/run.sh --shapes "$SHAPE" --reps $REPS \${d:+--netem "\$d"} --out \$OUT >/dev/null || echo "run.sh failed (netem '\$d')" >>\$OUT
	command -v criu >/dev/null || continue
	for ((r = 1; r <= $REPS; r++)); do
		echo "vm: criu and lazymig, netem '\$d', run \$r" >&2
		c=\$(LM_NETEM="\$d" bash bench/criu.sh $SHAPE) || { echo "CRIU run failed (netem '\$d'): see the console log" >>\$OUT; continue; }
		l=\$(LM_NETEM="\$d" bash bench/migrate.sh $SHAPE 2>/dev/null) || { echo "lazymig run failed (netem '\$d')" >>\$OUT; continue; }
		awk -v c="\$c" -v l="\$l" -v d="\${d:-none}" 'function kv(s, a,  n, i, p) { n = split(s, t, " "); for (i = 1; i <= n; i++) { split(t[i], p, "="); a[p[1]] = p[2] } }
		BEGIN { kv(c, C); kv(l, L)
			cd = (C["detect_ns"] - C["start_ns"]) / 1e6; ld = (L["detect_ns"] - L["start_ns"]) / 1e6
			ca = (C["allin_ns"] - C["start_ns"]) / 1e6; la = (L["last_install_realtime_ns"] - L["start_ns"]) / 1e6
			printf "| %s | %.0f / %.0f = %.3f | %d / %d = %.3f | %.0f / %.0f = %.3f | %.0f / %.0f = %.3f | %.0f |\n", d, ld, cd, ld / cd, L["bytes_before_resume"], C["bytes_before_resume"], L["bytes_before_resume"] / C["bytes_before_resume"], la, ca, la / ca, (L["last_ns"] - L["start_ns"]) / 1e6, (C["last_ns"] - C["start_ns"]) / 1e6, (L["last_ns"] - L["start_ns"]) / (C["last_ns"] - C["start_ns"]), (C["dumped_ns"] - C["start_ns"]) / 1e6 }' >>\$OUT.criu
	done
done
if [ -s \$OUT.criu ]; then
	{
	echo
	echo "lazymig ÷ CRIU 3.17.1 lazy pages, same workload ($SHAPE) and veth pair, in the guest; times from the start of \\\`send\\\` / \\\`criu dump\\\`, resume as the workload itself sees it:"
	echo
	echo "| netem | start → resume ms, lazymig / CRIU | bytes before resume | start → all pages in ms | start → workload verified all ms | CRIU: dump until page server up ms |"
	echo "|---|---|---|---|---|---|"
	cat \$OUT.criu
	} >>\$OUT
fi
echo "@@RESULTS-BEGIN@@"; cat \$OUT; echo "@@RESULTS-END@@"
IN
LOG=/tmp/lazymig-vm.last.log	# kept: the whole console
rc=0
qemu-test/run --timeout "$TIMEOUT" --modules crc32c_generic,libcrc32c,nfnetlink,nf_tables \
	-- "$V/bash" "$V/inside.sh" >"$LOG" 2>&1 || rc=$?
grep '^vm: ' "$LOG" >&2 || true
if ! grep -q '@@RESULTS-END@@' "$LOG"; then
	tail -n 30 "$LOG" >&2
	echo "bench/vm.sh: the guest gave no results (exit $rc)" >&2
	exit 1
fi
{
	echo
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`bench/vm.sh $ARGS\` (guest: Debian 6.1 under QEMU TCG, 2 vCPUs, 2 GiB; host $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
	sed -n '/@@RESULTS-BEGIN@@/,/@@RESULTS-END@@/p' "$LOG" | sed '1d;$d' | tr -d '\r'  | sed 's/^## /### /'
} >>bench/RESULTS.md
tail -n 40 bench/RESULTS.md
