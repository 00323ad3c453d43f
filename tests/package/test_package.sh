#!/usr/bin/env bash
# Tier "package": the Debian package builds, installs on a fresh Debian 12 root, runs, and goes
# away cleanly; the systemd unit verifies and its exposure is the one docs/install.md publishes.
#
#   1. build   scripts/build-deb.sh (the documented command) -> sockstate-exporter_*.deb
#   2. inspect control fields: Depends = exactly the packages owning the shared libraries the
#              packaged ELF files load (dpkg-shlibdeps) + passwd + procps; the file list and conffiles
#              are exactly the expected ones; the man page lists every flag of --help; the
#              copyright and the changelog (gzip -9n, newest entry = this version) are the ones
#              in packaging/debian/; the copyright is DEP-5, its patterns match the source tree and
#              the BPF programs' SPDX lines (check_copyright.py)
#      lintian no error and no warning (the deliberate exceptions are the overrides the package
#              ships, packaging/debian/lintian-overrides, each with its reason); all printed
#   3. unit    systemd-analyze verify on the unit (alone and with each drop-in);
#              systemd-analyze security --offline=true: level OK or better, and the exposure
#              numbers equal the ones in docs/install.md
#   4. root    a fresh Debian 12 root from debootstrap (the minbase tarball cached for both
#              script tiers, tests/common/debootstrap_root.sh) plus what every host has: systemd and procps; no compiler, no cmake
#   5. boot    systemd as PID 1 of the root, in PID/mount/UTS/IPC/cgroup namespaces and a
#              network namespace of its own (loopback only)
#   6. install `apt-get install ./<deb>` in the booted system: the user, every file, the unit
#              enabled and started by postinst
#   7. run     the service as systemd runs it: the flags of /etc/default/sockstate_exporter,
#              the unit's user, no capability, no_new_privs, seccomp; with 3 loopback
#              connections held to 127.0.0.1:5432 the scrape counts exactly those;
#              `systemctl reload` reloads; each drop-in grants exactly its capabilities, the
#              BPF one enough to attach the connect-failures program, the all-namespaces one
#              to see a second network namespace, the conntrack one to dump conntrack; TLS
#              works with only
#              --web.config.file (the packaged compat library is found by itself)
#   8. remove  `apt-get remove` stops it and keeps only the conffiles; `apt-get purge` leaves no
#              file of the package, no /etc/sockstate_exporter, no enablement state, no user,
#              no group
# The root, the namespace, the cgroups and the processes are always removed; the base tarball,
# apt's lists and the dependency .debs are cached under SOCKSTATE_CACHE_DIR (warm runs are fast).
#
# Environment (set by ctest; defaults are script-relative):
#   SOCKSTATE_SOURCE_DIR          repository root
#   SOCKSTATE_BUILD_DIR           build tree; the package is built in <it>/package-deb
#   SOCKSTATE_CACHE_DIR           cache (/var/cache/sockstate-test, shared with the container tier)
#   SOCKSTATE_PACKAGE_TIMEOUT     overall budget in seconds (default 1700: a cold run builds the
#                                 package and debootstraps; a warm one takes about a minute)
#   SOCKSTATE_DEB                 a .deb already built by scripts/build-deb.sh (scripts/test.sh
#                                 builds it once for this tier and the container tier)
# SOCKSTATE_EXPORTER_BIN is accepted but unused: the package builds its own Release binary.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=${SOCKSTATE_SOURCE_DIR:-$(cd "$script_dir/../.." && pwd)}
build_dir=${SOCKSTATE_BUILD_DIR:-$src_dir/build}
cache_dir=${SOCKSTATE_CACHE_DIR:-/var/cache/sockstate-test}
budget=${SOCKSTATE_PACKAGE_TIMEOUT:-1700}
pkg_build_dir=$build_dir/package-deb
suite=bookworm
unit=sockstate_exporter.service

# shellcheck source=../common/tier_steps.sh
source "$script_dir/../common/tier_steps.sh"
tier_steps_init package "$budget"

# ---------------------------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------------------------
((EUID == 0)) || cannot_run "must run as root (debootstrap, chroot, ip netns)"
for tool in cmake cpack dpkg-deb dpkg-shlibdeps dpkg-parsechangelog lintian file systemd-analyze curl \
  python3 ip chroot nsenter unshare findmnt pgrep tar flock timeout mount umount ldd objdump gzip od \
  openssl; do
  command -v "$tool" >/dev/null 2>&1 || cannot_run "$tool not found"
done
mkdir -p "$cache_dir"
work=$(mktemp -d /tmp/sockstate-package.XXXXXX)
root="" ns="" holder_pid="" sd_pid="" boot_pid=""
declare -a mounts=() cgroups=()

cleanup() {
  local rc=$? m i
  failed_step_timing
  if ((rc != 0)) && [[ -n "$sd_pid" ]]; then
    echo "--- journal of $unit in the root ---" >&2
    timeout 10 nsenter -t "$sd_pid" -a -r -w journalctl -u "$unit" --no-pager -n 30 >&2 2>/dev/null || true
  fi
  if [[ -n "$holder_pid" ]]; then
    kill -TERM "$holder_pid" 2>/dev/null || true
    wait "$holder_pid" 2>/dev/null || true
  fi
  shutdown_root
  [[ -z "$ns" ]] || ip netns del "$ns" 2>/dev/null || true
  remove_cgroups
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
  done
  # Only remove the root once nothing is mounted below it.
  if [[ -n "$root" ]] && ! grep -q " $root/" /proc/self/mounts; then rm -rf "$root"; fi
  declare -F base_tmp_cleanup >/dev/null && base_tmp_cleanup
  rm -rf "$work"
  if ((${#timings[@]})); then
    echo "timings:"
    printf '  %s\n' "${timings[@]}"
    printf '  %-10s %4ss\n' total "$(($(date +%s) - t_start))"
  fi
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# 1. Build the package with the documented command.
# ---------------------------------------------------------------------------------------------
deb="" has_bpf=0
build_package() {
  local out
  if [[ -n "${SOCKSTATE_DEB:-}" ]]; then  # scripts/test.sh built it once for both tiers
    [[ -f "$SOCKSTATE_DEB" ]] || die "SOCKSTATE_DEB=$SOCKSTATE_DEB is not a file"
    deb=$SOCKSTATE_DEB
    log "build: $(basename "$deb") from SOCKSTATE_DEB, built by scripts/build-deb.sh ($(du -k "$deb" | cut -f1) KiB)"
    return 0
  fi
  out=$(timeout "$(remaining)" env SOCKSTATE_BUILD_JOBS="${SOCKSTATE_BUILD_JOBS:-2}" \
    "$src_dir/scripts/build-deb.sh" "$pkg_build_dir" 2>"$work/build-deb.log") \
    || { tail -30 "$work/build-deb.log" >&2; die "scripts/build-deb.sh failed"; }
  deb=$(tail -1 <<<"$out")
  [[ -f "$deb" ]] || die "scripts/build-deb.sh printed '$deb', not a file"
  log "build: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
}

# ---------------------------------------------------------------------------------------------
# 2. Inspect it.
# ---------------------------------------------------------------------------------------------
check_equal_sets() {  # $1 = what, $2 = got (lines), $3 = want (lines)
  local extra missing
  extra=$(comm -23 <(sort -u <<<"$2") <(sort -u <<<"$3"))
  missing=$(comm -13 <(sort -u <<<"$2") <(sort -u <<<"$3"))
  [[ -z "$extra$missing" ]] || die "$1: unexpected [$(echo $extra)], missing [$(echo $missing)]"
}

inspect_package() {
  local x=$work/deb-tree depends got want lib pkg f
  [[ "$(dpkg-deb -f "$deb" Package)" == sockstate-exporter ]] || die "Package is not sockstate-exporter"
  [[ "$(dpkg-deb -f "$deb" Architecture)" == "$(dpkg --print-architecture)" ]] || die "wrong Architecture"
  depends=$(dpkg-deb -f "$deb" Depends)
  log "inspect: Depends: $depends"

  # Depends (names) = packages owning the libraries the packaged ELF files link directly
  # (their DT_NEEDED entries, what dpkg-shlibdeps reads; a library's own dependencies, such as
  # libbpf's libelf and zlib, come with its package), + passwd and procps.
  dpkg-deb -x "$deb" "$x"
  local -a libs=()
  mapfile -t libs < <(for f in "$x/usr/bin/sockstate_exporter" "$x"/usr/lib/sockstate_exporter/*.so; do
      ldd "$f" | awk -v needed="$(objdump -p "$f" | awk '$1 == "NEEDED" {printf "%s ", $2}')" '
        BEGIN { n = split(needed, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
        $2 == "=>" && $3 ~ /^\// && ($1 in want) {print $3}'
    done | sort -u | while read -r lib; do echo "$lib"; readlink -f "$lib"; done | sort -u)
  ((${#libs[@]} >= 5)) || die "ldd found only ${#libs[@]} libraries: ${libs[*]}"
  # Each library by its path or its resolved path (dpkg knows one of them).
  want=$({ dpkg -S "${libs[@]}" 2>/dev/null || true; } | cut -d: -f1 | tr ',' '\n' | sed 's/ //g' | sort -u)
  want+=$'\npasswd\nprocps'
  got=$(tr ',' '\n' <<<"$depends" | sed 's/(.*)//; s/|.*//; s/ //g' | grep -v '^$')
  check_equal_sets "Depends" "$got" "$want"

  # Files: exactly these (directories aside).
  got=$(cd "$x" && find . -type f -o -type l | sed 's|^\.||')
  want=$(
    printf '%s\n' /usr/bin/sockstate_exporter \
      /usr/lib/sockstate_exporter/libsockstate_ssl_compat.so \
      /usr/lib/sockstate_exporter/libsockstate_crypto_compat.so \
      /etc/sockstate_exporter/sockstate.yml /etc/default/sockstate_exporter \
      /usr/lib/systemd/system/$unit \
      /usr/share/sockstate_exporter/systemd/bpf.conf \
      /usr/share/sockstate_exporter/systemd/all-namespaces.conf \
      /usr/share/sockstate_exporter/systemd/conntrack.conf \
      /usr/share/sockstate_exporter/systemd/tracker.conf \
      /usr/share/man/man1/sockstate_exporter.1.gz \
      /usr/share/doc/sockstate-exporter/copyright \
      /usr/share/doc/sockstate-exporter/changelog.Debian.gz \
      /usr/share/lintian/overrides/sockstate-exporter
    (cd "$src_dir/dashboards" && find . -type f | sed 's|^\.|/usr/share/sockstate_exporter/dashboards|')
    for d in prometheus alertmanager examples; do
      (cd "$src_dir/config/$d" && find . -type f | sed "s|^\.|/usr/share/sockstate_exporter/$d|")
    done)
  check_equal_sets "package files" "$got" "$want"
  cmp -s "$x/etc/default/sockstate_exporter" "$src_dir/packaging/default/sockstate_exporter" \
    || die "packaged defaults file differs from packaging/default/sockstate_exporter"
  cmp -s "$x/usr/lib/systemd/system/$unit" "$src_dir/packaging/systemd/$unit" \
    || die "packaged unit differs from packaging/systemd/$unit"
  check_doc_files "$x"
  # Whether the binary has the connect-failures BPF source (it links libbpf then).
  if ldd "$x/usr/bin/sockstate_exporter" | grep -q 'libbpf\.so'; then has_bpf=1; fi
  [[ -z "$(file "$x/usr/bin/sockstate_exporter" | grep -v stripped)" ]] \
    || die "binary is not stripped: $(file "$x/usr/bin/sockstate_exporter")"

  # Maintainer scripts and conffiles.
  dpkg-deb -e "$deb" "$work/control"
  check_equal_sets "conffiles" "$(cat "$work/control/conffiles")" \
    $'/etc/sockstate_exporter/sockstate.yml\n/etc/default/sockstate_exporter'
  for f in postinst prerm postrm; do
    [[ -x "$work/control/$f" ]] || die "control: $f missing or not executable"
  done

  # Man page: a man page, and every flag of the packaged binary's --help is in it.
  local man flags missing=()
  man=$(gzip -dc "$x/usr/share/man/man1/sockstate_exporter.1.gz")
  grep -q '^\.TH SOCKSTATE_EXPORTER 1 ' <<<"$man" || die "man page has no .TH header"
  flags=$("$x/usr/bin/sockstate_exporter" --help | sed -n 's/^  --\([a-z0-9._-]*\).*/\1/p')
  [[ $(wc -l <<<"$flags") -ge 5 ]] || die "--help lists fewer than 5 flags"
  for f in $flags; do
    grep -qF "\\-\\-${f//-/\\-}" <<<"$man" || missing+=("$f")
  done
  ((${#missing[@]} == 0)) || die "man page lacks flags: ${missing[*]}"
  log "inspect: Depends, $(wc -l <<<"$got") files, conffiles and man page ($(wc -w <<<"$flags") flags) as expected"
}

# The copyright and the changelog of the package's doc directory, and the lintian overrides.
check_doc_files() {  # $1 = the unpacked package
  local doc=$1/usr/share/doc/sockstate-exporter header version out
  cmp -s "$doc/copyright" "$src_dir/packaging/debian/copyright" \
    || die "packaged copyright differs from packaging/debian/copyright"
  # DEP-5 syntax, every pattern matches a file, the BPF programs' SPDX lines agree (lintian
  # checks DEP-5 in source packages only). First proof that the checker finds a missing licence.
  sed '/^License: GPL-2$/,$d' "$doc/copyright" >"$work/copyright-broken"
  out=$(python3 "$script_dir/check_copyright.py" "$work/copyright-broken" "$src_dir") \
    && die "check_copyright.py accepted a copyright without the GPL-2 licence text"
  grep -qF "no License paragraph for 'gpl-2'" <<<"$out" || die "check_copyright.py did not say why: $out"
  out=$(python3 "$script_dir/check_copyright.py" "$doc/copyright" "$src_dir") || die "copyright: $out"
  log "inspect: $out"
  gzip -dc "$doc/changelog.Debian.gz" | cmp -s - "$src_dir/packaging/debian/changelog" \
    || die "packaged changelog.Debian.gz differs from packaging/debian/changelog"
  # gzip -9n: no file name (FLG bit 3), mtime 0, XFL 2 (maximum compression): reproducible.
  header=$(od -An -tu1 -N9 "$doc/changelog.Debian.gz" | xargs)
  [[ "$header" =~ ^31\ 139\ 8\ ([0-9]+)\ 0\ 0\ 0\ 0\ 2$ ]] && (((BASH_REMATCH[1] & 8) == 0)) \
    || die "changelog.Debian.gz is not gzip -9n (header bytes: $header)"
  version=$(dpkg-parsechangelog -l "$src_dir/packaging/debian/changelog" -S Version)
  [[ "$version" == "$(dpkg-deb -f "$deb" Version)" ]] \
    || die "changelog's newest entry is $version, the package is $(dpkg-deb -f "$deb" Version)"
  cmp -s "$1/usr/share/lintian/overrides/sockstate-exporter" "$src_dir/packaging/debian/lintian-overrides" \
    || die "packaged lintian overrides differ from packaging/debian/lintian-overrides"
}

# lintian on the .deb: fails on any error or warning and prints every finding.
run_lintian() {
  local out rc=0 errors warnings
  out=$(timeout "$(remaining)" lintian --fail-on error,warning --display-info --pedantic "$deb" \
    2>"$work/lintian.err") || rc=$?
  errors=$(grep -c '^E: ' <<<"$out" || true)
  warnings=$(grep -c '^W: ' <<<"$out" || true)
  [[ -z "$out" ]] || sed 's/^/  /' <<<"$out"
  if ((rc != 0 || errors + warnings > 0)); then
    grep -v 'running with root privileges' "$work/lintian.err" >&2 || true
    die "lintian: $errors errors, $warnings warnings (exit $rc)"
  fi
  log "lintian $(lintian --version | awk '{print $2}'): 0 errors, 0 warnings, $(grep -c '^[IP]: ' <<<"$out" || true) info/pedantic tags (above)"
}

# ---------------------------------------------------------------------------------------------
# 3. The unit: verify, and its security exposure as published.
# ---------------------------------------------------------------------------------------------
# The unit is checked in a root made of the package's own tree (so ExecStart's binary exists),
# this machine's systemd units (sysinit.target, ...) and /bin/kill (ExecReload): a host with
# systemd and the package installed.
unit_root() {  # $1 = drop-in name or "" -> prints the root
  local r=$work/unit-root${1:+-$1}
  rm -rf "$r"
  cp -a "$work/deb-tree" "$r"
  ln -s usr/bin "$r/bin"
  cp "$(readlink -f /bin/kill)" "$r/usr/bin/kill"
  cp -an /usr/lib/systemd/system/. "$r/usr/lib/systemd/system/"
  if [[ -n "$1" ]]; then
    mkdir -p "$r/etc/systemd/system/$unit.d"
    cp "$src_dir/packaging/systemd/$1.conf" "$r/etc/systemd/system/$unit.d/"
  fi
  echo "$r"
}
exposure() {  # $1 = root -> "N.N LEVEL"
  systemd-analyze security --offline=true --root="$1" "$unit" 2>&1 \
    | sed -n "s/^→ Overall exposure level for $unit: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p"
}
check_unit() {
  local variant r out e published
  for variant in "" bpf all-namespaces conntrack tracker; do
    r=$(unit_root "$variant")
    if ! out=$(systemd-analyze verify --man=no --root="$r" "$unit" 2>&1) || [[ -n "$out" ]]; then
      die "systemd-analyze verify ${variant:-default}: $out"
    fi
    e=$(exposure "$r")
    [[ -n "$e" ]] || die "systemd-analyze security --offline=true gave no exposure for ${variant:-default}"
    log "unit: ${variant:-default}: verify clean, exposure $e"
    # docs/install.md publishes each exposure as "| <variant> | <N.N> <LEVEL> |".
    published=$(sed -n "s/^| \`${variant:-default}\` | \([0-9.]* [A-Z]*\) .*/\1/p" "$src_dir/docs/install.md")
    [[ "$published" == "$e" ]] \
      || die "docs/install.md publishes exposure '$published' for ${variant:-default}, systemd-analyze says '$e'"
    if [[ -z "$variant" ]]; then
      [[ "$e" =~ \ (OK|SAFE)$ ]] || die "default unit exposure is $e, want OK or better"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# 4. A fresh Debian 12 root: the minbase tarball the container tier imports as its base image
#    (tests/common/debootstrap_root.sh), made here if it is not cached yet.
# ---------------------------------------------------------------------------------------------
# shellcheck source=../common/debootstrap_root.sh
source "$script_dir/../common/debootstrap_root.sh"

# Commands in the root: with chroot before it boots, inside the booted system after.
in_chroot() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C "$@"; }
in_root() {
  nsenter -t "$sd_pid" -a -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LANG=C SYSTEMD_PAGER= "$@"
}
bind() {  # $1 = host dir, $2 = path in root
  mkdir -p "$1" "$root$2"
  mount --bind "$1" "$root$2"
  mounts+=("$root$2")
}

make_root() {
  # The tarball is shared with the container tier, which holds $cache_dir/.lock for its whole
  # run. Reading needs no lock (a new tarball replaces the old one by rename); making one does.
  if ! base_is_cached; then
    exec 9>"$cache_dir/.lock"
    flock -w 600 9 || die "another test holds $cache_dir/.lock for more than 600s"
    make_base_tarball
    exec 9>&-
  else
    log "base: cached rootfs tarball $base_tarball ($(du -h "$base_tarball" | cut -f1))"
  fi
  root=$(mktemp -d "$cache_dir/pkgroot.XXXXXX")
  tar --numeric-owner --xattrs -C "$root" -xf "$base_tarball"
  # A host, not an image: undo the image slimming (man pages install) and keep downloaded .debs.
  rm -f "$root/etc/dpkg/dpkg.cfg.d/docker" "$root/etc/apt/apt.conf.d/docker-clean"
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  echo sockstate-pkgtest >"$root/etc/hostname"
  # Caches across runs: apt's lists (`apt-get update` then only revalidates) and the .debs.
  bind "$cache_dir/package-apt-lists" /var/lib/apt/lists
  bind "$cache_dir/package-apt-archives" /var/cache/apt/archives
  mount -t proc proc "$root/proc"
  mounts+=("$root/proc")
  timeout "$(remaining)" chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    apt-get update -q >"$work/apt-update.log" 2>&1 \
    || { tail -20 "$work/apt-update.log" >&2; die "apt-get update in the root failed"; }
  # What a Debian 12 host has and minbase lacks: an init (systemd) and procps.
  timeout "$(remaining)" chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd systemd-sysv procps \
    >"$work/apt-systemd.log" 2>&1 \
    || { tail -20 "$work/apt-systemd.log" >&2; die "apt-get install systemd in the root failed"; }
  # The booted system is on loopback only: fetch the package's dependencies now, from the
  # mirror (apt-get install ./<deb> in the booted system then takes them from apt's cache).
  cp "$deb" "$root/var/tmp/"
  timeout "$(remaining)" chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive sh -c "cd /var/tmp && apt-get install -y -q --download-only ./$(basename "$deb")" \
    >"$work/apt-download.log" 2>&1 \
    || { tail -20 "$work/apt-download.log" >&2; die "apt-get install --download-only ./$(basename "$deb") failed"; }
  umount "$root/proc"
  unset 'mounts[-1]'
  local t
  for t in cc gcc g++ c++ cmake make ld; do
    ! in_chroot sh -c "command -v $t" >/dev/null || die "the fresh root has build tool $t"
  done
  log "root: fresh Debian $(cat "$root/etc/debian_version") root with systemd $(in_chroot dpkg-query -W -f='${Version}' systemd), no build tools"
}

# ---------------------------------------------------------------------------------------------
# 5. Boot systemd in the root, in namespaces of its own: network (a fresh one, loopback only),
#    PID, mount, UTS, IPC and cgroup (a cgroup of its own below this script's, in every
#    hierarchy, removed afterwards). The root becomes / with pivot_root, so systemd can set up
#    the unit's mount and user namespaces as on a host.
# ---------------------------------------------------------------------------------------------
make_cgroups() {  # one child cgroup per hierarchy, under this process's own cgroup there
  local line ctrls path mnt fstype opts dir want
  while IFS=: read -r _ ctrls path; do
    mnt=""
    while read -r dir fstype opts; do
      if [[ -z "$ctrls" && "$fstype" == cgroup2 ]]; then mnt=$dir; break; fi
      if [[ -n "$ctrls" && "$fstype" == cgroup ]]; then
        want=1
        for c in ${ctrls//,/ }; do [[ ",$opts," == *",$c,"* ]] || want=0; done
        if ((want)); then mnt=$dir; break; fi
      fi
    done < <(findmnt -rn -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS)
    [[ -n "$mnt" ]] || continue
    dir=$mnt${path%/}/sockstate-pkgtest-$$
    mkdir -p "$dir" 2>/dev/null || continue
    cgroups+=("$dir")
    if [[ -f "$dir/cpuset.cpus" && ! -s "$dir/cpuset.cpus" ]]; then
      cat "$dir/../cpuset.cpus" >"$dir/cpuset.cpus" 2>/dev/null || true
      cat "$dir/../cpuset.mems" >"$dir/cpuset.mems" 2>/dev/null || true
    fi
  done </proc/self/cgroup
}
remove_cgroups() {
  local d
  for d in "${cgroups[@]}"; do
    [[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

boot() {
  ns=sockstate-pkg-$$
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # A port range of its own, so the exported value proves it is read from this namespace.
  ip netns exec "$ns" sh -c 'echo "20000 40000" >/proc/sys/net/ipv4/ip_local_port_range'
  make_cgroups
  # Into the cgroups first: `ip netns exec` mounts a fresh /sys, without the cgroup mounts.
  cat >"$work/boot.sh" <<EOF
for d in ${cgroups[*]}; do echo \$\$ >"\$d/cgroup.procs" || true; done
exec ip netns exec "$ns" unshare --pid --fork --kill-child --mount --uts --ipc --cgroup \\
  --propagation private sh -c '
  set -e
  mount --rbind "$root" "$root"
  cd "$root"
  pivot_root . mnt
  exec chroot . /bin/sh -c "mount -t proc proc /proc && umount -l /mnt && exec env -i container=sockstate-pkgtest TERM=dumb /lib/systemd/systemd --system --log-target=console --show-status=no"'
EOF
  sh "$work/boot.sh" >"$work/boot.log" 2>&1 &
  boot_pid=$!
  local i state=""
  for ((i = 0; i < 100; i++)); do
    sd_pid=$(pgrep -P "$boot_pid" || true)
    [[ -n "$sd_pid" && "$(cat "/proc/$sd_pid/comm" 2>/dev/null)" == systemd ]] && break
    kill -0 "$boot_pid" 2>/dev/null || die "systemd did not start: $(tail -5 "$work/boot.log")"
    sd_pid=""
    sleep 0.1
  done
  [[ -n "$sd_pid" ]] || die "no systemd process after 10 s: $(tail -5 "$work/boot.log")"
  for ((i = 0; i < 120; i++)); do
    state=$(timeout 10 nsenter -t "$sd_pid" -a -r -w systemctl is-system-running 2>/dev/null || true)
    [[ "$state" == running || "$state" == degraded ]] && break
    kill -0 "$sd_pid" 2>/dev/null || die "systemd exited: $(tail -5 "$work/boot.log")"
    sleep 0.5
  done
  [[ "$state" == running || "$state" == degraded ]] \
    || die "systemd in the root is '$state' after 60 s: $(tail -5 "$work/boot.log")"
  log "boot: systemd is $state in the root (pid $sd_pid; failed units: $(in_root systemctl list-units --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' '))"
}
shutdown_root() {
  [[ -n "$sd_pid" ]] || return 0
  kill -s SIGRTMIN+4 "$sd_pid" 2>/dev/null || true   # poweroff
  local i
  for ((i = 0; i < 150; i++)); do kill -0 "$boot_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$sd_pid" 2>/dev/null || true
  wait "$boot_pid" 2>/dev/null || true
  sd_pid="" boot_pid=""
}

# ---------------------------------------------------------------------------------------------
# 6. apt-get install ./<deb> in the booted system: installs, enables and starts the service.
# ---------------------------------------------------------------------------------------------
installed_files="" svc_uid=""
install_package() {
  timeout "$(remaining)" nsenter -t "$sd_pid" -a -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LANG=C sh -c "cd /var/tmp && apt-get install -y -q ./$(basename "$deb")" \
    >"$work/apt-install.log" 2>&1 \
    || { tail -30 "$work/apt-install.log" >&2; die "apt-get install ./$(basename "$deb") failed"; }
  rm -f "$root/var/tmp/$(basename "$deb")"
  log "install: $(grep -E '^[0-9]+ upgraded, [0-9]+ newly installed' "$work/apt-install.log")"

  [[ "$(in_root dpkg-query -W -f='${Status}' sockstate-exporter)" == "install ok installed" ]] \
    || die "dpkg does not see sockstate-exporter installed"
  installed_files=$(in_root dpkg-query -L sockstate-exporter)
  local f pw uid gid home shell
  while read -r f; do
    [[ -e "$root$f" ]] || die "installed file list has $f but it is not there"
  done <<<"$installed_files"
  pw=$(in_root getent passwd sockstate_exporter) || die "no user sockstate_exporter after install"
  IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
  ((uid < 1000)) || die "sockstate_exporter uid $uid is not a system uid"
  [[ "$shell" == /usr/sbin/nologin && "$home" == /nonexistent ]] || die "user: shell $shell home $home"
  in_root getent group sockstate_exporter >/dev/null || die "no group sockstate_exporter"
  svc_uid=$uid
  [[ "$(in_root systemctl is-enabled $unit)" == enabled ]] || die "postinst did not enable $unit"
  [[ "$(in_root systemctl is-active $unit)" == active ]] \
    || die "postinst did not start $unit: $(in_root systemctl status --no-pager $unit | tail -5)"
  [[ -z "$(in_root ldd /usr/bin/sockstate_exporter | grep 'not found')" ]] \
    || die "unresolved libraries: $(in_root ldd /usr/bin/sockstate_exporter | grep 'not found')"
  in_root /usr/bin/sockstate_exporter --config.check --config.file=/etc/sockstate_exporter/sockstate.yml \
    >"$work/config-check.log" 2>&1 || { cat "$work/config-check.log" >&2; die "installed config does not check"; }
  [[ -s "$root/usr/share/man/man1/sockstate_exporter.1.gz" ]] || die "man page not installed"
  ! in_root dpkg-query -W libssl-dev >/dev/null 2>&1 || die "libssl-dev is installed in the root"
  log "install: user $uid:$gid, $unit enabled and active, $(wc -l <<<"$installed_files") paths, config checks"
}

# ---------------------------------------------------------------------------------------------
# 7. The service as installed: its sandbox, its numbers, reload; then the drop-ins.
# ---------------------------------------------------------------------------------------------
metrics=""
scrape() { metrics=$(ip netns exec "$ns" curl -fsS --max-time 5 "http://127.0.0.1:9798/metrics"); }
wait_scrape() {
  local i
  for ((i = 0; i < 100; i++)); do
    scrape 2>/dev/null && return 0
    sleep 0.1
  done
  die "no /metrics on 127.0.0.1:9798 after 10 s: $(in_root journalctl -u $unit --no-pager -n 5)"
}
value() {  # $1 = exact series name{labels} -> value, or die
  local v
  v=$(awk -v s="$1" '$1 == s {print $2; exit}' <<<"$metrics")
  [[ -n "$v" ]] || die "no series $1 in /metrics"
  echo "$v"
}
expect() {  # $1 = series, $2 = wanted value
  local v
  v=$(value "$1")
  [[ "$v" == "$2" ]] || die "$1 = $v, want $2"
  log "check: $1 = $v"
}
main_status() {  # $1 = field of /proc/<MainPID>/status
  local pid
  pid=$(in_root systemctl show -p MainPID --value $unit)
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] || die "$unit has no main pid"
  in_root awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/status"
}
main_cmdline() {
  local pid
  pid=$(in_root systemctl show -p MainPID --value $unit)
  in_root cat "/proc/$pid/cmdline" | tr '\0' ' ' | sed 's/ $//'
}

run_service() {
  # 3 connections to 127.0.0.1:5432 in the root's network namespace, held open (bounded).
  ip netns exec "$ns" timeout 300 python3 -c '
import socket, time
l = socket.socket(); l.bind(("127.0.0.1", 5432)); l.listen(8)
c = [socket.create_connection(("127.0.0.1", 5432)) for _ in range(3)]
a = [l.accept()[0] for _ in range(3)]
print("ready", flush=True)
time.sleep(300)' >"$work/holder.log" 2>&1 &
  holder_pid=$!
  local i
  for ((i = 0; i < 50; i++)); do grep -q ready "$work/holder.log" && break; sleep 0.1; done
  grep -q ready "$work/holder.log" || die "connection holder did not start: $(cat "$work/holder.log")"

  # Started by systemd with the flags of /etc/default/sockstate_exporter, in the sandbox.
  wait_scrape
  local args want
  args=$(sed -n 's/^ARGS="\(.*\)"$/\1/p' "$root/etc/default/sockstate_exporter")
  want="/usr/bin/sockstate_exporter${args:+ $args}"
  [[ "$(main_cmdline)" == "$want" ]] || die "service command line '$(main_cmdline)', want '$want'"
  [[ "$(main_status Uid)" == "$svc_uid" ]] || die "service runs as uid $(main_status Uid), want $svc_uid"
  [[ "$(main_status CapEff)" == 0000000000000000 && "$(main_status CapBnd)" == 0000000000000000 ]] \
    || die "service capabilities: effective $(main_status CapEff), bounding $(main_status CapBnd)"
  [[ "$(main_status NoNewPrivs)" == 1 && "$(main_status Seccomp)" == 2 ]] \
    || die "service NoNewPrivs=$(main_status NoNewPrivs) Seccomp=$(main_status Seccomp), want 1 and 2"
  log "run: '$want' as uid $svc_uid, no capabilities (effective, bounding), no_new_privs, seccomp filter"

  scrape
  local source
  for source in sysctl netlink sockstat sockstat6 netstat snmp; do
    expect "sockstate_scrape_source_success{source=\"$source\"}" 1
  done
  expect 'sockstate_tcp_sockets{family="ipv4",state="listen"}' 2           # exporter + holder
  if ((has_bpf)); then
    expect 'sockstate_connect_failures_available' 0  # auto, and the default unit grants no CAP_BPF
  fi
  expect 'sockstate_destination_ephemeral_ports_used{destination="127.0.0.1:5432"}' 3
  expect 'sockstate_destination_sockets{destination="127.0.0.1:5432",state="established"}' 3
  expect 'sockstate_inbound_sockets{service="5432",state="established"}' 3
  expect 'sockstate_sysctl_ip_local_port_range_low' 20000
  expect 'sockstate_sysctl_ip_local_port_range_high' 40000

  # ExecReload: `systemctl reload` reloads the installed config.
  local before after
  before=$(value 'sockstate_config_last_reload_success_timestamp_seconds')
  sleep 1.1
  in_root systemctl reload $unit || die "systemctl reload failed"
  for ((i = 0; i < 50; i++)); do
    scrape
    after=$(value 'sockstate_config_last_reload_success_timestamp_seconds')
    [[ "$after" != "$before" ]] && break
    sleep 0.1
  done
  [[ "$after" != "$before" ]] || die "systemctl reload did not reload (timestamp stays $before)"
  expect 'sockstate_config_last_reload_successful' 1
  log "run: systemctl reload reloaded the configuration"
}

# A drop-in from /usr/share/sockstate_exporter/systemd, installed as docs/install.md says, gives
# the service exactly its capabilities and the service still serves.
with_dropin() {  # $1 = drop-in name, $2 = wanted CapEff = CapBnd (hex)
  local d=$root/etc/systemd/system/$unit.d
  mkdir -p "$d"
  cp "$root/usr/share/sockstate_exporter/systemd/$1.conf" "$d/"
  in_root systemctl daemon-reload
  in_root systemctl restart $unit || die "$1 drop-in: restart failed: $(in_root systemctl status --no-pager $unit | tail -5)"
  # Type=simple: the restart job ends at fork; once it serves, the sandbox is in place.
  wait_scrape
  [[ "$(main_status CapEff)" == "$2" && "$(main_status CapBnd)" == "$2" ]] \
    || die "$1 drop-in: capabilities effective $(main_status CapEff) bounding $(main_status CapBnd), want $2"
  [[ "$(main_status Uid)" == "$svc_uid" && "$(main_status NoNewPrivs)" == 1 ]] \
    || die "$1 drop-in: uid $(main_status Uid) NoNewPrivs $(main_status NoNewPrivs)"
}
without_dropins() {
  rm -rf "$root/etc/systemd/system/$unit.d" "$root/etc/sockstate_exporter/test-all.yml"
  in_root systemctl daemon-reload
  in_root systemctl restart $unit
}
check_dropins() {
  # BPF: CAP_BPF (39) + CAP_PERFMON (38), nothing else; enough to load and attach the
  # connect-failures and TIME_WAIT owner programs of the one object (=on exits 1 when it
  # cannot) under the unit's ProtectKernelTunables= (no /proc/kallsyms). The state tracker is
  # off by default (opt-in) and, like every collector that is off, exports no series.
  mkdir -p "$root/etc/systemd/system/$unit.d"
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/sockstate_exporter --config.file=/etc/sockstate_exporter/sockstate.yml --collector.connect-failures=on --collector.time-wait-owners=on\n' \
    >"$root/etc/systemd/system/$unit.d/zz-test.conf"
  with_dropin bpf 000000c000000000
  expect 'sockstate_scrape_source_success{source="netlink"}' 1
  if ((has_bpf)); then
    expect 'sockstate_connect_failures_available' 1
    expect 'sockstate_time_wait_owners_available' 1
    ! grep -q '^sockstate_tracker_available' <<<"$metrics" ||
      die "tracker off by default, yet /metrics has $(grep '^sockstate_tracker_available' <<<"$metrics")"
    log "check: no sockstate_tracker_available series (--collector.tracker defaults to off)"
  else
    log "drop-ins: the packaged binary does not link libbpf (connect-failures source not built in): BPF attach not checked"
  fi
  without_dropins
  # Every namespace: CAP_SYS_ADMIN (21) + CAP_SYS_PTRACE (19), with namespaces.mode: all, and a
  # root process of the booted system in a network namespace of its own: 2 namespaces.
  in_root sh -c 'exec unshare --net sleep 300 </dev/null >/dev/null 2>&1 &'
  printf 'namespaces:\n  mode: all\n' >"$root/etc/sockstate_exporter/test-all.yml"
  mkdir -p "$root/etc/systemd/system/$unit.d"
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/sockstate_exporter --config.file=/etc/sockstate_exporter/test-all.yml\n' \
    >"$root/etc/systemd/system/$unit.d/zz-test.conf"
  with_dropin all-namespaces 0000000000280000
  expect 'sockstate_netns_discovered' 2
  expect 'sockstate_netns_skipped' 0
  # Both read with every source succeeding (the quiet one exports no per-source series: its
  # netns series say it, docs/fleet.md), and the own one dumped.
  local ok
  ok=$(grep -cE '^sockstate_netns_scrape_success\{netns="[^"]*"\} 1$' <<<"$metrics" || true)
  [[ "$ok" == 2 ]] || die "all-namespaces: $ok namespaces read without a failing source, want 2: $(grep '^sockstate_netns_scrape_success' <<<"$metrics")"
  ok=$(grep -cE '^sockstate_scrape_source_success\{netns="[^"]*",source="netlink"\} 1$' <<<"$metrics" || true)
  ((ok >= 1)) || die "all-namespaces: no namespace with sockstate_scrape_source_success{source=\"netlink\"} 1"
  log "check: sockstate_netns_scrape_success = 1 in both namespaces, netlink read in $ok"
  in_root pkill -x sleep || true
  without_dropins
  # conntrack (NAT): CAP_NET_ADMIN (12), enough for a ctnetlink dump.
  with_dropin conntrack 0000000000001000
  expect 'sockstate_scrape_source_success{source="conntrack"}' 1
  without_dropins
  # The state tracker: CAP_BPF + CAP_PERFMON + CAP_SYSLOG (34) + CAP_NET_ADMIN, /proc/kallsyms
  # visible; --collector.tracker=on exits 1 when it cannot load, attach or seed.
  if ((has_bpf)); then
    mkdir -p "$root/etc/systemd/system/$unit.d"
    printf '[Service]\nExecStart=\nExecStart=/usr/bin/sockstate_exporter --config.file=/etc/sockstate_exporter/sockstate.yml --collector.tracker=on\n' \
      >"$root/etc/systemd/system/$unit.d/zz-test.conf"
    with_dropin tracker 000000c400001000
    expect 'sockstate_tracker_available' 1
    expect 'sockstate_scrape_source_success{source="netlink"}' 1
    without_dropins
  fi
  log "drop-ins: bpf, all-namespaces, conntrack and tracker grant exactly their capabilities, enough for their sources"
}

# TLS with nothing but --web.config.file: the installed binary finds the installed compat
# library (/usr/lib/sockstate_exporter) by itself, on a host without libssl-dev, in the sandbox.
check_tls() {
  local d=$root/etc/sockstate_exporter gid
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/server.key" -out "$work/server.crt" >/dev/null 2>&1 || die "openssl req failed"
  gid=$(in_root getent group sockstate_exporter | cut -d: -f3)
  install -m 0644 "$work/server.crt" "$d/test-server.crt"
  install -m 0640 -o 0 -g "$gid" "$work/server.key" "$d/test-server.key"
  printf 'tls_server_config:\n  cert_file: test-server.crt\n  key_file: test-server.key\n' >"$d/test-web.yml"
  mkdir -p "$root/etc/systemd/system/$unit.d"
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/sockstate_exporter --config.file=/etc/sockstate_exporter/sockstate.yml --web.config.file=/etc/sockstate_exporter/test-web.yml\n' \
    >"$root/etc/systemd/system/$unit.d/zz-test.conf"
  in_root systemctl daemon-reload
  in_root systemctl restart $unit || die "TLS: restart failed"
  local i
  metrics=""
  for ((i = 0; i < 100; i++)); do
    metrics=$(ip netns exec "$ns" curl -fsS --max-time 5 --cacert "$work/server.crt" \
      https://127.0.0.1:9798/metrics 2>/dev/null) && break
    metrics=""
    [[ "$(in_root systemctl is-active $unit)" != failed ]] || break
    sleep 0.1
  done
  [[ -n "$metrics" ]] || die "TLS: no /metrics over https: $(in_root journalctl -u $unit --no-pager -n 5)"
  expect 'sockstate_scrape_source_success{source="netlink"}' 1
  ! ip netns exec "$ns" curl -fsS --max-time 5 http://127.0.0.1:9798/metrics >/dev/null 2>&1 \
    || die "TLS: plain http still answers"
  rm -f "$d"/test-server.* "$d/test-web.yml"
  without_dropins
  log "tls: https with the packaged compat library found by itself; plain http refused"
}

# ---------------------------------------------------------------------------------------------
# 8. Remove, then purge, in the booted system.
# ---------------------------------------------------------------------------------------------
remove_and_purge() {
  in_root apt-get remove -y -q sockstate-exporter >"$work/apt-remove.log" 2>&1 \
    || { tail -20 "$work/apt-remove.log" >&2; die "apt-get remove failed"; }
  [[ "$(in_root dpkg-query -W -f='${Status}' sockstate-exporter)" == "deinstall ok config-files" ]] \
    || die "after remove: status $(in_root dpkg-query -W -f='${Status}' sockstate-exporter)"
  [[ "$(in_root systemctl is-active $unit)" != active ]] || die "remove did not stop $unit"
  ! scrape 2>/dev/null || die "something still serves /metrics after remove"
  [[ ! -e "$root/usr/bin/sockstate_exporter" && ! -e "$root/usr/lib/systemd/system/$unit" ]] \
    || die "remove left the binary or the unit"
  [[ -f "$root/etc/sockstate_exporter/sockstate.yml" && -f "$root/etc/default/sockstate_exporter" ]] \
    || die "remove took the conffiles (they stay until purge)"
  log "remove: service stopped, program gone, conffiles kept"

  in_root apt-get purge -y -q sockstate-exporter >"$work/apt-purge.log" 2>&1 \
    || { tail -20 "$work/apt-purge.log" >&2; die "apt-get purge failed"; }
  ! in_root dpkg-query -W sockstate-exporter >/dev/null 2>&1 || die "dpkg still knows sockstate-exporter after purge"
  local f left=()
  while read -r f; do
    [[ -d "$root$f" ]] && continue   # shared directories (/usr/bin, ...) stay
    [[ ! -e "$root$f" && ! -L "$root$f" ]] || left+=("$f")
  done <<<"$installed_files"
  ((${#left[@]} == 0)) || die "purge left files: ${left[*]}"
  for f in /etc/sockstate_exporter /usr/share/sockstate_exporter /usr/lib/sockstate_exporter \
    "/etc/systemd/system/multi-user.target.wants/$unit"; do
    [[ ! -e "$root$f" && ! -L "$root$f" ]] || die "purge left $f"
  done
  ! grep -rqs sockstate "$root/var/lib/systemd/deb-systemd-helper-enabled" \
    || die "purge left deb-systemd-helper state"
  ! in_root getent passwd sockstate_exporter >/dev/null || die "purge left the user"
  ! in_root getent group sockstate_exporter >/dev/null || die "purge left the group"
  [[ "$(in_root systemctl show -p LoadState --value $unit)" == not-found ]] \
    || die "systemd still knows $unit after purge"
  log "purge: no file, directory, enablement state, user or group left; systemd forgot the unit"
}

step build build_package
step inspect inspect_package
step lintian run_lintian
step unit check_unit
step root make_root
step boot boot
step install install_package
step run run_service
step drop-ins check_dropins
step tls check_tls
step purge remove_and_purge
step shutdown shutdown_root
log "PASS"
