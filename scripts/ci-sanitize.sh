#!/usr/bin/env bash
# CI: build the tests with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ and run
# the unit, fuzz (corpus replay) and kernel tiers there. Kernel tests need root and `ip netns`.
#   scripts/ci-sanitize.sh [extra gtest args, e.g. --gtest_filter=...]   (JOBS=N: build jobs)
# -O1 -g1: ASan's advice is -O1; line tables (-g1) are all its stacks need, and full debug info
# makes the compile ~30% slower (what dominates a CI compile is code generation). Each gtest
# binary runs once, in one process (an ASan process start costs ~0.3 s, times ~370 tests when
# CTest starts one per test); CTest replays the fuzz corpora.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SOCKSTATE_ASAN_BUILD_DIR:-$src/build-asan}"
jobs="${JOBS:-$(nproc)}"

# Fail on the first finding, with stacks; leaks are findings too. civetweb and OpenSSL are
# loaded from the system and not instrumented, which ASan handles.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

start=$(date +%s)
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$src" -B "$build" -DSOCKSTATE_SANITIZE=ON -DSOCKSTATE_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=None -DCMAKE_C_FLAGS="-O1 -g1" -DCMAKE_CXX_FLAGS="-O1 -g1" "${launcher[@]}" \
  >/dev/null
cmake --build "$build" -j"$jobs"
built=$(date +%s)
cd "$build"
rc=0
# The TIME_WAIT expiry test only waits (60 s of the kernel's timer); its code paths run in the
# other tracker tests here, and the Release tier runs it: not twice.
default_filter=()
(($# == 0)) && default_filter=(--gtest_filter=-TrackerKernelTest.TimeWaitExpiryDropsTheCountsExactly)
for bin in tests/unit_tests tests/kernel_tests; do
  echo "=== ASan: $bin"
  t0=$(date +%s)
  args=("$@")
  [[ $bin == tests/kernel_tests ]] && args+=("${default_filter[@]}")
  "./$bin" --gtest_brief=1 "${args[@]}" || { echo "ci-sanitize: $bin failed" >&2; rc=1; }
  echo "ci-sanitize: $bin $(($(date +%s) - t0)) s"
done
echo "=== ASan: fuzz corpus replay"
ctest -L fuzz --output-on-failure --timeout 600 || rc=1
end=$(date +%s)
echo "ci-sanitize: build $((built - start)) s, tests $((end - built)) s, exit $rc"
exit "$rc"
