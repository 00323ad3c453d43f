# Shared by tests/security/test_*.sh (sourced, not a test itself). Everything on 127.0.0.1,
# every wait bounded; processes started here are stopped by the EXIT trap.
set -euo pipefail

src="${SOCKSTATE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${SOCKSTATE_EXPORTER_BIN:-$src/build/exporter/sockstate_exporter}"
test_name="$(basename "${BASH_SOURCE[1]}" .sh)"
work="$(mktemp -d "/tmp/sst-${test_name}.XXXXXX")"
pids=()

fail() { echo "$test_name: FAIL: $*" >&2; exit 1; }
note() { echo "== $*"; }
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

[[ -x "$bin" ]] || fail "exporter binary $bin not found (set SOCKSTATE_EXPORTER_BIN)"
for tool in python3 curl openssl cc; do
  command -v "$tool" >/dev/null 2>&1 || fail "tier security cannot run: $tool not found"
done

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bcrypt hash of $1 (cost ${2:-10}) through libcrypt, like htpasswd -B.
bcrypt() {
  python3 - "$1" "${2:-10}" <<'PY'
import ctypes, sys
lib = ctypes.CDLL("libcrypt.so.1")
lib.crypt_gensalt.restype = ctypes.c_char_p
lib.crypt.restype = ctypes.c_char_p
salt = lib.crypt_gensalt(b"$2y$", int(sys.argv[2]), None, 0)
print(lib.crypt(sys.argv[1].encode(), salt).decode())
PY
}

# CA, server certificate for 127.0.0.1/localhost, client certificate; all in $work.
make_certs() {
  local d="$work"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=sockstate-test-ca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=prometheus \
    -keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/client.ext" -out "$d/client.crt" 2>/dev/null
  # A second, unrelated key: must not be accepted as the server key.
  openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out "$d/other.key" 2>/dev/null
}

# The civetweb 1.15 + OpenSSL 3 compat library (exporter/http/ssl_compat/libssl_compat.c), as built
# by CMake next to the exporter binary.
compat_lib() {
  local out
  out="$(dirname "$bin")/libsockstate_ssl_compat.so"
  [[ -f "$out" ]] || fail "compat library $out not built (target sockstate_ssl_compat)"
  echo "$out"
}

# start_exporter LOG ARGS...: starts the exporter in the background; sets $exporter_pid.
start_exporter() {
  local log="$1"
  shift
  "$bin" "$@" >"$log" 2>&1 &
  exporter_pid=$!
  pids+=("$exporter_pid")
}

# wait_http URL [curl args...]: until it answers 200, at most 20 s.
wait_http() {
  local url="$1"
  shift
  for _ in $(seq 100); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$@" "$url" || true)" == 200 ]]; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
