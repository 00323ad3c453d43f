#!/usr/bin/env bash
# Installs what is missing (Debian 12, root), builds, and runs the exporter in the foreground
# with its built-in default config on :9798. Extra arguments are passed to the exporter.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DSOCKSTATE_BUILD_TESTS=OFF -DSOCKSTATE_BUILD_BENCH=OFF
exec build/exporter/sockstate_exporter "$@"
