#!/usr/bin/env bash
# Installs what is missing (Debian 12, root), builds, and runs every test tier:
#   unit, fuzz corpus replay, kernel (real sockets in namespaces the tests create), e2e (golden
#   file, source failures), rules (promtool), dashboards, chain (live Prometheus ->
#   Alertmanager), deploy (Kubernetes manifests), security, container (buildah image), and the
#   whole unit/fuzz/kernel suite again under ASan+UBSan. A tier that cannot run fails and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh -DSOCKSTATE_BUILD_TESTS=ON -DSOCKSTATE_BUILD_BENCH=ON
if [[ -x scripts/ci-sanitize.sh ]]; then
  echo "=== sanitizer build (ASan + UBSan): unit, fuzz replay, kernel ==="
  scripts/ci-sanitize.sh
fi
echo "=== all tiers ==="
ctest --test-dir build --output-on-failure --timeout 900
