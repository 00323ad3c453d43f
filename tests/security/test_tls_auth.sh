#!/usr/bin/env bash
# Tier "security": TLS + basic auth end to end with curl (certificates made here with openssl),
# mutual TLS, plain HTTP against the TLS port, and startup validation of bad web configs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_certs
compat="$(compat_lib)"
hash="$(bcrypt s3cret 10)"
port="$(free_port)"
url="https://127.0.0.1:$port/metrics"

cat >"$work/web.yml" <<YML
tls_server_config:
  cert_file: server.crt        # relative to this file
  key_file: server.key
basic_auth_users:
  prometheus: '$hash'
YML

note "TLS with nothing but --web.config.file: the compat library is found next to the binary"
start_exporter "$work/exporter.log" --web.listen-address="127.0.0.1:$port" \
  --web.config.file="$work/web.yml"
wait_http "$url" --cacert "$work/ca.crt" -u prometheus:s3cret ||
  { cat "$work/exporter.log"; fail "exporter did not answer over TLS with credentials"; }
grep -qF "TLS: loaded compat library $compat (found by itself)" "$work/exporter.log" ||
  fail "startup log does not name the compat library it loaded: $(cat "$work/exporter.log")"

body="$(curl -sS --cacert "$work/ca.crt" -u prometheus:s3cret "$url")"
grep -q '^sockstate_build_info' <<<"$body" || fail "no metrics over TLS"

note "one wrong password moves sockstate_http_requests_rejected_total{reason=\"unauthorized\"} by exactly 1"
unauthorized() {
  curl -sS --cacert "$work/ca.crt" -u prometheus:s3cret "$url" |
    awk '/^sockstate_http_requests_rejected_total\{reason="unauthorized"\}/ {print $2}'
}
before="$(unauthorized)"
[[ "$before" == 0 ]] || fail "unauthorized count before any wrong password: '$before', want 0"
code="$(curl -sS --cacert "$work/ca.crt" -u prometheus:wrong -o /dev/null -w '%{http_code}' "$url")"
[[ "$code" == 401 ]] || fail "wrong password: want 401, got $code"
after="$(unauthorized)"
[[ "$after" == 1 ]] || fail "unauthorized count after one wrong password: '$after', want 1"
echo "   unauthorized: $before -> $after"

note "wrong password, unknown user, no credentials: 401 with WWW-Authenticate"
for creds in "-u prometheus:wrong" "-u nobody:s3cret" ""; do
  # shellcheck disable=SC2086
  hdrs="$(curl -sS --cacert "$work/ca.crt" $creds -D - -o "$work/body" "$url")"
  code="$(head -1 <<<"$hdrs" | awk '{print $2}')"
  [[ "$code" == 401 ]] || fail "credentials '$creds': want 401, got $code"
  grep -qi '^WWW-Authenticate: Basic realm="sockstate_exporter"' <<<"$hdrs" ||
    fail "401 without WWW-Authenticate"
  ! grep -q sockstate_ "$work/body" || fail "metrics leaked with credentials '$creds'"
done

note "plain HTTP to the TLS port fails cleanly and quickly"
start=$(date +%s%N)
if curl -sS -m 10 -o /dev/null "http://127.0.0.1:$port/metrics" 2>"$work/plain.err"; then
  fail "plain HTTP got an answer from the TLS port"
fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
((ms < 3000)) || fail "plain HTTP took ${ms} ms to fail"
echo "   plain HTTP refused in ${ms} ms: $(cat "$work/plain.err")"
kill -0 "$exporter_pid" || fail "exporter died after a plain HTTP request"

note "TLS 1.1 client refused (min_version default TLS12); a TLS 1.3 client works"
if curl -sS -m 10 --cacert "$work/ca.crt" -u prometheus:s3cret --tlsv1.0 --tls-max 1.1 \
  -o /dev/null "$url" 2>/dev/null; then
  fail "TLS 1.1 accepted"
fi
curl -sS -m 10 --cacert "$work/ca.crt" -u prometheus:s3cret --tlsv1.3 -o /dev/null "$url" ||
  fail "TLS 1.3 refused"

note "bcrypt is cached: 20 scrapes with credentials well under 20 x bcrypt(cost 10)"
start=$(date +%s%N)
for _ in $(seq 20); do
  curl -sS -m 10 --cacert "$work/ca.crt" -u prometheus:s3cret -o /dev/null "$url"
done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "   20 authenticated TLS scrapes: ${ms} ms"
kill -0 "$exporter_pid" || fail "exporter died"
kill "$exporter_pid"; wait "$exporter_pid" || true

note "mutual TLS: RequireAndVerifyClientCert (compat library named with --web.tls-compat-lib)"
port2="$(free_port)"
cat >"$work/mtls.yml" <<YML
tls_server_config:
  cert_file: $work/server.crt
  key_file: $work/server.key
  client_ca_file: $work/ca.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS13
YML
start_exporter "$work/mtls.log" --web.listen-address="127.0.0.1:$port2" \
  --web.config.file="$work/mtls.yml" --web.tls-compat-lib="$compat"
murl="https://127.0.0.1:$port2/metrics"
wait_http "$murl" --cacert "$work/ca.crt" --cert "$work/client.crt" --key "$work/client.key" ||
  { cat "$work/mtls.log"; fail "mTLS with a client certificate failed"; }
if curl -sS -m 10 --cacert "$work/ca.crt" -o /dev/null "$murl" 2>/dev/null; then
  fail "mTLS without a client certificate was accepted"
fi
# A self-signed client certificate (not from client_ca_file) is refused.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=intruder -keyout "$work/intruder.key" -out "$work/intruder.crt" 2>/dev/null
if curl -sS -m 10 --cacert "$work/ca.crt" --cert "$work/intruder.crt" --key "$work/intruder.key" \
  -o /dev/null "$murl" 2>/dev/null; then
  fail "mTLS accepted a certificate from another CA"
fi
kill -0 "$exporter_pid" || fail "exporter died during mTLS checks"

note "startup validation: bad web configs exit 1 naming file and key"
check_bad() {  # check_bad NAME EXPECTED-SUBSTRING (config in $work/NAME.yml)
  local f="$work/$1.yml" out rc
  set +e
  out="$("$bin" --web.listen-address="127.0.0.1:$(free_port)" --web.config.file="$f" 2>&1)"
  rc=$?
  set -e
  [[ $rc -eq 1 ]] || fail "$1: want exit 1, got $rc: $out"
  grep -qF "$f" <<<"$out" || fail "$1: error does not name the file: $out"
  grep -qF "$2" <<<"$out" || fail "$1: want '$2' in: $out"
  echo "   $1: $out"
}
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s/missing.key\n' \
  "$work/server.crt" "$work" >"$work/missing_key.yml"
check_bad missing_key "tls_server_config.key_file: cannot read"
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' \
  "$work/server.crt" "$work/other.key" >"$work/mismatch.yml"
check_bad mismatch "tls_server_config.key_file: cannot load private key"
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' \
  "$work/server.key" "$work/server.key" >"$work/notcert.yml"
check_bad notcert "tls_server_config.cert_file: cannot load certificate"
printf 'tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS9\n' >"$work/badver.yml"
check_bad badver ":4:16: tls_server_config.min_version: unknown TLS version"
printf 'basic_auth_users:\n  prometheus: hunter2\n' >"$work/plainpw.yml"
check_bad plainpw ":2:15: basic_auth_users.prometheus: not a bcrypt hash"
printf 'tls_server_config:\n  cert_file: x\n  key_file: y\n  client_auth_type: RequireAndVerifyClientCert\n' >"$work/noca.yml"
check_bad noca "tls_server_config.client_ca_file: required"

echo "test_tls_auth: PASS"
