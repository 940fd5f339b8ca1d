#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: a real lazy migration of the demo workload between two
# network namespaces, printing its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j"$(nproc)" tool selftests >/dev/null
exec bench/demo.sh "$@"
