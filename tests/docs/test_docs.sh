#!/usr/bin/env bash
# Tier "docs": every relative link of README.md and docs/*.md resolves (file and heading
# anchor), the README stays a front page (starts with the two commands, under 16 KB once the
# reference lives in docs/), and nothing points outside the repository. The alerts'
# runbook_url anchors are checked against docs/runbook.md by tests/rules (lint_rules.py).
# Run by ctest (SOCKSTATE_SOURCE_DIR=<repo root>) or by hand: bash tests/docs/test_docs.sh
set -euo pipefail

src="${SOCKSTATE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$src"
fail() { echo "test_docs: FAIL: $*" >&2; exit 1; }
command -v python3 >/dev/null || fail "tier docs cannot run: python3 not found; run scripts/install-deps.sh --test"

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

echo "== every relative link of README.md and docs/*.md resolves"
python3 tests/docs/check_links.py "$src" || fail "broken links (above)"

echo "== README.md starts with the two commands"
[[ "$(sed -n 3,6p README.md)" == '```sh
sudo scripts/run.sh    # install what is missing, build, run the exporter on :9798 with built-in defaults
sudo scripts/test.sh   # install what is missing, build, run every test tier (this is what CI runs)
```' ]] || fail "README.md no longer starts with the run and test commands"

echo "== README.md is a front page: under 16 KB (the Security section counts until it moves to docs/)"
size=$(wc -c <README.md)
limit=16000
if grep -q '^## Security$' README.md; then
  limit=$((16000 + $(sed -n '/^## Security$/,/^## [^S]/p' README.md | wc -c)))
fi
((size < limit)) || fail "README.md is $size bytes (limit $limit): move reference material to docs/"
echo "README.md: $size bytes"

echo "== nothing points outside the repository (../shared, absolute /work paths)"
if grep -nE '\.\./shared/|/work/' README.md docs/*.md; then
  fail "documentation points at files users do not have (above)"
fi

echo "test_docs: PASS"
