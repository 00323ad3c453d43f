#!/usr/bin/env bash
# Builds the Debian package: sockstate-exporter_<version>-1_<arch>.deb.
#   scripts/build-deb.sh [BUILD_DIR]     (default: build-deb in the repository root)
#   scripts/build-deb.sh --tree DIR      (package an existing Release tree with prefix /usr)
# The first form configures a Release tree with prefix /usr (no tests, no benchmarks), builds
# the binary, the TLS compat libraries and the man page, and runs CPack. The second packages a
# tree that is already configured that way, whatever else it builds: scripts/test.sh builds one
# Release tree with the tests and packages the very binaries the tests ran against. Needs the
# build dependencies plus dpkg-dev and file (dpkg-shlibdeps): scripts/install-deps.sh --test
# installs them. Prints the path of the .deb as its last line.
set -euo pipefail
src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${SOCKSTATE_BUILD_JOBS:-$(nproc)}
for tool in cmake cpack dpkg-shlibdeps file; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-deb: $tool not found (scripts/install-deps.sh --test)" >&2; exit 1; }
done
if [[ "${1:-}" == --tree ]]; then
  build_dir=${2:?build-deb: --tree needs a build directory}
  cache=$build_dir/CMakeCache.txt
  [[ -f "$cache" ]] || { echo "build-deb: $build_dir is not a configured build tree" >&2; exit 1; }
  grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$cache" \
    || { echo "build-deb: $build_dir is not a Release tree (CMAKE_BUILD_TYPE)" >&2; exit 1; }
  grep -qx 'CMAKE_INSTALL_PREFIX:PATH=/usr' "$cache" \
    || { echo "build-deb: $build_dir does not have CMAKE_INSTALL_PREFIX=/usr" >&2; exit 1; }
else
  build_dir=${1:-$src_dir/build-deb}
  launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$src_dir" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DSOCKSTATE_BUILD_TESTS=OFF -DSOCKSTATE_BUILD_BENCH=OFF "${launcher[@]}" >&2
fi
cmake --build "$build_dir" -j"$jobs" >&2
rm -f "$build_dir"/*.deb
(cd "$build_dir" && cpack -G DEB >&2)
debs=("$build_dir"/*.deb)
[[ ${#debs[@]} == 1 && -f "${debs[0]}" ]] || { echo "build-deb: expected one .deb in $build_dir" >&2; exit 1; }
echo "${debs[0]}"
