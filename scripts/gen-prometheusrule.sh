#!/usr/bin/env bash
# Generates deploy/kubernetes/prometheusrule.yaml: one Prometheus Operator PrometheusRule whose
# spec.groups are the groups of every config/prometheus/*-alerts.yml and *-rules.yml (sorted by
# file name, groups in file order). The rules are written once, in config/; this file is
# derived from them and tests/deploy/test_manifests.sh fails when it is stale.
#
#   scripts/gen-prometheusrule.sh > deploy/kubernetes/prometheusrule.yaml
#   scripts/gen-prometheusrule.sh --rules-dir DIR    (read rules from DIR instead)
# Needs python3 with PyYAML (Debian: python3-yaml).
set -euo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=${SOCKSTATE_SOURCE_DIR:-$(cd "$script_dir/.." && pwd)}
rules_dir=$src_dir/config/prometheus
while (($#)); do
  case $1 in
    --rules-dir) rules_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "gen-prometheusrule: unknown argument $1" >&2; exit 2 ;;
  esac
done
python3 -c 'import yaml' 2>/dev/null \
  || { echo "gen-prometheusrule: python3 PyYAML missing (apt-get install python3-yaml)" >&2; exit 1; }
exec python3 "$script_dir/kube_gen.py" prometheusrule "$rules_dir"
