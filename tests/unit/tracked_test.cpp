// AggregateTracked (aggregate/tracked.h): the tracker's counts of a namespace aggregate to
// exactly what the same sockets give through a dump (Aggregator::OnSocket), and the tracker's
// own parts (peaks, the TIME_WAIT expiry ring, clamped drift, peak-only tuples) come out as
// documented.

#include "aggregate/tracked.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "aggregate/aggregator.h"
#include "config/config.h"

namespace sockstate {
namespace {

std::array<uint8_t, 16> V4(const char* text) {
  std::array<uint8_t, 16> a{};
  in_addr x;
  inet_pton(AF_INET, text, &x);
  std::memcpy(a.data(), &x, 4);
  return a;
}

SocketRecord Rec(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t state) {
  SocketRecord r;
  r.src_addr = V4(src);
  r.dst_addr = V4(dst);
  r.src_port = sport;
  r.dst_port = dport;
  r.state = state;
  return r;
}

struct Fixture {
  Config config = DefaultConfig();
  PortRange range{32768, 60999};
  PortSet reserved;
};

/// The same sockets as dump records and as the tracker's counts.
struct Population {
  std::vector<SocketRecord> records;
  TrackedNamespace ns;

  void Outgoing(const char* src, const char* dst, uint16_t dport, uint8_t state, int n,
                uint16_t first_port) {
    TrackedTuple* t = nullptr;
    for (TrackedTuple& x : ns.tuples) {
      if (x.saddr == V4(src) && x.daddr == V4(dst) && x.dport == dport) t = &x;
    }
    if (t == nullptr) {
      t = &ns.tuples.emplace_back();
      t->saddr = V4(src);
      t->daddr = V4(dst);
      t->dport = dport;
    }
    for (int i = 0; i < n; ++i) {
      const uint16_t port = uint16_t(first_port + i);
      records.push_back(Rec(src, port, dst, dport, state));
      ++t->st[state];
      ++ns.st[0][state];
      if (port >= 32768 && port <= 60999) ++t->used;
    }
    t->peak = std::max(t->peak, t->used);
  }
  void Inbound(uint16_t lport, uint8_t state, int n) {
    TrackedPort* p = nullptr;
    for (TrackedPort& x : ns.ports) {
      if (x.port == lport) p = &x;
    }
    if (p == nullptr) {
      p = &ns.ports.emplace_back();
      p->port = lport;
    }
    for (int i = 0; i < n; ++i) {
      records.push_back(Rec("10.0.0.1", lport, "10.9.9.9", uint16_t(40000 + i), state));
      ++p->st[state];
      ++ns.st[0][state];
    }
  }
  void Listener(uint16_t port) {
    records.insert(records.begin(), Rec("0.0.0.0", port, "0.0.0.0", 0, kTcpListen));
    ns.bound.push_back({port, Family::kIpv4, true});
  }
  void Bound(uint16_t port) {
    records.push_back(Rec("0.0.0.0", port, "0.0.0.0", 0, kTcpClose));
    ns.bound.push_back({port, Family::kIpv4, false});
  }
};

AggregateResult ViaDump(const Fixture& f, const Population& p) {
  Aggregator a;
  a.Reset(f.config, &f.range, &f.reserved);
  for (const SocketRecord& r : p.records) a.OnSocket(r);
  AggregateResult out;
  a.Finish(&out);
  return out;
}

AggregateResult ViaTracker(const Fixture& f, const TrackedNamespace& ns, uint64_t jiffies = 0,
                           uint32_t hz = 250) {
  Aggregator a;
  a.Reset(f.config, &f.range, &f.reserved);
  AggregateTracked(ns, jiffies, hz, a);
  AggregateResult out;
  a.Finish(&out);
  return out;
}

TEST(AggregateTracked, EqualsTheDumpOfTheSameSockets) {
  Fixture f;
  Population p;
  p.Listener(80);
  p.Listener(40001);  // inside the range: bind-held
  p.Bound(45000);
  p.Outgoing("10.0.0.1", "10.1.1.1", 5432, kTcpEstablished, 7, 33000);
  p.Outgoing("10.0.0.1", "10.1.1.1", 5432, kTcpCloseWait, 2, 33100);
  p.Outgoing("10.0.0.2", "10.1.1.1", 5432, kTcpSynSent, 1, 33200);
  p.Outgoing("10.0.0.1", "10.1.1.2", 443, kTcpFinWait2, 3, 34000);
  p.Outgoing("10.0.0.1", "10.1.1.2", 443, kTcpEstablished, 1, 1000);  // bound below the range
  p.Inbound(80, kTcpEstablished, 4);
  p.Inbound(80, kTcpSynRecv, 1);
  const AggregateResult d = ViaDump(f, p);
  const AggregateResult t = ViaTracker(f, p.ns);
  EXPECT_EQ(t.states, d.states);
  EXPECT_EQ(t.sockets, d.sockets);
  EXPECT_EQ(t.budget.bind_held, d.budget.bind_held);
  EXPECT_EQ(t.budget.bind_held, 2u);  // the listener on 40001 and the bound socket on 45000
  EXPECT_EQ(t.budget.usable, d.budget.usable);
  ASSERT_EQ(t.destinations.size(), d.destinations.size());
  for (size_t i = 0; i < d.destinations.size(); ++i) {
    EXPECT_EQ(t.destinations[i].label, d.destinations[i].label);
    EXPECT_EQ(t.destinations[i].sockets, d.destinations[i].sockets) << d.destinations[i].label;
    EXPECT_EQ(t.destinations[i].ports_used, d.destinations[i].ports_used);
    EXPECT_EQ(t.destinations[i].ports_used_max, d.destinations[i].ports_used_max);
    EXPECT_EQ(t.destinations[i].tuples, d.destinations[i].tuples);
  }
  ASSERT_EQ(t.inbound.size(), d.inbound.size());
  for (size_t i = 0; i < d.inbound.size(); ++i) {
    EXPECT_EQ(t.inbound[i].label, d.inbound[i].label);
    EXPECT_EQ(t.inbound[i].sockets, d.inbound[i].sockets);
  }
  EXPECT_EQ(t.occupancy_buckets, d.occupancy_buckets);
}

TEST(AggregateTracked, PeaksAreTheFullestTuplesHighest) {
  Fixture f;
  Population p;
  p.Outgoing("10.0.0.1", "10.1.1.1", 80, kTcpEstablished, 3, 33000);
  p.Outgoing("10.0.0.2", "10.1.1.1", 80, kTcpEstablished, 1, 33000);
  p.ns.tuples[0].peak = 9;
  p.ns.tuples[1].peak = 12;
  // A tuple whose sockets are all gone but which filled up within the window: it keeps its
  // destination's label for the peak, and counts in no tuple total nor occupancy histogram.
  TrackedTuple& gone = p.ns.tuples.emplace_back();
  gone.saddr = V4("10.0.0.1");
  gone.daddr = V4("10.2.2.2");
  gone.dport = 443;
  gone.peak = 50;
  const AggregateResult t = ViaTracker(f, p.ns);
  const DestinationStats* a = nullptr;
  const DestinationStats* b = nullptr;
  for (const DestinationStats& d : t.destinations) {
    if (d.label == "10.1.1.1:80") a = &d;
    if (d.label == "10.2.2.2:443") b = &d;
  }
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->ports_used_peak, 12u);
  EXPECT_EQ(a->ports_used_max, 3u);
  EXPECT_EQ(b->ports_used_peak, 50u);
  EXPECT_EQ(b->Total(), 0u);
  EXPECT_EQ(b->tuples, 0u);
  EXPECT_EQ(t.occupancy_count, 2u);
}

TEST(AggregateTracked, NegativeCountsAreDriftAndCountAsZero) {
  Fixture f;
  Population p;
  p.Outgoing("10.0.0.1", "10.1.1.1", 80, kTcpEstablished, 2, 33000);
  p.ns.tuples[0].st[kTcpFinWait1] = -1;  // a transition counted twice: the reconcile fixes it
  p.ns.st[0][kTcpFinWait1] = -1;
  const AggregateResult t = ViaTracker(f, p.ns);
  const int fw1 = ExportedStateIndex(kTcpFinWait1);
  EXPECT_EQ(t.states[0][fw1], 0u);
  EXPECT_EQ(t.destinations.front().sockets[fw1], 0u);
  EXPECT_EQ(t.destinations.front().Total(), 2u);
}

TEST(AggregateTracked, TimeWaitRingGivesTheRemainingLifetimeHistogram) {
  Fixture f;  // buckets 1 5 10 20 30 40 50 60 s (the default)
  Population p;
  p.Outgoing("10.0.0.1", "10.1.1.1", 80, kTcpTimeWait, 6, 33000);
  TrackedDest& d = p.ns.dests.emplace_back();
  d.daddr = V4("10.1.1.1");
  d.dport = 80;
  // Now = second 1000 (+0.2 s); TIME_WAIT sockets expiring in seconds 1003 (x2), 1010 (x1) and
  // 1059 (x3) of the ring (slot = second % 64): 3.3 s, 10.3 s and 59.3 s left.
  const uint32_t hz = 250;
  const uint64_t jiffies = 1000 * hz + hz / 5;
  d.slots[1003 % kTrackerRingSlots] = 2;
  d.slots[1010 % kTrackerRingSlots] = 1;
  d.slots[1059 % kTrackerRingSlots] = 3;
  const AggregateResult t = ViaTracker(f, p.ns, jiffies, hz);
  const DestinationStats& s = t.destinations.front();
  ASSERT_EQ(s.label, "10.1.1.1:80");
  EXPECT_EQ(s.tw_count, 6u);
  // cumulative: <=1 0, <=5 2, <=10 2, <=20 3, <=30 3, <=40 3, <=50 3, <=60 6
  EXPECT_EQ(s.tw_buckets, (std::vector<uint64_t>{0, 2, 2, 3, 3, 3, 3, 6}));
  EXPECT_NEAR(s.tw_sum_seconds, 2 * 3.3 + 10.3 + 3 * 59.3, 0.01);
}

}  // namespace
}  // namespace sockstate
