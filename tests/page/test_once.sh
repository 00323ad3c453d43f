#!/usr/bin/env bash
# Tier "page": `sockstate_exporter --once` in a network namespace we create, holding a known
# socket population (population.py: 100-port range, 10 reserved, 1 bind-held -> 89 usable;
# 60 ESTABLISHED + 20 TIME_WAIT to 127.0.0.2:5432, 50 to .3:443, 5 TIME_WAIT to .4:8080,
# 3 CLOSE_WAIT to .5:6379; UDP: 61 of 90 ports). The printed tables must be exactly these
# rows, it must start no server, and it exits 0; last it says that it does not count connect() failures and where they
# are counted (also as nobody without capabilities with --collector.connect-failures=on), and
# nothing about them with =off. Who holds the ports: the population's cgroup (named from the
# host's cgroup2 tree, --path.cgroup2, since `ip netns exec` hides /sys/fs/cgroup), and its
# TIME_WAIT sockets "unknown" (--once loads no BPF program). Needs root.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
page_setup once

echo "== --once in netns $ns"
start=$(date +%s%N)
# nsenter --net, not ip netns exec: the latter mounts a /sys of its own, without the cgroup tree.
in_ns() { nsenter --net="/var/run/netns/$ns" "$@"; }
out=$(in_ns timeout 30 "$exporter" --once --web.listen-address=127.0.0.1:9798) ||
  fail "--once exited $? (output: $out)"
ms=$((($(date +%s%N) - start) / 1000000))
age=$(page_tw_age)
echo "$out"
((age < 10)) || fail "the machine is too slow for the exact TIME_WAIT column: $age s since the sockets were made (want < 10)"

expected_rows="#  DESTINATION     OCCUPANCY                      PORTS USED  OF USABLE  TUPLES  SOCKETS BY STATE              TIME_WAIT PORTS BACK WITHIN    WHO HOLDS THE PORTS
1  127.0.0.2:5432  [#################---]  89.9%          80         89       1  established 60, time_wait 20  0 in 10s, 0 in 30s, 20 in 60s  $cgroup 60 (established), unknown 20 (time_wait)
2  127.0.0.3:443   [###########---------]  56.2%          50         89       1  established 50                -                              $cgroup 50 (established)
3  127.0.0.4:8080  [#-------------------]   5.6%           5         89       1  time_wait 5                   0 in 10s, 0 in 30s, 5 in 60s   unknown 5 (time_wait)
4  127.0.0.5:6379  [--------------------]   3.4%           3         89       1  close_wait 3                  -                              $cgroup 3 (close_wait)"
got_rows=$(sed -n '/^#  DESTINATION/,/^$/p' <<<"$out" | sed '/^$/d')
[[ "$got_rows" == "$expected_rows" ]] || fail "destination rows differ:
$(diff <(echo "$expected_rows") <(echo "$got_rows"))"
grep -qxF "Fullest destinations: 4 of 4. Occupancy = ports used by the fullest (source, destination, port) tuple / usable ports;" <<<"$out" ||
  fail "header line"

# UDP: the namespace's one budget (population.py: 61 of 90 ports, 2 sockets sharing 40080, 10
# connected to 127.0.0.2:53).
expected_udp="#  OCCUPANCY                      PORTS USED  OF USABLE  SOCKETS BY STATE              SHARING A PORT  CONNECTED TO
1  [#############-------]  67.8%          61         90  unconnected 52, connected 10               1  127.0.0.2:53 10"
got_udp=$(sed -n '/^#  OCCUPANCY/,/^$/p' <<<"$out" | sed '/^$/d')
[[ "$got_udp" == "$expected_udp" ]] || fail "UDP rows differ:
$(diff <(echo "$expected_udp") <(echo "$got_udp"))"
grep -qxF "UDP ports: 1 of 1 namespaces with UDP sockets. Occupancy = ports of the range held by any UDP socket / usable ports;" <<<"$out" ||
  fail "UDP header line"

for line in 'net.ipv4.ip_local_port_range      40000-40099 (100 ports)' \
            'net.ipv4.ip_local_reserved_ports  10 reserved, 10 in range' \
            'ports held by bind()              1' \
            'usable ports per tuple            89' \
            'net.ipv4.tcp_tw_reuse             0 (off)' \
            'net.ipv4.tcp_timestamps           1' \
            'net.ipv4.tcp_fin_timeout          60 s' \
            '    range - reserved - bind-held: what one (source, destination, port) tuple can use; occupancy divides by it.'; do
  grep -qxF "$line" <<<"$out" || fail "settings: no line \"$line\""
done
# tcp_max_tw_buckets' default follows the host's memory; its usage is 25 TIME_WAIT sockets of it.
max_tw=$(ip netns exec "$ns" sysctl -n net.ipv4.tcp_max_tw_buckets)
grep -qE "^net\.ipv4\.tcp_max_tw_buckets       $max_tw \([0-9.]+% used\)$" <<<"$out" ||
  fail "settings: tcp_max_tw_buckets $max_tw"

# connect() failures: --once loads no BPF program (a count from its own start is always 0); it
# says so, last, and where the counts are. With --collector.connect-failures=off it says nothing.
want_cf="connect() failures (EADDRNOTAVAIL, refused, timed out; UDP sockets without a port): not counted by --once.
    The kernel keeps no count of them; a running exporter counts them from its start,
    by destination, protocol and reason: curl -s http://localhost:9798/metrics | grep '^sockstate_connect_failures_total'"
[[ "$(tail -n 3 <<<"$out")" == "$want_cf" ]] || fail "the last lines are not the connect() failures note:
$(diff <(echo "$want_cf") <(tail -n 3 <<<"$out"))"
off=$(in_ns timeout 30 "$exporter" --once --collector.connect-failures=off) ||
  fail "--once --collector.connect-failures=off exited $?"
if grep -q 'connect() failures' <<<"$off"; then fail "--once with connect failures off mentions them"; fi
# Without privileges (no CAP_BPF/CAP_PERFMON): --once still works, `on` is not fatal for it.
nopriv=$(in_ns setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
  --bounding-set=-all timeout 30 "$exporter" --once --collector.connect-failures=on) ||
  fail "--once --collector.connect-failures=on as nobody without capabilities exited $?"
[[ "$(tail -n 3 <<<"$nopriv")" == "$want_cf" ]] || fail "as nobody: no connect() failures note"
grep -q '^1  127.0.0.2:5432 ' <<<"$nopriv" || fail "as nobody: the rows are missing: $nopriv"

echo "== no server was started (nothing listens on 127.0.0.1:9798 in $ns)"
if ip netns exec "$ns" ss -Htln 'sport = :9798' | grep -q .; then
  fail "something listens on :9798 after --once"
fi

echo "== a failing source: exit 1, and the table says which"
set +e
bad=$(ip netns exec "$ns" timeout 30 "$exporter" --once --path.procfs=/nonexistent 2>/dev/null)
rc=$?
set -e
((rc == 1)) || fail "--once with unreadable /proc exited $rc, want 1"
grep -q '^Could not read: .*sysctl' <<<"$bad" || fail "--once does not name the failing source: $bad"
# The netlink dump still works: the rows are there.
grep -q '^1  127.0.0.2:5432 ' <<<"$bad" || fail "--once lost the rows when /proc failed: $bad"

echo "test_once: PASS ($ms ms)"
