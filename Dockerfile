# sockstate_exporter container image: Debian 12 (bookworm) packages only, no other registry.
# (No "# syntax=" line: it would make BuildKit pull a frontend image from Docker Hub.)
#
#   buildah bud -t sockstate_exporter .        (or: docker build -t sockstate_exporter .)
#   podman run --network=host sockstate_exporter
#
# See docs/container.md for what the container needs to see the host's sockets.

# ---------------------------------------------------------------------------------------------
# Builder: the Debian package, built from source with Debian 12's packages by
# scripts/build-deb.sh (the same command as for hosts, docs/install.md), unpacked into /out.
# --build-arg SOCKSTATE_DEB=<path in the build context> packages an already built .deb instead
# and skips the compiler (CI builds the package once and tests both artifacts made from it).
# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS builder
ARG DEBIAN_FRONTEND=noninteractive
ARG SOCKSTATE_DEB=
RUN if [ -z "$SOCKSTATE_DEB" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends \
           build-essential cmake pkg-config prometheus-cpp-dev libmnl-dev libyaml-cpp-dev \
           libcrypt-dev libssl-dev file \
           libbpf-dev clang bpftool \
      && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /src
COPY . /src
# Stage everything the runtime image gets under /out, in one step so the build tree never
# lands in a layer:
#  - the package's stripped binary and TLS compat libraries,
#  - the default configuration (config/*.yml),
#  - the package's Grafana dashboards and Prometheus rules (per node and fleet), to copy out of
#    the image into Grafana / Prometheus (docs/container.md),
#  - the package's library dependencies (its Depends, computed by dpkg-shlibdeps from the ELF
#    files' DT_NEEDED; minus passwd and procps, which only its maintainer scripts and systemd
#    unit use), so the runtime stage installs exactly what the binary links, no more.
RUN set -eu; \
    deb="$SOCKSTATE_DEB"; \
    if [ -z "$deb" ]; then deb=$(scripts/build-deb.sh /build | tail -1); fi; \
    test -f "$deb"; \
    dpkg-deb -x "$deb" /pkg; \
    install -d /out/usr/bin /out/usr/lib/sockstate_exporter /out/etc/sockstate \
      /out/usr/share/doc/sockstate-exporter /out/usr/share/sockstate_exporter; \
    cp -a /pkg/usr/bin/sockstate_exporter /out/usr/bin/; \
    cp -a /pkg/usr/lib/sockstate_exporter/. /out/usr/lib/sockstate_exporter/; \
    cp -a /pkg/usr/share/doc/sockstate-exporter/copyright /out/usr/share/doc/sockstate-exporter/; \
    cp -a /pkg/usr/share/sockstate_exporter/dashboards /pkg/usr/share/sockstate_exporter/prometheus \
      /out/usr/share/sockstate_exporter/; \
    for f in config/*.yml config/*.yaml; do \
      if [ -f "$f" ]; then install -m 0644 "$f" /out/etc/sockstate/; fi; \
    done; \
    dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/([^)]*)//; s/|.*//; s/[[:space:]]//g' \
      | grep -v -x -e '' -e passwd -e procps | sort -u > /out/runtime-packages.txt; \
    rm -rf /build /pkg; \
    test -s /out/runtime-packages.txt; \
    echo "runtime packages:"; cat /out/runtime-packages.txt

# ---------------------------------------------------------------------------------------------
# Runtime: bookworm-slim + the binary's shared libraries + the binary + default config.
# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
LABEL org.opencontainers.image.title="sockstate_exporter" \
      org.opencontainers.image.description="Prometheus exporter for TCP socket states, ephemeral port budget and TIME_WAIT pressure" \
      org.opencontainers.image.base.name="debian:bookworm-slim" \
      org.opencontainers.image.licenses="BSD-2-Clause"
COPY --from=builder /out/runtime-packages.txt /tmp/runtime-packages.txt
# Today: libbpf1 libcivetweb1 libcrypt1 libmnl0 libprometheus-cpp-core1.0 libssl3 libyaml-cpp0.7
# libstdc++6 libgcc-s1 libc6 (the last four are in the base image already).
RUN apt-get update \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
      /tmp/runtime-packages.txt
COPY --from=builder /out/usr/bin/sockstate_exporter /usr/bin/sockstate_exporter
# TLS (docs/security.md): the civetweb 1.15 + OpenSSL 3 compat library and its libcrypto.so
# stand-in, where the binary looks for them (<prefix>/lib/sockstate_exporter, prefix /usr). So
# --web.config.file alone turns TLS on, with no -dev package in the image.
COPY --from=builder /out/usr/lib/sockstate_exporter/ /usr/lib/sockstate_exporter/
# The licence travels with the binary (BSD-2-Clause: binary redistributions carry the notice), where
# every Debian image keeps each package's: /usr/share/doc/<package>/copyright.
COPY --from=builder /out/usr/share/doc/sockstate-exporter/ /usr/share/doc/sockstate-exporter/
COPY --from=builder /out/etc/sockstate/ /etc/sockstate/
COPY --from=builder /out/usr/share/sockstate_exporter/ /usr/share/sockstate_exporter/
# Fail the build if a shared library is missing from the runtime image, or if the shipped
# configuration does not load.
RUN set -eu; \
    if ldd /usr/bin/sockstate_exporter /usr/lib/sockstate_exporter/*.so | grep 'not found'; then \
      exit 1; \
    fi; \
    /usr/bin/sockstate_exporter --version; \
    /usr/bin/sockstate_exporter --help | grep -q tls-compat-lib; \
    for f in /etc/sockstate/*.yml; do \
      if [ -f "$f" ]; then /usr/bin/sockstate_exporter --config.check --config.file="$f"; fi; \
    done

# nobody:nogroup. Numeric so Kubernetes' runAsNonRoot can verify it. Dumping the sockets of
# the container's own network namespace (netlink sock_diag) needs no capability; with the host
# network namespace (--network=host / hostNetwork) that is the host's sockets.
# Namespace discovery (namespaces.mode all/list) needs more: CAP_SYS_ADMIN for setns, and for
# mode all hostPID and CAP_SYS_PTRACE (docs/namespaces.md, deploy/kubernetes overlays).
USER 65534:65534
EXPOSE 9798

# No HEALTHCHECK: the OCI image format (buildah's and podman's default) drops it, the image has
# no HTTP client to run one with, the listen address is a flag so a fixed-port check would be
# wrong, and Kubernetes ignores it (deploy/kubernetes uses liveness/readiness probes).
# See docs/container.md for a `docker run --health-cmd` that works with the image as is.

ENTRYPOINT ["/usr/bin/sockstate_exporter"]
