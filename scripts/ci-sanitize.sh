#!/usr/bin/env bash
# CI: build everything with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ and run
# the unit, fuzz (corpus replay) and kernel tiers there. Kernel tests need root and `ip netns`.
#   scripts/ci-sanitize.sh [extra ctest args]     (JOBS=N to change build parallelism)
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SOCKSTATE_ASAN_BUILD_DIR:-$src/build-asan}"
jobs="${JOBS:-$(nproc)}"

# Fail on the first finding, with stacks; leaks are findings too. civetweb and OpenSSL are
# loaded from the system and not instrumented, which ASan handles.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

start=$(date +%s)
cmake -S "$src" -B "$build" -DSOCKSTATE_SANITIZE=ON -DSOCKSTATE_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$jobs"
built=$(date +%s)
cd "$build"
rc=0
ctest -L 'unit|fuzz|kernel' --output-on-failure --timeout 600 "$@" || rc=$?
end=$(date +%s)
echo "ci-sanitize: build $((built - start)) s, tests $((end - built)) s, exit $rc"
exit "$rc"
