#!/usr/bin/env bash
# Tier "container": the real Dockerfile builds and the image runs.
#
# There is no Docker engine and no registry access here, so:
#   1. a local debian:bookworm-slim base image is made with debootstrap from this machine's own
#      Debian mirror (cached as a tarball between runs) and imported into container storage;
#   2. `buildah bud --pull=never` builds the repository's Dockerfile against it: from source, or,
#      with SOCKSTATE_DEB (scripts/test.sh sets it), from that already built and tested .deb
#      (--build-arg SOCKSTATE_DEB); the builder's package list is checked against the build
#      dependencies scripts/install-deps.sh installs; the image carries the package's copyright
#      file and the label org.opencontainers.image.licenses=BSD-2-Clause, and in
#      /usr/share/sockstate_exporter the package's dashboards and Prometheus rules, equal to the
#      repository's;
#   3. the image runs with `podman run --network=host`; /metrics is scraped and must carry
#      sockstate_tcp_sockets{family="ipv4",state="listen"} >= 1 (its own listener), and the
#      exporter must run as uid 65534;
#   4. TLS from the image with nothing but --web.config.file (docs/security.md): certificates
#      and a bcrypt hash made here are mounted read-only; over https with --cacert and the
#      password /metrics answers, without credentials or with a wrong password 401 (counted
#      exactly in sockstate_http_requests_rejected_total{reason="unauthorized"}), and the log
#      names the compat library the image ships.
#   5. connect() failures (docs/connect-failures.md): the plain run of step 3 (nobody, no
#      capabilities, --collector.connect-failures=auto) exports exactly
#      sockstate_connect_failures_available 0 and logs that CAP_BPF and CAP_PERFMON are missing;
#      `on` without them exits 1 naming both. Then the image's exporter runs as uid 0 with exactly
#      CAP_BPF + CAP_PERFMON (checked in /proc/<pid>/status: every other capability dropped, the
#      bounding set too) and `on`, in a network namespace this test creates, under the default
#      seccomp profile of podman/buildah with bpf()/perf_event_open() allowed to those
#      capabilities (deploy/seccomp/allow-bpf.py); under the profile as shipped (Debian 12: bpf()
#      only with CAP_SYS_ADMIN) `on` exits 1 saying the seccomp filter is why. Always `buildah run --isolation=chroot`
#      (entered into the namespace with nsenter), whatever runner step 3 used. A client placed in
#      a cgroup this test creates makes 1 refused connect and 13 connects into a 10-port range;
#      a scrape must show exactly refused 1 and no_local_port 3 for those two
#      destinations, 4 failures in all, and the same under that cgroup's workload series.
# The container is always removed; the base tarball, the base image and buildah's layer cache
# are kept so a warm run only recompiles.
#
# `test_container.sh --prepare-base` makes the base image only (scripts/test.sh runs it in the
# background while it compiles; a later run finds it in storage).
# Environment (set by ctest; defaults are script-relative):
#   SOCKSTATE_SOURCE_DIR         repository root (build context)
#   SOCKSTATE_CACHE_DIR          cache for the base rootfs tarball (/var/cache/sockstate-test)
#   SOCKSTATE_STORAGE_DRIVER     force a containers/storage driver (overlay|vfs); else probed
#   SOCKSTATE_CONTAINER_TIMEOUT  overall budget in seconds (default 840)
#   SOCKSTATE_KEEP_IMAGE=0       remove the built test image at the end (default: keep)
#   SOCKSTATE_DEB                a .deb from scripts/build-deb.sh: the image packages it instead of
#                                compiling (one build for the package and the container tiers)
# SOCKSTATE_EXPORTER_BIN is accepted but unused: the image gets its binary from the package.
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

# shellcheck source=../common/tier_steps.sh
source "$script_dir/../common/tier_steps.sh"
tier_steps_init container "$budget"
tls_dir=""

# ---------------------------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------------------------
((EUID == 0)) || cannot_run "must run as root (debootstrap, rootful podman/buildah)"
for tool in buildah podman curl tar python3 timeout flock; do
  command -v "$tool" >/dev/null 2>&1 || cannot_run "$tool not found"
done
[[ -f "$src_dir/Dockerfile" ]] || die "no Dockerfile in $src_dir"
mkdir -p "$cache_dir"
# One run at a time per cache dir: runs from other worktrees share the base tarball, the
# container storage and the image tag. Bounded wait.
exec 9>"$cache_dir/.lock"
if ! flock -w 600 9; then
  die "another container test holds $cache_dir/.lock for more than 600s"
fi

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
# The minbase rootfs tarball (debootstrap, shared with the package tier; this script holds
# $cache_dir/.lock for its whole run).
# shellcheck source=../common/debootstrap_root.sh
source "$script_dir/../common/debootstrap_root.sh"

import_base() {
  local have
  have=$(podman "${S[@]}" image inspect --format '{{index .Config.Labels "org.sockstate.test-base"}}' \
    "$base_ref" 2>/dev/null || true)
  if [[ "$have" == "$base_format" ]] && podman "${S[@]}" image exists "$base_alias"; then
    log "base: image $base_ref already in storage"
    return 0
  fi
  [[ -z "$have" ]] || log "base: image $base_ref in storage is format '$have', want $base_format: remaking"
  make_base_tarball
  timeout "$(remaining)" podman "${S[@]}" import \
    --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.sockstate.test-base=$base_format" \
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
prebuilt_dir=""
# The builder stage compiles with the packages its apt-get line names: every build dependency
# scripts/install-deps.sh installs must be there (minus the test-only tools iproute2, curl,
# ca-certificates). Checked here because CI builds the image from the .deb it already built.
check_builder_packages() {
  local want have missing
  want=$(sed -n '/^build_pkgs=(/,/)/p' "$src_dir/scripts/install-deps.sh" | sed 's/#.*//' \
    | tr -s ' ()=' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -v -x -e build_pkgs \
    -e iproute2 -e curl -e ca-certificates | sort -u)
  have=$(sed -n '/^FROM .* AS builder/,/^FROM /p' "$src_dir/Dockerfile" \
    | sed -n '/apt-get install/,/rm -rf/p' | tr -s ' \\&' '\n' | sort -u)
  [[ -n "$want" ]] || die "cannot read build_pkgs from scripts/install-deps.sh"
  missing=$(comm -23 <(echo "$want") <(echo "$have"))
  [[ -z "$missing" ]] || die "Dockerfile builder does not install: $(echo $missing)"
}
build_image() {
  local -a args=()
  check_builder_packages
  if [[ -n "${SOCKSTATE_DEB:-}" ]]; then
    [[ -f "$SOCKSTATE_DEB" ]] || die "SOCKSTATE_DEB=$SOCKSTATE_DEB is not a file"
    # Into the build context (.dockerignore skips build dirs), removed again by cleanup.
    prebuilt_dir=$(mktemp -d "$src_dir/.prebuilt.XXXXXX")
    cp "$SOCKSTATE_DEB" "$prebuilt_dir/"
    args=(--build-arg "SOCKSTATE_DEB=${prebuilt_dir#"$src_dir/"}/$(basename "$SOCKSTATE_DEB")")
    log "build: from the package $(basename "$SOCKSTATE_DEB") (no compile in the builder)"
  fi
  local rc=0
  timeout "$(remaining)" buildah "${S[@]}" bud --pull=never --layers --network=host \
    --isolation=chroot "${args[@]}" -t "$image_ref" -f "$src_dir/Dockerfile" "$src_dir" \
    >"$build_log" 2>&1 || rc=$?
  if ((rc != 0)); then
    tail -40 "$build_log" >&2
    die "buildah bud failed (rc=$rc, full log: $build_log)"
  fi
  log "build: runtime packages (the package's library Depends): $(sed -n '/^runtime packages:$/,/^-->/p' \
    "$build_log" | sed '1d;/^-->/d' | tr '\n' ' ')"
  log "build: $image_ref $(podman "${S[@]}" image inspect --format '{{.Size}}' "$image_ref" \
    | awk '{printf "%.1f MB", $1/1e6}')"
  check_image_files
}
# What the image carries besides the binary: its licence (the package's copyright file and the
# OCI licence label) and the package's dashboards and Prometheus rules.
check_image_files() {
  local label wc mnt rc=0
  label=$(podman "${S[@]}" image inspect --format '{{index .Config.Labels "org.opencontainers.image.licenses"}}' "$image_ref")
  [[ "$label" == BSD-2-Clause ]] || die "image label org.opencontainers.image.licenses is '$label', want BSD-2-Clause"
  wc=$(timeout 60 buildah "${S[@]}" from --pull=never --name "sockstate-test-licence-$$" "$image_ref")
  mnt=$(timeout 60 buildah "${S[@]}" mount "$wc") || rc=$?
  ((rc == 0)) && cmp -s "$mnt/usr/share/doc/sockstate-exporter/copyright" "$src_dir/packaging/debian/copyright" || rc=1
  # The package's dashboards and Prometheus rules (per node and fleet), as in the repository.
  local shipped=0 d
  if ((rc == 0)); then
    for d in dashboards:dashboards prometheus:config/prometheus; do
      diff -r "$mnt/usr/share/sockstate_exporter/${d%%:*}" "$src_dir/${d#*:}" >&2 || shipped=1
    done
  fi
  timeout 60 buildah "${S[@]}" rm "$wc" >/dev/null 2>&1 || true
  ((rc == 0)) || die "the image has no /usr/share/doc/sockstate-exporter/copyright equal to packaging/debian/copyright"
  ((shipped == 0)) || die "/usr/share/sockstate_exporter in the image differs from dashboards/ and config/prometheus/ (above)"
  log "build: the image carries the package's copyright file and the licence label $label"
  log "build: and the dashboards and Prometheus rules in /usr/share/sockstate_exporter, as in the repository"
}

# ---------------------------------------------------------------------------------------------
# Step c: run it in the host network namespace, scrape, check.
# ---------------------------------------------------------------------------------------------
cleanup() {
  local rc=$?
  stop_container "$rc"
  declare -F base_tmp_cleanup >/dev/null && base_tmp_cleanup
  [[ -z "$prebuilt_dir" ]] || rm -rf "$prebuilt_dir"
  [[ -z "$tls_dir" ]] || rm -rf "$tls_dir"
  declare -F bpf_cleanup >/dev/null && bpf_cleanup "$rc"
  failed_step_timing
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

# Two ways to run the image, both in the host network namespace:
#  podman  `podman run -d --network=host` (what a user would do);
#  buildah `buildah from` + `buildah run --isolation=chroot --network=host` with the image's
#          own ENTRYPOINT and USER. Needed where the OCI runtime cannot start containers, e.g.
#          crun on a cgroup v1/v2 hybrid host ("cgroups in hybrid mode not supported") or
#          without CAP_SYS_RESOURCE ("setrlimit RLIMIT_NOFILE: Operation not permitted").
# SOCKSTATE_CONTAINER_RUNNER=podman|buildah|auto (default auto: podman, else buildah).
runner="" run_pid="" run_wc="" run_log=$cache_dir/container-run.log exporter_pid=""
stop_container() {
  local rc=$1 i
  case $runner in
    podman)
      if podman "${S[@]}" container exists "$ctr_name" 2>/dev/null; then
        if ((rc != 0)); then
          echo "--- container log ($ctr_name) ---" >&2
          timeout 20 podman "${S[@]}" logs "$ctr_name" 2>&1 | tail -30 >&2 || true
        fi
        timeout 30 podman "${S[@]}" rm -f -t 5 "$ctr_name" >/dev/null 2>&1 || true
      fi ;;
    buildah)
      ((rc == 0)) || { echo "--- container log ($run_log) ---" >&2; tail -30 "$run_log" >&2 || true; }
      # Only the processes this script started, by pid: the exporter, then buildah run.
      [[ -z "$exporter_pid" ]] || kill -TERM "$exporter_pid" 2>/dev/null || true
      if [[ -n "$run_pid" ]]; then
        for ((i = 0; i < 20; i++)); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$run_pid" 2>/dev/null || true
        wait "$run_pid" 2>/dev/null || true
      fi
      [[ -z "$run_wc" ]] || timeout 60 buildah "${S[@]}" rm "$run_wc" >/dev/null 2>&1 || true ;;
  esac
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_podman() {  # $1 = port
  timeout 60 podman "${S[@]}" run -d --network=host --name "$ctr_name" "${mount_args[@]}" "$image_ref" \
    --web.listen-address="127.0.0.1:$1" "${exporter_args[@]}" >/dev/null 2>"$run_log" 9>&- && return 0
  cat "$run_log" >&2
  timeout 30 podman "${S[@]}" rm -f "$ctr_name" >/dev/null 2>&1 || true
  return 1
}
# The image's ENTRYPOINT, one word a line (read into an array with mapfile).
image_entrypoint() {
  podman "${S[@]}" image inspect --format '{{json .Config.Entrypoint}}' "$image_ref" \
    | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin) or []))'
}
start_buildah() {  # $1 = port
  local user
  local -a entry=()
  user=$(podman "${S[@]}" image inspect --format '{{.Config.User}}' "$image_ref")
  mapfile -t entry < <(image_entrypoint)
  ((${#entry[@]})) || die "image has no ENTRYPOINT"
  run_wc=$(timeout 60 buildah "${S[@]}" from --pull=never --name "$ctr_name" "$image_ref")
  buildah "${S[@]}" run --isolation=chroot --network=host --user "${user:-0}" "${mount_args[@]}" "$run_wc" -- \
    "${entry[@]}" --web.listen-address="127.0.0.1:$1" "${exporter_args[@]}" >"$run_log" 2>&1 9>&- &
  run_pid=$!
}
running() {
  case $runner in
    podman) [[ "$(podman "${S[@]}" inspect --format '{{.State.Status}}' "$ctr_name" 2>/dev/null)" == running ]] ;;
    buildah) kill -0 "$run_pid" 2>/dev/null ;;
  esac
}

# The image's default configuration, as shipped in /etc/sockstate, must load too.
declare -a exporter_args=() mount_args=()
if [[ -f "$src_dir/config/sockstate.yml" ]]; then
  exporter_args=(--config.file=/etc/sockstate/sockstate.yml)
fi

# The pid, among the container's processes, that holds the socket listening on port $1.
# (Not `ss -p`: it reads every process's fds and takes half a minute on a busy machine.)
descendants() {
  local p=$1 c
  echo "$p"
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do descendants "$c"; done
}
listener_pid() {
  local hex inode root p
  hex=$(printf '%04X' "$1")
  inode=$(awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h {print $10; exit}' \
    /proc/net/tcp /proc/net/tcp6)
  [[ -n "$inode" ]] || return 0
  case $runner in
    podman) root=$(podman "${S[@]}" inspect --format '{{.State.Pid}}' "$ctr_name") ;;
    buildah) root=$run_pid ;;
  esac
  for p in $(descendants "$root"); do
    if find "/proc/$p/fd" -maxdepth 1 -lname "socket:\[$inode\]" 2>/dev/null | grep -q .; then
      echo "$p"
      return 0
    fi
  done
}

metrics=""
run_and_scrape() {
  local port url i want=${SOCKSTATE_CONTAINER_RUNNER:-auto}
  port=$(free_port)
  url=http://127.0.0.1:$port/metrics
  if [[ "$want" == podman || "$want" == auto ]]; then
    if start_podman "$port"; then
      runner=podman
    elif [[ "$want" == podman ]]; then
      die "podman run failed (see above)"
    else
      log "run: podman run cannot start containers here (above); using buildah run --isolation=chroot"
    fi
  fi
  if [[ -z "$runner" ]]; then
    [[ "$want" == buildah || "$want" == auto ]] || die "unknown SOCKSTATE_CONTAINER_RUNNER=$want"
    runner=buildah
    start_buildah "$port"
  fi
  log "run: started with $runner, listening on 127.0.0.1:$port (host network namespace)"
  for ((i = 0; i < 60; i++)); do
    running || die "the container exited before serving /metrics"
    if metrics=$(curl -fsS --max-time 5 "$url" 2>/dev/null); then break; fi
    metrics=""
    sleep 0.5
  done
  [[ -n "$metrics" ]] || die "no /metrics at $url after 30s"
  log "run: scraped $url ($(wc -l <<<"$metrics") lines)"

  # The process listening on the port is the exporter; it must be nobody (65534), on the host
  # (no user namespace: host uid = container uid) and, for podman, as podman sees it.
  exporter_pid=$(listener_pid "$port")
  [[ -n "$exporter_pid" ]] || die "no process of the container holds the listening socket on port $port"
  local huid comm
  huid=$(awk '/^Uid:/ {print $2}' "/proc/$exporter_pid/status")
  comm=$(cat "/proc/$exporter_pid/comm")
  log "run: listener pid $exporter_pid ($comm) uid $huid"
  [[ "$huid" == 65534 ]] || die "exporter runs as uid $huid, want 65534"
  if [[ $runner == podman ]]; then
    local uid
    uid=$(timeout 20 podman "${S[@]}" top "$ctr_name" user | awk 'NR == 2 {print $1}')
    [[ "$uid" == 65534 || "$uid" == nobody ]] || die "podman top: exporter runs as '$uid', want nobody"
  fi
}

check_metrics() {
  local series value
  series=$(grep -E '^sockstate_tcp_sockets\{' <<<"$metrics" || true)
  [[ -n "$series" ]] || die "no sockstate_tcp_sockets series in /metrics"
  local -a states=(established syn_sent syn_recv fin_wait1 fin_wait2 time_wait close close_wait
    last_ack listen closing bound_inactive)
  local fam st want missing=()
  for fam in ipv4 ipv6; do
    for st in "${states[@]}"; do
      grep -qE "^sockstate_tcp_sockets\{[^}]*family=\"$fam\"[^}]*state=\"$st\"[^}]*\}|^sockstate_tcp_sockets\{[^}]*state=\"$st\"[^}]*family=\"$fam\"[^}]*\}" \
        <<<"$series" || missing+=("$fam/$st")
    done
  done
  ((${#missing[@]} == 0)) || die "sockstate_tcp_sockets lacks states: ${missing[*]}"
  # Without CAP_BPF/CAP_PERFMON (nobody, no capabilities), mode auto: runs, says so, exports 0.
  grep -qx 'sockstate_connect_failures_available 0' <<<"$metrics" \
    || die "want sockstate_connect_failures_available 0 without capabilities: $(grep connect_failures_available <<<"$metrics")"
  want='connect() failures are not counted (--collector.connect-failures=auto): missing capability CAP_BPF and CAP_PERFMON'
  container_log | grep -qF "$want" || { container_log >&2; die "the log does not say: $want"; }
  log "check: no capabilities, auto: sockstate_connect_failures_available 0, log: $want"
  value=$(awk '/^sockstate_tcp_sockets\{/ && /family="ipv4"/ && /state="listen"/ {print $NF; exit}' <<<"$series")
  log "check: sockstate_tcp_sockets{family=\"ipv4\",state=\"listen\"} = $value"
  awk -v v="$value" 'BEGIN {exit !(v + 0 >= 1)}' \
    || die "ipv4 listen sockets = '$value', want >= 1 (the exporter's own listener in the host netns)"
  log "check: all 24 family/state series present, own listener seen"
}

# ---------------------------------------------------------------------------------------------
# Step d: TLS + basic auth with nothing but --web.config.file.
# ---------------------------------------------------------------------------------------------
container_log() {
  case $runner in
    podman) timeout 20 podman "${S[@]}" logs "$ctr_name" 2>&1 || true ;;
    buildah) cat "$run_log" 2>/dev/null || true ;;
  esac
}
run_tls_and_scrape() {
  command -v openssl >/dev/null 2>&1 || cannot_run "openssl not found"
  local use=$runner  # the runner that worked for the plain run
  stop_container 0
  runner="" run_pid="" run_wc="" exporter_pid=""
  ctr_name=sockstate-test-tls-$$
  tls_dir=$(mktemp -d /tmp/sockstate-container-tls.XXXXXX)
  chmod 0755 "$tls_dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tls_dir/server.key" -out "$tls_dir/server.crt" 2>/dev/null
  # The image runs as nobody: the key is its own, readable by it alone.
  chown 65534 "$tls_dir/server.key"
  chmod 0400 "$tls_dir/server.key"
  local hash
  hash=$(python3 -c 'import ctypes; l = ctypes.CDLL("libcrypt.so.1"); l.crypt_gensalt.restype = l.crypt.restype = ctypes.c_char_p; print(l.crypt(b"s3cret", l.crypt_gensalt(b"$2y$", 10, None, 0)).decode())')
  printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: %s\n' \
    "'$hash'" >"$tls_dir/web.yml"
  chmod 0644 "$tls_dir/web.yml" "$tls_dir/server.crt"
  mount_args=(--volume "$tls_dir:/etc/sockstate-tls:ro")
  exporter_args+=(--web.config.file=/etc/sockstate-tls/web.yml)

  local port url i code body want
  port=$(free_port)
  url=https://127.0.0.1:$port/metrics
  if [[ $use == podman ]]; then
    start_podman "$port" || die "podman run failed for the TLS run (see above)"
    runner=podman
  else
    runner=buildah
    start_buildah "$port"
  fi
  log "tls: started with $runner, https://127.0.0.1:$port, web config mounted from $tls_dir"
  body=""
  for ((i = 0; i < 60; i++)); do
    running || { container_log >&2; die "the TLS container exited before serving /metrics"; }
    if body=$(curl -fsS --max-time 5 --cacert "$tls_dir/server.crt" -u prometheus:s3cret "$url" 2>/dev/null); then break; fi
    body=""
    sleep 0.5
  done
  [[ -n "$body" ]] || { container_log >&2; die "no /metrics over TLS with basic auth at $url after 30s"; }
  exporter_pid=$(listener_pid "$port")
  grep -q '^sockstate_tcp_sockets{' <<<"$body" || die "TLS scrape has no sockstate_tcp_sockets"
  log "tls: scraped $url with --cacert and user/password ($(wc -l <<<"$body") lines)"

  want='TLS: loaded compat library /usr/lib/sockstate_exporter/libsockstate_ssl_compat.so (found by itself)'
  container_log | grep -qF "$want" || { container_log >&2; die "the log does not say: $want"; }
  log "tls: log says: $want"
  # No libssl-dev in the image: civetweb's dlopen("libcrypto.so") gets the shipped stand-in.
  want="TLS: loaded /usr/lib/sockstate_exporter/libsockstate_crypto_compat.so for civetweb's libcrypto.so"
  container_log | grep -qF "$want" || { container_log >&2; die "the log does not say: $want"; }

  code=$(curl -sS --max-time 5 --cacert "$tls_dir/server.crt" -o /dev/null -w '%{http_code}' "$url")
  [[ "$code" == 401 ]] || die "TLS without credentials: want 401, got $code"
  code=$(curl -sS --max-time 5 --cacert "$tls_dir/server.crt" -u prometheus:wrong -o /dev/null -w '%{http_code}' "$url")
  [[ "$code" == 401 ]] || die "TLS with a wrong password: want 401, got $code"
  if curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null; then
    die "plain HTTP got an answer from the TLS port"
  fi
  body=$(curl -fsS --max-time 5 --cacert "$tls_dir/server.crt" -u prometheus:s3cret "$url")
  grep -qx 'sockstate_http_requests_rejected_total{reason="unauthorized"} 2' <<<"$body" \
    || die "want exactly 2 unauthorized after two 401s: $(grep rejected_total <<<"$body")"
  log "tls: 401 without credentials and with a wrong password (counted: 2), plain HTTP refused"
}

# ---------------------------------------------------------------------------------------------
# Step e: connect() failures counted by the image's exporter with CAP_BPF + CAP_PERFMON only.
# ---------------------------------------------------------------------------------------------
bpf_ns="" bpf_cg="" bpf_wc="" bpf_wc_default="" bpf_run_pid="" bpf_pid="" bpf_dir="" bpf_log=$cache_dir/container-bpf.log
bpf_cleanup() {  # $1 = the script's exit code so far (0: no logs)
  local i
  if [[ ${1:-0} != 0 && -n "$bpf_run_pid" ]]; then
    echo "--- connect-failures container log ($bpf_log) ---" >&2
    tail -30 "$bpf_log" >&2 || true
  fi
  [[ -z "$bpf_pid" ]] || kill -TERM "$bpf_pid" 2>/dev/null || true
  if [[ -n "$bpf_run_pid" ]]; then
    for ((i = 0; i < 20; i++)); do kill -0 "$bpf_run_pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$bpf_run_pid" 2>/dev/null || true
    wait "$bpf_run_pid" 2>/dev/null || true
  fi
  [[ -z "$bpf_wc" ]] || timeout 60 buildah "${S[@]}" rm "$bpf_wc" >/dev/null 2>&1 || true
  [[ -z "$bpf_wc_default" ]] || timeout 60 buildah "${S[@]}" rm "$bpf_wc_default" >/dev/null 2>&1 || true
  [[ -z "$bpf_ns" ]] || ip netns del "$bpf_ns" 2>/dev/null || true
  [[ -z "$bpf_cg" ]] || rmdir "$bpf_cg" 2>/dev/null || true
  [[ -z "$bpf_dir" ]] || rm -rf "$bpf_dir"
  bpf_ns="" bpf_cg="" bpf_wc="" bpf_wc_default="" bpf_run_pid="" bpf_pid="" bpf_dir=""
}
# The cgroup2 mount point (pure v2: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified).
cgroup2_mount() { awk '{for (i = 7; i <= NF; i++) if ($i == "-") {if ($(i + 1) == "cgroup2") {print $5; exit} break}}' /proc/self/mountinfo; }
bpf_scrape() { nsenter --net="/run/netns/$bpf_ns" curl -fsS --max-time 5 "http://127.0.0.1:9798/metrics" 2>/dev/null; }
run_connect_failures() {
  command -v nsenter >/dev/null 2>&1 || cannot_run "nsenter not found"
  local profile=/usr/share/containers/seccomp.json user out rc=0 i body cg2 want c p
  local -a entry=()
  local -a args=()  # the shipped configuration, as in step c (not the TLS run's web config)
  [[ ! -f "$src_dir/config/sockstate.yml" ]] || args=(--config.file=/etc/sockstate/sockstate.yml)
  [[ -f "$profile" ]] || cannot_run "no default seccomp profile $profile (containers-common)"
  [[ -r /sys/kernel/btf/vmlinux ]] || die "no kernel BTF (/sys/kernel/btf/vmlinux): the connect-failures source cannot run here"
  bpf_dir=$(mktemp -d /tmp/sockstate-container-bpf.XXXXXX)
  python3 "$src_dir/deploy/seccomp/allow-bpf.py" "$profile" >"$bpf_dir/seccomp.json"
  mapfile -t entry < <(image_entrypoint)
  ((${#entry[@]})) || die "image has no ENTRYPOINT"
  user=$(podman "${S[@]}" image inspect --format '{{.Config.User}}' "$image_ref")
  bpf_wc=$(timeout 60 buildah "${S[@]}" from --pull=never --name "sockstate-test-bpf-$$" \
    --security-opt "seccomp=$bpf_dir/seccomp.json" "$image_ref")

  # 1. The image's own user (nobody, no capabilities) with `on`: exit 1, naming both.
  out=$(timeout 60 buildah "${S[@]}" run --isolation=chroot --network=host --user "${user:-0}" "$bpf_wc" -- \
    "${entry[@]}" --web.listen-address=127.0.0.1:0 --collector.connect-failures=on 2>&1 9>&-) || rc=$?
  ((rc == 1)) || die "on without capabilities: want exit 1, got $rc: $out"
  want='--collector.connect-failures=on: missing capability CAP_BPF and CAP_PERFMON'
  grep -qF -- "$want" <<<"$out" || die "on without capabilities: the error does not say '$want': $out"
  log "bpf: no capabilities, on: exit 1, says: $want"

  # buildah's defaults are 11 capabilities; drop each (its --cap-drop ALL also drops added ones).
  local -a caps=(--cap-add CAP_BPF --cap-add CAP_PERFMON)
  for c in CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT SETFCAP; do
    caps+=(--cap-drop "CAP_$c")
  done
  # 2. The capabilities under the runtime's unmodified default profile: where it allows bpf()
  # only with CAP_SYS_ADMIN (Debian 12's containers-common), exit 1 saying seccomp is why.
  if python3 - "$profile" <<'PY'
import json, sys
rules = json.load(open(sys.argv[1]))["syscalls"]
ok = any("bpf" in (r.get("names") or []) and r.get("action") == "SCMP_ACT_ALLOW"
         and (r.get("includes") or {}).get("caps") == ["CAP_BPF"] for r in rules)
sys.exit(0 if ok else 1)
PY
  then
    log "bpf: this runtime's default seccomp profile already allows bpf() with CAP_BPF"
  else
    bpf_wc_default=$(timeout 60 buildah "${S[@]}" from --pull=never --name "sockstate-test-bpf-default-$$" "$image_ref")
    rc=0
    out=$(timeout 60 buildah "${S[@]}" run --isolation=chroot --network=host --user 0 "${caps[@]}" \
      "$bpf_wc_default" -- "${entry[@]}" --web.listen-address=127.0.0.1:0 \
      --collector.connect-failures=on 2>&1 9>&-) || rc=$?
    timeout 60 buildah "${S[@]}" rm "$bpf_wc_default" >/dev/null 2>&1 || true
    bpf_wc_default=""
    ((rc == 1)) || die "on under the default seccomp profile: want exit 1, got $rc: $out"
    want='the process has CAP_BPF and CAP_PERFMON, so its seccomp filter denies bpf()'
    grep -qF -- "$want" <<<"$out" || die "on under the default seccomp profile: the error does not say '$want': $out"
    log "bpf: CAP_BPF + CAP_PERFMON under $profile as shipped, on: exit 1, says: $want"
  fi

  # 3. uid 0 with exactly CAP_BPF + CAP_PERFMON, `on`, in a network namespace of its own.
  bpf_ns=sockstate-ctr-$$
  ip netns add "$bpf_ns"
  ip -n "$bpf_ns" link set lo up
  cg2=$(cgroup2_mount)
  [[ -n "$cg2" ]] || die "no cgroup2 mount on this host (the workload check needs one)"
  bpf_cg=$cg2/sockstate-ctr-$$
  mkdir "$bpf_cg"
  nsenter --net="/run/netns/$bpf_ns" buildah "${S[@]}" run --isolation=chroot --network=host --user 0 \
    "${caps[@]}" "$bpf_wc" -- "${entry[@]}" --web.listen-address=127.0.0.1:9798 \
    --collector.connect-failures=on "${args[@]}" >"$bpf_log" 2>&1 9>&- &
  bpf_run_pid=$!
  body=""
  for ((i = 0; i < 60; i++)); do
    kill -0 "$bpf_run_pid" 2>/dev/null || { cat "$bpf_log" >&2; die "the exporter with CAP_BPF + CAP_PERFMON exited"; }
    if body=$(bpf_scrape); then break; fi
    body=""
    sleep 0.5
  done
  [[ -n "$body" ]] || { cat "$bpf_log" >&2; die "no /metrics in namespace $bpf_ns after 30s"; }
  for p in $(descendants "$bpf_run_pid"); do
    [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == sockstate_expor ]] && { bpf_pid=$p; break; }
  done
  [[ -n "$bpf_pid" ]] || die "no sockstate_exporter process under buildah run (pid $bpf_run_pid)"
  local status
  status=$(grep -E '^(Uid|CapEff|CapPrm|CapBnd|CapAmb):' "/proc/$bpf_pid/status" | tr -s '\t ' ' ')
  for want in 'Uid: 0 0 0 0' 'CapEff: 000000c000000000' 'CapPrm: 000000c000000000' \
      'CapBnd: 000000c000000000' 'CapAmb: 0000000000000000'; do
    grep -qx "$want" <<<"$status" || die "exporter pid $bpf_pid: want '$want' (CAP_BPF + CAP_PERFMON only), have: $(tr '\n' ';' <<<"$status")"
  done
  grep -qx 'sockstate_connect_failures_available 1' <<<"$body" \
    || { cat "$bpf_log" >&2; die "want sockstate_connect_failures_available 1 with CAP_BPF + CAP_PERFMON"; }
  log "bpf: uid 0, CapEff=CapBnd=000000c000000000 (cap_perfmon,cap_bpf), on: available 1 in netns $bpf_ns"

  # A client in the test's cgroup: 1 refused connect, then 13 connects into a 10-port range.
  out=$(nsenter --net="/run/netns/$bpf_ns" timeout 30 python3 - "$bpf_cg" <<'PY'
import errno, os, socket, sys
with open(sys.argv[1] + "/cgroup.procs", "w") as f:  # sockets created from here on are its
    f.write(str(os.getpid()))
c = socket.socket()
try:
    c.connect(("127.0.0.1", 5001))
    sys.exit("connect to 127.0.0.1:5001 (no listener) succeeded")
except ConnectionRefusedError:
    pass
c.close()
srv = socket.socket()
srv.bind(("127.0.0.1", 5000))
srv.listen(64)
rng = "/proc/sys/net/ipv4/ip_local_port_range"
old = open(rng).read()
open(rng, "w").write("40000 40009")
held, ok, no_port = [], 0, 0
try:
    for _ in range(13):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", 5000))
            held.append(s)
            ok += 1
        except OSError as e:
            if e.errno != errno.EADDRNOTAVAIL:
                raise
            no_port += 1
            s.close()
finally:
    open(rng, "w").write(old)
print(ok, no_port)
PY
) || die "the failing client did not run: $out"
  [[ "$out" == "10 3" ]] || die "client: want 10 connected and 3 EADDRNOTAVAIL, got '$out'"
  body=$(bpf_scrape) || die "scrape after the failures failed"
  for want in \
      'sockstate_connect_failures_total{destination="127.0.0.1:5000",protocol="tcp",reason="no_local_port"} 3' \
      'sockstate_connect_failures_total{destination="127.0.0.1:5000",protocol="tcp",reason="refused"} 0' \
      'sockstate_connect_failures_total{destination="127.0.0.1:5001",protocol="tcp",reason="no_local_port"} 0' \
      'sockstate_connect_failures_total{destination="127.0.0.1:5001",protocol="tcp",reason="refused"} 1' \
      "sockstate_workload_connect_failures_total{workload=\"/sockstate-ctr-$$\",workload_kind=\"cgroup\",protocol=\"tcp\",reason=\"no_local_port\"} 3" \
      "sockstate_workload_connect_failures_total{workload=\"/sockstate-ctr-$$\",workload_kind=\"cgroup\",protocol=\"tcp\",reason=\"refused\"} 1"; do
    grep -qxF "$want" <<<"$body" || die "want '$want', have: $(grep -E '^sockstate_(workload_)?connect_failures_total' <<<"$body" | tr '\n' ';')"
  done
  local sums
  sums=$(awk '/^sockstate_connect_failures_total\{/ {d += $NF} /^sockstate_workload_connect_failures_total\{/ {w += $NF} END {print d + 0, w + 0}' <<<"$body")
  [[ "$sums" == "4 4" ]] || die "want 4 failures in all (by destination, by workload), have '$sums'"
  log "bpf: 127.0.0.1:5000 no_local_port 3, 127.0.0.1:5001 refused 1, 4 in all; workload /sockstate-ctr-$$ the same"
  bpf_cleanup
}

step storage select_driver
step base-image import_base
if [[ "${1:-}" == --prepare-base ]]; then  # scripts/test.sh: make the base while it compiles
  log "base image ready"
  exit 0
fi
step build build_image
step run run_and_scrape
step check check_metrics
step tls run_tls_and_scrape
step bpf run_connect_failures
log "PASS"
