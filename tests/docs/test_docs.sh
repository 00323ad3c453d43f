#!/usr/bin/env bash
# Tier "docs": every relative link of README.md and docs/*.md resolves (file and heading
# anchor), every flag of --help is in docs/configuration.md, the README stays a front page
# (starts with the two commands, under 20 KB: the reference lives in docs/), and nothing
# points outside the repository. The alerts'
# runbook_url anchors are checked against docs/runbook.md by tests/rules (lint_rules.py); this
# tier proves that check fails on a missing anchor.
# Run by ctest (SOCKSTATE_SOURCE_DIR=<repo root>) or by hand: bash tests/docs/test_docs.sh
set -euo pipefail

src="${SOCKSTATE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$src"
fail() { echo "test_docs: FAIL: $*" >&2; exit 1; }
command -v python3 >/dev/null || fail "tier docs cannot run: python3 not found; run scripts/install-deps.sh --test"
python3 -c 'import yaml' 2>/dev/null || fail "tier docs cannot run: python3-yaml not found; run scripts/install-deps.sh --test"

echo "== the checker finds what it must find (broken file, broken anchor, link out of the repo)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/docs"
printf '# T\n\n## A heading, with `code` + punctuation\n\n[ok](#a-heading-with-code--punctuation) [ok2](docs/b.md#b-one)\n' >"$tmp/README.md"
printf '# B one\n\n[back](../README.md#t)\n' >"$tmp/docs/b.md"
python3 tests/docs/check_links.py "$tmp" >/dev/null || fail "checker rejects valid links"
printf '[gone](missing.md) [bad](b.md#nope) [out](../../etc/passwd)\n' >>"$tmp/docs/b.md"
out=$(python3 tests/docs/check_links.py "$tmp") && fail "checker accepted broken links"
for want in "docs/b.md:4: link missing.md: docs/missing.md does not exist" \
            "docs/b.md:4: link b.md#nope: no heading #nope in docs/b.md" \
            "docs/b.md:4: link ../../etc/passwd leaves the repository"; do
  grep -qxF "$want" <<<"$out" || fail "checker did not report: $want (got: $out)"
done

echo "== the runbook_url check (tests/rules/lint_rules.py) rejects an anchor docs/runbook.md lacks"
mkdir -p "$tmp/rb/docs"
printf '# Runbook\n\n## SockstateKnown\n' >"$tmp/rb/docs/runbook.md"
cp docs/metrics-spec.md "$tmp/rb/docs/"
cat >"$tmp/rb/rules.yml" <<'YML'
groups:
  - name: t
    rules:
      - alert: SockstateKnown
        expr: sockstate_build_info == 2
        for: 1m
        labels: {severity: warning}
        annotations: {summary: s, description: "$labels.instance $value", runbook_url: "https://github.com/sockstate/sockstate_exporter/blob/main/docs/runbook.md#sockstateknown"}
      - alert: SockstateMissing
        expr: sockstate_build_info == 3
        for: 1m
        labels: {severity: warning}
        annotations: {summary: s, description: "$labels.instance $value", runbook_url: "https://github.com/sockstate/sockstate_exporter/blob/main/docs/runbook.md#sockstatemissing"}
YML
printf 'tests: []\n' >"$tmp/rb/t.yml"
lint=$(python3 tests/rules/lint_rules.py "$tmp/rb" "$tmp/rb/rules.yml" -- "$tmp/rb/t.yml" 2>&1) &&
  fail "lint_rules accepted a runbook_url anchor that docs/runbook.md lacks"
grep -qF "alert SockstateMissing: docs/runbook.md has no heading 'SockstateMissing' for the runbook_url anchor" <<<"$lint" ||
  fail "lint_rules did not report the missing anchor: $lint"
if grep -q "alert SockstateKnown: docs/runbook.md has no heading" <<<"$lint"; then
  fail "lint_rules rejected an anchor that exists: $lint"
fi

echo "== every relative link of README.md and docs/*.md resolves"
python3 tests/docs/check_links.py "$src" || fail "broken links (above)"

echo "== README.md starts with the two commands"
[[ "$(sed -n 3,6p README.md)" == '```sh
sudo scripts/run.sh    # install what is missing, build, run the exporter on :9798 with built-in defaults
sudo scripts/test.sh   # install what is missing, build, run every test tier (this is what CI runs)
```' ]] || fail "README.md no longer starts with the run and test commands"

echo "== README.md is a front page: under 20 KB, the reference lives in docs/"
size=$(wc -c <README.md)
((size < 20000)) || fail "README.md is $size bytes (limit 20000): move reference material to docs/"
echo "README.md: $size bytes"

echo "== every flag of --help is in docs/configuration.md"
bin="${SOCKSTATE_EXPORTER_BIN:-$src/build/exporter/sockstate_exporter}"
[[ -x "$bin" ]] || fail "no exporter binary at $bin to read --help from (build it first)"
flags=$("$bin" --help | grep -oE '^[[:space:]]+--[a-z0-9.-]+' | tr -d ' ' | sort -u)
[[ -n "$flags" ]] || fail "--help lists no flags"
for f in $flags; do
  grep -qF -- "\`$f\`" docs/configuration.md || fail "flag $f is not documented in docs/configuration.md"
done
echo "$(wc -w <<<"$flags") flags documented"

echo "== nothing points outside the repository (../shared, absolute /work paths)"
if grep -nE '\.\./shared/|/work/' README.md docs/*.md; then
  fail "documentation points at files users do not have (above)"
fi

echo "== code comments say what, not which ticket (no issue numbers in sources, scripts, CMake)"
if grep -rnE --include='*.cpp' --include='*.h' --include='*.c' --include='*.sh' --include='*.py' \
    --include='CMakeLists.txt' --include='*.cmake' '[Ii]ssue #?[0-9]+|\(#[0-9]+\)' \
    CMakeLists.txt cmake bench exporter fuzz scripts tests | grep -v 'civetweb'; then
  fail "a comment names a ticket instead of saying what it means (above; upstream references like civetweb#1334 are fine)"
fi

echo "test_docs: PASS"
