# Shared by the page tier's scripts (sourced): a network namespace of our own holding the known
# socket population of population.py, removed on exit. Loopback only.
#   page_setup NAME   -> sets $ns, $tmp, $here, $exporter, $src; population ready in $tmp/pop.json
#                        and running in the cgroup v2 group $cgroup ($cgroup_root + $cgroup)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${SOCKSTATE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
exporter="${SOCKSTATE_EXPORTER_BIN:-$src/build/exporter/sockstate_exporter}"
ns=""
tmp=""
cgroup=""
cgroup_root=""
pids=()

fail() { echo "$(basename "$0"): FAIL: $*" >&2; exit 1; }

page_cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  [[ -n "$ns" ]] && ip netns del "$ns" 2>/dev/null || true
  [[ -n "$cgroup" ]] && rmdir "$cgroup_root$cgroup" 2>/dev/null || true
  [[ -n "$tmp" && "${SOCKSTATE_KEEP_TMP:-0}" != 1 ]] && rm -rf "$tmp" || true
}

page_setup() {
  [[ $EUID -eq 0 ]] || fail "needs root (ip netns add); run as root"
  [[ -x "$exporter" ]] || fail "no exporter binary at $exporter (build it: cmake --build build)"
  command -v python3 >/dev/null || fail "python3 missing; run scripts/install-deps.sh --test"
  ns="sst-$1-$$"
  tmp=$(mktemp -d)
  trap page_cleanup EXIT
  ip netns add "$ns" || fail "ip netns add $ns"
  ip netns exec "$ns" ip link set lo up || fail "loopback up in $ns"
  # The population runs in a cgroup of its own: the workload that holds its ports.
  cgroup_root=$(findmnt -n -t cgroup2 -o TARGET | head -1)
  [[ -n "$cgroup_root" ]] || fail "no cgroup v2 hierarchy mounted (findmnt -t cgroup2)"
  cgroup="/sst-$1-$$"
  mkdir "$cgroup_root$cgroup" || fail "mkdir $cgroup_root$cgroup"
  sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cgroup_root$cgroup" \
    ip netns exec "$ns" timeout 300 python3 "$here/population.py" --ready-file "$tmp/pop.json" \
    --max-seconds 240 &
  pids+=($!)
  for _ in $(seq 300); do
    [[ -s "$tmp/pop.json" ]] && break
    kill -0 "${pids[-1]}" 2>/dev/null || fail "population.py exited before it was ready"
    sleep 0.1
  done
  [[ -s "$tmp/pop.json" ]] || fail "population not ready within 30 s"
}

# Seconds since the population's TIME_WAIT sockets were made (they expire at 60).
page_tw_age() {
  python3 -c 'import json,sys,time; print(int(time.time() - json.load(open(sys.argv[1]))["time_wait_since"]))' "$tmp/pop.json"
}
