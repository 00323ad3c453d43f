#!/usr/bin/env bash
# Tier "security": a real Prometheus (/usr/bin/prometheus) scrapes the exporter over TLS with
# basic auth (scheme https, tls_config.ca_file, basic_auth); up == 1 through the Prometheus API.
# A second job with a wrong password must be up == 0 (the 401 is seen by Prometheus).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v prometheus >/dev/null 2>&1 || fail "tier security cannot run: prometheus not found"

make_certs
compat="$(compat_lib)"
port="$(free_port)"
prom_port="$(free_port)"
cat >"$work/web.yml" <<YML
tls_server_config:
  cert_file: server.crt
  key_file: server.key
basic_auth_users:
  prometheus: '$(bcrypt s3cret 10)'
YML
start_exporter "$work/exporter.log" --web.listen-address="127.0.0.1:$port" \
  --web.config.file="$work/web.yml" --web.tls-compat-lib="$compat"
wait_http "https://127.0.0.1:$port/metrics" --cacert "$work/ca.crt" -u prometheus:s3cret ||
  { cat "$work/exporter.log"; fail "exporter not up"; }

printf 's3cret' >"$work/password"
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sockstate
    scheme: https
    tls_config:
      ca_file: $work/ca.crt
      server_name: localhost
    basic_auth:
      username: prometheus
      password_file: $work/password
    static_configs:
      - targets: ["127.0.0.1:$port"]
  - job_name: sockstate-wrong-password
    scheme: https
    tls_config:
      ca_file: $work/ca.crt
    basic_auth:
      username: prometheus
      password: wrong
    static_configs:
      - targets: ["127.0.0.1:$port"]
YML
promtool check config "$work/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

query() {  # query PROMQL -> value of the first sample, or empty
  curl -sS -m 3 --get "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' \
    2>/dev/null || true
}
note "waiting (at most 60 s) for Prometheus to scrape the exporter over TLS with credentials"
up="" bad=""
for _ in $(seq 120); do
  up="$(query 'up{job="sockstate"}')"
  bad="$(query 'up{job="sockstate-wrong-password"}')"
  [[ "$up" == 1 && "$bad" == 0 ]] && break
  sleep 0.5
done
[[ "$up" == 1 ]] || { tail -20 "$work/prometheus.log"; fail "up{job=sockstate} = '$up', want 1"; }
[[ "$bad" == 0 ]] || fail "up{job=sockstate-wrong-password} = '$bad', want 0"
err="$(curl -sS -m 3 "http://127.0.0.1:$prom_port/api/v1/targets" | python3 -c '
import json,sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    if t["labels"]["job"] == "sockstate-wrong-password": print(t["lastError"])')"
grep -q 401 <<<"$err" || fail "wrong-password target error is not a 401: $err"
n="$(query 'count({job="sockstate",__name__=~"sockstate_.+"})')"
[[ -n "$n" && "$n" -gt 10 ]] || fail "too few sockstate_ series in Prometheus: '$n'"
echo "   up=1 over TLS + basic auth; wrong password: $err; $n sockstate_ series stored"
echo "test_prometheus_tls: PASS"
