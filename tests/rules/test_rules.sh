#!/usr/bin/env bash
# Tier "rules": Prometheus rules, their unit tests, and the example Prometheus/Alertmanager
# configs. Run by ctest (SOCKSTATE_SOURCE_DIR=<repo root>) or by hand: bash tests/rules/test_rules.sh
set -euo pipefail

src="${SOCKSTATE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$src"

fail() { echo "test_rules: FAIL: $*" >&2; exit 1; }
for tool in promtool amtool python3 vmalert; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "tier rules cannot run: $tool not found; run scripts/install-deps.sh --test"
done
python3 -c 'import yaml' 2>/dev/null ||
  fail "tier rules cannot run: python3-yaml not found; run scripts/install-deps.sh --test"

# Every rules file under config/: a YAML file with a top-level "groups:" key.
mapfile -t rule_files < <(grep -rlE '^groups:' config --include='*.yml' --include='*.yaml' | sort)
((${#rule_files[@]})) || fail "no rule files (top-level 'groups:') found under config/"
shopt -s nullglob
test_files=(tests/rules/*_test.yml)
((${#test_files[@]})) || fail "no tests/rules/*_test.yml"

echo "== promtool check rules ${rule_files[*]}"
promtool check rules "${rule_files[@]}" || fail "promtool check rules"

echo "== promtool test rules ${test_files[*]}"
promtool test rules "${test_files[@]}" || fail "promtool test rules"

echo "== lint (labels, annotations, runbook anchors, metric names, test coverage)"
python3 tests/rules/lint_rules.py "$src" "${rule_files[@]}" -- "${test_files[@]}" || fail "rule lint"

# VictoriaMetrics' vmalert (Debian's victoria-metrics) parses every rules file: MetricsQL
# expressions and annotation templates. Debian 12's vmalert 1.79 does not know keep_firing_for
# (docs/fleet.md): the copy it checks has those lines removed, nothing else.
echo "== vmalert -dryRun (rules without keep_firing_for)"
mkdir -p "${TMPDIR:-/tmp}/sst-rules-$$"
trap 'rm -rf "${TMPDIR:-/tmp}/sst-rules-$$"' EXIT
for rf in "${rule_files[@]}"; do
  out="${TMPDIR:-/tmp}/sst-rules-$$/$(basename "$rf")"
  grep -v '^ *keep_firing_for:' "$rf" >"$out"
  vmalert -dryRun -rule="$out" >"$out.log" 2>&1 || { tail -n 3 "$out.log" >&2; fail "vmalert -dryRun $rf"; }
  echo "$rf: vmalert parses it"
done

# promtool resolves rule_files relative to the config file's directory.
echo "== promtool check config config/prometheus/prometheus.yml"
promtool check config config/prometheus/prometheus.yml || fail "promtool check config"

am=config/alertmanager/alertmanager.yml
echo "== amtool check-config $am"
amtool check-config "$am" || fail "amtool check-config"

echo "== alertmanager routing: critical pages, warning does not"
route() { amtool config routes test --config.file="$am" "$@" 2>/dev/null | tail -n1; }
[[ "$(route severity=critical alertname=SockstateEphemeralPortsOccupancyCritical instance=h:9798 destination=db:5432)" == pager ]] ||
  fail "severity=critical is not routed to the pager receiver"
[[ "$(route severity=warning alertname=SockstateEphemeralPortsOccupancyHigh instance=h:9798 destination=db:5432)" == ticket ]] ||
  fail "severity=warning is not routed to the ticket receiver"
# Every severity the rules use has a route (no alert falls through silently).
for sev in $(grep -hoE 'severity: *[a-z]+' "${rule_files[@]}" | awk '{print $2}' | sort -u); do
  r="$(route severity="$sev")"
  [[ -n "$r" ]] || fail "no receiver for severity=$sev"
  echo "severity=$sev -> $r"
done

echo "test_rules: PASS"
