#include "aggregate/aggregator.h"

#include <gtest/gtest.h>

#include <numeric>

#include "alloc_count.h"
#include "test_util.h"

namespace sockstate {
namespace {

std::array<uint8_t, 16> V4(const char* a) { return testing::Addr(a); }
std::array<uint8_t, 16> V6(const char* a) { return testing::Addr(a); }

SocketRecord Rec(uint8_t state, const char* src, uint16_t sport, const char* dst, uint16_t dport,
                 uint32_t expires_ms = 0) {
  SocketRecord r;
  bool v6 = std::string(src).find(':') != std::string::npos;
  r.family = v6 ? Family::kIpv6 : Family::kIpv4;
  r.state = state;
  r.src_addr = v6 ? V6(src) : V4(src);
  r.dst_addr = v6 ? V6(dst) : V4(dst);
  r.src_port = sport;
  r.dst_port = dport;
  r.expires_ms = expires_ms;
  return r;
}

const DestinationStats* Find(const std::vector<DestinationStats>& v, const std::string& label) {
  for (const auto& d : v) {
    if (d.label == label) return &d;
  }
  return nullptr;
}

uint64_t State(const DestinationStats& d, uint8_t st) { return d.sockets[ExportedStateIndex(st)]; }

class AggregatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    range_.low = 40000;
    range_.high = 40099;
    reserved_.set(40000);
    reserved_.set(40001);
    reserved_.set(39999);  // outside the range: does not count
  }
  AggregateResult Run(const std::vector<SocketRecord>& recs) {
    agg_.Reset(cfg_, &range_, &reserved_);
    for (const auto& r : recs) agg_.OnSocket(r);
    AggregateResult out;
    agg_.Finish(&out);
    return out;
  }
  Config cfg_;
  PortRange range_;
  PortSet reserved_;
  Aggregator agg_;
};

TEST_F(AggregatorTest, CountsStatesPerFamily) {
  auto out = Run({Rec(kTcpListen, "0.0.0.0", 80, "0.0.0.0", 0),
                  Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.2", 5432),
                  Rec(kTcpTimeWait, "fd00::1", 40011, "fd00::2", 443, 30000),
                  Rec(kTcpNewSynRecv, "10.0.0.1", 80, "10.0.0.9", 1234),  // never exported
                  Rec(kTcpBoundInactive, "0.0.0.0", 40050, "0.0.0.0", 0),
                  Rec(kTcpClose, "0.0.0.0", 40051, "0.0.0.0", 0)});  // full-mask form
  EXPECT_EQ(out.states[0][ExportedStateIndex(kTcpListen)], 1u);
  EXPECT_EQ(out.states[0][ExportedStateIndex(kTcpEstablished)], 1u);
  EXPECT_EQ(out.states[1][ExportedStateIndex(kTcpTimeWait)], 1u);
  EXPECT_EQ(out.states[0][ExportedStateIndex(kTcpBoundInactive)], 2u);
  EXPECT_EQ(out.states[0][ExportedStateIndex(kTcpClose)], 0u);
  EXPECT_EQ(out.sockets, 5u);
}

TEST_F(AggregatorTest, PortBudgetSubtractsReservedAndBindHeldInsideTheRange) {
  auto out = Run({Rec(kTcpListen, "0.0.0.0", 40050, "0.0.0.0", 0),           // held
                  Rec(kTcpListen, "::", 40050, "::", 0),                     // same port: once
                  Rec(kTcpListen, "0.0.0.0", 40000, "0.0.0.0", 0),           // reserved already
                  Rec(kTcpListen, "0.0.0.0", 8080, "0.0.0.0", 0),            // outside range
                  Rec(kTcpBoundInactive, "0.0.0.0", 40060, "0.0.0.0", 0)});  // held
  EXPECT_TRUE(out.budget.known);
  EXPECT_EQ(out.budget.range, 100u);
  EXPECT_EQ(out.budget.reserved, 2u);
  EXPECT_EQ(out.budget.bind_held, 2u);
  EXPECT_EQ(out.budget.usable, 96u);
}

TEST_F(AggregatorTest, BoundInactiveFromItsOwnDumpCountsAndHoldsPortsInRangeOnly) {
  BoundInactiveSink sink;
  // The kernel reports them as CLOSE (7) with no peer; 13 is accepted too.
  sink.OnSocket(Rec(kTcpClose, "0.0.0.0", 40070, "0.0.0.0", 0));
  sink.OnSocket(Rec(kTcpClose, "::", 40071, "::", 0));
  sink.OnSocket(Rec(kTcpBoundInactive, "0.0.0.0", 9000, "0.0.0.0", 0));    // outside the range
  sink.OnSocket(Rec(kTcpBoundInactive, "0.0.0.0", 40001, "0.0.0.0", 0));   // reserved anyway
  sink.OnSocket(Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.2", 80));  // ignored
  agg_.Reset(cfg_, &range_, &reserved_);
  agg_.OnSocket(Rec(kTcpListen, "0.0.0.0", 40070, "0.0.0.0", 0));  // same port as a bound one
  agg_.AddBoundInactive(sink.snapshot);
  AggregateResult out;
  agg_.Finish(&out);
  EXPECT_EQ(out.states[0][ExportedStateIndex(kTcpBoundInactive)], 3u);
  EXPECT_EQ(out.states[1][ExportedStateIndex(kTcpBoundInactive)], 1u);
  EXPECT_EQ(out.budget.bind_held, 2u);  // 40070 and 40071
  EXPECT_EQ(out.budget.usable, 100u - 2 - 2);
}

TEST_F(AggregatorTest, InboundConnectionsAreGroupedByServicePortNotAsDestinations) {
  auto out = Run({Rec(kTcpListen, "0.0.0.0", 443, "0.0.0.0", 0),
                  Rec(kTcpEstablished, "10.0.0.1", 443, "10.0.0.7", 40020),
                  Rec(kTcpTimeWait, "10.0.0.1", 443, "10.0.0.8", 40021, 1000),
                  Rec(kTcpSynRecv, "10.0.0.1", 443, "10.0.0.9", 40022)});
  const DestinationStats* svc = Find(out.inbound, "443");
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(State(*svc, kTcpEstablished), 1u);
  EXPECT_EQ(State(*svc, kTcpTimeWait), 1u);
  EXPECT_EQ(State(*svc, kTcpSynRecv), 1u);
  ASSERT_EQ(out.destinations.size(), 1u);  // only "other", empty
  EXPECT_EQ(out.destinations[0].label, "other");
  EXPECT_EQ(out.destinations[0].tuples, 0u);
  EXPECT_EQ(out.tuples, 0u);
}

TEST_F(AggregatorTest, UsedPortsCountInRangeNonListenSocketsPerTupleAndOccupancyIsWorstTuple) {
  std::vector<SocketRecord> recs;
  // Tuple A: 10.0.0.1 -> 10.0.3.5:5432, 48 sockets in range (24 TW, 24 ESTAB) + 1 out of range.
  for (int i = 0; i < 24; ++i)
    recs.push_back(Rec(kTcpTimeWait, "10.0.0.1", 40010 + i, "10.0.3.5", 5432, 1500 + i * 1000));
  for (int i = 0; i < 24; ++i)
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40040 + i, "10.0.3.5", 5432));
  recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 5000, "10.0.3.5", 5432));
  // Tuple B: other source, same destination, 10 sockets.
  for (int i = 0; i < 10; ++i)
    recs.push_back(Rec(kTcpCloseWait, "10.0.0.2", 40010 + i, "10.0.3.5", 5432));
  auto out = Run(recs);
  EXPECT_EQ(out.budget.usable, 98u);
  const DestinationStats* d = Find(out.destinations, "10.0.3.5:5432");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->tuples, 2u);
  EXPECT_EQ(d->ports_used, 58u);
  EXPECT_EQ(d->ports_used_max, 48u);
  EXPECT_EQ(State(*d, kTcpEstablished), 25u);
  EXPECT_EQ(State(*d, kTcpTimeWait), 24u);
  EXPECT_EQ(State(*d, kTcpCloseWait), 10u);
  // TIME_WAIT remaining lifetime: 1.5 s .. 24.5 s, default bounds 1 5 10 20 30 40 50 60.
  ASSERT_EQ(d->tw_buckets.size(), 8u);
  EXPECT_EQ(d->tw_buckets[0], 0u);   // <= 1 s
  EXPECT_EQ(d->tw_buckets[1], 4u);   // 1.5 2.5 3.5 4.5
  EXPECT_EQ(d->tw_buckets[2], 9u);   // .. 9.5
  EXPECT_EQ(d->tw_buckets[3], 19u);  // .. 19.5
  EXPECT_EQ(d->tw_buckets[4], 24u);
  EXPECT_EQ(d->tw_count, 24u);
  EXPECT_DOUBLE_EQ(d->tw_sum_seconds, 24 * 1.5 + 276.0);  // sum of 1.5 + i, i = 0..23
  // Occupancy histogram over tuples: 48/98 = 0.49 and 10/98 = 0.10.
  EXPECT_EQ(out.occupancy_count, 2u);
  EXPECT_NEAR(out.occupancy_sum, 58.0 / 98.0, 1e-12);
  // bounds .01 .05 .1 .25 .5 ...: 0.102 -> le 0.25, 0.49 -> le 0.5
  EXPECT_EQ(out.occupancy_buckets[2], 0u);
  EXPECT_EQ(out.occupancy_buckets[3], 1u);
  EXPECT_EQ(out.occupancy_buckets[4], 2u);
}

TEST_F(AggregatorTest, GroupsMatchByCidrAndPortFirstMatchWins) {
  DestinationGroup pg;
  pg.name = "postgres";
  pg.cidrs.push_back(*ParseCidr("10.0.3.0/24"));
  pg.ports.set(5432);
  pg.any_port = false;
  DestinationGroup net;
  net.name = "ten";
  net.cidrs.push_back(*ParseCidr("10.0.0.0/8"));
  DestinationGroup v6;
  v6.name = "v6web";
  v6.cidrs.push_back(*ParseCidr("fd00::/16"));
  cfg_.destinations.groups = {pg, net, v6};
  auto out = Run({Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.3.5", 5432),
                  Rec(kTcpEstablished, "10.0.0.1", 40011, "10.0.3.6", 5432),
                  Rec(kTcpEstablished, "10.0.0.1", 40012, "10.0.3.5", 6432),  // ten
                  Rec(kTcpEstablished, "fd00::1", 40013, "fd00::9", 443),
                  Rec(kTcpEstablished, "192.0.2.1", 40014, "192.0.2.2", 80)});
  ASSERT_EQ(out.destinations.size(), 5u);  // 3 groups, 1 top-K, other
  EXPECT_EQ(out.destinations[0].label, "postgres");
  EXPECT_EQ(out.destinations[0].tuples, 2u);
  EXPECT_EQ(out.destinations[0].ports_used, 2u);
  EXPECT_EQ(out.destinations[0].ports_used_max, 1u);
  EXPECT_EQ(out.destinations[1].label, "ten");
  EXPECT_EQ(out.destinations[1].tuples, 1u);
  EXPECT_EQ(out.destinations[2].label, "v6web");
  EXPECT_EQ(out.destinations[2].tuples, 1u);
  EXPECT_EQ(out.destinations[3].label, "192.0.2.2:80");
  EXPECT_EQ(out.destinations[4].label, "other");
  EXPECT_EQ(out.destinations_folded, 0u);
}

TEST_F(AggregatorTest, TopKFoldsTheRestIntoOtherWithExactSums) {
  cfg_.destinations.top_k = 2;
  std::vector<SocketRecord> recs;
  // Destination i (port 1000+i) has i+1 sockets, i = 0..5.
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j <= i; ++j) {
      recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40010 + j, "10.1.0.1", 1000 + i));
    }
  }
  recs.push_back(Rec(kTcpEstablished, "fd00::1", 40010, "fd00::2", 443));
  auto out = Run(recs);
  ASSERT_EQ(out.destinations.size(), 3u);
  EXPECT_EQ(out.destinations[0].label, "10.1.0.1:1005");
  EXPECT_EQ(out.destinations[1].label, "10.1.0.1:1004");
  EXPECT_EQ(out.destinations[2].label, "other");
  EXPECT_EQ(out.destinations_folded, 5u);
  EXPECT_EQ(out.destinations[2].ports_used, 1u + 2 + 3 + 4 + 1);
  EXPECT_EQ(out.destinations[2].ports_used_max, 4u);
  EXPECT_EQ(out.destinations[2].tuples, 5u);
  uint64_t sum = 0;
  for (const auto& d : out.destinations) sum += State(d, kTcpEstablished);
  EXPECT_EQ(sum, out.states[0][ExportedStateIndex(kTcpEstablished)] +
                     out.states[1][ExportedStateIndex(kTcpEstablished)]);
  EXPECT_EQ(sum, 22u);
}

TEST_F(AggregatorTest, MaxSeriesCapsTopKAndIPv6LabelsAreBracketed) {
  cfg_.destinations.top_k = 50;
  cfg_.destinations.max_series = 3;  // 2 individual + other
  auto out = Run({Rec(kTcpEstablished, "fd00::1", 40010, "fd00::2", 443),
                  Rec(kTcpEstablished, "fd00::1", 40011, "fd00::2", 443),
                  Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.2", 80),
                  Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.3", 80)});
  ASSERT_EQ(out.destinations.size(), 3u);
  EXPECT_EQ(out.destinations[0].label, "[fd00::2]:443");
  EXPECT_EQ(out.destinations[1].label, "10.0.0.2:80");
  EXPECT_EQ(out.destinations_folded, 1u);
}

TEST_F(AggregatorTest, TuplesBeyondMaxTuplesAreCountedInOther) {
  cfg_.destinations.max_tuples = 2;
  auto out = Run({Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.2", 80),
                  Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.3", 80),
                  Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.4", 80),
                  Rec(kTcpTimeWait, "10.0.0.1", 40011, "10.0.0.4", 80, 5000)});
  EXPECT_EQ(out.tuples, 2u);
  EXPECT_EQ(out.sockets_untracked, 2u);
  const DestinationStats* other = Find(out.destinations, "other");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(State(*other, kTcpEstablished), 1u);
  EXPECT_EQ(State(*other, kTcpTimeWait), 1u);
  EXPECT_EQ(other->ports_used, 2u);
  EXPECT_EQ(other->tw_count, 1u);
}

TEST_F(AggregatorTest, UnknownRangeCountsSocketsButNoEphemeralPorts) {
  agg_.Reset(cfg_, nullptr, nullptr);
  agg_.OnSocket(Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.2", 80));
  AggregateResult out;
  agg_.Finish(&out);
  EXPECT_FALSE(out.budget.known);
  EXPECT_EQ(out.occupancy_count, 0u);
  const DestinationStats* d = Find(out.destinations, "10.0.0.2:80");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(State(*d, kTcpEstablished), 1u);
  EXPECT_EQ(d->ports_used, 0u);
}

TEST_F(AggregatorTest, TablesAreReusedAcrossScrapesAndGrowWithTuplesNotSockets) {
  std::vector<SocketRecord> recs;
  for (int t = 0; t < 3000; ++t) {
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40010, "10.2.0.1", uint16_t(1000 + t)));
  }
  Run(recs);
  const size_t bytes = agg_.TableBytes();
  // Same tuples, 20x the sockets: no growth.
  std::vector<SocketRecord> many;
  for (int t = 0; t < 3000; ++t) {
    for (int s = 0; s < 20; ++s) {
      many.push_back(
          Rec(kTcpTimeWait, "10.0.0.1", uint16_t(40010 + s), "10.2.0.1", uint16_t(1000 + t), 100));
    }
  }
  auto out = Run(many);
  EXPECT_EQ(agg_.TableBytes(), bytes);
  EXPECT_EQ(out.tuples, 3000u);
  EXPECT_LT(bytes, 3000u * 4 * 128);  // bounded per tuple
}

TEST_F(AggregatorTest, OnSocketAllocatesNothingOnceTheTablesHaveGrown) {
  if (!testing::NewCountWorks())
    GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
  std::vector<SocketRecord> recs = {Rec(kTcpListen, "0.0.0.0", 443, "0.0.0.0", 0),
                                    Rec(kTcpEstablished, "10.0.0.1", 443, "10.9.0.1", 50000)};
  for (int t = 0; t < 2000; ++t) {  // grows the tuple table past its first 1024 slots
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40010, "10.2.0.1", uint16_t(1000 + t)));
    recs.push_back(Rec(kTcpTimeWait, "fd00::1", 40011, "fd00::2", uint16_t(1000 + t), 3000));
  }
  Run(recs);  // first scrape: tables grow
  agg_.Reset(cfg_, &range_, &reserved_);
  const uint64_t before = testing::NewCount();
  for (const auto& r : recs) agg_.OnSocket(r);
  EXPECT_EQ(testing::NewCount() - before, 0u)
      << "operator new calls for " << recs.size() << " sockets";
  AggregateResult out;
  agg_.Finish(&out);
  EXPECT_EQ(out.tuples, 4000u);
  EXPECT_EQ(State(*Find(out.inbound, "443"), kTcpEstablished), 1u);
}

TEST_F(AggregatorTest, InboundTopKAndGroups) {
  InboundGroup web;
  web.name = "web";
  web.ports.set(80);
  web.ports.set(443);
  cfg_.inbound.groups = {web};
  cfg_.inbound.top_k = 1;
  auto out = Run(
      {Rec(kTcpListen, "0.0.0.0", 80, "0.0.0.0", 0), Rec(kTcpListen, "0.0.0.0", 443, "0.0.0.0", 0),
       Rec(kTcpListen, "0.0.0.0", 22, "0.0.0.0", 0), Rec(kTcpListen, "0.0.0.0", 25, "0.0.0.0", 0),
       Rec(kTcpEstablished, "10.0.0.1", 80, "10.9.0.1", 50000),
       Rec(kTcpEstablished, "10.0.0.1", 443, "10.9.0.1", 50001),
       Rec(kTcpEstablished, "10.0.0.1", 22, "10.9.0.1", 50002),
       Rec(kTcpEstablished, "10.0.0.1", 22, "10.9.0.1", 50003),
       Rec(kTcpEstablished, "10.0.0.1", 25, "10.9.0.1", 50004)});
  ASSERT_EQ(out.inbound.size(), 3u);
  EXPECT_EQ(out.inbound[0].label, "web");
  EXPECT_EQ(State(out.inbound[0], kTcpEstablished), 2u);
  EXPECT_EQ(out.inbound[1].label, "22");
  EXPECT_EQ(State(out.inbound[1], kTcpEstablished), 2u);
  EXPECT_EQ(out.inbound[2].label, "other");
  EXPECT_EQ(State(out.inbound[2], kTcpEstablished), 1u);
  EXPECT_EQ(out.services_folded, 1u);
}

}  // namespace
}  // namespace sockstate

namespace sockstate {
namespace {

DestinationStats Dest(const std::string& label, uint64_t used, uint64_t established,
                      bool group = false) {
  DestinationStats d;
  d.label = label;
  d.ports_used = used;
  d.ports_used_max = used;
  d.tuples = 1;
  d.sockets[ExportedStateIndex(kTcpEstablished)] = established;
  d.tw_buckets = {0, 1};
  d.tw_count = 1;
  d.is_group = group;
  return d;
}

TEST(FoldAcrossNamespaces, KeepsTheTotalUnderTheCapFoldingTheSmallestIntoTheirOwnOther) {
  AggregateResult a, b;
  a.destinations = {Dest("db", 5, 5, true), Dest("10.0.0.1:80", 40, 40), Dest("10.0.0.2:80", 3, 3),
                    Dest("other", 1, 1)};
  b.destinations = {Dest("db", 0, 0, true), Dest("10.0.0.9:443", 7, 7), Dest("10.0.0.8:443", 2, 2),
                    Dest("other", 0, 0)};
  // 8 series, cap 6: the two smallest top-K entries (used 2 in b, used 3 in a) are folded.
  EXPECT_EQ(FoldAcrossNamespaces({&a, &b}, 6, false), 2u);
  ASSERT_EQ(a.destinations.size(), 3u);
  ASSERT_EQ(b.destinations.size(), 3u);
  EXPECT_EQ(a.destinations[1].label, "10.0.0.1:80");
  EXPECT_EQ(b.destinations[1].label, "10.0.0.9:443");
  EXPECT_EQ(a.destinations[2].label, "other");
  EXPECT_EQ(a.destinations[2].ports_used, 1u + 3);
  EXPECT_EQ(a.destinations[2].sockets[ExportedStateIndex(kTcpEstablished)], 1u + 3);
  EXPECT_EQ(a.destinations[2].tw_buckets[1], 2u);
  EXPECT_EQ(b.destinations[2].ports_used, 2u);
  EXPECT_EQ(a.destinations_folded, 1u);
  EXPECT_EQ(b.destinations_folded, 1u);
  // Groups and "other" are never folded: a cap below them leaves them.
  EXPECT_EQ(FoldAcrossNamespaces({&a, &b}, 1, false), 2u);
  EXPECT_EQ(a.destinations.size(), 2u);
  EXPECT_EQ(a.destinations[0].label, "db");
  EXPECT_EQ(a.destinations[1].label, "other");
  EXPECT_EQ(a.destinations[1].ports_used, 1u + 3 + 40);
  // Under the cap: nothing changes.
  EXPECT_EQ(FoldAcrossNamespaces({&a, &b}, 100, false), 0u);
}

}  // namespace
}  // namespace sockstate
