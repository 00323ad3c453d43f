// The occupancy bound on the real kernel: its counters are per namespace; for random
// populations the exported bound is >= the exact fullest tuple occupancy the test built, every
// namespace over the threshold reports exactly what a full dump (detail_threshold 0) reports,
// and a namespace crossing the threshold gets or loses its series with hysteresis. A namespace
// below the threshold costs exactly its 5 netns series (namespaces.kernel_counters: detailed)
// and the host-wide values come once, without netns.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "exporter_process.h"
#include "kernel/procfs.h"
#include "netns_fixture.h"
#include "requirements.h"
#include "test_util.h"

namespace sockstate::testing {
namespace {

constexpr int kRangeLow = 40000;
using Labels = std::vector<std::pair<std::string, std::string>>;

/// /proc/thread-self/net/sockstat of `ns`, parsed.
SockstatTable Sockstat(TestNetns& ns) {
  std::string text;
  ns.Run([&] { text = ReadFile("/proc/thread-self/net/sockstat"); });
  auto t = ParseSockstat(text);
  if (!t.ok()) throw std::runtime_error(t.status().message());
  return *t;
}

/// Sockstat once "sockets: used" stopped moving: sockets closed just before (e.g. the netlink
/// sockets of `ip`) are freed after an RCU grace period. Bounded: 100 reads, 20 ms apart.
SockstatTable SettledSockstat(TestNetns& ns) {
  SockstatTable last = Sockstat(ns);
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    SockstatTable now = Sockstat(ns);
    if (now == last) return now;
    last = std::move(now);
  }
  throw std::runtime_error("sockstat of " + ns.name() + " kept changing for 2 s");
}

/// Closes both ends of a pair with RST (SO_LINGER 0): no TIME_WAIT is left.
void Abort(TestNetns& ns, const TestNetns::Pair& p) {
  const linger l{1, 0};
  setsockopt(p.client, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ns.Close(p.client);
  ns.Close(p.server);
}

std::string Detailed(const Series& s, const std::string& netns) {
  for (const char* r : {"own", "own_hash", "threshold", "hysteresis", "below_threshold"}) {
    if (!std::isnan(Get(s, "sockstate_netns_detailed", {{"netns", netns}, {"reason", r}}))) {
      return r;
    }
  }
  return "";
}

class OccupancyBoundKernel : public RootTest {};  // root: network namespaces

TEST_F(OccupancyBoundKernel, CountersArePerNamespace) {
  TestNetns a("sstob"), b("sstob");
  const SockstatTable a0 = SettledSockstat(a), b0 = SettledSockstat(b);
  int l = a.Listen("127.0.0.1", 0);
  for (int i = 0; i < 5; ++i) a.Connect(l, "127.0.0.1", 0);
  a.MakeTimeWait(l, "127.0.0.1", a.LocalPort(l), 3);
  const SockstatTable a1 = SettledSockstat(a), b1 = SettledSockstat(b);
  EXPECT_EQ(a1.at("TCP").at("inuse") - a0.at("TCP").at("inuse"), 11u);  // 1 + 5 + 5
  EXPECT_EQ(a1.at("TCP").at("tw") - a0.at("TCP").at("tw"), 3u);
  EXPECT_EQ(a1.at("sockets").at("used") - a0.at("sockets").at("used"), 11u);
  EXPECT_EQ(b1.at("TCP").at("inuse"), b0.at("TCP").at("inuse"));
  EXPECT_EQ(b1.at("TCP").at("tw"), b0.at("TCP").at("tw"));
  EXPECT_EQ(b1.at("sockets").at("used"), b0.at("sockets").at("used"));
}

/// One namespace of the randomized test and what the test built in it.
struct Population {
  std::unique_ptr<TestNetns> ns;
  bool own_hash = false;
  std::vector<int> used;  // per destination: client sockets (ESTABLISHED + TIME_WAIT)
  int bound_inactive = 0;
  std::vector<int> extra_fds;  // bound-inactive sockets (the test's own)
  double exact() const {
    const int usable = 1000 - bound_inactive;
    return double(*std::max_element(used.begin(), used.end())) / usable;
  }
};

TEST_F(OccupancyBoundKernel, RandomPopulationsBoundHoldsAndDetailedAreExact) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  const std::string child = "/proc/sys/net/ipv4/tcp_child_ehash_entries";
  const bool can_own_hash = std::ifstream(child).good();
  std::vector<Population> pops(8);
  for (size_t i = 0; i < pops.size(); ++i) {
    Population& p = pops[i];
    p.own_hash = can_own_hash && i < 2;
    if (p.own_hash) std::ofstream(child) << "256\n";  // the next namespace gets its own table
    p.ns = std::make_unique<TestNetns>("sstobr");
    if (p.own_hash) std::ofstream(child) << "0\n";
    TestNetns& ns = *p.ns;
    ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40999");
    // Bound-inactive sockets first: connect() then skips their ports.
    p.bound_inactive = int(rng() % 3);
    for (int k = 0; k < p.bound_inactive; ++k) {
      ns.Run([&] {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(kRangeLow + 990 + k));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
          throw std::runtime_error("bind-only socket failed");
        }
        p.extra_fds.push_back(fd);
      });
    }
    // About half the namespaces get a hot destination (100-130 connections: bound ~0.25-0.35),
    // the others 0-30 per destination (bound < 0.1).
    const bool hot = rng() % 2 == 0;
    const int dests = 1 + int(rng() % 3);
    for (int d = 0; d < dests; ++d) {
      const uint16_t port = uint16_t(8001 + d);
      int l = ns.Listen("127.0.0.1", port);
      const int est = (hot && d == 0 ? 100 : 0) + int(rng() % 31), tw = int(rng() % 10);
      for (int k = 0; k < est; ++k) ns.Connect(l, "127.0.0.1", port);
      if (tw > 0) ns.MakeTimeWait(l, "127.0.0.1", port, tw);
      p.used.push_back(est + tw);
    }
  }
  std::string names;
  for (const Population& p : pops) names += (names.empty() ? "" : ", ") + p.ns->name();
  const std::string base = "namespaces:\n  mode: list\n  names: [" + names + "]\n";
  // The bound decides for dumps: the tracker (which would count every namespace) is off.
  ExporterProcess bounded(base, {"--collector.tracker=off"});
  ExporterProcess full(base + "  detail_threshold: 0\n", {"--collector.tracker=off"});
  const Series s = bounded.Scrape();
  const Series f = full.Scrape();

  int over = 0, under = 0;
  for (const Population& p : pops) {
    const std::string& n = p.ns->name();
    const double bound = Get(s, "sockstate_netns_occupancy_bound_ratio", {{"netns", n}});
    SCOPED_TRACE(n + " used " + ::testing::PrintToString(p.used) + " bound-inactive " +
                 std::to_string(p.bound_inactive) + " bound " + std::to_string(bound));
    ASSERT_FALSE(std::isnan(bound));
    EXPECT_GE(bound, p.exact());
    const std::string reason = Detailed(s, n);
    if (p.own_hash) {
      EXPECT_EQ(reason, "own_hash");
    } else if (bound >= 0.25) {
      EXPECT_EQ(reason, "threshold");
    } else {
      EXPECT_EQ(reason, "below_threshold");
    }
    if (reason == "below_threshold") {
      ++under;
      EXPECT_LT(p.exact(), 0.25);
      EXPECT_TRUE(std::isnan(Get(s, "sockstate_netlink_dump_sockets", {{"netns", n}})));
      continue;
    }
    ++over;
    // Exactly what the full dump reports, and what the test built.
    for (size_t d = 0; d < p.used.size(); ++d) {
      const Labels dl = {{"netns", n}, {"destination", "127.0.0.1:" + std::to_string(8001 + d)}};
      for (const char* m :
           {"sockstate_destination_ephemeral_ports_used_max",
            "sockstate_destination_occupancy_ratio", "sockstate_destination_tuples"}) {
        EXPECT_EQ(Get(s, m, dl), Get(f, m, dl)) << m << " " << d;
      }
      EXPECT_EQ(Get(s, "sockstate_destination_ephemeral_ports_used_max", dl), p.used[d]);
    }
    EXPECT_EQ(Get(s, "sockstate_ephemeral_port_usable_ports", {{"netns", n}}),
              1000 - p.bound_inactive);
    EXPECT_EQ(Get(s, "sockstate_netlink_dump_sockets", {{"netns", n}}),
              Get(f, "sockstate_netlink_dump_sockets", {{"netns", n}}));
  }
  std::printf("%d namespaces detailed, %d bounded\n", over, under);
  for (Population& p : pops) {
    for (int fd : p.extra_fds) close(fd);
  }
}

TEST_F(OccupancyBoundKernel, CrossingTheThresholdWithHysteresis) {
  TestNetns ns("sstobx");
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40999");
  int l = ns.Listen("127.0.0.1", 8001);
  std::vector<TestNetns::Pair> pairs;
  auto grow_to = [&](size_t n) {
    while (pairs.size() < n) pairs.push_back(ns.Connect(l, "127.0.0.1", 8001));
    while (pairs.size() > n) {
      Abort(ns, pairs.back());
      pairs.pop_back();
    }
  };
  ExporterProcess ex("namespaces:\n  mode: list\n  names: [" + ns.name() + "]\n",
                     {"--collector.tracker=off"});
  const Labels netns = {{"netns", ns.name()}};
  const Labels dest = {{"netns", ns.name()}, {"destination", "127.0.0.1:8001"}};
  // bound ~ (1 + 2n) / (1000 - (1 + 2n)): n = 20 -> 0.04, 110 -> 0.28, 90 -> 0.22, 75 -> 0.18.
  struct Step {
    size_t pairs;
    const char* reason;
  };
  for (const Step& step :
       {Step{20, "below_threshold"}, Step{110, "threshold"}, Step{90, "hysteresis"},
        Step{110, "threshold"}, Step{75, "below_threshold"}, Step{90, "below_threshold"}}) {
    grow_to(step.pairs);
    const Series s = ex.Scrape();
    SCOPED_TRACE(std::to_string(step.pairs) + " pairs, bound " +
                 std::to_string(Get(s, "sockstate_netns_occupancy_bound_ratio", netns)));
    EXPECT_EQ(Detailed(s, ns.name()), step.reason);
    const double used_max = Get(s, "sockstate_destination_ephemeral_ports_used_max", dest);
    if (std::string(step.reason) == "below_threshold") {
      EXPECT_TRUE(std::isnan(used_max));
    } else {
      EXPECT_EQ(used_max, double(step.pairs));  // on this very scrape
    }
  }
}

/// The names and netns labels of every series of `s` whose netns is `netns` ("" = none).
std::map<std::string, int> NamesIn(const Series& s, const std::string& netns) {
  std::map<std::string, int> out;
  for (const auto& [key, value] : s) {
    const std::string label = "netns=\"" + netns + "\"";
    const bool has = key.find("netns=\"") != std::string::npos;
    if (netns.empty() ? has : key.find(label) == std::string::npos) continue;
    out[key.substr(0, key.find('{'))]++;
  }
  return out;
}

TEST_F(OccupancyBoundKernel, QuietNamespaceCostsItsNetnsSeriesHostWideValuesOnce) {
  TestNetns quiet("sstobq"), busy("sstobq");
  busy.SetSysctl("net.ipv4.ip_local_port_range", "40000 40099");
  int l = busy.Listen("127.0.0.1", 8001);
  for (int i = 0; i < 40; ++i) busy.Connect(l, "127.0.0.1", 8001);  // bound ~0.8: detailed
  const std::string list =
      "namespaces:\n  mode: list\n  names: [" + quiet.name() + ", " + busy.name() + "]\n";
  // Without the connect() failures source (it adds its per-namespace `other` counters: the
  // README's "with connect() failures counted, each destination" row).
  const std::vector<std::string> args = {"--collector.connect-failures=off"};
  ExporterProcess ex(list, args);
  const Series s = ex.Scrape();
  ASSERT_EQ(Detailed(s, quiet.name()), "below_threshold");
  ASSERT_EQ(Detailed(s, busy.name()), "threshold");
  std::map<std::string, int> netns_only = {{"sockstate_netns_detailed", 1},
                                           {"sockstate_netns_info", 1},
                                           {"sockstate_netns_occupancy_bound_ratio", 1},
                                           {"sockstate_netns_scrape_duration_seconds", 1},
                                           {"sockstate_netns_scrape_success", 1},
                                           {"sockstate_netns_udp_occupancy_bound_ratio", 1}};
  // Where the state tracker runs (--collector.tracker=auto|on), each namespace it counts says so (README:
  // "each namespace it counts").
  if (Get(s, "sockstate_tracker_available", {}) == 1) netns_only["sockstate_tracker_in_use"] = 1;
  EXPECT_EQ(NamesIn(s, quiet.name()), netns_only);
  // The detailed one exports its kernel counters and a success series per source.
  const std::map<std::string, int> busy_names = NamesIn(s, busy.name());
  for (const char* name :
       {"sockstate_sysctl_ip_local_port_range_low", "sockstate_sockstat_tcp_inuse",
        "sockstate_snmp_tcp_activeopens_total", "sockstate_tcp_sockets"}) {
    EXPECT_EQ(busy_names.count(name), 1u) << name;
  }
  EXPECT_EQ(busy_names.at("sockstate_scrape_source_success"), 10);
  // Host-wide values: once, without netns; no conntrack series of an empty table.
  const std::map<std::string, int> unlabelled = NamesIn(s, "");
  for (const char* name : {"sockstate_sockstat_tcp_orphan", "sockstate_sockstat_tcp_alloc",
                           "sockstate_sockstat_tcp_mem_bytes"}) {
    EXPECT_EQ(unlabelled.count(name), 1u) << name;
  }
  for (const auto& [name, n] : busy_names) {
    EXPECT_NE(name, "sockstate_sockstat_tcp_orphan");
    EXPECT_NE(name, "sockstate_conntrack_entries") << "empty table";
  }
  // namespaces.kernel_counters: all brings the quiet namespace's kernel counters back.
  ExporterProcess all(list + "  kernel_counters: all\n", args);
  const std::map<std::string, int> quiet_all = NamesIn(all.Scrape(), quiet.name());
  EXPECT_EQ(quiet_all.at("sockstate_scrape_source_success"), 10);
  EXPECT_EQ(quiet_all.count("sockstate_sysctl_tcp_tw_reuse"), 1u);
  EXPECT_EQ(quiet_all.count("sockstate_netstat_tcpext_tw_total"), 1u);
  EXPECT_EQ(quiet_all.count("sockstate_tcp_sockets"), 0u) << "not dumped: below the threshold";
}

}  // namespace
}  // namespace sockstate::testing
