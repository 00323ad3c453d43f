#!/usr/bin/env bash
# Tier "page": the landing page "/" in a real headless browser (Debian's chromium). The
# exporter runs in a network namespace we create, holding a known socket population
# (population.py); chromium, curl and the exporter all run inside it (loopback only).
# Checks (check_page.py): the page's rows, read from chromium's DOM, are the /metrics scrape's
# fullest destinations with the scrape's numbers and exactly the population made; the settings
# table matches the scrape's sysctls; no script, no external resource; a screenshot of the
# requested size shows the red critical and the orange warning bars.
#   SOCKSTATE_UPDATE_SCREENSHOT=1 bash tests/page/test_page.sh   also copies the screenshot to
#   docs/landing-page.png (the one the README shows). Needs root and chromium.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v chromium >/dev/null || fail "tier page cannot run: chromium not found; run scripts/install-deps.sh --test"
command -v curl >/dev/null || fail "tier page cannot run: curl not found; run scripts/install-deps.sh --test"
page_setup page

port=9798
# nsenter --net, not ip netns exec: the exporter sees the host's cgroup tree and names the
# population's cgroup in "Who holds the ports" (ip netns exec mounts a /sys of its own).
nsenter --net="/var/run/netns/$ns" "$exporter" --web.listen-address=127.0.0.1:$port \
  2>"$tmp/exporter.log" &
pids+=($!)
for _ in $(seq 100); do
  ip netns exec "$ns" curl -fsS -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null && break
  kill -0 "${pids[-1]}" 2>/dev/null || fail "exporter exited: $(cat "$tmp/exporter.log")"
  sleep 0.1
done

browse() {  # browse OUTPUT-FLAG...: one headless chromium run on the page, inside the netns
  local profile
  profile=$(mktemp -d -p "$tmp")
  ip netns exec "$ns" timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@" "http://127.0.0.1:$port/" 2>>"$tmp/chromium.log"
}

echo "== chromium --dump-dom, then a /metrics scrape"
browse --dump-dom >"$tmp/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$tmp/chromium.log")"
ip netns exec "$ns" curl -fsS "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt" || fail "scrape"
age=$(page_tw_age)
((age < 55)) || fail "the machine is too slow: $age s since the TIME_WAIT sockets were made (they expire at 60)"
python3 "$here/check_page.py" dom "$tmp/dom.html" "$tmp/metrics.txt" "$tmp/pop.json" "127.0.0.1:$port" ||
  fail "page vs scrape (DOM kept in $tmp/dom.html with SOCKSTATE_KEEP_TMP=1)"
# Who holds the ports of the fullest destination: the population's cgroup, named.
grep -qF "<td class=\"workloads\">$cgroup 60 (established), unknown 20 (time_wait)</td>" "$tmp/dom.html" ||
  fail "the fullest destination's workloads cell does not name the population's cgroup $cgroup"

echo "== chromium --screenshot"
w=1280 h=1000
browse --hide-scrollbars --screenshot="$tmp/page.png" --window-size=$w,$h >/dev/null ||
  fail "chromium --screenshot failed: $(tail -5 "$tmp/chromium.log")"
python3 "$here/check_page.py" png "$tmp/page.png" $w $h || fail "screenshot"
if [[ "${SOCKSTATE_UPDATE_SCREENSHOT:-0}" == 1 ]]; then
  cp "$tmp/page.png" "$src/docs/landing-page.png"
  echo "updated docs/landing-page.png"
fi

echo "== HEAD / answers without a body; / counts as a request like /metrics"
code=$(ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code} %{size_download}' -I "http://127.0.0.1:$port/")
[[ "$code" == "200 0" ]] || fail "HEAD / gave $code"

echo "test_page: PASS (TIME_WAIT age at the check: $age s)"
