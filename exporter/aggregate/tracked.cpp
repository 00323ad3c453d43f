#include "aggregate/tracked.h"

#include <algorithm>
#include <limits>
#include <cstring>
#include <unordered_map>

namespace sockstate {

namespace {

uint64_t NonNegative(int32_t v) { return v > 0 ? uint64_t(v) : 0; }

uint16_t Saturated(int64_t v) {
  if (v <= 0) return 0;
  return v > std::numeric_limits<uint16_t>::max() ? std::numeric_limits<uint16_t>::max()
                                                  : uint16_t(v);
}

/// The tuple-table key of a tracked tuple, cell or TIME_WAIT socket.
template <typename T>
TupleTable::Key KeyOf(const T& t) {
  TupleTable::Key key;
  key.src = t.saddr;
  key.dst = t.daddr;
  key.dport = t.dport;
  key.family = t.family == Family::kIpv6 ? 1 : 0;
  key.pad = 0;
  return key;
}

/// The kernel's per-state counts in the exported state order (`out` zeroed first, each count
/// converted by `convert`); returns their sum.
template <typename Count, typename Convert>
uint64_t ExportedStates(const TrackerStateCounts& st, std::array<Count, kNumStates>* out,
                        Convert convert) {
  out->fill(0);
  uint64_t total = 0;
  for (int s = 1; s < kTrackerStates; ++s) {
    const int idx = ExportedStateIndex(uint8_t(s));
    if (idx < 0) continue;
    (*out)[idx] = convert(st[s]);
    total += (*out)[idx];
  }
  return total;
}

/// A destination: family, address, port (18 bytes, packed for hashing).
struct DestKey {
  std::array<uint8_t, 16> addr;
  uint16_t port;
  uint8_t family;
  bool operator==(const DestKey& o) const {
    return port == o.port && family == o.family && addr == o.addr;
  }
};
struct DestKeyHash {
  size_t operator()(const DestKey& k) const {
    uint64_t a, b;
    std::memcpy(&a, k.addr.data(), 8);
    std::memcpy(&b, k.addr.data() + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL)) + (uint64_t(k.port) << 8 | k.family);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return size_t(h ^ (h >> 32));
  }
};

/// The TIME_WAIT histogram of one destination from its expiry ring: each slot's sockets
/// expire in the second `slot` (mod the ring) after now, at its middle.
void RingToCounters(const TrackedDest& d, uint64_t now_ms, const Aggregator& agg,
                    TupleTable::Counters* c) {
  const uint64_t now_s = now_ms / 1000;
  for (int slot = 0; slot < kTrackerRingSlots; ++slot) {
    const int32_t n = d.slots[slot];
    if (n <= 0) continue;
    const uint64_t ahead = (uint64_t(slot) + kTrackerRingSlots - now_s % kTrackerRingSlots) %
                           kTrackerRingSlots;
    const uint64_t expiry_ms = (now_s + ahead) * 1000 + 500;
    const uint32_t remaining = expiry_ms > now_ms ? uint32_t(expiry_ms - now_ms) : 0;
    const int bucket = agg.TimeWaitBucket(remaining);
    c->tw[bucket] = Saturated(int64_t(c->tw[bucket]) + n);
    const uint64_t sum = uint64_t(c->tw_sum_ms) + uint64_t(n) * remaining;
    c->tw_sum_ms = sum > std::numeric_limits<uint32_t>::max() ? std::numeric_limits<uint32_t>::max()
                                                              : uint32_t(sum);
  }
}

}  // namespace

void AggregateTracked(const TrackedNamespace& ns, uint64_t jiffies, uint32_t hz, Aggregator& agg) {
  for (int fam = 0; fam < 2; ++fam) {
    const Family f = fam ? Family::kIpv6 : Family::kIpv4;
    for (int st = 1; st < kTrackerStates; ++st) {
      if (st == kTcpClose || st == kTcpListen) continue;
      agg.AddStateCount(f, uint8_t(st), NonNegative(ns.st[fam][st]));
    }
  }
  for (const TrackedBound& b : ns.bound) {
    if (b.listener) {
      agg.AddStateCount(b.family, kTcpListen, 1);
      agg.AddListenerPort(b.port);
    } else {
      agg.AddStateCount(b.family, kTcpBoundInactive, 1);
      agg.AddBoundPort(b.port);
    }
  }
  for (const TrackedPort& p : ns.ports) {
    std::array<uint64_t, kNumStates> states;
    if (ExportedStates(p.st, &states, NonNegative) > 0) agg.AddInboundCounts(p.port, states);
  }
  // Each destination's TIME_WAIT histogram goes with its first tuple: the aggregation sums a
  // destination's tuples, so the histogram lands where the dump would put it.
  std::unordered_map<DestKey, const TrackedDest*, DestKeyHash> rings;
  for (const TrackedDest& d : ns.dests) {
    rings[DestKey{d.daddr, d.dport, uint8_t(d.family == Family::kIpv6)}] = &d;
  }
  const uint64_t now_ms = hz ? jiffies * 1000 / hz : 0;
  for (const TrackedTuple& t : ns.tuples) {
    TupleTable::Counters c;
    c.Clear();
    const uint64_t total = ExportedStates(t.st, &c.states, Saturated);
    c.used = Saturated(t.used);
    c.peak = Saturated(t.peak);
    if (total == 0 && c.peak == 0) continue;  // a tuple all of whose sockets are gone
    auto ring = rings.empty() ? rings.end()
                              : rings.find(DestKey{t.daddr, t.dport,
                                                   uint8_t(t.family == Family::kIpv6)});
    if (ring != rings.end() && hz != 0) {
      RingToCounters(*ring->second, now_ms, agg, &c);
      rings.erase(ring);
    }
    agg.AddTupleCounts(KeyOf(t), c);
  }
  for (const TrackedCell& cell : ns.cells) {
    std::array<uint32_t, kNumStates> states;
    const uint64_t total =
        ExportedStates(cell.st, &states, [](int32_t v) { return uint32_t(NonNegative(v)); });
    if (total > 0) {
      agg.AddOwnerCounts(KeyOf(cell), cell.cgroup, states, uint32_t(NonNegative(cell.used)));
    }
  }
  for (const TrackedTimeWait& t : ns.time_wait) {  // their owners, from the owner ring
    agg.AddTrackedTimeWait(KeyOf(t), t.sport, t.in_range);
  }
}

}  // namespace sockstate
