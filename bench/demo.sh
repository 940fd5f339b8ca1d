#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Until the migration engine lands, the demo runs the one real step that
# exists: the userfaultfd probe and missing-fault round trip that the
# lazy-pages daemon is built on.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: lazy migration is not implemented yet; running the uffd probe"
build/selftests/run.sh host uffd_probe
