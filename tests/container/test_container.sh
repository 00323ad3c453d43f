#!/usr/bin/env bash
# Tier "container": the real Dockerfile builds and the image runs.
#
# There is no Docker engine and no registry access here, so:
#   1. a local debian:bookworm-slim base image is made with debootstrap from this machine's own
#      Debian mirror (cached as a tarball between runs) and imported into container storage;
#   2. `buildah bud --pull=never` builds the repository's Dockerfile against it;
#   3. the image runs with `podman run --network=host`; /metrics is scraped and must carry
#      sockstate_tcp_sockets{family="ipv4",state="listen"} >= 1 (its own listener), and the
#      exporter must run as uid 65534.
# The container is always removed; the base tarball, the base image and buildah's layer cache
# are kept so a warm run only recompiles.
#
# Environment (set by ctest; defaults are script-relative):
#   SOCKSTATE_SOURCE_DIR         repository root (build context)
#   SOCKSTATE_CACHE_DIR          cache for the base rootfs tarball (/var/cache/sockstate-test)
#   SOCKSTATE_STORAGE_DRIVER     force a containers/storage driver (overlay|vfs); else probed
#   SOCKSTATE_CONTAINER_TIMEOUT  overall budget in seconds (default 840)
#   SOCKSTATE_KEEP_IMAGE=0       remove the built test image at the end (default: keep)
# SOCKSTATE_EXPORTER_BIN is accepted but unused: the image compiles its own binary.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=${SOCKSTATE_SOURCE_DIR:-$(cd "$script_dir/../.." && pwd)}
cache_dir=${SOCKSTATE_CACHE_DIR:-/var/cache/sockstate-test}
budget=${SOCKSTATE_CONTAINER_TIMEOUT:-840}
base_ref=docker.io/library/debian:bookworm-slim
base_alias=localhost/debian:bookworm-slim
image_ref=localhost/sockstate_exporter:test
ctr_name=sockstate-test-$$
suite=bookworm

t_start=$(date +%s)
deadline=$((t_start + budget))

log() { printf '[container %4ss] %s\n' "$(($(date +%s) - t_start))" "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
cannot_run() {
  printf 'FAIL: tier container cannot run: %s — run scripts/install-deps.sh --test\n' "$*" >&2
  exit 1
}
remaining() {
  local r=$((deadline - $(date +%s)))
  ((r > 0)) || die "overall budget of ${budget}s exhausted"
  echo "$r"
}
# Run a step under the remaining budget and print its duration.
declare -a timings=()
step() {
  local name=$1; shift
  local t0 dt
  t0=$(date +%s)
  log "step: $name"
  # Not `"$@" || ...`: that would switch off errexit inside the step. A failing step exits the
  # script; the EXIT trap prints the timings so far.
  step_name=$name step_t0=$t0
  "$@"
  dt=$(($(date +%s) - t0))
  timings+=("$(printf '%-12s %4ss' "$name" "$dt")")
  step_name=""
  log "step: $name done in ${dt}s"
}
step_name="" step_t0=0
tmp_rootfs=""

# ---------------------------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------------------------
((EUID == 0)) || cannot_run "must run as root (debootstrap, rootful podman/buildah)"
for tool in buildah podman curl tar python3 timeout; do
  command -v "$tool" >/dev/null 2>&1 || cannot_run "$tool not found"
done
[[ -f "$src_dir/Dockerfile" ]] || die "no Dockerfile in $src_dir"
mkdir -p "$cache_dir"

# ---------------------------------------------------------------------------------------------
# Storage driver. overlay is podman's default on Debian 12; it fails when /var/lib/containers
# itself sits on overlayfs (e.g. this test running inside a container). Probe it by mounting a
# scratch working container; fall back to vfs in a separate graph root (containers/storage
# refuses to open a graph root with a driver other than the one that created it).
# ---------------------------------------------------------------------------------------------
declare -a S=()
probe_driver() {
  local wc mnt
  wc=$(timeout 60 buildah "${S[@]}" from scratch 2>/dev/null) || return 1
  mnt=$(timeout 60 buildah "${S[@]}" mount "$wc" 2>/dev/null) || { buildah "${S[@]}" rm "$wc" >/dev/null 2>&1; return 1; }
  touch "$mnt/.probe" 2>/dev/null || { buildah "${S[@]}" rm "$wc" >/dev/null 2>&1; return 1; }
  buildah "${S[@]}" rm "$wc" >/dev/null 2>&1 || true
  return 0
}
select_driver() {
  local want=${SOCKSTATE_STORAGE_DRIVER:-}
  if [[ -z "$want" || "$want" == overlay ]]; then
    S=()
    if [[ "$(podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null)" == overlay ]] && probe_driver; then
      log "storage: overlay (default graph root)"
      return 0
    fi
    [[ "$want" == overlay ]] && die "storage driver overlay requested but it does not work here"
    log "storage: overlay unusable here, falling back to vfs"
  fi
  S=(--storage-driver vfs --root "$cache_dir/storage-vfs" --runroot /run/sockstate-test/vfs)
  probe_driver || die "storage driver vfs does not work either (root $cache_dir/storage-vfs)"
  log "storage: vfs (graph root $cache_dir/storage-vfs)"
}

# ---------------------------------------------------------------------------------------------
# Step a: base image debian:bookworm-slim, made locally.
# ---------------------------------------------------------------------------------------------
# The Debian mirror this machine's apt uses, whatever its configuration format.
host_mirrors() {
  # "URI SUITE" lines for the suites apt knows (needs apt lists; `apt-get update` makes them).
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null | sort -u
}
find_mirror() {  # $1 = suite -> URI
  local uri
  uri=$(host_mirrors | awk -v s="$1" '$2 == s {print $1; exit}')
  if [[ -z "$uri" ]]; then  # no apt lists: read the sources files themselves
    uri=$(python3 - "$1" <<'PY'
import glob, re, sys
suite = sys.argv[1]
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try: lines = open(f).read().splitlines()
    except OSError: continue
    for l in lines:
        w = re.sub(r"\[[^]]*\]", "", l.split("#")[0]).split()
        if len(w) >= 3 and w[0] == "deb" and w[2] == suite:
            print(w[1]); sys.exit()
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(f).read().split("\n\n"):
        d = {}
        for l in stanza.splitlines():
            if ":" in l and not l.startswith((" ", "#")):
                k, v = l.split(":", 1); d[k.strip().lower()] = v.split()
        if "deb" in d.get("types", []) and suite in d.get("suites", []) \
                and d.get("enabled", ["yes"])[0] != "no" and d.get("uris"):
            print(d["uris"][0]); sys.exit()
PY
)
  fi
  echo "${uri%/}"
}

base_tarball=$cache_dir/$suite-slim-rootfs.tar
base_stamp=$cache_dir/$suite-slim-rootfs.mirror

make_base_tarball() {
  local mirror security rootfs
  mirror=$(find_mirror "$suite")
  [[ -n "$mirror" ]] || die "cannot find this machine's Debian mirror for $suite in /etc/apt"
  security=$(find_mirror "$suite-security")
  if [[ -f "$base_tarball" && -f "$base_stamp" && "$(cat "$base_stamp")" == "$mirror $security" ]]; then
    log "base: cached rootfs tarball $base_tarball ($(du -h "$base_tarball" | cut -f1))"
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || cannot_run "debootstrap not found"
  log "base: debootstrap --variant=minbase $suite from $mirror"
  rootfs=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
  tmp_rootfs=$rootfs
  timeout "$(remaining)" debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" \
    >"$cache_dir/debootstrap.log" 2>&1 \
    || { tail -20 "$cache_dir/debootstrap.log" >&2; die "debootstrap failed (log: $cache_dir/debootstrap.log)"; }

  # apt sources: the same mirrors as this machine (the builder stage's apt-get uses them).
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$suite" "$suite"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [[ -n "$security" ]]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$suite"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  # This machine's apt proxy settings, if any, so apt in the build reaches the mirror the same way.
  apt-config dump 2>/dev/null | grep -iE '^Acquire::[a-z]+::Proxy' >"$rootfs/etc/apt/apt.conf.d/01proxy" || true
  [[ -s "$rootfs/etc/apt/apt.conf.d/01proxy" ]] || rm -f "$rootfs/etc/apt/apt.conf.d/01proxy"

  # Slim it down the way debian:*-slim is: no docs/man/locales now or on later installs.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  chroot "$rootfs" apt-get clean
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,linda,locale}/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
    "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/var/tmp/* "$rootfs"/debootstrap
  : >"$rootfs/etc/machine-id"
  tar --numeric-owner --xattrs -C "$rootfs" -cf "$base_tarball.tmp" .
  mv "$base_tarball.tmp" "$base_tarball"
  printf '%s %s\n' "$mirror" "$security" >"$base_stamp"
  rm -rf "$rootfs"
  tmp_rootfs=""
  log "base: rootfs tarball $base_tarball ($(du -h "$base_tarball" | cut -f1))"
}

import_base() {
  if podman "${S[@]}" image exists "$base_ref" && podman "${S[@]}" image exists "$base_alias"; then
    log "base: image $base_ref already in storage"
    return 0
  fi
  make_base_tarball
  timeout "$(remaining)" podman "${S[@]}" import \
    --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --message "debootstrap --variant=minbase $suite (sockstate test base)" \
    "$base_tarball" "$base_ref" >/dev/null
  # With --pull=never `FROM debian:bookworm-slim` resolves through local storage only; tag the
  # localhost/ name too so short-name resolution finds it whatever registries.conf says.
  podman "${S[@]}" tag "$base_ref" "$base_alias"
  log "base: imported $base_ref"
}

# ---------------------------------------------------------------------------------------------
# Step b: build the real Dockerfile.
# ---------------------------------------------------------------------------------------------
build_log=$cache_dir/buildah-bud.log
build_image() {
  # --network=host: the builder stage's apt-get reaches this machine's mirror as the host does.
  # --layers: keep intermediate layers, so a warm run reuses the apt-get layers.
  # --isolation=chroot: no nested OCI runtime/cgroup setup needed (works inside containers too).
  local rc=0
  timeout "$(remaining)" buildah "${S[@]}" bud --pull=never --layers --network=host \
    --isolation=chroot -t "$image_ref" -f "$src_dir/Dockerfile" "$src_dir" \
    >"$build_log" 2>&1 || rc=$?
  if ((rc != 0)); then
    tail -40 "$build_log" >&2
    die "buildah bud failed (rc=$rc, full log: $build_log)"
  fi
  grep -A20 '^runtime packages:' "$build_log" | sed -n '1,12p' | sed 's/^/    /' || true
  log "build: $image_ref $(podman "${S[@]}" image inspect --format '{{.Size}}' "$image_ref" \
    | awk '{printf "%.1f MB", $1/1e6}')"
}

# ---------------------------------------------------------------------------------------------
# Step c: run it in the host network namespace, scrape, check.
# ---------------------------------------------------------------------------------------------
cleanup() {
  local rc=$?
  if podman "${S[@]}" container exists "$ctr_name" 2>/dev/null; then
    if ((rc != 0)); then
      echo "--- container log ($ctr_name) ---" >&2
      timeout 20 podman "${S[@]}" logs "$ctr_name" 2>&1 | tail -30 >&2 || true
    fi
    timeout 30 podman "${S[@]}" rm -f -t 5 "$ctr_name" >/dev/null 2>&1 || true
  fi
  [[ -z "$tmp_rootfs" ]] || rm -rf "$tmp_rootfs"
  [[ -z "$step_name" ]] || timings+=("$(printf '%-12s %4ss (failed)' "$step_name" "$(($(date +%s) - step_t0))")")
  if [[ "${SOCKSTATE_KEEP_IMAGE:-1}" == 0 ]]; then
    podman "${S[@]}" rmi -f "$image_ref" >/dev/null 2>&1 || true
  fi
  if ((${#timings[@]})); then
    echo "timings:"
    printf '  %s\n' "${timings[@]}"
    printf '  %-12s %4ss\n' total "$(($(date +%s) - t_start))"
  fi
  exit "$rc"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

metrics=""
run_and_scrape() {
  local port url i state pid
  port=$(free_port)
  url=http://127.0.0.1:$port/metrics
  timeout 60 podman "${S[@]}" run -d --network=host --name "$ctr_name" "$image_ref" \
    --web.listen-address="127.0.0.1:$port" >/dev/null
  for ((i = 0; i < 60; i++)); do
    state=$(podman "${S[@]}" inspect --format '{{.State.Status}}' "$ctr_name" 2>/dev/null || echo gone)
    [[ "$state" == running ]] || die "container is $state before serving /metrics"
    if metrics=$(curl -fsS --max-time 5 "$url" 2>/dev/null); then break; fi
    sleep 0.5
  done
  [[ -n "$metrics" ]] || die "no /metrics at $url after 30s"
  log "run: scraped $url ($(wc -l <<<"$metrics") lines)"

  # Runs as nobody (65534), both as the container sees it and on the host (no user namespace).
  local uid huid
  uid=$(timeout 20 podman "${S[@]}" top "$ctr_name" user 2>/dev/null | awk 'NR == 2 {print $1}')
  pid=$(podman "${S[@]}" inspect --format '{{.State.Pid}}' "$ctr_name")
  huid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  log "run: process user in container '$uid', host pid $pid uid $huid"
  [[ "$huid" == 65534 ]] || die "exporter runs as uid $huid on the host, want 65534"
  [[ "$uid" == 65534 || "$uid" == nobody ]] || die "exporter runs as '$uid' in the container, want 65534/nobody"
}

check_metrics() {
  local series value
  series=$(grep -E '^sockstate_tcp_sockets\{' <<<"$metrics" || true)
  [[ -n "$series" ]] || die "no sockstate_tcp_sockets series in /metrics"
  local want=(established syn_sent syn_recv fin_wait1 fin_wait2 time_wait close close_wait
    last_ack listen closing bound_inactive)
  local fam st missing=()
  for fam in ipv4 ipv6; do
    for st in "${want[@]}"; do
      grep -qE "^sockstate_tcp_sockets\{[^}]*family=\"$fam\"[^}]*state=\"$st\"[^}]*\}|^sockstate_tcp_sockets\{[^}]*state=\"$st\"[^}]*family=\"$fam\"[^}]*\}" \
        <<<"$series" || missing+=("$fam/$st")
    done
  done
  ((${#missing[@]} == 0)) || die "sockstate_tcp_sockets lacks states: ${missing[*]}"
  value=$(awk '/^sockstate_tcp_sockets\{/ && /family="ipv4"/ && /state="listen"/ {print $NF; exit}' <<<"$series")
  log "check: sockstate_tcp_sockets{family=\"ipv4\",state=\"listen\"} = $value"
  awk -v v="$value" 'BEGIN {exit !(v + 0 >= 1)}' \
    || die "ipv4 listen sockets = '$value', want >= 1 (the exporter's own listener in the host netns)"
  log "check: all 24 family/state series present, own listener seen"
}

step storage select_driver
step base-image import_base
step build build_image
step run run_and_scrape
step check check_metrics
log "PASS"
