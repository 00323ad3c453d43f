// Real kernel, real binary: exact socket populations built in a namespace the test creates,
// read by the exporter (namespaces mode list) and scraped over HTTP.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "exporter_process.h"
#include "kernel/procfs.h"
#include "netns_fixture.h"
#include "requirements.h"
#include "test_util.h"

namespace sockstate::testing {
namespace {

const char* kStates[] = {"established", "syn_sent",  "syn_recv", "fin_wait1",
                         "fin_wait2",   "time_wait", "close",    "close_wait",
                         "last_ack",    "listen",    "closing",  "bound_inactive"};

// detail_threshold 0: every namespace gets the exact dump (these tests compare exact counts).
std::string ListConfig(const std::string& ns, const std::string& extra = "") {
  return "namespaces:\n  mode: list\n  detail_threshold: 0\n  names: [" + ns + "]\n" + extra;
}

double Tcp(const Series& s, const std::string& ns, const std::string& family,
           const std::string& state) {
  return Get(s, "sockstate_tcp_sockets", {{"netns", ns}, {"family", family}, {"state", state}});
}

double Dest(const Series& s, const std::string& metric, const std::string& ns,
            const std::string& dest) {
  return Get(s, metric, {{"netns", ns}, {"destination", dest}});
}

// Foundation: every state, both families, IPv4-mapped counted as IPv4, equal to ss.
class ExporterKernel : public RootTest {};  // root: network namespaces

TEST_F(ExporterKernel, CountsEveryStateExactlyPerFamily) {
  TestNetns ns("sst-states");
  // 7 LISTEN: 4 IPv4, 3 IPv6 (one of them dual-stack).
  int l4 = ns.Listen("127.0.0.1", 0);
  int l6 = ns.Listen("::1", 0);
  int ldual = ns.Listen("::", 0, 4096, /*v6only=*/false);
  for (int i = 0; i < 3; ++i) ns.Listen("127.0.0.1", 0);
  for (int i = 0; i < 1; ++i) ns.Listen("::1", 0);
  // 40 ESTABLISHED pairs: 20 IPv4, 12 IPv6, 8 IPv4-mapped (v6 client to ::ffff:127.0.0.1
  // on the dual-stack listener; the accepted side is IPv6-mapped too).
  for (int i = 0; i < 20; ++i) ns.Connect(l4, "127.0.0.1", 0);
  for (int i = 0; i < 12; ++i) ns.Connect(l6, "::1", 0);
  for (int i = 0; i < 8; ++i) ns.Connect(ldual, "::ffff:127.0.0.1", 0);
  // 25 TIME_WAIT: 15 IPv4, 10 IPv6 (client side).
  ns.MakeTimeWait(l4, "127.0.0.1", 0, 15);
  ns.MakeTimeWait(l6, "::1", 0, 10);
  // 3 CLOSE_WAIT / FIN_WAIT2 pairs over IPv4.
  ns.MakeCloseWait(l4, "127.0.0.1", 0, 3);

  ExporterProcess exp(ListConfig(ns.name()));
  Series s = exp.Scrape();
  const std::string n = ns.name();
  EXPECT_EQ(Tcp(s, n, "ipv4", "listen"), 4);
  EXPECT_EQ(Tcp(s, n, "ipv6", "listen"), 3);
  EXPECT_EQ(Tcp(s, n, "ipv4", "established"), 2 * 20 + 2 * 8);
  EXPECT_EQ(Tcp(s, n, "ipv6", "established"), 2 * 12);
  EXPECT_EQ(Tcp(s, n, "ipv4", "time_wait"), 15);
  EXPECT_EQ(Tcp(s, n, "ipv6", "time_wait"), 10);
  EXPECT_EQ(Tcp(s, n, "ipv4", "close_wait"), 3);
  EXPECT_EQ(Tcp(s, n, "ipv4", "fin_wait2"), 3);
  // Every one of the 24 series is present; the ones not built are exactly 0.
  for (const char* fam : {"ipv4", "ipv6"}) {
    for (const char* st : kStates) {
      EXPECT_FALSE(std::isnan(Tcp(s, n, fam, st))) << fam << " " << st;
    }
    EXPECT_EQ(Tcp(s, n, fam, "syn_sent"), 0);
    EXPECT_EQ(Tcp(s, n, fam, "last_ack"), 0);
  }
  // Totals per state equal `ss -tan` in the namespace (ss shows mapped sockets as IPv6, so
  // compare the sum of both families).
  StateCounts ss = ns.SsCounts();
  for (const char* st : kStates) {
    if (std::string(st) == "bound_inactive" || std::string(st) == "close") continue;
    EXPECT_EQ(Tcp(s, n, "ipv4", st) + Tcp(s, n, "ipv6", st), Count(ss, st)) << st;
  }
  EXPECT_EQ(Get(s, "sockstate_scrape_source_success", {{"netns", n}, {"source", "netlink"}}), 1);
  EXPECT_EQ(Get(s, "sockstate_netlink_dump_sockets", {{"netns", n}}), 4 + 3 + 80 + 25 + 6);
}

// The heart: a destination driven to EADDRNOTAVAIL reads exactly 1.0; another half full of
// TIME_WAIT reads exactly 0.5; IPv6 and IPv4-mapped destinations; a CIDR group; top-K folding.
TEST_F(ExporterKernel, DestinationOccupancyMatchesTheKernelExactly) {
  TestNetns ns("sst-dest");
  // Range 40000-40099 (100 ports), 6 reserved inside it (+1 outside, not counted), a
  // listener bound inside it and a bound, never connected (bound_inactive) socket inside it:
  // usable = 100 - 6 - 2 = 92.
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40099");
  ns.SetSysctl("net.ipv4.ip_local_reserved_ports", "40000-40003,40098-40099,50000");
  const int usable = 92;
  int held = ns.Listen("127.0.0.1", 40050);
  (void)held;
  int bound = -1;
  ns.Run([&] {
    bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(40060);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(bound, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << strerror(errno);
  });
  struct CloseFd {
    int fd;
    ~CloseFd() {
      if (fd >= 0) close(fd);
    }
  } close_bound{bound};

  // Destination "tw": 127.0.0.3:6000, 46 client-side TIME_WAIT = exactly half.
  int ltw = ns.Listen("127.0.0.3", 6000);
  ns.MakeTimeWait(ltw, "127.0.0.3", 6000, usable / 2);

  // IPv6 destination [::1]:7000: 6 ESTABLISHED. IPv4-mapped 127.0.0.4:7001: 4 ESTABLISHED.
  int l6 = ns.Listen("::1", 7000);
  for (int i = 0; i < 6; ++i) ns.Connect(l6, "::1", 7000);
  int lmapped = ns.Listen("::", 7001, 4096, /*v6only=*/false);
  for (int i = 0; i < 4; ++i) ns.Connect(lmapped, "::ffff:127.0.0.4", 7001);

  // Small unmatched destinations 127.0.0.5:8001..8004 with 1..4 connections: top_k = 3 keeps
  // [::1]:7000 (6), 127.0.0.4:7001 (4), 127.0.0.5:8004 (4) and folds 8001..8003 (1+2+3).
  for (int d = 1; d <= 4; ++d) {
    int l = ns.Listen("127.0.0.5", uint16_t(8000 + d));
    for (int i = 0; i < d; ++i) ns.Connect(l, "127.0.0.5", uint16_t(8000 + d));
  }

  // Destination "db" (group by CIDR): connect until the kernel says EADDRNOTAVAIL.
  ns.Listen("127.0.0.2", 5432);
  int connects = 0;
  int last_error = 0;
  for (int i = 0; i < 200; ++i) {  // bounded: the range has 100 ports
    int fd = ns.TryConnect("127.0.0.2", 5432);
    if (fd < 0) {
      last_error = -fd;
      break;
    }
    ++connects;
  }
  ASSERT_EQ(last_error, EADDRNOTAVAIL);
  ASSERT_EQ(connects, usable) << "the kernel's usable range differs from range-reserved-held";

  ExporterProcess exp(ListConfig(ns.name(),
                                 "destinations:\n"
                                 "  top_k: 3\n"
                                 "  groups:\n"
                                 "    - name: db\n"
                                 "      cidrs: [127.0.0.2/32]\n"
                                 "      ports: [5432]\n"
                                 "    - name: tw\n"
                                 "      cidrs: [127.0.0.3/32]\n"));
  Series s = exp.Scrape();
  const std::string n = ns.name();
  const auto L = [&](std::vector<std::pair<std::string, std::string>> l) {
    l.push_back({"netns", n});
    return l;
  };
  EXPECT_EQ(Get(s, "sockstate_ephemeral_port_range_ports", L({})), 100);
  EXPECT_EQ(Get(s, "sockstate_ephemeral_port_reserved_ports", L({})), 6);
  EXPECT_EQ(Get(s, "sockstate_ephemeral_port_bind_held_ports", L({})), 2);
  EXPECT_EQ(Tcp(s, n, "ipv4", "bound_inactive"), 1);
  EXPECT_EQ(Get(s, "sockstate_ephemeral_port_usable_ports", L({})), usable);

  EXPECT_EQ(Dest(s, "sockstate_destination_occupancy_ratio", n, "db"), 1.0);
  EXPECT_EQ(Dest(s, "sockstate_destination_ephemeral_ports_used", n, "db"), connects);
  EXPECT_EQ(Dest(s, "sockstate_destination_ephemeral_ports_used_max", n, "db"), connects);
  EXPECT_EQ(Dest(s, "sockstate_destination_tuples", n, "db"), 1);
  EXPECT_EQ(
      Get(s, "sockstate_destination_sockets", L({{"destination", "db"}, {"state", "established"}})),
      connects);

  EXPECT_EQ(Dest(s, "sockstate_destination_occupancy_ratio", n, "tw"), 0.5);
  EXPECT_EQ(
      Get(s, "sockstate_destination_sockets", L({{"destination", "tw"}, {"state", "time_wait"}})),
      usable / 2);
  // All 46 TIME_WAIT sockets are younger than 60 s: the +Inf bucket and le=60 hold all of them.
  EXPECT_EQ(Get(s, "sockstate_destination_time_wait_remaining_seconds_bucket",
                L({{"destination", "tw"}, {"le", "60"}})),
            usable / 2);
  EXPECT_EQ(
      Get(s, "sockstate_destination_time_wait_remaining_seconds_count", L({{"destination", "tw"}})),
      usable / 2);

  EXPECT_EQ(Dest(s, "sockstate_destination_ephemeral_ports_used", n, "[::1]:7000"), 6);
  EXPECT_DOUBLE_EQ(Dest(s, "sockstate_destination_occupancy_ratio", n, "[::1]:7000"), 6.0 / usable);
  EXPECT_EQ(Dest(s, "sockstate_destination_ephemeral_ports_used", n, "127.0.0.4:7001"), 4);
  EXPECT_EQ(Dest(s, "sockstate_destination_ephemeral_ports_used", n, "127.0.0.5:8004"), 4);
  EXPECT_TRUE(std::isnan(Dest(s, "sockstate_destination_tuples", n, "127.0.0.5:8003")));
  EXPECT_EQ(Dest(s, "sockstate_destination_ephemeral_ports_used", n, "other"), 1 + 2 + 3);
  EXPECT_EQ(Dest(s, "sockstate_destination_tuples", n, "other"), 3);
  EXPECT_EQ(Get(s, "sockstate_destinations_folded", L({})), 3);

  // Exact sums: outgoing + inbound sockets per state equal the state totals (LISTEN aside).
  for (const char* st : kStates) {
    std::string state = st;
    if (state == "listen" || state == "bound_inactive") continue;
    double parts = 0;
    for (const auto& [key, v] : s) {
      bool dest = key.rfind("sockstate_destination_sockets{", 0) == 0;
      bool in = key.rfind("sockstate_inbound_sockets{", 0) == 0;
      if ((dest || in) && key.find("state=\"" + state + "\"") != std::string::npos) parts += v;
    }
    EXPECT_EQ(parts, Tcp(s, n, "ipv4", st) + Tcp(s, n, "ipv6", st)) << st;
  }
  // Tuple occupancy histogram: db (1.0) and tw (0.5) and 7 small tuples.
  EXPECT_EQ(Get(s, "sockstate_tuple_occupancy_ratio_count", L({})), 2 + 1 + 1 + 4);
  EXPECT_EQ(Get(s, "sockstate_tuple_occupancy_ratio_bucket", L({{"le", "0.5"}})), 7);
  EXPECT_EQ(Get(s, "sockstate_tuple_occupancy_ratio_bucket", L({{"le", "0.95"}})), 7);
  EXPECT_EQ(Get(s, "sockstate_tuple_occupancy_ratio_bucket", L({{"le", "1"}})), 8);
}

// Series caps hold across namespaces: two namespaces with 3 destinations each (1, 2, 3
// connections) and top_k 3 give 2 x (3 + other) = 8 destination series; max_series 5 folds the
// 3 smallest (the two 1-connection ones and a 2-connection one) into their namespace's other.
TEST_F(ExporterKernel, SeriesCapHoldsAcrossNamespaces) {
  TestNetns a("sst-capa");
  TestNetns b("sst-capb");
  for (TestNetns* ns : {&a, &b}) {
    for (int d = 1; d <= 3; ++d) {
      int l = ns->Listen("127.0.0.5", uint16_t(8000 + d));
      for (int i = 0; i < d; ++i) ns->Connect(l, "127.0.0.5", uint16_t(8000 + d));
    }
  }
  ExporterProcess exp("namespaces:\n  mode: list\n  detail_threshold: 0\n  names: [" + a.name() +
                      ", " + b.name() + "]\ndestinations:\n  top_k: 3\n  max_series: 5\n");
  Series s = exp.Scrape();
  int series = 0;
  double used = 0;
  std::map<std::string, int> per_ns;
  for (const auto& [key, v] : s) {
    if (key.rfind("sockstate_destination_ephemeral_ports_used{", 0) != 0) continue;
    ++series;
    used += v;
    for (const std::string& n : {a.name(), b.name()}) {
      if (key.find("netns=\"" + n + "\"") != std::string::npos) ++per_ns[n];
    }
  }
  EXPECT_EQ(series, 5);
  EXPECT_EQ(used, 2 * (1 + 2 + 3));  // nothing lost by folding
  EXPECT_EQ(per_ns[a.name()] + per_ns[b.name()], 5);
  for (const std::string& n : {a.name(), b.name()}) {
    EXPECT_EQ(Dest(s, "sockstate_destination_ephemeral_ports_used", n, "127.0.0.5:8003"), 3) << n;
    EXPECT_TRUE(std::isnan(Dest(s, "sockstate_destination_tuples", n, "127.0.0.5:8001"))) << n;
  }
  EXPECT_EQ(Get(s, "sockstate_destinations_folded", {{"netns", a.name()}}) +
                Get(s, "sockstate_destinations_folded", {{"netns", b.name()}}),
            3);
}

std::map<std::string, int64_t> NetstatInside(TestNetns& ns, const char* prefix) {
  std::map<std::string, int64_t> out;
  ns.Run([&] {
    auto t = ReadNetstat(ProcPaths::ForThreadNetns("/proc"), "netstat");
    if (!t.ok() || !t->has_value()) return;
    auto it = (**t).find(prefix);
    if (it == (**t).end()) return;
    for (const auto& [k, v] : it->second) out[k] = v;
  });
  return out;
}

// Kernel counters: TIME_WAIT bucket overflow and TIME_WAIT reuse, as they change.
TEST_F(ExporterKernel, TimeWaitOverflowAndRecycleCountersMatchProc) {
  TestNetns ns("sst-tw");
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40049");  // 50 ports
  ns.SetSysctl("net.ipv4.tcp_max_tw_buckets", "10");
  ns.SetSysctl("net.ipv4.tcp_tw_reuse", "0");
  int l = ns.Listen("127.0.0.1", 9000);
  // 25 connections where the client closes first: only 10 may enter TIME_WAIT, 15 overflow.
  for (int i = 0; i < 25; ++i) {
    auto p = ns.Connect(l, "127.0.0.1", 9000);
    ns.Close(p.client);
    ns.Close(p.server);
  }
  for (int i = 0; i < 100; ++i) {  // bounded: 5 s for the FINs to settle
    StateCounts c = ns.ProcCounts();
    if (Count(c, "fin_wait2") + Count(c, "last_ack") + Count(c, "fin_wait1") +
            Count(c, "close_wait") ==
        0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Fill the other 40 ports of the tuple with live connections: the tuple is now full, 10 of
  // its ports held by TIME_WAIT.
  for (int i = 0; i < 40; ++i) ns.Connect(l, "127.0.0.1", 9000);
  ASSERT_EQ(ns.TryConnect("127.0.0.1", 9000), -EADDRNOTAVAIL);

  ExporterProcess exp(ListConfig(ns.name()));
  Series s = exp.Scrape();
  const std::string n = ns.name();
  auto netstat = NetstatInside(ns, "TcpExt");
  EXPECT_EQ(Tcp(s, n, "ipv4", "time_wait"), 10);
  EXPECT_EQ(Get(s, "sockstate_sockstat_tcp_tw", {{"netns", n}}), 10);
  EXPECT_EQ(Get(s, "sockstate_sysctl_tcp_max_tw_buckets", {{"netns", n}}), 10);
  EXPECT_EQ(Get(s, "sockstate_time_wait_bucket_usage_ratio", {{"netns", n}}), 1.0);
  EXPECT_EQ(netstat["TCPTimeWaitOverflow"], 15);
  EXPECT_EQ(Get(s, "sockstate_netstat_tcpext_tcptimewaitoverflow_total", {{"netns", n}}), 15);
  EXPECT_EQ(Get(s, "sockstate_sysctl_tcp_tw_reuse", {{"netns", n}}), 0);
  EXPECT_EQ(Get(s, "sockstate_netstat_tcpext_twrecycled_total", {{"netns", n}}), 0);
  EXPECT_EQ(Get(s, "sockstate_destination_occupancy_ratio",
                {{"netns", n}, {"destination", "127.0.0.1:9000"}}),
            1.0);

  // tcp_tw_reuse=1: once the TIME_WAIT sockets are older than tcp_tw_reuse_delay (1 s by
  // default on 6.14+), connect() to the full tuple reuses them, one per connect.
  ns.SetSysctl("net.ipv4.tcp_tw_reuse", "1");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const int reuse = 4;
  for (int i = 0; i < reuse; ++i) ns.Connect(l, "127.0.0.1", 9000);
  auto after = NetstatInside(ns, "TcpExt");
  Series s2 = exp.Scrape();
  EXPECT_EQ(after["TWRecycled"], reuse);
  EXPECT_EQ(Get(s2, "sockstate_sysctl_tcp_tw_reuse", {{"netns", n}}), 1);
  EXPECT_EQ(Get(s2, "sockstate_netstat_tcpext_twrecycled_total", {{"netns", n}}), reuse);
  EXPECT_EQ(Tcp(s2, n, "ipv4", "time_wait"), 10 - reuse);
  EXPECT_EQ(Get(s2, "sockstate_netstat_tcpext_tcptimewaitoverflow_total", {{"netns", n}}), 15);
}

}  // namespace
}  // namespace sockstate::testing
