#!/usr/bin/env bash
# Tier "structure": the rules of docs/architecture.md that a script can check.
#  - includes only go down the layers (check_layers.py reads the layer table of architecture.md);
#  - metric names are declared once, in exporter/metrics/names.h, and match
#    docs/metrics-spec.md (check_metric_names.py).
set -euo pipefail
src="${SOCKSTATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
command -v python3 >/dev/null || { echo "tier structure cannot run: python3 missing"; exit 1; }
rc=0
python3 "$src/tests/structure/check_layers.py" "$src" || rc=1
python3 "$src/tests/structure/check_metric_names.py" "$src" || rc=1
exit $rc
