#!/usr/bin/env bash
# Installs what is missing (Debian 12, root), builds, and runs every test tier:
#   unit, fuzz corpus replay, kernel (real sockets in namespaces the tests create), e2e (golden
#   file, source failures), rules (promtool), dashboards, chain (live Prometheus ->
#   Alertmanager), fleet (30 exporters, Prometheus, VictoriaMetrics), deploy (Kubernetes
#   manifests), docs, page, security, package (the .deb on a
#   fresh Debian root) and container (buildah image), and the unit/fuzz/kernel tiers again under
#   ASan+UBSan. A tier that cannot run fails and says why.
# One Release tree holds the tests and the Debian package's binaries (scripts/build-deb.sh
# --tree): the package tier installs that .deb and the container tier builds the image from it. The container tier's base image (debootstrap) is
# made in the background while the code compiles. Each phase prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
# This is the CI entry (.ci/run runs it): with CI set, a kernel test whose requirement (root,
# kernel BTF, conntrack, nft, ...) is missing fails instead of being skipped
# (tests/common/requirements.h). A CI value set by the caller is kept (CI=0 opts out).
export CI="${CI-1}"
t0=$(date +%s)
phases=()
phase() {  # name, command...
  local name=$1 t
  shift
  t=$(date +%s)
  echo "=== $name"
  "$@"
  phases+=("$(printf '%-34s %5ss' "$name" "$(($(date +%s) - t))")")
}
summary() {
  local rc=$?
  ((${#phases[@]})) && { echo "=== phases"; printf '  %s\n' "${phases[@]}"; }
  echo "=== total $(($(date +%s) - t0)) s, exit $rc"
}
trap summary EXIT

phase "install dependencies" scripts/install-deps.sh --test

mkdir -p build
base_log=$PWD/build/prepare-base.log
echo "=== container base image (background, log: $base_log)"
tests/container/test_container.sh --prepare-base >"$base_log" 2>&1 &
base_pid=$!

# Release with prefix /usr: the tiers test the very binaries the package ships (build-deb --tree).
phase "build (Release, tests)" scripts/build.sh -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/usr -DSOCKSTATE_BUILD_TESTS=ON -DSOCKSTATE_BUILD_BENCH=ON
deb_out=$(mktemp)
phase "package the tested tree (.deb)" bash -c "scripts/build-deb.sh --tree build >'$deb_out'"
SOCKSTATE_DEB=$(realpath "$(tail -1 "$deb_out")")  # absolute: ctest runs tiers in build/
rm -f "$deb_out"
export SOCKSTATE_DEB
phase "sanitizer build + unit, fuzz, kernel (ASan+UBSan)" scripts/ci-sanitize.sh

base_rc=0
wait "$base_pid" || base_rc=$?
# Not fatal here: the container tier makes the base again and fails there, saying why.
((base_rc == 0)) || { echo "container base image failed in the background (rc=$base_rc):"; tail -20 "$base_log"; }

phase "all tiers" ctest --test-dir build --output-on-failure --timeout 900
