#!/usr/bin/env bash
# Tier "security": abuse on loopback, bounded in time (tests/security/abuse.py): idle connections,
# concurrent scrapers (200 or quick 503, flat RSS), up to 10,000 sequential scrapes (150 s)
# without fd or memory leaks. As root it runs in a fresh network namespace (unshare -n): the
# dump is then of an empty namespace, so timings do not depend on the host's sockets.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $(id -u) -eq 0 ]] && unshare -n true 2>/dev/null; then
  note "running in a fresh network namespace"
  unshare -n bash -c 'ip link set lo up && exec python3 "$@"' _ \
    "$src/tests/security/abuse.py" "$bin" "$work"
else
  note "not root: running in the current network namespace"
  python3 "$src/tests/security/abuse.py" "$bin" "$work"
fi
