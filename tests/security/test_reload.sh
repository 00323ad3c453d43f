#!/usr/bin/env bash
# Tier "security": config reload. SIGHUP applies a valid change (a destination group appears in
# /metrics) and rejects an invalid one (old config keeps serving, reload gauge 0, log line);
# POST /-/reload only with --web.enable-lifecycle; basic_auth_users reload with the web config.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port="$(free_port)"
cfg="$work/sockstate.yml"
web="$work/web.yml"
url="http://127.0.0.1:$port/metrics"
write_cfg() {  # write_cfg GROUP...
  { echo "destinations:"; echo "  groups:"
    local g
    for g in "$@"; do printf '    - name: %s\n      cidrs: [192.0.2.0/24]\n      ports: [443]\n' "$g"; done
  } >"$cfg.tmp"
  mv "$cfg.tmp" "$cfg"
}
metrics() { curl -sS -m 5 -u "${creds:-prometheus:one}" "$url"; }
has_group() {
  local m
  m="$(metrics)" || return 1
  grep -q "^sockstate_destination_sockets{[^}]*destination=\"$1\"" <<<"$m"
}
gauge() { metrics | awk -v m="$1" '$1 == m {print $2}'; }
wait_for() {  # wait_for DESCRIPTION COMMAND...: at most 10 s
  local what="$1"
  shift
  for _ in $(seq 50); do "$@" && return 0; sleep 0.2; done
  fail "timed out waiting for: $what"
}

write_cfg alpha
printf "basic_auth_users:\n  prometheus: '%s'\n" "$(bcrypt one 4)" >"$web"
start_exporter "$work/exporter.log" --web.listen-address="127.0.0.1:$port" \
  --config.file="$cfg" --web.config.file="$web"
wait_http "$url" -u prometheus:one || { cat "$work/exporter.log"; fail "exporter not up"; }
has_group alpha || fail "group alpha missing at start"
! has_group beta || fail "group beta present before reload"
[[ "$(gauge sockstate_config_last_reload_successful)" == 1 ]] || fail "reload gauge not 1 at start"
ts0="$(gauge sockstate_config_last_reload_success_timestamp_seconds)"

note "SIGHUP with a valid change: group beta appears"
sleep 1.1  # so the success timestamp visibly moves
write_cfg alpha beta
kill -HUP "$exporter_pid"
wait_for "group beta after SIGHUP" has_group beta
[[ "$(gauge sockstate_config_last_reload_successful)" == 1 ]] || fail "reload gauge not 1"
ts1="$(gauge sockstate_config_last_reload_success_timestamp_seconds)"
python3 -c "import sys; sys.exit(0 if float('$ts1') > float('$ts0') else 1)" ||
  fail "success timestamp did not advance ($ts0 -> $ts1)"

note "SIGHUP with an invalid file: old config kept, gauge 0, log line"
printf 'destinations:\n  groups:\n    - name: gamma\n      cidrs: [not-a-cidr]\n' >"$cfg"
kill -HUP "$exporter_pid"
wait_for "reload gauge 0" bash -c "[[ \"\$(curl -sS -m 5 -u prometheus:one $url | awk '\$1 == \"sockstate_config_last_reload_successful\" {print \$2}')\" == 0 ]]"
has_group beta || fail "old config (group beta) not serving after a failed reload"
! has_group gamma || fail "invalid config partly applied"
[[ "$(gauge sockstate_config_last_reload_success_timestamp_seconds)" == "$ts1" ]] ||
  fail "success timestamp moved on a failed reload"
grep -q 'level=error msg="config reload failed, keeping the old config: .*sockstate.yml' \
  "$work/exporter.log" || fail "no log line for the failed reload"
kill -0 "$exporter_pid" || fail "exporter died on a bad reload"

note "lifecycle off: POST /-/reload is not allowed"
code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 -u prometheus:one -X POST "http://127.0.0.1:$port/-/reload")"
[[ "$code" == 405 ]] || fail "POST /-/reload without --web.enable-lifecycle: $code, want 405"

note "web config reload: a new password applies on SIGHUP, the old one stops working"
write_cfg alpha beta
printf "basic_auth_users:\n  prometheus: '%s'\n" "$(bcrypt two 4)" >"$web"
kill -HUP "$exporter_pid"
creds=prometheus:two wait_for "new password accepted" has_group beta
code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 -u prometheus:one "$url")"
[[ "$code" == 401 ]] || fail "old password after reload: $code, want 401"
printf "basic_auth_users:\n  prometheus: plaintext\n" >"$web"
kill -HUP "$exporter_pid"
creds=prometheus:two wait_for "gauge 0 after bad web config" \
  bash -c "[[ \"\$(curl -sS -m 5 -u prometheus:two $url | awk '\$1 == \"sockstate_config_last_reload_successful\" {print \$2}')\" == 0 ]]"
kill "$exporter_pid"; wait "$exporter_pid" || true

note "lifecycle on: POST /-/reload applies a valid change, answers 500 for an invalid one"
port="$(free_port)"
url="http://127.0.0.1:$port/metrics"
write_cfg alpha
start_exporter "$work/exporter2.log" --web.listen-address="127.0.0.1:$port" \
  --config.file="$cfg" --web.enable-lifecycle
wait_http "$url" || fail "exporter (lifecycle) not up"
write_cfg alpha delta
code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST "http://127.0.0.1:$port/-/reload")"
[[ "$code" == 200 ]] || fail "POST /-/reload: $code"
has_group delta || fail "group delta missing after POST /-/reload"
printf 'destinations: [\n' >"$cfg"
curl -s -m 5 -X POST -D "$work/h" -o "$work/b" "http://127.0.0.1:$port/-/reload" || true
grep -q ' 500 ' "$work/h" || fail "invalid POST /-/reload: want 500"
grep -q 'old config kept: .*sockstate.yml' "$work/b" || fail "500 body does not explain: $(cat "$work/b")"
has_group delta || fail "old config not serving after failed POST /-/reload"
code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$port/-/reload")"
[[ "$code" == 405 ]] || fail "GET /-/reload: $code, want 405"
echo "test_reload: PASS"
