#!/usr/bin/env bash
# Generates deploy/kubernetes/configmap.yaml: the ConfigMap the DaemonSet mounts at
# /etc/sockstate, carrying config/sockstate.yml verbatim. The configuration is written once,
# in config/; tests/deploy/test_manifests.sh fails when this file is stale.
#
#   scripts/gen-configmap.sh > deploy/kubernetes/configmap.yaml
#   scripts/gen-configmap.sh --config FILE    (read another config file)
# Without config/sockstate.yml the ConfigMap holds a comment-only file (= built-in defaults).
set -euo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=${SOCKSTATE_SOURCE_DIR:-$(cd "$script_dir/.." && pwd)}
config=$src_dir/config/sockstate.yml
while (($#)); do
  case $1 in
    --config) config=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "gen-configmap: unknown argument $1" >&2; exit 2 ;;
  esac
done
python3 -c 'import yaml' 2>/dev/null \
  || { echo "gen-configmap: python3 PyYAML missing (apt-get install python3-yaml)" >&2; exit 1; }
exec python3 "$script_dir/kube_gen.py" configmap "$config"
