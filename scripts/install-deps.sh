#!/usr/bin/env bash
# Installs every Debian 12 package sockstate_exporter needs to build, run and test.
# Idempotent: installs only what is missing. Run as root.
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also what the test suite needs
set -euo pipefail
build_pkgs=(build-essential cmake pkg-config prometheus-cpp-dev libmnl-dev libyaml-cpp-dev
  libcrypt-dev libssl-dev iproute2 curl ca-certificates file
  libbpf-dev clang bpftool)  # the connect-failures BPF program (docs/connect-failures.md)
test_pkgs=(googletest libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  prometheus prometheus-alertmanager victoria-metrics buildah podman debootstrap fuse-overlayfs uidmap systemd
  python3 python3-yaml jq procps psmisc openssl nftables conntrack chromium fonts-dejavu-core
  lintian)  # the package tier checks the .deb with it
pkgs=("${build_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's prometheus, alertmanager and victoria-metrics packages start services on install;
# the tests run their own instances on other ports, so stop the packaged ones if systemd
# started them.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  systemctl disable --now prometheus prometheus-alertmanager prometheus-node-exporter \
    victoria-metrics >/dev/null 2>&1 || true
fi
