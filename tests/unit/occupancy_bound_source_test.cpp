// The occupancy bound: its formula, the detail decision with hysteresis, a Read from the
// sources before it (in memory) and tcp_ehash_entries (temp tree), its series, and the
// sock_diag source skipping the dump of a namespace the bound cleared.
#include "sources/occupancy_bound_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "source_test_util.h"
#include "sources/sock_diag_source.h"
#include "sources/udp_source.h"
#include "sources/sysctl_source.h"

namespace sockstate {
namespace {

using testing::ExportSource;
using testing::Series;

TEST(OccupancyBound, Formula) {
  OccupancyCounts c;
  c.range_ports = 100;
  c.reserved_in_range = 10;
  c.sockets_used = 30;
  c.tcp_inuse = 12;
  c.tcp6_inuse = 3;
  c.tcp_tw = 9;
  EXPECT_EQ(OccupancyBound(c), 24.0 / 60);  // (12 + 3 + 9) / (100 - 10 - 30)
  c.sockets_used = 95;                      // nothing provably usable: divide by 1
  EXPECT_EQ(OccupancyBound(c), 24.0);
  EXPECT_EQ(OccupancyBound(OccupancyCounts{}), 0.0);
  // UDP: its sockets against range - reserved, whatever else the namespace holds.
  c.udp_inuse = 40;
  c.udp6_inuse = 5;
  EXPECT_EQ(UdpOccupancyBound(c), 45.0 / 90);
  c.reserved_in_range = 100;
  EXPECT_EQ(UdpOccupancyBound(c), 45.0);
  EXPECT_EQ(UdpOccupancyBound(OccupancyCounts{}), 0.0);
}

TEST(OccupancyBound, DecisionAndHysteresis) {
  EXPECT_EQ(DecideDetail(true, false, 0, 0.25, false), DetailReason::kOwn);
  EXPECT_EQ(DecideDetail(false, true, 0, 0.25, false), DetailReason::kOwnHash);
  EXPECT_EQ(DecideDetail(false, false, 0.25, 0.25, false), DetailReason::kThreshold);
  EXPECT_EQ(DecideDetail(false, false, 0.24, 0.25, false), DetailReason::kBelowThreshold);
  // Detailed before: stays so down to 0.8 x threshold (0.2), then leaves.
  EXPECT_EQ(DecideDetail(false, false, 0.24, 0.25, true), DetailReason::kHysteresis);
  EXPECT_EQ(DecideDetail(false, false, 0.2, 0.25, true), DetailReason::kHysteresis);
  EXPECT_EQ(DecideDetail(false, false, 0.199, 0.25, true), DetailReason::kBelowThreshold);
  // Threshold 0: every namespace is detailed (the behaviour before the bound).
  EXPECT_EQ(DecideDetail(false, false, 0, 0, false), DetailReason::kThreshold);
  EXPECT_EQ(DetailReasonName(DetailReason::kBelowThreshold), "below_threshold");
  EXPECT_EQ(DetailReasonName(DetailReason::kOwnHash), "own_hash");
}

class OccupancyBoundRead : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sockstate-bound-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ + "/sys/net/ipv4");
    std::filesystem::create_directories(root_ + "/thread-self/net");
    NetSysctls s;
    s.port_range = PortRange{40000, 40099};
    s.reserved_ports = PortSet();
    s.reserved_ports->set(40000);
    s.reserved_ports->set(39999);  // outside the range: not counted
    sysctl_.set_sysctls(s);
    Sockstat(19, 10, 5);
    WriteNet("sockstat6", "TCP6: inuse 5\nUDP6: inuse 2\n");
    config_.namespaces.mode = NetnsMode::kAll;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void WriteNet(const std::string& file, const std::string& text) {
    std::ofstream(root_ + "/thread-self/net/" + file) << text;
  }
  void Sockstat(int used, int inuse, int tw, int udp = 1) {
    WriteNet("sockstat", "sockets: used " + std::to_string(used) + "\nTCP: inuse " +
                             std::to_string(inuse) + " orphan 99 tw " + std::to_string(tw) +
                             " alloc 120 mem 3\nUDP: inuse " + std::to_string(udp) + " mem 0\n");
  }
  void Ehash(const std::string& text) {
    std::ofstream(root_ + "/sys/net/ipv4/tcp_ehash_entries") << text;
  }
  Status Read(OccupancyBoundSource& b, bool own = false) {
    ProcPaths paths = ProcPaths::ForThreadNetns(root_);
    return b.Read({config_, env_, env_, paths, own, "n", earlier_});
  }
  std::string root_;
  Config config_ = DefaultConfig();
  SourceEnv env_;
  SysctlSource sysctl_;
  std::vector<const NetnsSource*> earlier_{&sysctl_};
};

TEST_F(OccupancyBoundRead, CountsFromTheEarlierSourcesAndSeries) {
  OccupancyBoundSource b;
  EXPECT_FALSE(b.Enabled(DefaultConfig()));  // mode own: not read
  EXPECT_TRUE(b.Enabled(config_));
  Ehash("-262144\n");  // the shared table
  ASSERT_TRUE(Read(b).ok());
  EXPECT_EQ(b.counts().range_ports, 100u);
  EXPECT_EQ(b.counts().reserved_in_range, 1u);
  EXPECT_EQ(b.counts().sockets_used, 19u);
  EXPECT_EQ(b.bound(), 0.25);  // (10 + 5 + 5) / (100 - 1 - 19)
  EXPECT_EQ(b.reason(), DetailReason::kThreshold);
  EXPECT_EQ(b.udp_bound(), 3.0 / 99);  // (1 + 2) / (100 - 1)
  Series got = ExportSource(b, config_, {{"netns", "n"}});
  const std::string udp_key = "sockstate_netns_udp_occupancy_bound_ratio{netns=\"n\"}";
  EXPECT_NEAR(got[udp_key], 3.0 / 99, 1e-12);  // through the exposition text
  got.erase(udp_key);
  const Series want = {
      {"sockstate_netns_occupancy_bound_ratio{netns=\"n\"}", 0.25},
      {"sockstate_netns_detailed{netns=\"n\",reason=\"threshold\"}", 1},
  };
  EXPECT_EQ(got, want);

  // One socket fewer: below the threshold, but within the hysteresis band.
  Sockstat(19, 9, 5);
  ASSERT_TRUE(Read(b).ok());
  EXPECT_EQ(b.reason(), DetailReason::kHysteresis);
  EXPECT_TRUE(b.detailed());
  // Far below: cleared.
  Sockstat(19, 1, 0);
  ASSERT_TRUE(Read(b).ok());
  EXPECT_EQ(b.reason(), DetailReason::kBelowThreshold);
  EXPECT_EQ(ExportSource(b, config_, {{"netns", "n"}})
                .at("sockstate_netns_detailed{netns=\"n\",reason=\"below_threshold\"}"),
            0);
  // Back into the band from below: not detailed (hysteresis only keeps a detailed namespace).
  Sockstat(19, 9, 5);
  ASSERT_TRUE(Read(b).ok());
  EXPECT_EQ(b.reason(), DetailReason::kBelowThreshold);
}

TEST_F(OccupancyBoundRead, UdpSocketsAloneDetailTheNamespaceAndUdpFollowsTheDecision) {
  // Hardly any TCP, but 23 + 2 UDP sockets in a 99-port range: 25/99 >= 0.25.
  Sockstat(30, 0, 0, /*udp=*/23);
  OccupancyBoundSource b;
  ASSERT_TRUE(Read(b).ok());
  EXPECT_EQ(b.bound(), 5.0 / 69);  // TCP6 inuse 5 / (100 - 1 - 30): far below
  EXPECT_EQ(b.udp_bound(), 25.0 / 99);
  EXPECT_EQ(b.reason(), DetailReason::kThreshold);
  // 22 + 2: 24/99 is inside the hysteresis band (>= 0.8 x 0.25): still detailed.
  Sockstat(30, 0, 0, 22);
  ASSERT_TRUE(Read(b).ok());
  EXPECT_EQ(b.reason(), DetailReason::kHysteresis);
  // 1 + 2: cleared, and the udp source does not dump it.
  Sockstat(30, 0, 0, 1);
  ASSERT_TRUE(Read(b).ok());
  ASSERT_FALSE(b.detailed());
  env_.replay_udp_dump = std::string(SOCKSTATE_TEST_DATA_DIR) + "/dumps/udp.ssudp";
  std::vector<const NetnsSource*> earlier = {&sysctl_, &b};
  UdpSource u;
  ASSERT_TRUE(u.Read({config_, env_, env_, ProcPaths::ForRoot(root_), true, "n", earlier}).ok());
  EXPECT_FALSE(u.dumped());
  EXPECT_EQ(ExportSource(u, config_, {{"netns", "n"}}), Series{});
}

TEST_F(OccupancyBoundRead, OwnNamespaceAndOwnHashAreAlwaysDetailed) {
  Sockstat(1, 0, 0);
  OccupancyBoundSource own, hashed, shared;
  ASSERT_TRUE(Read(own, /*own=*/true).ok());
  EXPECT_EQ(own.reason(), DetailReason::kOwn);
  Ehash("1024\n");
  ASSERT_TRUE(Read(hashed).ok());
  EXPECT_EQ(hashed.reason(), DetailReason::kOwnHash);
  std::filesystem::remove(root_ + "/sys/net/ipv4/tcp_ehash_entries");  // kernel < 6.1
  ASSERT_TRUE(Read(shared).ok());
  EXPECT_EQ(shared.reason(), DetailReason::kBelowThreshold);
  Ehash("garbage\n");
  const Status st = Read(shared);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tcp_ehash_entries"), std::string::npos) << st.message();
}

TEST_F(OccupancyBoundRead, MissingInputsFail) {
  OccupancyBoundSource b;
  earlier_ = {};  // the sysctl source failed this scrape
  Status st = Read(b);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "occupancy_bound: ip_local_port_range unknown (sysctl source failed)");
  earlier_ = {&sysctl_};
  std::filesystem::remove(root_ + "/thread-self/net/sockstat");
  st = Read(b);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), root_ + "/thread-self/net/sockstat: not found");
  // Without sockstat6 (IPv6 off) the bound is made of IPv4 alone.
  Sockstat(19, 10, 5);
  std::filesystem::remove(root_ + "/thread-self/net/sockstat6");
  ASSERT_TRUE(Read(b).ok());
  EXPECT_EQ(b.bound(), 15.0 / 80);
}

TEST_F(OccupancyBoundRead, SockDiagSkipsTheDumpOfAClearedNamespace) {
  Sockstat(1, 1, 0);
  OccupancyBoundSource b;
  ASSERT_TRUE(Read(b).ok());
  ASSERT_FALSE(b.detailed());
  env_.replay_dump = std::string(SOCKSTATE_TEST_DATA_DIR) + "/dumps/mixed.ssdiag";
  std::vector<const NetnsSource*> earlier = {&sysctl_, &b};
  SockDiagSource d;
  ProcPaths paths = ProcPaths::ForRoot(root_);
  ASSERT_TRUE(d.Read({config_, env_, env_, paths, true, "n", earlier}).ok());
  EXPECT_EQ(env_.netlink_dumps.load(), 0u);
  EXPECT_FALSE(d.snapshot().dumped);
  EXPECT_EQ(ExportSource(d, config_, {{"netns", "n"}}), Series{});
}

}  // namespace
}  // namespace sockstate
