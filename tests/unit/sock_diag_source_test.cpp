// The sock_diag ("netlink") source: its series from a snapshot built in memory, a Read that
// replays a recorded dump with and without the sysctl source before it, and the cross-namespace
// series cap.
#include "sources/sock_diag_source.h"

#include <gtest/gtest.h>

#include "source_test_util.h"
#include "sources/sysctl_source.h"

namespace sockstate {
namespace {

using testing::ExportSource;
using testing::Series;

int Idx(uint8_t state) { return ExportedStateIndex(state); }

DestinationStats Dest(const std::string& label, uint64_t established, uint64_t used,
                      uint64_t used_max, uint64_t tuples) {
  DestinationStats d;
  d.label = label;
  d.sockets[Idx(kTcpEstablished)] = established;
  d.ports_used = used;
  d.ports_used_max = used_max;
  d.tuples = tuples;
  d.tw_buckets = {0, 0};
  return d;
}

SockDiagSnapshot Snapshot() {
  SockDiagSnapshot s;
  AggregateResult& a = s.agg;
  a.states[0][Idx(kTcpEstablished)] = 3;
  a.states[0][Idx(kTcpTimeWait)] = 2;
  a.states[1][Idx(kTcpListen)] = 1;
  a.sockets = 6;
  a.budget = PortBudget{true, 40000, 40099, 100, 2, 34, 64};
  a.tw_bounds = {10, 60};
  DestinationStats db = Dest("db", 3, 5, 4, 2);
  db.sockets[Idx(kTcpTimeWait)] = 2;
  db.sockets[Idx(kTcpCloseWait)] = 1;
  db.tw_buckets = {1, 2};
  db.tw_count = 2;
  db.tw_sum_seconds = 30;
  a.destinations = {db, Dest("other", 0, 0, 0, 0)};
  DestinationStats svc = Dest("8080", 1, 0, 0, 0);
  a.inbound = {svc};
  a.services_folded = 4;
  a.destinations_folded = 0;
  a.tuples = 2;
  a.occupancy_bounds = {0.5, 1};
  a.occupancy_buckets = {2, 2};
  a.occupancy_count = 2;
  a.occupancy_sum = 0.05;
  s.dump_sockets = 6;
  s.max_tw_buckets = 4;
  return s;
}

TEST(SockDiagSource, ExportsStatesBudgetDestinationsInboundAndTimeWaitUsage) {
  SockDiagSource src(Snapshot());
  EXPECT_EQ(src.name(), "netlink");
  Series want;
  for (const char* fam : {"ipv4", "ipv6"}) {
    for (uint8_t st : kExportedStates) {
      want["sockstate_tcp_sockets{family=\"" + std::string(fam) + "\",state=\"" +
           std::string(TcpStateName(st)) + "\"}"] = 0;
    }
  }
  want["sockstate_tcp_sockets{family=\"ipv4\",state=\"established\"}"] = 3;
  want["sockstate_tcp_sockets{family=\"ipv4\",state=\"time_wait\"}"] = 2;
  want["sockstate_tcp_sockets{family=\"ipv6\",state=\"listen\"}"] = 1;
  const Series rest = {
      {"sockstate_netlink_dump_sockets", 6},
      {"sockstate_ephemeral_port_range_ports", 100},
      {"sockstate_ephemeral_port_reserved_ports", 2},
      {"sockstate_ephemeral_port_bind_held_ports", 34},
      {"sockstate_ephemeral_port_usable_ports", 64},
      {"sockstate_destination_sockets{destination=\"db\",state=\"established\"}", 3},
      {"sockstate_destination_sockets{destination=\"db\",state=\"time_wait\"}", 2},
      {"sockstate_destination_sockets{destination=\"db\",state=\"close_wait\"}", 1},
      {"sockstate_destination_ephemeral_ports_used{destination=\"db\"}", 5},
      {"sockstate_destination_ephemeral_ports_used_max{destination=\"db\"}", 4},
      {"sockstate_destination_occupancy_ratio{destination=\"db\"}", 0.0625},  // 4 / 64
      {"sockstate_destination_tuples{destination=\"db\"}", 2},
      {"sockstate_destination_time_wait_remaining_seconds_bucket{destination=\"db\",le=\"10\"}", 1},
      {"sockstate_destination_time_wait_remaining_seconds_bucket{destination=\"db\",le=\"60\"}", 2},
      {"sockstate_destination_time_wait_remaining_seconds_bucket{destination=\"db\",le=\"+Inf\"}",
       2},
      {"sockstate_destination_time_wait_remaining_seconds_count{destination=\"db\"}", 2},
      {"sockstate_destination_time_wait_remaining_seconds_sum{destination=\"db\"}", 30},
      {"sockstate_destination_sockets{destination=\"other\",state=\"established\"}", 0},
      {"sockstate_destination_sockets{destination=\"other\",state=\"time_wait\"}", 0},
      {"sockstate_destination_ephemeral_ports_used{destination=\"other\"}", 0},
      {"sockstate_destination_ephemeral_ports_used_max{destination=\"other\"}", 0},
      {"sockstate_destination_occupancy_ratio{destination=\"other\"}", 0},
      {"sockstate_destination_tuples{destination=\"other\"}", 0},
      {"sockstate_destination_time_wait_remaining_seconds_bucket{destination=\"other\",le=\"10\"}",
       0},
      {"sockstate_destination_time_wait_remaining_seconds_bucket{destination=\"other\",le=\"60\"}",
       0},
      {"sockstate_destination_time_wait_remaining_seconds_bucket{destination=\"other\",le=\"+"
       "Inf\"}",
       0},
      {"sockstate_destination_time_wait_remaining_seconds_count{destination=\"other\"}", 0},
      {"sockstate_destination_time_wait_remaining_seconds_sum{destination=\"other\"}", 0},
      {"sockstate_tuple_occupancy_ratio_bucket{le=\"0.5\"}", 2},
      {"sockstate_tuple_occupancy_ratio_bucket{le=\"1\"}", 2},
      {"sockstate_tuple_occupancy_ratio_bucket{le=\"+Inf\"}", 2},
      {"sockstate_tuple_occupancy_ratio_count", 2},
      {"sockstate_tuple_occupancy_ratio_sum", 0.05},
      {"sockstate_destinations_folded", 0},
      {"sockstate_destination_untracked_sockets", 0},
      {"sockstate_inbound_sockets{service=\"8080\",state=\"established\"}", 1},
      {"sockstate_inbound_sockets{service=\"8080\",state=\"time_wait\"}", 0},
      {"sockstate_inbound_services_folded", 4},
      {"sockstate_time_wait_bucket_usage_ratio", 0.5},
  };
  want.insert(rest.begin(), rest.end());
  EXPECT_EQ(ExportSource(src, DefaultConfig()), want);
}

TEST(SockDiagSource, UnknownRangeUntrackedAndNoTwLimitLeaveTheirSeriesOut) {
  SockDiagSnapshot s = Snapshot();
  s.agg.budget = PortBudget{};  // ip_local_port_range unknown
  s.agg.sockets_untracked = 7;  // "other" then has no used_max
  s.max_tw_buckets.reset();     // sysctl source failed
  const Series got = ExportSource(SockDiagSource(s), DefaultConfig(), {{"netns", "n1"}});
  EXPECT_EQ(got.at("sockstate_destination_untracked_sockets{netns=\"n1\"}"), 7);
  EXPECT_EQ(
      got.at("sockstate_destination_ephemeral_ports_used_max{destination=\"db\",netns=\"n1\"}"), 4);
  EXPECT_EQ(got.count("sockstate_destination_ephemeral_ports_used_max{destination=\"other\","
                      "netns=\"n1\"}"),
            0u);
  for (const char* absent :
       {"sockstate_ephemeral_port_usable_ports", "sockstate_destination_occupancy_ratio",
        "sockstate_tuple_occupancy_ratio_count", "sockstate_time_wait_bucket_usage_ratio"}) {
    EXPECT_FALSE(testing::HasMetric(got, absent)) << absent;
  }
}

class SockDiagSourceRead : public testing::OwnFixtureRead {
 protected:
  Status ReadWith(SockDiagSource& src, const std::string& dump, bool with_sysctl) {
    env_.replay_dump = std::string(SOCKSTATE_TEST_DATA_DIR) + "/dumps/" + dump;
    return ReadOwn(src, with_sysctl);
  }
};

TEST_F(SockDiagSourceRead, ReplayUsesThePortRangeOfTheSysctlSource) {
  SockDiagSource src;
  ASSERT_TRUE(ReadWith(src, "mixed.ssdiag", true).ok());
  EXPECT_EQ(env_.netlink_dumps.load(), 1u);
  EXPECT_EQ(src.snapshot().dump_sockets, 118u);
  EXPECT_TRUE(src.snapshot().agg.budget.known);
  EXPECT_EQ(src.snapshot().agg.budget.usable, 28214u);  // as the golden file says
  EXPECT_EQ(src.snapshot().max_tw_buckets, 131072);

  SockDiagSource alone;
  ASSERT_TRUE(ReadWith(alone, "mixed.ssdiag", false).ok());
  EXPECT_EQ(alone.snapshot().dump_sockets, 118u);
  EXPECT_FALSE(alone.snapshot().agg.budget.known);
  EXPECT_FALSE(alone.snapshot().max_tw_buckets.has_value());
}

TEST_F(SockDiagSourceRead, BrokenReplayFailsWithTheOffset) {
  SockDiagSource src;
  const Status st = ReadWith(src, "mixed-truncated.ssdiag", true);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("truncated record at offset 13920"), std::string::npos)
      << st.message();
  EXPECT_EQ(env_.netlink_dumps.load(), 1u);  // an attempted dump counts
}

TEST(SockDiagSource, SeriesCapHoldsAcrossNamespaces) {
  SockDiagSnapshot a, b;
  a.agg.destinations = {Dest("10.0.0.1:443", 5, 5, 5, 1), Dest("other", 0, 0, 0, 0)};
  b.agg.destinations = {Dest("10.0.0.2:443", 1, 1, 1, 1), Dest("other", 2, 2, 2, 1)};
  SockDiagSource sa(a), sb(b);
  Config config = DefaultConfig();
  config.destinations.max_series = 3;
  sa.FinishAcrossNamespaces({&sa, &sb}, config);
  ASSERT_EQ(sa.snapshot().agg.destinations.size(), 2u);
  EXPECT_EQ(sa.snapshot().agg.destinations[0].label, "10.0.0.1:443");
  ASSERT_EQ(sb.snapshot().agg.destinations.size(), 1u);  // the smallest went into its "other"
  EXPECT_EQ(sb.snapshot().agg.destinations[0].label, "other");
  EXPECT_EQ(sb.snapshot().agg.destinations[0].ports_used, 3u);
  EXPECT_EQ(sb.snapshot().agg.destinations[0].sockets[Idx(kTcpEstablished)], 3u);
  EXPECT_EQ(sb.snapshot().agg.destinations_folded, 1u);
}

}  // namespace
}  // namespace sockstate
