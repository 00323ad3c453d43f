# sockstate_exporter container image: Debian 12 (bookworm) packages only, no other registry.
# (No "# syntax=" line: it would make BuildKit pull a frontend image from Docker Hub.)
#
#   buildah bud -t sockstate_exporter .        (or: docker build -t sockstate_exporter .)
#   podman run --network=host sockstate_exporter
#
# See docs/container.md for what the container needs to see the host's sockets.

# ---------------------------------------------------------------------------------------------
# Builder: compile the exporter from source with Debian 12's packages.
# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS builder
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config prometheus-cpp-dev libmnl-dev libyaml-cpp-dev \
      libcrypt-dev libssl-dev \
      libbpf-dev clang bpftool \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . /src
# Compile, then stage everything the runtime image gets under /out, in one step so the build
# tree never lands in a layer:
#  - the stripped binary,
#  - the default configuration (config/*.yml, if the source tree has any),
#  - the Debian packages that provide the binary's shared libraries (ldd + dpkg -S), so the
#    runtime stage installs exactly what the binary links, no more.
RUN set -eu; \
    cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DSOCKSTATE_BUILD_TESTS=OFF -DSOCKSTATE_BUILD_BENCH=OFF; \
    cmake --build /build -j"$(nproc)" \
      --target sockstate_exporter sockstate_ssl_compat sockstate_crypto_compat; \
    install -d /out/usr/bin /out/usr/lib/sockstate_exporter /out/etc/sockstate; \
    install -m 0755 /build/exporter/sockstate_exporter /out/usr/bin/sockstate_exporter; \
    install -m 0644 /build/exporter/libsockstate_ssl_compat.so \
      /build/exporter/libsockstate_crypto_compat.so /out/usr/lib/sockstate_exporter/; \
    rm -rf /build; \
    strip --strip-unneeded /out/usr/bin/sockstate_exporter /out/usr/lib/sockstate_exporter/*.so; \
    /out/usr/bin/sockstate_exporter --help | grep -q tls-compat-lib; \
    for f in config/*.yml config/*.yaml; do \
      if [ -f "$f" ]; then install -m 0644 "$f" /out/etc/sockstate/; fi; \
    done; \
    elfs="/out/usr/bin/sockstate_exporter $(echo /out/usr/lib/sockstate_exporter/*.so)"; \
    if ldd $elfs | grep -q 'not found'; then ldd $elfs; exit 1; fi; \
    ldd $elfs | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u \
      | while read -r lib; do \
          dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"; \
        done \
      | cut -d: -f1 | sort -u > /out/runtime-packages.txt; \
    test -s /out/runtime-packages.txt; \
    echo "runtime packages:"; cat /out/runtime-packages.txt

# ---------------------------------------------------------------------------------------------
# Runtime: bookworm-slim + the binary's shared libraries + the binary + default config.
# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
LABEL org.opencontainers.image.title="sockstate_exporter" \
      org.opencontainers.image.description="Prometheus exporter for TCP socket states, ephemeral port budget and TIME_WAIT pressure" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
COPY --from=builder /out/runtime-packages.txt /tmp/runtime-packages.txt
# Today: libprometheus-cpp-core1.0 libcivetweb1 libmnl0 libyaml-cpp0.7 libssl3 libcrypt1
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
COPY --from=builder /out/etc/sockstate/ /etc/sockstate/
# Fail the build if a shared library is missing from the runtime image, or if the shipped
# configuration does not load.
RUN set -eu; \
    if ldd /usr/bin/sockstate_exporter /usr/lib/sockstate_exporter/*.so | grep 'not found'; then \
      exit 1; \
    fi; \
    /usr/bin/sockstate_exporter --version; \
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
