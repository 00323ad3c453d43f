// The udp source: a Read that replays the recorded kernel dump tests/fixtures/dumps/udp.ssudp
// (its population and the figures worked out by hand: tests/unit/udp_aggregator_test.cpp)
// with and without the sysctl source before it, its exact series, a broken replay, and the
// cross-namespace cap of its destination labels.

#include "sources/udp_source.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernel/procfs.h"
#include "source_test_util.h"
#include "sources/sysctl_source.h"

namespace sockstate {
namespace {

using testing::ExportSource;
using testing::Series;

class UdpSourceRead : public testing::OwnFixtureRead {
 protected:
  Status ReadWith(UdpSource& src, const std::string& dump, bool with_sysctl) {
    env_.replay_udp_dump = std::string(SOCKSTATE_TEST_DATA_DIR) + "/dumps/" + dump;
    return ReadOwn(src, with_sysctl);
  }
};

TEST_F(UdpSourceRead, RecordedFixtureGivesExactlyTheseSeries) {
  config_.destinations.top_k = 2;
  UdpSource src;
  ASSERT_TRUE(ReadWith(src, "udp.ssudp", true).ok());
  EXPECT_EQ(env_.netlink_dumps.load(), 0u);  // sockstate_netlink_dumps_total counts TCP dumps
  Series s = ExportSource(src, config_);
  // Ratios through the exposition text: compared to 1e-12, then left out of the exact map.
  const std::vector<std::pair<std::string, double>> ratios = {
      {"sockstate_udp_occupancy_ratio", 11.0 / 28221},
      {R"(sockstate_udp_local_address_occupancy_ratio{local_address="127.0.0.1"})", 8.0 / 28221},
      {R"(sockstate_udp_local_address_occupancy_ratio{local_address="127.0.0.2"})", 4.0 / 28221},
      {R"(sockstate_udp_local_address_occupancy_ratio{local_address="::1"})", 4.0 / 28221},
  };
  for (const auto& [key, value] : ratios) {
    ASSERT_EQ(s.count(key), 1u) << key;
    EXPECT_NEAR(s[key], value, 1e-12) << key;
    s.erase(key);
  }
  const Series want = {
      {R"(sockstate_udp_sockets{family="ipv4",state="unconnected"})", 7},
      {R"(sockstate_udp_sockets{family="ipv4",state="connected"})", 4},
      {R"(sockstate_udp_sockets{family="ipv6",state="unconnected"})", 3},
      {R"(sockstate_udp_sockets{family="ipv6",state="connected"})", 1},
      {"sockstate_udp_ephemeral_ports_used", 11},
      {"sockstate_udp_ephemeral_port_usable_ports", 28221},
      {"sockstate_udp_sockets_sharing_ports", 2},
      {R"(sockstate_udp_local_address_ephemeral_ports_used{local_address="127.0.0.1"})", 8},
      {R"(sockstate_udp_local_address_ephemeral_ports_used{local_address="127.0.0.2"})", 4},
      {R"(sockstate_udp_local_address_ephemeral_ports_used{local_address="::1"})", 4},
      {"sockstate_udp_local_addresses_folded", 0},
      {"sockstate_udp_local_address_untracked_sockets", 0},
      // Top 2 by ports held: 127.0.0.53:53 (3), then 127.0.0.54:53 before [::1]:5353 (1 each:
      // IPv4 first), which goes to "other".
      {R"(sockstate_udp_destination_sockets{destination="127.0.0.53:53"})", 3},
      {R"(sockstate_udp_destination_sockets{destination="127.0.0.54:53"})", 1},
      {R"(sockstate_udp_destination_sockets{destination="other"})", 1},
      {R"(sockstate_udp_destination_ephemeral_ports_used{destination="127.0.0.53:53"})", 3},
      {R"(sockstate_udp_destination_ephemeral_ports_used{destination="127.0.0.54:53"})", 1},
      {R"(sockstate_udp_destination_ephemeral_ports_used{destination="other"})", 1},
      {"sockstate_udp_destinations_folded", 1},
      {"sockstate_udp_destination_untracked_sockets", 0},
  };
  EXPECT_EQ(s, want);
}

TEST_F(UdpSourceRead, WithoutThePortRangeOnlySocketsAndDestinations) {
  UdpSource src;
  ASSERT_TRUE(ReadWith(src, "udp.ssudp", false).ok());
  const Series s = ExportSource(src, config_);
  EXPECT_EQ(testing::Get(s, "sockstate_udp_sockets", {{"family", "ipv4"}, {"state", "unconnected"}}),
            7);
  EXPECT_FALSE(testing::HasMetric(s, "sockstate_udp_occupancy_ratio"));
  EXPECT_FALSE(testing::HasMetric(s, "sockstate_udp_local_address_ephemeral_ports_used"));
  EXPECT_EQ(
      testing::Get(s, "sockstate_udp_destination_sockets", {{"destination", "127.0.0.53:53"}}), 3);
}

TEST_F(UdpSourceRead, ABrokenReplayFailsWithTheFileOffset) {
  UdpSource src;
  const Status st = ReadWith(src, "mixed.ssdiag", true);  // a TCP recording
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bad magic at offset 0 (not an SSUDP001 dump)"), std::string::npos)
      << st.message();
}

TEST_F(UdpSourceRead, DestinationCapHoldsAcrossNamespaces) {
  config_.destinations.top_k = 5;
  UdpSource a, b;
  ASSERT_TRUE(ReadWith(a, "udp.ssudp", true).ok());
  ASSERT_TRUE(ReadWith(b, "udp.ssudp", true).ok());
  // 3 top-K labels + "other" each; a cap of 6 folds the two lightest (1 socket each).
  config_.destinations.max_series = 6;
  a.FinishAcrossNamespaces({&a, &b}, config_);
  size_t labels = 0;
  uint64_t sockets = 0;
  for (const UdpSource* u : {&a, &b}) {
    labels += u->result().labels.labels.size();
    for (uint64_t v : u->result().slot_sockets) sockets += v;
  }
  EXPECT_EQ(labels, 6u);
  EXPECT_EQ(sockets, 10u);  // 5 connected sockets each, none lost
}

}  // namespace
}  // namespace sockstate
