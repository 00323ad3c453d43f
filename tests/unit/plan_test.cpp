#include "aggregate/plan.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "test_util.h"

namespace sockstate {
namespace {

std::array<uint8_t, 16> V4(const char* a) { return testing::Addr(a); }
std::array<uint8_t, 16> V6(const char* a) { return testing::Addr(a); }

DestinationGroup Group(const std::string& name, std::vector<std::string> cidrs,
                       std::vector<uint16_t> ports) {
  DestinationGroup g;
  g.name = name;
  for (const auto& c : cidrs) g.cidrs.push_back(*ParseCidr(c));
  for (uint16_t p : ports) g.ports.set(p);
  g.any_port = ports.empty();
  return g;
}

TEST(DestinationLabel, FormatsLikeTheOccupancySeries) {
  EXPECT_EQ(DestinationLabel(Family::kIpv4, V4("10.0.0.2").data(), 80), "10.0.0.2:80");
  EXPECT_EQ(DestinationLabel(Family::kIpv6, V6("fd00::2").data(), 443), "[fd00::2]:443");
  EXPECT_EQ(DestinationLabel(Family::kIpv6, V6("::1").data(), 65535), "[::1]:65535");
}

TEST(NormalizeDestination, MappedIpv4BecomesIpv4LikeSockDiagRecords) {
  Family f = Family::kIpv6;
  std::array<uint8_t, 16> out;
  out.fill(0xaa);
  std::array<uint8_t, 16> in = V6("::ffff:10.0.3.5");
  ASSERT_TRUE(NormalizeDestination(AF_INET6, in.data(), &f, &out));
  EXPECT_EQ(f, Family::kIpv4);
  EXPECT_EQ(out, V4("10.0.3.5"));
  in = V6("fd00::2");
  ASSERT_TRUE(NormalizeDestination(AF_INET6, in.data(), &f, &out));
  EXPECT_EQ(f, Family::kIpv6);
  EXPECT_EQ(out, V6("fd00::2"));
  in = V4("192.0.2.7");
  in[7] = 0x55;  // bytes beyond an AF_INET address are ignored
  ASSERT_TRUE(NormalizeDestination(AF_INET, in.data(), &f, &out));
  EXPECT_EQ(f, Family::kIpv4);
  EXPECT_EQ(out, V4("192.0.2.7"));
  EXPECT_FALSE(NormalizeDestination(AF_UNIX, in.data(), &f, &out));
  EXPECT_EQ(out, V4("192.0.2.7"));  // untouched
}

TEST(DestinationPlan, FirstMatchingGroupInFileOrderByCidrAndPort) {
  DestinationConfig cfg;
  cfg.groups = {Group("postgres", {"10.0.3.0/24"}, {5432}), Group("ten", {"10.0.0.0/8"}, {}),
                Group("v6web", {"fd00::/16", "2001:db8::/33"}, {443, 8443}),
                Group("dns", {}, {53})};
  const DestinationPlan plan(cfg);
  ASSERT_EQ(plan.group_count(), 4u);
  EXPECT_EQ(plan.group_name(0), "postgres");
  EXPECT_EQ(plan.group_name(3), "dns");
  EXPECT_EQ(plan.MatchGroup(Family::kIpv4, V4("10.0.3.5").data(), 5432), 0);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv4, V4("10.0.3.5").data(), 6432), 1);  // port: ten
  EXPECT_EQ(plan.MatchGroup(Family::kIpv4, V4("10.255.0.1").data(), 1), 1);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv4, V4("11.0.0.1").data(), 5432), -1);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv6, V6("fd00:1::9").data(), 443), 2);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv6, V6("fd01::9").data(), 443), -1);
  // /33: the partial byte decides (0x80 bit of byte 4).
  EXPECT_EQ(plan.MatchGroup(Family::kIpv6, V6("2001:db8:7fff::1").data(), 8443), 2);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv6, V6("2001:db8:8000::1").data(), 8443), -1);
  // An IPv4 prefix never matches an IPv6 address with the same leading bytes.
  EXPECT_EQ(plan.MatchGroup(Family::kIpv6, V4("10.0.3.5").data(), 5432), -1);
  // No CIDRs: any address of either family on the port.
  EXPECT_EQ(plan.MatchGroup(Family::kIpv6, V6("fd01::9").data(), 53), 3);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv4, V4("192.0.2.1").data(), 53), 3);
}

TEST(DestinationPlan, HostPrefixAndDefaultRoute) {
  DestinationConfig cfg;
  cfg.groups = {Group("host", {"192.0.2.7"}, {}), Group("all6", {"::/0"}, {})};
  const DestinationPlan plan(cfg);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv4, V4("192.0.2.7").data(), 1), 0);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv4, V4("192.0.2.6").data(), 1), -1);
  EXPECT_EQ(plan.MatchGroup(Family::kIpv6, V6("fe80::1").data(), 1), 1);
}

TEST(DestinationPlan, TopKIsBoundedByTheSeriesCapMinusGroupsAndOther) {
  DestinationConfig cfg;
  EXPECT_EQ(DestinationPlan(cfg).top_k(), 20u);  // defaults: 20, cap 100
  EXPECT_EQ(DestinationPlan(cfg).max_series(), 100u);
  EXPECT_EQ(DestinationPlan().top_k(), 20u);
  cfg.groups = {Group("a", {}, {1}), Group("b", {}, {2})};
  cfg.top_k = 50;
  cfg.max_series = 10;
  EXPECT_EQ(DestinationPlan(cfg).top_k(), 7u);  // 10 - 2 groups - other
  cfg.max_series = 3;
  EXPECT_EQ(DestinationPlan(cfg).top_k(), 0u);
}

TEST(InboundPlan, PortGroupsFirstMatchWins) {
  InboundConfig cfg;
  InboundGroup web, alt;
  web.name = "web";
  web.ports.set(80);
  web.ports.set(443);
  alt.name = "alt";
  alt.ports.set(443);
  alt.ports.set(8080);
  cfg.groups = {web, alt};
  cfg.top_k = 5;
  cfg.max_series = 4;
  const InboundPlan plan(cfg);
  ASSERT_EQ(plan.group_count(), 2u);
  EXPECT_EQ(plan.group_name(0), "web");
  EXPECT_EQ(plan.group_name(1), "alt");
  EXPECT_EQ(plan.MatchGroup(80), 0);
  EXPECT_EQ(plan.MatchGroup(443), 0);
  EXPECT_EQ(plan.MatchGroup(8080), 1);
  EXPECT_EQ(plan.MatchGroup(22), -1);
  EXPECT_EQ(plan.top_k(), 1u);  // 4 - 2 - 1
  EXPECT_EQ(InboundPlan().MatchGroup(80), -1);
}

}  // namespace
}  // namespace sockstate

namespace sockstate {
namespace {

TEST(AggregationPlan, TakesTheTupleCapAndHistogramBoundsFromTheConfig) {
  Config cfg;
  cfg.destinations.max_tuples = 1234;
  cfg.histograms.time_wait_remaining_seconds = {0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  cfg.histograms.occupancy_ratio = {0.5, 1};
  const AggregationPlan plan(cfg);
  EXPECT_EQ(plan.max_tuples, 1234u);
  ASSERT_EQ(plan.tw_bounds.size(), kMaxTimeWaitBuckets);  // 11: the rest is dropped
  EXPECT_EQ(plan.tw_bounds.back(), 10.0);
  EXPECT_EQ(plan.tw_bounds_ms, (std::vector<uint32_t>{500, 1000, 2000, 3000, 4000, 5000, 6000, 7000,
                                                      8000, 9000, 10000}));
  EXPECT_EQ(plan.occupancy_bounds, (std::vector<double>{0.5, 1}));
  EXPECT_EQ(AggregationPlan().tw_bounds_ms.size(), 8u);  // defaults 1 5 10 ... 60
}

}  // namespace
}  // namespace sockstate
