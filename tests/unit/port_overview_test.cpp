// The incident view: one extraction (BuildPortOverview) from a scrape's metric families, two
// renderers (the landing page's HTML and --once's text). Families are built here the way the
// scrape builds them (FamilySet), so every expected number below is traceable to an input.

#include "scrape/port_overview.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "http/landing_page.h"
#include "metrics/family_set.h"
#include "scrape/terminal_view.h"

namespace sockstate {
namespace {

const std::vector<double> kTwBounds = {1, 5, 10, 20, 30, 40, 50, 60};

struct Dest {
  std::string name;
  double used_max, used, tuples;
  std::vector<std::pair<std::string, double>> states;  // in exported order
  std::vector<uint64_t> tw_cumulative;                 // per kTwBounds
  uint64_t tw_count;
  bool report_used_max = true;
};

void AddDestinations(FamilySet& fs, const Labels& base, double usable,
                     const std::vector<Dest>& dests) {
  for (const Dest& d : dests) {
    Labels dl = With(base, {{"destination", d.name}});
    for (const auto& [state, n] : d.states) {
      fs.Add(metric::kDestinationSockets, With(dl, {{"state", state}}), n);
    }
    fs.Add(metric::kDestinationEphemeralPortsUsed, dl, d.used);
    if (d.report_used_max) {
      fs.Add(metric::kDestinationEphemeralPortsUsedMax, dl, d.used_max);
    }
    fs.Add(metric::kDestinationOccupancyRatio, dl, d.used_max / usable);
    fs.Add(metric::kDestinationTuples, dl, d.tuples);
    fs.Histogram(metric::kDestinationTimeWaitRemainingSeconds, dl, kTwBounds, d.tw_cumulative,
                 d.tw_count, 0);
  }
}

void AddNamespace(FamilySet& fs, const Labels& base, double low, double high, double reserved,
                  double reserved_in_range, double bind_held, double tw_reuse, double tw_usage) {
  const double range = high - low + 1;
  const double usable = range - reserved_in_range - bind_held;
  fs.Add(metric::kTcpSockets, With(base, {{"family", "ipv4"}, {"state", "listen"}}), 1);
  fs.Add(metric::kEphemeralPortRangePorts, base, range);
  fs.Add(metric::kEphemeralPortReservedPorts, base, reserved_in_range);
  fs.Add(metric::kEphemeralPortBindHeldPorts, base, bind_held);
  fs.Add(metric::kEphemeralPortUsablePorts, base, usable);
  fs.Add(metric::kSysctlIpLocalPortRangeLow, base, low);
  fs.Add(metric::kSysctlIpLocalPortRangeHigh, base, high);
  fs.Add(metric::kSysctlIpLocalReservedPorts, base, reserved);
  fs.Add(metric::kSysctlTcpTwReuse, base, tw_reuse);
  fs.Add(metric::kSysctlTcpTimestamps, base, 1);
  fs.Add(metric::kSysctlTcpMaxTwBuckets, base, 4096);
  fs.Add(metric::kTimeWaitBucketUsageRatio, base, tw_usage);
  fs.Add(metric::kSysctlTcpFinTimeoutSeconds, base, 60);
}

// The own namespace: range 32768-33777 (1010 ports), 5 reserved inside it (7 in all), 5 held
// by listeners: 1000 usable.
std::vector<prometheus::MetricFamily> OwnNamespace() {
  FamilySet fs;
  AddNamespace(fs, {}, 32768, 33777, 7, 5, 5, 2, 0.1953125);
  AddDestinations(
      fs, {}, 1000,
      {
          {"api:443",
           600,
           1200,
           2,
           {{"established", 1200}, {"time_wait", 0}},
           {0, 0, 0, 0, 0, 0, 0, 0},
           0},
          {"db:5432",
           900,
           900,
           1,
           {{"established", 100}, {"time_wait", 800}},
           {10, 50, 100, 200, 300, 500, 700, 800},
           800},
          {"empty-group",
           0,
           0,
           0,
           {{"established", 0}, {"time_wait", 0}},
           {0, 0, 0, 0, 0, 0, 0, 0},
           0},
          {"cache:6379",
           500,
           500,
           1,
           {{"established", 0}, {"time_wait", 0}, {"close_wait", 500}},
           {0, 0, 0, 0, 0, 0, 0, 0},
           0},
          {"other", 1, 3, 3, {{"established", 0}, {"time_wait", 3}}, {0, 0, 3, 3, 3, 3, 3, 3}, 3},
      });
  for (const char* s : {"netlink", "sysctl", "snmp"}) {
    fs.Add(metric::kScrapeSourceSuccess, {{"source", s}}, 1);
  }
  return fs.Take();
}

TEST(PortOverview, RowsSortedFullestFirstWithoutEmptyDestinations) {
  PortOverview o = BuildPortOverview(OwnNamespace());
  ASSERT_EQ(o.rows.size(), 4u);
  EXPECT_EQ(o.destinations_total, 4u);  // empty-group has no socket: left out
  EXPECT_EQ(o.namespaces, 1u);
  EXPECT_TRUE(o.failing.empty());
  const DestinationRow& db = o.rows[0];
  EXPECT_EQ(db.destination, "db:5432");
  EXPECT_EQ(db.netns, "");
  EXPECT_DOUBLE_EQ(*db.occupancy, 0.9);
  EXPECT_DOUBLE_EQ(*db.ports_used_max, 900);
  EXPECT_DOUBLE_EQ(*db.usable, 1000);
  EXPECT_DOUBLE_EQ(db.tuples, 1);
  ASSERT_EQ(db.states.size(), 2u);
  EXPECT_EQ(db.states[0], (std::pair<std::string, double>{"established", 100}));
  EXPECT_EQ(db.states[1], (std::pair<std::string, double>{"time_wait", 800}));
  EXPECT_DOUBLE_EQ(db.time_wait, 800);
  ASSERT_EQ(db.time_wait_returns.size(), 3u);  // the 10, 30 and 60 s buckets
  EXPECT_DOUBLE_EQ(db.time_wait_returns[0].seconds, 10);
  EXPECT_DOUBLE_EQ(db.time_wait_returns[0].sockets, 100);
  EXPECT_DOUBLE_EQ(db.time_wait_returns[1].sockets, 300);
  EXPECT_DOUBLE_EQ(db.time_wait_returns[2].sockets, 800);
  EXPECT_EQ(o.rows[1].destination, "api:443");
  EXPECT_EQ(o.rows[1].states.size(), 1u);  // time_wait 0 is not listed
  EXPECT_EQ(o.rows[2].destination, "cache:6379");
  EXPECT_EQ(o.rows[3].destination, "other");
  EXPECT_DOUBLE_EQ(*o.rows[3].occupancy, 0.001);
}

TEST(PortOverview, CutsToTenAndBreaksTiesByNamespaceAndName) {
  FamilySet fs;
  AddNamespace(fs, {{"netns", "red"}}, 10000, 10999, 0, 0, 0, 1, 0);
  AddNamespace(fs, {{"netns", "blue"}}, 32768, 60999, 0, 0, 0, 2, 0);
  std::vector<Dest> dests;
  for (int i = 0; i < 12; ++i) {
    dests.push_back({"10.0.0." + std::to_string(i) + ":80",
                     100,
                     100,
                     1,
                     {{"established", 100}},
                     {0, 0, 0, 0, 0, 0, 0, 0},
                     0});
  }
  AddDestinations(fs, {{"netns", "red"}}, 1000, dests);
  AddDestinations(fs, {{"netns", "blue"}}, 28232,
                  {{"10.0.0.1:80",
                    28232,
                    28232,
                    1,
                    {{"time_wait", 28232}},
                    {28232, 28232, 28232, 28232, 28232, 28232, 28232, 28232},
                    28232}});
  PortOverview o = BuildPortOverview(fs.Take());
  EXPECT_EQ(o.destinations_total, 13u);
  EXPECT_EQ(o.namespaces, 2u);
  ASSERT_EQ(o.rows.size(), 10u);
  EXPECT_EQ(o.rows[0].netns, "blue");  // 100% beats 10%
  EXPECT_DOUBLE_EQ(*o.rows[0].occupancy, 1.0);
  // Equal occupancy and ports: by name as text, so "10.0.0.10:80" sorts before "10.0.0.1:80".
  EXPECT_EQ(o.rows[1].destination, "10.0.0.0:80");
  EXPECT_EQ(o.rows[2].destination, "10.0.0.10:80");
  EXPECT_EQ(o.rows[3].destination, "10.0.0.11:80");
  EXPECT_EQ(o.rows[4].destination, "10.0.0.1:80");
  EXPECT_EQ(o.rows[9].destination, "10.0.0.6:80");
  // Settings grouped by value across namespaces, namespaces in name order.
  ASSERT_FALSE(o.settings.empty());
  EXPECT_EQ(o.settings[0].name, "net.ipv4.ip_local_port_range");
  ASSERT_EQ(o.settings[0].values.size(), 2u);
  EXPECT_EQ(o.settings[0].values[0].first, "32768-60999 (28232 ports)");
  EXPECT_EQ(o.settings[0].values[0].second, std::vector<std::string>{"blue"});
  EXPECT_EQ(o.settings[0].values[1].first, "10000-10999 (1000 ports)");
  const SettingRow* timestamps = nullptr;
  for (const auto& s : o.settings) {
    if (s.name == "net.ipv4.tcp_timestamps") timestamps = &s;
    EXPECT_NE(s.name, "net.ipv4.tcp_tw_reuse_delay");  // absent everywhere: omitted
  }
  ASSERT_NE(timestamps, nullptr);
  ASSERT_EQ(timestamps->values.size(), 1u);
  EXPECT_EQ(timestamps->values[0].second, (std::vector<std::string>{"blue", "red"}));
}

TEST(PortOverview, ReportsFailingSourcesAndNamespaces) {
  FamilySet fs;
  fs.Add(metric::kScrapeSourceSuccess, {{"netns", "red"}, {"source", "netlink"}}, 0);
  fs.Add(metric::kScrapeSourceSuccess, {{"netns", "red"}, {"source", "sysctl"}}, 1);
  fs.Add(metric::kScrapeSourceSuccess, {{"source", "snmp"}}, 0);
  fs.Add(metric::kNetnsScrapeSuccess, {{"netns", "green"}}, 0);
  fs.Add(metric::kNetnsScrapeSuccess, {{"netns", "red"}}, 1);
  PortOverview o = BuildPortOverview(fs.Take());
  EXPECT_EQ(o.failing, (std::vector<std::string>{"netlink (netns red)", "snmp", "netns green"}));
  EXPECT_TRUE(o.rows.empty());
  EXPECT_TRUE(o.settings.empty());
}

TEST(PortOverview, Formatting) {
  EXPECT_EQ(FormatNumber(28232), "28232");
  EXPECT_EQ(FormatNumber(0.5), "0.5");
  EXPECT_EQ(FormatNumber(1.25), "1.25");
  EXPECT_EQ(FormatNumber(-3), "-3");
  EXPECT_EQ(FormatPercent(0.9), "90.0%");
  EXPECT_EQ(FormatPercent(0.001), "0.1%");
  EXPECT_EQ(NamespaceList({"", "a", "b"}), "(own), a, b");
  EXPECT_EQ(NamespaceList({"a", "b", "c", "d"}, 2), "a, b and 2 more");
}

TEST(TerminalView, ExactTableForOwnNamespace) {
  const std::string expected =
      "Fullest destinations: 4 of 4. Occupancy = ports used by the fullest (source, "
      "destination, port) tuple / usable ports;\n"
      "connect() slows past 50%, the alert pages at 85%, connect() fails at 100%.\n"
      "\n"
      "#  DESTINATION  OCCUPANCY                      PORTS USED  OF USABLE  TUPLES  SOCKETS BY "
      "STATE                TIME_WAIT PORTS BACK WITHIN\n"
      "1  db:5432      [##################--]  90.0%         900       1000       1  established "
      "100, time_wait 800  100 in 10s, 300 in 30s, 800 in 60s\n"
      "2  api:443      [############--------]  60.0%         600       1000       2  established "
      "1200                -\n"
      "3  cache:6379   [##########----------]  50.0%         500       1000       1  close_wait "
      "500                  -\n"
      "4  other        [--------------------]   0.1%           1       1000       3  time_wait 3"
      "                     3 in 10s, 3 in 30s, 3 in 60s\n"
      "\n"
      "Kernel settings (value, then what it does)\n"
      "\n"
      "net.ipv4.ip_local_port_range      32768-33777 (1010 ports)\n"
      "    Local ports connect() picks from; its size caps every destination tuple.\n"
      "net.ipv4.ip_local_reserved_ports  7 reserved, 5 in range\n"
      "    Ports connect() never picks; those inside the range shrink every tuple's budget.\n"
      "ports held by bind()              5\n"
      "    Ports inside the range held by listeners and bound sockets: connect() skips them for "
      "every destination.\n"
      "usable ports per tuple            1000\n"
      "    range - reserved - bind-held: what one (source, destination, port) tuple can use; "
      "occupancy divides by it.\n"
      "net.ipv4.tcp_tw_reuse             2 (loopback only)\n"
      "    1 lets connect() reuse TIME_WAIT ports (needs timestamps); 2 only towards loopback; 0 "
      "never.\n"
      "net.ipv4.tcp_timestamps           1\n"
      "    TCP timestamps; tcp_tw_reuse works only when they are on.\n"
      "net.ipv4.tcp_max_tw_buckets       4096 (19.5% used)\n"
      "    Most TIME_WAIT sockets the namespace keeps; beyond it connections close without "
      "TIME_WAIT.\n"
      "net.ipv4.tcp_fin_timeout          60 s\n"
      "    Lifetime of orphaned FIN_WAIT2 sockets; it does not shorten TIME_WAIT (always 60 s).\n";
  EXPECT_EQ(RenderTerminalView(OwnNamespace()), expected);
}

TEST(TerminalView, NamespacesAndFailures) {
  FamilySet fs;
  AddNamespace(fs, {{"netns", "red"}}, 10000, 10999, 0, 0, 0, 1, 0);
  AddNamespace(fs, {{"netns", "blue"}}, 10000, 10999, 0, 0, 0, 2, 0);
  AddDestinations(fs, {{"netns", "red"}}, 1000,
                  {{"db:5432", 250, 250, 1, {{"established", 250}}, {0, 0, 0, 0, 0, 0, 0, 0}, 0}});
  fs.Add(metric::kScrapeSourceSuccess, {{"netns", "blue"}, {"source", "netlink"}}, 0);
  const std::string out = RenderTerminalView(fs.Take());
  EXPECT_EQ(out.substr(0, out.find('\n') + 1),
            "Could not read: netlink (netns blue) (their numbers are missing below; the log says "
            "why)\n");
  EXPECT_NE(out.find("Fullest destinations: 1 of 1 in 2 network namespaces."), std::string::npos);
  EXPECT_NE(out.find("#  DESTINATION  NETNS  OCCUPANCY"), std::string::npos) << out;
  EXPECT_NE(out.find("1  db:5432      red    [#####---------------]  25.0%         250       "
                     "1000       1  established 250   -\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("net.ipv4.ip_local_port_range      10000-10999 (1000 ports) [blue, red]\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("net.ipv4.tcp_tw_reuse             2 (loopback only) [blue]; 1 (on) [red]\n"),
            std::string::npos)
      << out;
}

TEST(TerminalView, NothingToShow) {
  EXPECT_EQ(RenderTerminalView({}),
            "Fullest destinations: 0 of 0. Occupancy = ports used by the fullest (source, "
            "destination, port) tuple / usable ports;\n"
            "connect() slows past 50%, the alert pages at 85%, connect() fails at 100%.\n\n"
            "No outgoing destinations in this scrape.\n\n"
            "Kernel settings (value, then what it does)\n\n"
            "No kernel settings in this scrape.\n");
}

TEST(TerminalView, OnceSaysWhereConnectFailuresAreCounted) {
  const std::string note =
      "\nconnect() failures (EADDRNOTAVAIL, refused, timed out; UDP sockets without a port): "
      "not counted by --once.\n"
      "    The kernel keeps no count of them; a running exporter counts them from its start,\n"
      "    by destination, protocol and reason: curl -s http://localhost:9798/metrics | grep "
      "'^sockstate_connect_failures_total'\n";
  EXPECT_EQ(OnceConnectFailuresNote("auto"), note);
  EXPECT_EQ(OnceConnectFailuresNote("on"), note);
  EXPECT_EQ(OnceConnectFailuresNote("off"), "");
}

// The udp source's families of one namespace (docs/udp.md): sockets per (family, state),
// ports used of usable, sockets sharing a port, connected sockets per destination.
struct UdpNs {
  double used, usable, sharing;
  std::vector<std::tuple<std::string, std::string, double>> sockets;  // family, state, n
  std::vector<std::pair<std::string, double>> destinations;
};

void AddUdp(FamilySet& fs, const Labels& base, const UdpNs& u) {
  for (const auto& [family, state, n] : u.sockets) {
    fs.Add(metric::kUdpSockets, With(base, {{"family", family}, {"state", state}}), n);
  }
  fs.Add(metric::kUdpEphemeralPortsUsed, base, u.used);
  fs.Add(metric::kUdpEphemeralPortUsablePorts, base, u.usable);
  fs.Add(metric::kUdpOccupancyRatio, base, u.used / u.usable);
  fs.Add(metric::kUdpSocketsSharingPorts, base, u.sharing);
  for (const auto& [dest, n] : u.destinations) {
    fs.Add(metric::kUdpDestinationSockets, With(base, {{"destination", dest}}), n);
  }
}

// Three namespaces: "dns" 900 of 1000 ports (one resolver's sockets, most connected), "idle"
// with UDP series at 0 (no row), the own namespace 100 of 1000 with a reuse group.
std::vector<prometheus::MetricFamily> UdpNamespaces(bool failures) {
  FamilySet fs;
  AddUdp(fs, {{"netns", "dns"}},
         {900,
          1000,
          0,
          {{"ipv4", "unconnected", 100},
           {"ipv4", "connected", 700},
           {"ipv6", "unconnected", 0},
           {"ipv6", "connected", 100}},
          {{"resolver-a", 300},
           {"resolver-b", 300},
           {"cache", 150},
           {"other", 50},
           {"resolver-c", 300}}});
  AddUdp(fs, {{"netns", "idle"}},
         {0,
          1000,
          0,
          {{"ipv4", "unconnected", 0},
           {"ipv4", "connected", 0},
           {"ipv6", "unconnected", 0},
           {"ipv6", "connected", 0}},
          {}});
  AddUdp(fs, {{"netns", ""}},
         {100,
          1000,
          3,
          {{"ipv4", "unconnected", 103},
           {"ipv4", "connected", 0},
           {"ipv6", "unconnected", 0},
           {"ipv6", "connected", 0}},
          {}});
  if (failures) {
    for (const char* ns : {"dns", "idle", ""}) {
      fs.Add(metric::kConnectFailuresTotal,
             {{"netns", ns}, {"protocol", "udp"}, {"reason", "no_local_port"}},
             std::string(ns) == "dns" ? 12 : 0);
      fs.Add(metric::kConnectFailuresTotal,
             {{"netns", ns}, {"destination", "db"}, {"protocol", "tcp"}, {"reason", "refused"}}, 5);
    }
  }
  return fs.Take();
}

TEST(PortOverview, UdpRowsPerNamespaceFullestFirst) {
  const PortOverview o = BuildPortOverview(UdpNamespaces(true));
  EXPECT_TRUE(o.udp_read);
  ASSERT_EQ(o.udp.size(), 2u);  // "idle" has no UDP socket: left out
  EXPECT_EQ(o.udp_total, 2u);
  const UdpRow& dns = o.udp[0];
  EXPECT_EQ(dns.netns, "dns");
  EXPECT_DOUBLE_EQ(*dns.occupancy, 0.9);
  EXPECT_EQ(dns.ports_used, 900);
  EXPECT_EQ(*dns.usable, 1000);
  EXPECT_EQ(dns.sockets, 900);
  EXPECT_EQ(dns.states, (std::vector<std::pair<std::string, double>>{{"unconnected", 100},
                                                                     {"connected", 800}}));
  // Most sockets first, ties by name, three at most.
  EXPECT_EQ(dns.destinations, (std::vector<std::pair<std::string, double>>{
                                  {"resolver-a", 300}, {"resolver-b", 300}, {"resolver-c", 300}}));
  EXPECT_EQ(*dns.failures, 12);  // the UDP series only, not TCP's
  const UdpRow& own = o.udp[1];
  EXPECT_EQ(own.netns, "");
  EXPECT_DOUBLE_EQ(*own.occupancy, 0.1);
  EXPECT_EQ(own.sharing_ports, 3);
  EXPECT_EQ(own.states, (std::vector<std::pair<std::string, double>>{{"unconnected", 103}}));
  EXPECT_TRUE(own.destinations.empty());
  EXPECT_EQ(*own.failures, 0);
  // Without the udp source: no UDP section at all.
  const PortOverview tcp_only = BuildPortOverview(OwnNamespace());
  EXPECT_FALSE(tcp_only.udp_read);
  EXPECT_TRUE(tcp_only.udp.empty());
  // Cut to max_rows like the destinations, the total kept.
  const PortOverview one = BuildPortOverview(UdpNamespaces(false), 1);
  ASSERT_EQ(one.udp.size(), 1u);
  EXPECT_EQ(one.udp_total, 2u);
  EXPECT_FALSE(one.udp[0].failures);
}

TEST(TerminalView, UdpSection) {
  const std::string out = RenderTerminalView(UdpNamespaces(true));
  EXPECT_NE(
      out.find(
          "\nUDP ports: 2 of 2 namespaces with UDP sockets. Occupancy = ports of the range held "
          "by any UDP socket / usable ports;\none budget for every destination: at 100% every new "
          "UDP socket fails (bind(0), connect(), sendto()).\n\n"
          "#  NETNS  OCCUPANCY                      PORTS USED  OF USABLE  SOCKETS BY STATE"
          "                SHARING A PORT  CONNECTED TO"
          "                                    NO PORT FAILURES\n"
          "1  dns    [##################--]  90.0%         900       1000  unconnected 100, "
          "connected 800               0  resolver-a 300, resolver-b 300, resolver-c 300"
          "                12\n"
          "2  (own)  [##------------------]  10.0%         100       1000  unconnected 103"
          "                              3  -"
          "                                                              0\n"
          "\nKernel settings"),
      std::string::npos)
      << out;
  // No failures counted (--once): no failures column. No UDP family: no section.
  const std::string once = RenderTerminalView(UdpNamespaces(false));
  EXPECT_EQ(once.find("NO PORT FAILURES"), std::string::npos);
  EXPECT_NE(once.find("  CONNECTED TO\n1  dns "), std::string::npos) << once;
  EXPECT_EQ(RenderTerminalView(OwnNamespace()).find("UDP"), std::string::npos);
  FamilySet idle;
  AddUdp(idle, {}, {0, 1000, 0, {{"ipv4", "unconnected", 0}}, {}});
  EXPECT_NE(RenderTerminalView(idle.Take())
                .find("UDP ports: 0 of 0 namespaces with UDP sockets. Occupancy = ports of the "
                      "range held by any UDP socket / usable ports;\none budget for every "
                      "destination: at 100% every new UDP socket fails (bind(0), connect(), "
                      "sendto()).\n\nNo UDP sockets in this scrape.\n"),
            std::string::npos);
}

std::string Between(const std::string& s, const std::string& from, const std::string& to) {
  size_t a = s.find(from);
  if (a == std::string::npos) return "<no " + from + ">";
  a += from.size();
  size_t b = s.find(to, a);
  return b == std::string::npos ? "<no " + to + ">" : s.substr(a, b - a);
}

TEST(LandingPage, ExactDestinationRows) {
  const std::string html = RenderLandingPage(OwnNamespace(), {"/metrics", "1.2.3", "abc"});
  EXPECT_EQ(
      Between(html, "<tbody>\n", "</tbody>"),
      "<tr class=\"crit\"><td class=\"num rank\">1</td><td class=\"dest\">db:5432</td>"
      "<td class=\"occ\"><span class=\"bar\"><span class=\"fill\" style=\"width:90.0%\"></span>"
      "</span>90.0%</td><td class=\"num ports\">900 of 1000</td><td class=\"num tuples\">1</td>"
      "<td class=\"states\">established 100 · time_wait 800</td>"
      "<td class=\"tw\">100 in 10 s · 300 in 30 s · 800 in 60 s</td></tr>\n"
      "<tr class=\"warn\"><td class=\"num rank\">2</td><td class=\"dest\">api:443</td>"
      "<td class=\"occ\"><span class=\"bar\"><span class=\"fill\" style=\"width:60.0%\"></span>"
      "</span>60.0%</td><td class=\"num ports\">600 of 1000</td><td class=\"num tuples\">2</td>"
      "<td class=\"states\">established 1200</td><td class=\"tw\">none in TIME_WAIT</td></tr>\n"
      "<tr class=\"warn\"><td class=\"num rank\">3</td><td class=\"dest\">cache:6379</td>"
      "<td class=\"occ\"><span class=\"bar\"><span class=\"fill\" style=\"width:50.0%\"></span>"
      "</span>50.0%</td><td class=\"num ports\">500 of 1000</td><td class=\"num tuples\">1</td>"
      "<td class=\"states\">close_wait 500</td><td class=\"tw\">none in TIME_WAIT</td></tr>\n"
      "<tr class=\"ok\"><td class=\"num rank\">4</td><td class=\"dest\">other</td>"
      "<td class=\"occ\"><span class=\"bar\"><span class=\"fill\" style=\"width:0.1%\"></span>"
      "</span>0.1%</td><td class=\"num ports\">1 of 1000</td><td class=\"num tuples\">3</td>"
      "<td class=\"states\">time_wait 3</td><td class=\"tw\">3 in 10 s · 3 in 30 s · 3 in 60 s</td>"
      "</tr>\n");
  // The settings table: one row per setting, with what it does.
  EXPECT_NE(html.find("<tr><td class=\"name\">net.ipv4.tcp_tw_reuse</td><td class=\"value\">2 "
                      "(loopback only)</td><td class=\"meaning\">1 lets connect() reuse TIME_WAIT "
                      "ports (needs timestamps); 2 only towards loopback; 0 never.</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"value\">4096 (19.5% used)</td>"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"/metrics\">/metrics</a>. Version 1.2.3 (abc)."),
            std::string::npos);
  // No script, no external resource: nothing is loaded from anywhere.
  for (const char* banned :
       {"<script", "src=", "<link", "@import", "url(", "http://", "https://"}) {
    EXPECT_EQ(html.find(banned), std::string::npos) << banned;
  }
  EXPECT_EQ(html.find("id=\"failing\""), std::string::npos);
}

TEST(LandingPage, EscapesLabelsAndShowsNamespacesAndFailures) {
  FamilySet fs;
  AddNamespace(fs, {{"netns", "<b>"}}, 10000, 10999, 0, 0, 0, 1, 0);
  AddDestinations(fs, {{"netns", "<b>"}}, 1000,
                  {{"a\"&'", 10, 10, 1, {{"syn_sent", 10}}, {0, 0, 0, 0, 0, 0, 0, 0}, 0}});
  fs.Add(metric::kScrapeSourceSuccess, {{"netns", "<b>"}, {"source", "snmp"}}, 0);
  const std::string html = RenderLandingPage(fs.Take(), {"/m<x>", "v", "r"});
  EXPECT_NE(html.find("<th>Namespace</th>"), std::string::npos);
  EXPECT_NE(
      html.find("<td class=\"dest\">a&quot;&amp;&#39;</td><td class=\"netns\">&lt;b&gt;</td>"),
      std::string::npos)
      << html;
  EXPECT_NE(
      html.find("<p class=\"failing\" id=\"failing\">Could not read: snmp (netns &lt;b&gt;)."),
      std::string::npos);
  EXPECT_NE(html.find("<a href=\"/m&lt;x&gt;\">"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
}

TEST(LandingPage, UdpRows) {
  const std::string html = RenderLandingPage(UdpNamespaces(true), {"/metrics", "v", "r"});
  EXPECT_EQ(
      Between(html, "<table id=\"udp\">", "</table>"),
      "<thead><tr><th>#</th><th>Namespace</th><th>Occupancy</th><th>Ports used of usable</th>"
      "<th>Sockets by state</th><th>Sockets sharing a port</th><th>Connected to</th>"
      "<th>Failures: no free port</th></tr></thead>\n<tbody>\n"
      "<tr class=\"crit\"><td class=\"num rank\">1</td><td class=\"netns\">dns</td>"
      "<td class=\"occ\"><span class=\"bar\"><span class=\"fill\" style=\"width:90.0%\"></span>"
      "</span>90.0%</td><td class=\"num ports\">900 of 1000</td>"
      "<td class=\"states\">unconnected 100 · connected 800</td><td class=\"num sharing\">0</td>"
      "<td class=\"dests\">resolver-a 300 · resolver-b 300 · resolver-c 300</td>"
      "<td class=\"num failures\">12</td></tr>\n"
      "<tr class=\"ok\"><td class=\"num rank\">2</td><td class=\"netns\">(own)</td>"
      "<td class=\"occ\"><span class=\"bar\"><span class=\"fill\" style=\"width:10.0%\"></span>"
      "</span>10.0%</td><td class=\"num ports\">100 of 1000</td>"
      "<td class=\"states\">unconnected 103</td><td class=\"num sharing\">3</td>"
      "<td class=\"dests\">-</td><td class=\"num failures\">0</td></tr>\n</tbody>");
  EXPECT_NE(html.find("<h2>UDP ports</h2>\n<p>2 of 2 namespaces with UDP sockets"),
            std::string::npos);
  EXPECT_LT(html.find("<h2>UDP ports</h2>"), html.find("<h2>Kernel settings</h2>"));
  EXPECT_EQ(RenderLandingPage(OwnNamespace(), {"/metrics", "v", "r"}).find("UDP"),
            std::string::npos);
}

TEST(LandingPage, NothingToShow) {
  const std::string html = RenderLandingPage({}, {"/metrics", "v", "r"});
  EXPECT_NE(html.find("<p id=\"no-destinations\">No outgoing destinations in this scrape.</p>"),
            std::string::npos);
  EXPECT_NE(html.find("<p id=\"no-settings\">"), std::string::npos);
  EXPECT_EQ(html.find("<table"), std::string::npos);
}

}  // namespace
}  // namespace sockstate
