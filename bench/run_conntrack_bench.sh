#!/usr/bin/env bash
# Conntrack scenario of the benchmark (docs/nat.md, "Performance"). Root.
#
#   sudo bench/run_conntrack_bench.sh [--sizes 100000,1000000] [--runs 7] [--build-dir DIR]
#
# conntrack_bench works in a network namespace of its own (its entries vanish with it), but
# nf_conntrack_max is host-wide: it is raised to 1.1 x the largest size for the run and restored
# on exit (Ctrl-C included). Kernel memory: about 320 bytes per entry (1M: ~320 MB).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
sizes=100000,1000000
runs=7
while [[ $# -gt 0 ]]; do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    *) echo "usage: $0 [--sizes N,N] [--runs R] [--build-dir DIR]" >&2; exit 2 ;;
  esac
done
bin=$build/bench/conntrack_bench
[[ -x $bin ]] || { echo "build it first: cmake --build $build --target conntrack_bench" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "needs root" >&2; exit 1; }
max_file=/proc/sys/net/netfilter/nf_conntrack_max
old_max=$(cat $max_file)
largest=$(tr ',' '\n' <<<"$sizes" | sort -n | tail -1)
want=$((largest + largest / 10))
restore() { echo "$old_max" > $max_file; }
trap restore EXIT
((want > old_max)) && echo "$want" > $max_file
echo "# conntrack bench $(date -u +%FT%TZ), kernel $(uname -r), $(nproc) CPUs, commit $(git -C "$root" rev-parse --short HEAD)"
"$bin" --sizes "$sizes" --runs "$runs"
