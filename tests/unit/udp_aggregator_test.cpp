// UdpAggregator on UDP socket records built in memory: the port rule of docs/udp.md (distinct
// ports of the range, wildcards covering local addresses, families, v6-only, reserved ports),
// the destinations, the caps, and no allocation per socket.

#include "aggregate/udp_aggregator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alloc_count.h"
#include "config/config.h"
#include "test_util.h"

namespace sockstate {
namespace {

using testing::Addr;

UdpSocketRecord Udp(const std::string& src, uint16_t sport, const std::string& dst = "",
                    uint16_t dport = 0, V6Only v6only = V6Only::kNotApplicable) {
  UdpSocketRecord r;
  r.family = src.find(':') != std::string::npos ? Family::kIpv6 : Family::kIpv4;
  r.src_addr = Addr(src);
  r.src_port = sport;
  r.connected = !dst.empty();
  if (r.connected) r.dst_addr = Addr(dst);
  r.dst_port = dport;
  r.v6only =
      r.family == Family::kIpv6 && v6only == V6Only::kNotApplicable ? V6Only::kUnknown : v6only;
  return r;
}

struct Harness {
  PortRange range{32768, 60999};
  PortSet reserved;
  Config config = DefaultConfig();
  UdpAggregator agg;
  UdpResult result;

  Harness() {
    for (int p = 40000; p <= 40009; ++p) reserved.set(p);
    reserved.set(50000);
  }
  const UdpResult& Aggregate(const std::vector<UdpSocketRecord>& records, bool range_known = true) {
    agg.Reset(range_known ? &range : nullptr, &reserved, config.destinations.max_tuples);
    for (const UdpSocketRecord& r : records) agg.OnUdpSocket(r);
    agg.Finish(DestinationPlan(config.destinations), config.udp.local_addresses_top_k, &result);
    return result;
  }
  uint64_t Slot(const std::string& label, bool in_range = false) const {
    for (size_t i = 0; i < result.labels.labels.size(); ++i) {
      if (result.labels.labels[i] == label) {
        return in_range ? result.slot_in_range[i] : result.slot_sockets[i];
      }
    }
    return uint64_t(-1);
  }
};

/// The population of tests/fixtures/dumps/udp.ssudp (udp_kernel_test.cpp builds it for real):
/// every kind of holder, with explicit ports so that every figure is known by hand.
std::vector<UdpSocketRecord> FixturePopulation() {
  return {
      Udp("0.0.0.0", 45000),  // IPv4 wildcard
      Udp("127.0.0.1", 45001),
      Udp("127.0.0.2", 45001),  // one port, two addresses
      Udp("0.0.0.0", 45002),
      Udp("0.0.0.0", 45002),                      // SO_REUSEADDR pair
      Udp("::", 45003, "", 0, V6Only::kNo),       // dual-stack wildcard
      Udp("::", 45004, "", 0, V6Only::kYes),      // v6-only wildcard
      Udp("::1", 45005, "", 0, V6Only::kYes),     // specific IPv6
      Udp("127.0.0.1", 46000, "127.0.0.53", 53),  // connected
      Udp("127.0.0.1", 46001, "127.0.0.53", 53),
      Udp("127.0.0.1", 46002, "127.0.0.54", 53),
      Udp("::1", 46003, "::1", 5353),             // connected IPv6
      Udp("127.0.0.1", 46004, "127.0.0.53", 53),  // AF_INET6, IPv4-mapped
      Udp("127.0.0.1", 40005),                    // a reserved port
      Udp("0.0.0.0", 5353),                       // outside the range
  };
}

TEST(UdpAggregator, FixturePopulationGivesTheFiguresWorkedOutByHand) {
  Harness run;
  const UdpResult& r = run.Aggregate(FixturePopulation());
  EXPECT_EQ(r.dump_sockets, 15u);
  EXPECT_EQ(r.sockets[0][0], 7u);  // ipv4 unconnected
  EXPECT_EQ(r.sockets[0][1], 4u);  // ipv4 connected
  EXPECT_EQ(r.sockets[1][0], 3u);  // ipv6 unconnected
  EXPECT_EQ(r.sockets[1][1], 1u);  // ipv6 connected
  ASSERT_TRUE(r.budget_known);
  EXPECT_EQ(r.usable, 28232u - 11u);
  // 45000-45005 and 46000-46004; 40005 is reserved, 5353 outside the range.
  EXPECT_EQ(r.ports_used, 11u);
  EXPECT_EQ(r.sharing_sockets, 2u);  // 13 sockets in the range on 11 ports
  // 127.0.0.1: its 45001, 46000-46002, 46004, and the wildcards 45000 (0.0.0.0), 45002
  // (0.0.0.0), 45003 (dual-stack ::); not 45004 (v6-only). 127.0.0.2: 45001 and the same
  // wildcards. ::1: 45005, 46003, and 45003 and 45004 (both :: cover IPv6).
  ASSERT_EQ(r.local_addresses.size(), 3u);
  EXPECT_EQ(r.local_addresses[0].label, "127.0.0.1");
  EXPECT_EQ(r.local_addresses[0].ports_used, 8u);
  EXPECT_EQ(r.local_addresses[1].label, "127.0.0.2");
  EXPECT_EQ(r.local_addresses[1].ports_used, 4u);
  EXPECT_EQ(r.local_addresses[2].label, "::1");
  EXPECT_EQ(r.local_addresses[2].ports_used, 4u);
  EXPECT_EQ(r.local_addresses_folded, 0u);
  // Connected: 127.0.0.53:53 x3 (one through a mapped socket), 127.0.0.54:53, [::1]:5353.
  EXPECT_EQ(run.Slot("127.0.0.53:53"), 3u);
  EXPECT_EQ(run.Slot("127.0.0.53:53", true), 3u);
  EXPECT_EQ(run.Slot("127.0.0.54:53"), 1u);
  EXPECT_EQ(run.Slot("[::1]:5353"), 1u);
  EXPECT_EQ(run.Slot("other"), 0u);
  EXPECT_EQ(r.labels.folded, 0u);
}

TEST(UdpAggregator, TheRangeFullOfEveryKindOfHolderIsOccupancyOne) {
  Harness run;
  run.range = PortRange{40010, 40029};  // 20 ports, none reserved
  std::vector<UdpSocketRecord> holders;
  for (uint16_t p = 40010; p < 40015; ++p) holders.push_back(Udp("0.0.0.0", p));
  for (uint16_t p = 40015; p < 40020; ++p) holders.push_back(Udp("127.0.0.1", p, "127.0.0.1", 53));
  for (uint16_t p = 40020; p < 40025; ++p) holders.push_back(Udp("::", p, "", 0, V6Only::kNo));
  for (uint16_t p = 40025; p < 40030; ++p) holders.push_back(Udp("::1", p, "::1", 5353));
  const UdpResult& r = run.Aggregate(holders);
  EXPECT_EQ(r.usable, 20u);
  EXPECT_EQ(r.ports_used, 20u);
  // bind(127.0.0.1, 0) is blocked by its own 5, the IPv4 and the dual-stack wildcards: 15.
  ASSERT_EQ(r.local_addresses.size(), 2u);
  EXPECT_EQ(r.local_addresses[0].label, "127.0.0.1");
  EXPECT_EQ(r.local_addresses[0].ports_used, 15u);
  EXPECT_EQ(r.local_addresses[1].label, "::1");
  EXPECT_EQ(r.local_addresses[1].ports_used, 10u);
}

TEST(UdpAggregator, UnknownRangeCountsSocketsAndDestinationsOnly) {
  Harness run;
  const UdpResult& r = run.Aggregate(FixturePopulation(), /*range_known=*/false);
  EXPECT_FALSE(r.budget_known);
  EXPECT_EQ(r.ports_used, 0u);
  EXPECT_TRUE(r.local_addresses.empty());
  EXPECT_EQ(r.dump_sockets, 15u);
  EXPECT_EQ(run.Slot("127.0.0.53:53"), 3u);
  EXPECT_EQ(run.Slot("127.0.0.53:53", true), 0u);  // nothing is "in the range"
}

TEST(UdpAggregator, GroupsTopKAndOtherLabelDestinationsAsForTcp) {
  Harness run;
  run.config.destinations.top_k = 1;
  DestinationGroup dns;
  dns.name = "dns";
  dns.ports.set(53);
  dns.any_port = false;
  run.config.destinations.groups.push_back(dns);
  std::vector<UdpSocketRecord> s;
  for (uint16_t p = 0; p < 4; ++p) s.push_back(Udp("127.0.0.1", 45000 + p, "10.0.0.1", 53));
  for (uint16_t p = 0; p < 3; ++p) s.push_back(Udp("127.0.0.1", 45100 + p, "10.0.0.2", 8125));
  for (uint16_t p = 0; p < 2; ++p) s.push_back(Udp("127.0.0.1", 45200 + p, "10.0.0.3", 8125));
  s.push_back(Udp("127.0.0.1", 1000, "10.0.0.3", 8125));  // a port outside the range
  const UdpResult& r = run.Aggregate(s);
  EXPECT_EQ(run.Slot("dns"), 4u);
  EXPECT_EQ(run.Slot("10.0.0.2:8125"), 3u);  // the heaviest unmatched one
  EXPECT_EQ(run.Slot("other"), 3u);
  EXPECT_EQ(run.Slot("other", true), 2u);
  EXPECT_EQ(r.labels.folded, 1u);
  EXPECT_EQ(r.labels.labels.size(), 3u);
}

TEST(UdpAggregator, DestinationsBeyondMaxTuplesCountInOther) {
  Harness run;
  run.config.destinations.max_tuples = 2;
  std::vector<UdpSocketRecord> s;
  for (uint8_t d = 1; d <= 4; ++d) {
    s.push_back(Udp("127.0.0.1", uint16_t(45000 + d), "10.0.0." + std::to_string(d), 53));
  }
  const UdpResult& r = run.Aggregate(s);
  EXPECT_EQ(r.destinations.size(), 2u);
  EXPECT_EQ(r.untracked_sockets, 2u);
  uint64_t total = 0;
  for (uint64_t v : r.slot_sockets) total += v;
  EXPECT_EQ(total, 4u);  // nothing lost
  EXPECT_EQ(run.Slot("other"), 2u);
}

TEST(UdpAggregator, LocalAddressesTopKAndTheTrackedLimit) {
  Harness run;
  run.config.udp.local_addresses_top_k = 2;
  std::vector<UdpSocketRecord> s;
  // Address i holds i ports; 70 addresses: 64 tracked, 6 beyond (their ports still count).
  uint16_t port = 45000;
  for (int i = 1; i <= 70; ++i) {
    for (int j = 0; j < (i > 3 ? 1 : i); ++j) {
      s.push_back(Udp("10.1.0." + std::to_string(i), port++));
    }
  }
  const UdpResult& r = run.Aggregate(s);
  EXPECT_EQ(r.ports_used, 73u);  // 1 + 2 + 3 + 67 x 1
  ASSERT_EQ(r.local_addresses.size(), 2u);
  EXPECT_EQ(r.local_addresses[0].label, "10.1.0.3");
  EXPECT_EQ(r.local_addresses[0].ports_used, 3u);
  EXPECT_EQ(r.local_addresses[1].label, "10.1.0.2");
  EXPECT_EQ(r.local_addresses_folded, 62u);  // 64 tracked - 2 shown
  EXPECT_EQ(r.untracked_address_sockets, 6u);
}

// Six addresses interleaved socket by socket, as a dump interleaves them (more than the
// aggregator's few recently found ones), one of them IPv6 with the same 16 bytes as an IPv4
// one: each keeps exactly its own ports.
TEST(UdpAggregator, InterleavedAddressesEachKeepTheirOwnPorts) {
  Harness run;
  run.config.udp.local_addresses_top_k = 6;
  // 10.1.0.1 right before the IPv6 address with its bytes, so that it is among the recent ones
  const std::vector<std::string> addrs = {"10.1.0.1", "a01:1::",  "10.1.0.2",
                                          "10.1.0.3", "10.1.0.4", "10.1.0.5"};
  std::vector<UdpSocketRecord> s;
  uint16_t port = 45000;
  for (size_t round = 0; round < 6; ++round) {
    for (size_t i = 0; i < addrs.size(); ++i) {
      if (round <= i) s.push_back(Udp(addrs[i], port++));  // address i holds i + 1 ports
    }
  }
  const UdpResult& r = run.Aggregate(s);
  EXPECT_EQ(r.ports_used, 21u);  // 1 + 2 + ... + 6
  ASSERT_EQ(r.local_addresses.size(), 6u);
  for (size_t k = 0; k < 6; ++k) {  // by ports held, most first
    EXPECT_EQ(r.local_addresses[k].label, addrs[5 - k]);
    EXPECT_EQ(r.local_addresses[k].ports_used, 6u - k) << addrs[5 - k];
  }
}

TEST(UdpAggregator, SumSlotsAfterTheCrossNamespaceCapLosesNothing) {
  Harness a, b;
  a.config.destinations.top_k = b.config.destinations.top_k = 5;
  std::vector<UdpSocketRecord> sa, sb;
  for (uint8_t d = 1; d <= 3; ++d) {
    for (int j = 0; j < d; ++j) {
      sa.push_back(
          Udp("127.0.0.1", uint16_t(45000 + 10 * d + j), "10.0.0." + std::to_string(d), 53));
      sb.push_back(
          Udp("127.0.0.1", uint16_t(45000 + 10 * d + j), "10.0.1." + std::to_string(d), 53));
    }
  }
  UdpResult ra = a.Aggregate(sa), rb = b.Aggregate(sb);
  DestinationLabels* lists[] = {&ra.labels, &rb.labels};
  // 3 + 3 individual labels and 2 "other": a cap of 5 folds the 3 lightest.
  EXPECT_EQ(CapAcrossNamespaces(lists, 5), 3u);
  ra.SumSlots();
  rb.SumSlots();
  uint64_t total = 0;
  for (uint64_t v : ra.slot_sockets) total += v;
  for (uint64_t v : rb.slot_sockets) total += v;
  EXPECT_EQ(total, 12u);
  EXPECT_EQ(ra.labels.labels.size() + rb.labels.labels.size(), 5u);
}

TEST(UdpAggregator, NoAllocationPerSocketOnceTheTablesAreWarm) {
  Harness run;
  std::vector<UdpSocketRecord> s;
  for (int i = 0; i < 3000; ++i) {
    s.push_back(i % 2 ? Udp("127.0.0." + std::to_string(1 + i % 4), uint16_t(33000 + i),
                            "10.0.0." + std::to_string(i % 50), 53)
                      : Udp("::", uint16_t(33000 + i), "", 0, V6Only::kNo));
  }
  run.Aggregate(s);  // first scrape: the tables grow
  if (!testing::NewCountWorks()) GTEST_SKIP() << "operator new is replaced elsewhere";
  run.agg.Reset(&run.range, &run.reserved, run.config.destinations.max_tuples);
  const uint64_t before = testing::NewCount();
  for (const UdpSocketRecord& r : s) run.agg.OnUdpSocket(r);
  EXPECT_EQ(testing::NewCount() - before, 0u) << "operator new calls for 3000 sockets";
}

}  // namespace
}  // namespace sockstate
