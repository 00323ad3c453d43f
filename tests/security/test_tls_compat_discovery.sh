#!/usr/bin/env bash
# Tier "security": how TLS finds the civetweb 1.15 + OpenSSL 3 compat library by itself.
#  - installed layout <prefix>/bin + <prefix>/lib/sockstate_exporter: found, TLS serves, the
#    startup log names the library;
#  - --web.tls-compat-lib naming a missing file: exit 1, the path named;
#  - a binary with no library anywhere it looks: exit 1 naming every place it looked (no crash
#    on the first connection);
#  - without tls_server_config nothing is looked for: a lone binary serves plain HTTP.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_certs
compat="$(compat_lib)"
hash="$(bcrypt s3cret 4)"
cat >"$work/web.yml" <<YML
tls_server_config:
  cert_file: $work/server.crt
  key_file: $work/server.key
basic_auth_users:
  prometheus: '$hash'
YML

# exit_1_with NAME EXPECTED-SUBSTRING ARGS...: the exporter (ARGS[0]) exits 1 saying EXPECTED.
exit_1_with() {
  local name="$1" want="$2" out rc
  shift 2
  set +e
  out="$(timeout 20 "$@" --web.listen-address="127.0.0.1:$(free_port)" 2>&1)"
  rc=$?
  set -e
  [[ $rc -eq 1 ]] || fail "$name: want exit 1, got $rc: $out"
  grep -qF -- "$want" <<<"$out" || fail "$name: want '$want' in: $out"
  echo "   $name: $out"
}

note "installed layout: <prefix>/bin/sockstate_exporter finds <prefix>/lib/sockstate_exporter/"
mkdir -p "$work/prefix/bin" "$work/prefix/lib/sockstate_exporter"
cp "$bin" "$work/prefix/bin/sockstate_exporter"
cp "$compat" "$(dirname "$compat")/libsockstate_crypto_compat.so" "$work/prefix/lib/sockstate_exporter/"
port="$(free_port)"
url="https://127.0.0.1:$port/metrics"
"$work/prefix/bin/sockstate_exporter" --web.listen-address="127.0.0.1:$port" \
  --web.config.file="$work/web.yml" >"$work/prefix.log" 2>&1 &
pids+=("$!")
wait_http "$url" --cacert "$work/ca.crt" -u prometheus:s3cret ||
  { cat "$work/prefix.log"; fail "installed layout: no TLS scrape"; }
want="TLS: loaded compat library $work/prefix/lib/sockstate_exporter/libsockstate_ssl_compat.so (found by itself)"
grep -qF "$want" "$work/prefix.log" || fail "log does not say '$want': $(cat "$work/prefix.log")"
want2="TLS: loaded $work/prefix/lib/sockstate_exporter/libsockstate_crypto_compat.so for civetweb's libcrypto.so"
grep -qF "$want2" "$work/prefix.log" || fail "log does not say '$want2': $(cat "$work/prefix.log")"
code="$(curl -sS --cacert "$work/ca.crt" -o /dev/null -w '%{http_code}' "$url")"
[[ "$code" == 401 ]] || fail "installed layout without credentials: want 401, got $code"
echo "   served TLS; $want"

note "--web.tls-compat-lib naming a missing file: exit 1 with the path"
exit_1_with bad-override "cannot load TLS compat library \"$work/nope/libx.so\"" \
  "$bin" --web.config.file="$work/web.yml" --web.tls-compat-lib="$work/nope/libx.so"
note "--web.tls-compat-lib naming a missing file fails even without TLS configured"
exit_1_with bad-override-plain "cannot load TLS compat library \"$work/nope/libx.so\"" \
  "$bin" --web.tls-compat-lib="$work/nope/libx.so"

note "no compat library anywhere: exit 1 naming where it looked"
mkdir -p "$work/lonely"
cp "$bin" "$work/lonely/sockstate_exporter"
# The baked-in path is <CMAKE_INSTALL_PREFIX>/lib/sockstate_exporter/...: read the prefix from the
# build tree (`strings` cannot cut it out reliably: at -O3 the literal sits next to others).
cache="${SOCKSTATE_BUILD_DIR:-$(dirname "$(dirname "$bin")")}/CMakeCache.txt"
prefix="$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$cache" 2>/dev/null || true)"
[[ -n "$prefix" ]] || fail "cannot read CMAKE_INSTALL_PREFIX from $cache"
installed="$prefix/lib/sockstate_exporter/libsockstate_ssl_compat.so"
grep -qaF "$installed" "$bin" || fail "the binary has no baked-in install path $installed"
if [[ -e "$installed" ]]; then
  # Installed on this machine: the lone binary finds it there instead.
  port="$(free_port)"
  "$work/lonely/sockstate_exporter" --web.listen-address="127.0.0.1:$port" \
    --web.config.file="$work/web.yml" >"$work/lonely.log" 2>&1 &
  pids+=("$!")
  wait_http "https://127.0.0.1:$port/metrics" --cacert "$work/ca.crt" -u prometheus:s3cret ||
    { cat "$work/lonely.log"; fail "lone binary did not use the installed $installed"; }
  grep -qF "TLS: loaded compat library $installed (found by itself)" "$work/lonely.log" ||
    fail "lone binary: log does not name $installed"
  echo "   $installed is installed here: the lone binary loaded it"
else
  exit_1_with none-found "needs the TLS compat library libsockstate_ssl_compat.so with OpenSSL 3 and it was not found (looked for $work/lonely/libsockstate_ssl_compat.so, $work/lib/sockstate_exporter/libsockstate_ssl_compat.so, $installed)" \
    "$work/lonely/sockstate_exporter" --web.config.file="$work/web.yml"
fi

note "without tls_server_config nothing is looked for: the lone binary serves plain HTTP"
port="$(free_port)"
"$work/lonely/sockstate_exporter" --web.listen-address="127.0.0.1:$port" >"$work/plain.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$port/metrics" || { cat "$work/plain.log"; fail "plain HTTP failed"; }
! grep -q "compat library" "$work/plain.log" || fail "plain HTTP looked for the compat library"

echo "test_tls_compat_discovery: PASS"
