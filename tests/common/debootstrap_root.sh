# shellcheck shell=bash
# A minimal Debian root made with debootstrap from this machine's own mirror and slimmed the way
# debian:*-slim is, cached as a tarball both script tiers share: the container tier imports it as
# its base image, the package tier unpacks it as a fresh host (tests/container/test_container.sh,
# tests/package/test_package.sh). Sourced, not run.
#
# The sourcing script defines `suite`, `cache_dir` and the functions `log`, `die`, `cannot_run`
# and `remaining` (seconds left in its budget) before sourcing, holds $cache_dir/.lock while it
# calls make_base_tarball (reading a cached tarball needs no lock: a new one replaces the old by
# rename), and calls base_tmp_cleanup from its EXIT trap (a half-made root is removed).

base_tarball=$cache_dir/$suite-slim-rootfs.tar
base_stamp=$cache_dir/$suite-slim-rootfs.mirror
base_format=2   # bump when the way the rootfs is made changes: invalidates cached tarballs
base_tmp_rootfs=""

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

# The stamp names the format and the mirrors the tarball was made from.
base_stamp_want() {
  echo "v$base_format $(find_mirror "$suite") $(find_mirror "$suite-security")"
}
base_is_cached() {
  [[ -n "$(find_mirror "$suite")" && -f "$base_tarball" && -f "$base_stamp" \
    && "$(cat "$base_stamp")" == "$(base_stamp_want)" ]]
}

make_base_tarball() {
  local mirror security suites rootfs
  mirror=$(find_mirror "$suite")
  [[ -n "$mirror" ]] || die "cannot find this machine's Debian mirror for $suite in /etc/apt"
  security=$(find_mirror "$suite-security")
  suites=$suite
  [[ "$(find_mirror "$suite-updates")" != "$mirror" ]] || suites+=" $suite-updates"
  if base_is_cached; then
    log "base: cached rootfs tarball $base_tarball ($(du -h "$base_tarball" | cut -f1))"
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || cannot_run "debootstrap not found"
  log "base: debootstrap --variant=minbase $suite from $mirror"
  rootfs=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
  base_tmp_rootfs=$rootfs
  timeout "$(remaining)" debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" \
    >"$cache_dir/debootstrap.log" 2>&1 \
    || { tail -20 "$cache_dir/debootstrap.log" >&2; die "debootstrap failed (log: $cache_dir/debootstrap.log)"; }

  # apt sources: the same mirrors as this machine (apt in the image build and in the package
  # tier's root use them).
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$mirror" "$suites"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [[ -n "$security" ]]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$suite"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  # This machine's apt proxy settings, if any, so apt in the root reaches the mirror the same way.
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
  # mktemp -d made the rootfs 0700: the image's / would be unreadable for USER 65534 (the vfs
  # driver keeps that mode; overlay happens to hide it).
  chmod 0755 "$rootfs"
  tar --numeric-owner --xattrs -C "$rootfs" -cf "$base_tarball.tmp" .
  mv "$base_tarball.tmp" "$base_tarball"
  base_stamp_want >"$base_stamp"
  rm -rf "$rootfs"
  base_tmp_rootfs=""
  log "base: rootfs tarball $base_tarball ($(du -h "$base_tarball" | cut -f1))"
}

base_tmp_cleanup() {
  local m
  [[ -n "$base_tmp_rootfs" ]] || return 0
  # debootstrap mounts proc and sys in the root while it runs; a failed run may leave them, and
  # rm -rf must not walk into them.
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(awk -v r="$base_tmp_rootfs/" 'index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r)
  if grep -q " $base_tmp_rootfs/" /proc/self/mounts; then
    log "base: left $base_tmp_rootfs in place: something is still mounted below it"
  else
    rm -rf "$base_tmp_rootfs"
  fi
  base_tmp_rootfs=""
}
