#!/usr/bin/env bash
# Reduces every corpus in fuzz/corpus/ to the fewest seeds that keep its coverage (libFuzzer
# -set_cover_merge=1), with no seed in two corpora, and prints each target's coverage (edges /
# features, as libFuzzer counts them on loading the corpus) before and after.
#
#   fuzz/minimize_corpora.sh [--extra DIR] <libFuzzer build dir> [fuzz_<name> ...]
#
# The build dir is a clang build with -DSOCKSTATE_LIBFUZZER=ON (fuzz/README.md); default
# targets: all, alphabetically. --extra DIR: DIR/fuzz_<name>/ holds more candidate inputs for
# that target (e.g. the corpus of a longer libFuzzer run). Targets are taken in order; a seed
# an earlier target kept is not offered to a later one, whose merge then picks another input
# for those features if one exists (the coverage columns show whether it did). Seeds named
# regress_* are always kept (they pin a fixed bug, not just coverage); kept seeds keep their
# file names; empty files are dropped (libFuzzer and replay_main.cpp always run the empty
# input). Where the set cover needs more than 60 seeds (the README's limit), a capped greedy
# cover of libFuzzer's per-input features keeps every edge and as many features as 60 seeds
# hold (column "merge": counters or capped). Rewrites
# fuzz/corpus/<target>/ in place: review with `git status fuzz/corpus` and check_corpora.py.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXTRA=""
if [[ ${1:-} == --extra ]]; then EXTRA=$(cd "$2" && pwd); shift 2; fi
[[ $# -ge 1 && -d $1/fuzz ]] || { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
BUILD=$(cd "$1" && pwd)
shift
if [[ $# -gt 0 ]]; then targets=("$@"); else
  mapfile -t targets < <(cd "$ROOT/fuzz" && ls fuzz_*.cpp | sed 's/\.cpp$//' | sort)
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MAX_SEEDS=60  # fuzz/README.md
declare -A claimed  # sha256 of every seed kept so far -> its target

# coverage <target> <dir>: "<edges> <features> <files>" after loading dir (libFuzzer's INITED).
coverage() {
  local line
  line=$("$BUILD/fuzz/$1" -runs=0 -rss_limit_mb=2048 "$2" 2>&1 | grep -m1 'INITED' || true)
  [[ -n $line ]] || { echo "$1: libFuzzer printed no INITED line for $2" >&2; exit 1; }
  echo "$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$line") $(sed -E 's/.*ft: ([0-9]+).*/\1/' <<<"$line") $(find "$2" -type f | wc -l)"
}

# offer_variants <file> <dir>: a seed an earlier target kept is offered in variants (a space or
# newline appended or prepended) that no target kept, so its features can still be covered.
offer_variants() {
  local v i
  for i in 1 2 3 4; do
    v=$TMP/variant
    case $i in
      1) { cat "$1"; printf ' '; } >"$v" ;;
      2) { cat "$1"; printf '\n'; } >"$v" ;;
      3) { printf ' '; cat "$1"; } >"$v" ;;
      4) { printf '\n'; cat "$1"; } >"$v" ;;
    esac
    [[ -z ${claimed[$(sha256sum "$v" | cut -d' ' -f1)]:-} ]] || continue
    local s1
    s1=$(sha1sum "$v" | cut -d' ' -f1)
    name_of[$s1]=${name_of[$s1]:-variant-${s1:0:16}}
    mv "$v" "$2/$s1"
  done
}
# capped_cover <target> <out dir> <candidate dir>: when the set cover needs more than MAX_SEEDS
# seeds (every hit-count bucket of every loop is a feature), a greedy cover of libFuzzer's own
# per-input features (its merge control file), capped: first every edge (COV), then the most
# new features (FT) per seed until MAX_SEEDS. Copies the chosen candidates into <out dir>.
capped_cover() {
  local ctl=$TMP/$1/control
  cp -r "$2" "$TMP/$1/scratch"  # the seeds kept as they are: libFuzzer's "first corpus"
  "$BUILD/fuzz/$1" -merge=1 -merge_control_file="$ctl" -rss_limit_mb=2048 "$TMP/$1/scratch" \
    "$3" >"$TMP/$1/control.log" 2>&1 || { tail -20 "$TMP/$1/control.log" >&2; exit 1; }
  python3 - "$ctl" "$MAX_SEEDS" <<'PY' | while IFS= read -r f; do cp "$f" "$2/"; done
import os, sys
lines = open(sys.argv[1]).read().splitlines()
n, first, cap = int(lines[0]), int(lines[1]), int(sys.argv[2])
paths = lines[2:2 + n]
ft, cov = {}, {}
for line in lines[2 + n:]:
    kind, idx, *rest = line.split()
    if kind in ("FT", "COV"):
        (ft if kind == "FT" else cov)[int(idx)] = set(map(int, rest))
have_ft, have_cov = set(), set()
for i in range(first):  # the seeds kept as they are (regress_*)
    have_ft |= ft.get(i, set()); have_cov |= cov.get(i, set())
left = [i for i in range(first, n) if i in ft]
chosen = []
for key in ("cov", "ft"):
    while len(chosen) + first < cap:
        gain = lambda i: len((cov if key == "cov" else ft)[i] - (have_cov if key == "cov" else have_ft))
        best = max(left, key=lambda i: (gain(i), -os.path.getsize(paths[i])), default=None)
        if best is None or gain(best) == 0:
            break
        chosen.append(best); left.remove(best)
        have_ft |= ft[best]; have_cov |= cov.get(best, set())
for i in chosen:
    print(paths[i])
PY
}
# bytes <dir>: the sum of its files' sizes.
bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

printf '| target | seeds before -> after | bytes before -> after | edges before -> after | features before -> after | merge |\n'
printf '|---|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
  corpus=$ROOT/fuzz/corpus/$t
  [[ -x $BUILD/fuzz/$t && -d $corpus ]] || { echo "$t: no binary in $BUILD/fuzz or no $corpus" >&2; exit 1; }
  read -r e0 f0 n0 < <(coverage "$t" "$corpus")
  b0=$(bytes "$corpus")
  mkdir -p "$TMP/$t/cand" "$TMP/$t/out"
  declare -A name_of=()  # sha1 (libFuzzer's output name) -> original file name
  for f in "$corpus"/* ${EXTRA:+"$EXTRA/$t"/*}; do
    [[ -f $f && -s $f ]] || continue
    h=$(sha256sum "$f" | cut -d' ' -f1)
    if [[ -n ${claimed[$h]:-} ]]; then
      offer_variants "$f" "$TMP/$t/cand"
      continue
    fi
    s1=$(sha1sum "$f" | cut -d' ' -f1)
    [[ -z ${name_of[$s1]:-} ]] || continue  # the same bytes twice in this target
    if [[ $f == "$corpus"/* ]]; then name_of[$s1]=$(basename "$f"); else name_of[$s1]=fuzz-${s1:0:16}; fi
    if [[ $(basename "$f") == regress_* ]]; then cp "$f" "$TMP/$t/out/"; else cp "$f" "$TMP/$t/cand/$s1"; fi
  done
  cp -r "$TMP/$t/out" "$TMP/$t/regress"
  mode=counters
  "$BUILD/fuzz/$t" -set_cover_merge=1 -rss_limit_mb=2048 "$TMP/$t/out" "$TMP/$t/cand" \
    >"$TMP/$t/merge.log" 2>&1 || { tail -20 "$TMP/$t/merge.log" >&2; exit 1; }
  if (($(find "$TMP/$t/out" -type f | wc -l) > MAX_SEEDS)); then
    mode=capped
    rm -rf "$TMP/$t/out" && cp -r "$TMP/$t/regress" "$TMP/$t/out"
    capped_cover "$t" "$TMP/$t/out" "$TMP/$t/cand"
  fi
  rm -f "$corpus"/*
  for f in "$TMP/$t/out"/*; do
    [[ -e $f ]] || continue
    cp "$f" "$corpus/${name_of[$(basename "$f")]:-$(basename "$f")}"
    claimed[$(sha256sum "$f" | cut -d' ' -f1)]=$t
  done
  read -r e1 f1 n1 < <(coverage "$t" "$corpus")
  printf '| `%s` | %d -> %d | %d -> %d | %d -> %d | %d -> %d | %s |\n' "$t" "$n0" "$n1" "$b0" \
    "$(bytes "$corpus")" "$e0" "$e1" "$f0" "$f1" "$mode"
done
