#!/usr/bin/env bash
# Tier "layers": the include rule of docs/architecture.md ("includes only go down the layers")
# holds for every file of exporter/, and the layer table names exactly the folders there.
set -euo pipefail
src="${SOCKSTATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
command -v python3 >/dev/null || { echo "tier layers cannot run: python3 missing"; exit 1; }
python3 "$src/tests/layers/check_layers.py" "$src"
