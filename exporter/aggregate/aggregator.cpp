#include "aggregate/aggregator.h"

#include <algorithm>
#include <cstring>
#include <tuple>

namespace sockstate {

namespace {

// State number -> exported index, -1 for states never exported.
constexpr std::array<int8_t, 256> MakeStateIndex() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (size_t i = 0; i < kExportedStates.size(); ++i) t[kExportedStates[i]] = int8_t(i);
  return t;
}
constexpr std::array<int8_t, 256> kStateIndex = MakeStateIndex();
constexpr int kListenIdx = 9;
constexpr int kTimeWaitIdx = 5;
static_assert(kExportedStates[kListenIdx] == kTcpListen);
static_assert(kExportedStates[kTimeWaitIdx] == kTcpTimeWait);

inline void SatInc(uint16_t& v) {
  if (v != 0xffff) ++v;
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Hash of a 36-byte tuple key: multiply each word by its own odd constant, fold, finalise.
inline uint64_t HashKey(const uint8_t* k) {
  uint64_t h = Load64(k) * 0x9E3779B97F4A7C15ULL;
  h ^= Load64(k + 8) * 0xC2B2AE3D27D4EB4FULL;
  h ^= Load64(k + 16) * 0x165667B19E3779F9ULL;
  h ^= Load64(k + 24) * 0xD6E8FEB86659FD93ULL;
  h ^= Load64(k + 28) * 0xFF51AFD7ED558CCDULL;
  h ^= h >> 32;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 29;
  return h;
}

// Key equality as five word compares (the defaulted operator== calls memcmp out of line).
inline bool KeyEquals(const uint8_t* a, const uint8_t* b) {
  return Load64(a) == Load64(b) && Load64(a + 8) == Load64(b + 8) &&
         Load64(a + 16) == Load64(b + 16) && Load64(a + 24) == Load64(b + 24) &&
         Load64(a + 28) == Load64(b + 28);
}

std::string FormatDestination(Family f, const std::array<uint8_t, 16>& addr, uint16_t port) {
  std::string a = FormatAddress(f, addr);
  if (f == Family::kIpv6) return "[" + a + "]:" + std::to_string(port);
  return a + ":" + std::to_string(port);
}

// A destination in the making: sums over its tuples.
struct DestAcc {
  std::array<uint64_t, kNumStates> sockets{};
  uint64_t used = 0, used_max = 0, tuples = 0, tw_count = 0, tw_sum_ms = 0;
  std::array<uint64_t, Aggregator::kMaxTwBuckets + 1> tw{};
  uint64_t Total() const {
    uint64_t t = 0;
    for (auto v : sockets) t += v;
    return t;
  }
};

void AccumulateInto(DestAcc& into, const DestAcc& from) {
  for (int i = 0; i < kNumStates; ++i) into.sockets[i] += from.sockets[i];
  into.used += from.used;
  into.used_max = std::max(into.used_max, from.used_max);
  into.tuples += from.tuples;
  into.tw_count += from.tw_count;
  into.tw_sum_ms += from.tw_sum_ms;
  for (size_t i = 0; i < into.tw.size(); ++i) into.tw[i] += from.tw[i];
}

DestinationStats ToStats(std::string label, const DestAcc& a, size_t nbounds, bool is_group) {
  DestinationStats s;
  s.label = std::move(label);
  s.sockets = a.sockets;
  s.ports_used = a.used;
  s.ports_used_max = a.used_max;
  s.tuples = a.tuples;
  s.tw_count = a.tw_count;
  s.tw_sum_seconds = double(a.tw_sum_ms) / 1000.0;
  s.tw_buckets.resize(nbounds);
  uint64_t cum = 0;
  for (size_t i = 0; i < nbounds; ++i) {
    cum += a.tw[i];
    s.tw_buckets[i] = cum;
  }
  s.is_group = is_group;
  return s;
}

}  // namespace

int ExportedStateIndex(uint8_t state) { return kStateIndex[state]; }

Aggregator::Aggregator() : inbound_slot_(65536, 0) {}

void Aggregator::Reset(const Config& config, const PortRange* range, const PortSet* reserved) {
  config_ = &config;
  range_known_ = range != nullptr;
  if (range) {
    range_low_ = range->low;
    range_high_ = range->high;
  } else {
    range_low_ = 1;  // empty range: nothing is ephemeral
    range_high_ = 0;
  }
  if (reserved) {
    reserved_ = *reserved;
  } else {
    reserved_.reset();
  }
  listen_ports_.reset();
  bind_held_.reset();
  for (auto& f : states_) f.fill(0);
  sockets_ = 0;
  if (count_ != 0) {
    for (auto& e : table_) e.occupied = 0;
  }
  count_ = 0;
  max_tuples_ = config.destinations.max_tuples;
  if (table_.empty()) {
    table_.resize(1024);
    mask_ = table_.size() - 1;
    for (auto& e : table_) e.occupied = 0;
  }
  untracked_states_.fill(0);
  untracked_used_ = 0;
  untracked_sockets_ = 0;
  untracked_tw_.fill(0);
  untracked_tw_sum_ms_ = 0;
  for (uint16_t p : inbound_ports_) inbound_slot_[p] = 0;
  inbound_ports_.clear();
  inbound_.clear();
  const auto& b = config.histograms.time_wait_remaining_seconds;
  tw_bounds_ms_.clear();
  for (size_t i = 0; i < b.size() && i < size_t(kMaxTwBuckets); ++i) {
    tw_bounds_ms_.push_back(uint32_t(b[i] * 1000.0));
  }
}

int Aggregator::TwBucket(uint32_t expires_ms) const {
  // Few bounds (<= 15): a linear scan beats a binary search here.
  int i = 0;
  const int n = int(tw_bounds_ms_.size());
  while (i < n && expires_ms > tw_bounds_ms_[i]) ++i;
  return i;
}

void Aggregator::Grow() {
  std::vector<TupleEntry> old;
  old.swap(table_);
  table_.resize(old.size() * 2);
  for (auto& e : table_) e.occupied = 0;
  mask_ = table_.size() - 1;
  for (const auto& e : old) {
    if (!e.occupied) continue;
    const uint8_t* k = reinterpret_cast<const uint8_t*>(&e.key);
    uint64_t h = HashKey(k);
    size_t i = h & mask_;
    while (table_[i].occupied) i = (i + 1) & mask_;
    table_[i] = e;
  }
}

Aggregator::TupleEntry* Aggregator::FindOrInsert(const TupleKey& key, uint64_t hash) {
  size_t i = hash & mask_;
  while (true) {
    TupleEntry& e = table_[i];
    if (!e.occupied) break;
    if (KeyEquals(reinterpret_cast<const uint8_t*>(&e.key),
                  reinterpret_cast<const uint8_t*>(&key))) {
      return &e;
    }
    i = (i + 1) & mask_;
  }
  if (count_ >= max_tuples_) return nullptr;
  if ((count_ + 1) * 4 > table_.size() * 3) {  // keep load <= 3/4
    Grow();
    i = hash & mask_;
    while (table_[i].occupied) i = (i + 1) & mask_;
  }
  TupleEntry& e = table_[i];
  e.key = key;
  e.occupied = 1;
  e.states.fill(0);
  e.used = 0;
  e.tw.fill(0);
  e.tw_sum_ms = 0;
  ++count_;
  return &e;
}

void Aggregator::OnSocket(const SocketRecord& r) {
  // A full-mask dump (e.g. a recorded one) reports bound-inactive sockets as CLOSE with no
  // peer: count them as what they are.
  const uint8_t state =
      (r.state == kTcpClose && r.dst_port == 0) ? uint8_t(kTcpBoundInactive) : r.state;
  const int idx = kStateIndex[state];
  if (idx < 0) return;
  const int fam = r.family == Family::kIpv6 ? 1 : 0;
  ++states_[fam][idx];
  ++sockets_;
  const uint16_t sport = r.src_port;
  if (state == kTcpListen) {
    listen_ports_.set(sport);
    if (InRange(sport)) bind_held_.set(sport);
    return;
  }
  if (state == kTcpBoundInactive) {
    bind_held_.set(sport);  // Finish() counts only the ports inside the range
    return;
  }
  if (r.dst_port == 0) return;  // not connected: no destination
  if (listen_ports_.test(sport)) {
    // Accepted by a local listener: inbound, uses no ephemeral port.
    uint16_t slot = inbound_slot_[sport];
    if (slot == 0) {
      inbound_.emplace_back();  // once per listening port, not per socket
      inbound_ports_.push_back(sport);
      slot = uint16_t(inbound_.size());
      inbound_slot_[sport] = slot;
    }
    ++inbound_[slot - 1].states[idx];
    return;
  }
  TupleKey key;
  key.src = r.src_addr;
  key.dst = r.dst_addr;
  key.dport = r.dst_port;
  key.family = uint8_t(fam);
  key.pad = 0;
  const uint8_t* k = reinterpret_cast<const uint8_t*>(&key);
  const uint64_t h = HashKey(k);
  const bool in_range = InRange(sport);
  const bool tw = idx == kTimeWaitIdx;
  TupleEntry* e = FindOrInsert(key, h);
  if (e == nullptr) {
    ++untracked_states_[idx];
    ++untracked_sockets_;
    if (in_range) ++untracked_used_;
    if (tw) {
      ++untracked_tw_[TwBucket(r.expires_ms)];
      untracked_tw_sum_ms_ += r.expires_ms;
    }
    return;
  }
  SatInc(e->states[idx]);
  if (in_range) SatInc(e->used);
  if (tw) {
    SatInc(e->tw[TwBucket(r.expires_ms)]);
    const uint32_t add = std::min<uint32_t>(r.expires_ms, 3600000);  // a bogus value saturates
    e->tw_sum_ms = e->tw_sum_ms > UINT32_MAX - add ? UINT32_MAX : e->tw_sum_ms + add;
  }
}

void Aggregator::AddBoundInactive(const BoundInactiveSnapshot& snapshot) {
  const int idx = kStateIndex[kTcpBoundInactive];
  for (int fam = 0; fam < 2; ++fam) {
    states_[fam][idx] += snapshot.count[fam];
    sockets_ += snapshot.count[fam];
  }
  bind_held_ |= snapshot.ports;  // Finish() counts only the ports inside the range
}

void Aggregator::Finish(AggregateResult* out) {
  const Config& cfg = *config_;
  *out = AggregateResult();
  out->states = states_;
  out->sockets = sockets_;
  out->tuples = count_;

  // Port budget.
  PortBudget& b = out->budget;
  b.known = range_known_;
  if (range_known_) {
    b.low = range_low_;
    b.high = range_high_;
    b.range = uint32_t(range_high_) - range_low_ + 1;
    b.reserved = CountInRange(reserved_, range_low_, range_high_);
    b.bind_held = CountInRange(bind_held_ & ~reserved_, range_low_, range_high_);
    b.usable = b.range - b.reserved - b.bind_held;
  }

  const size_t ntw = tw_bounds_ms_.size();
  out->tw_bounds.assign(cfg.histograms.time_wait_remaining_seconds.begin(),
                        cfg.histograms.time_wait_remaining_seconds.begin() + ntw);
  out->occupancy_bounds = cfg.histograms.occupancy_ratio;
  std::vector<uint64_t> occ(out->occupancy_bounds.size() + 1, 0);

  // Destinations: groups by index; unmatched tuples are ranked by exact (family, dst, dport)
  // with a sort over compact entries (memory bounded by the tracked tuples, reused across
  // scrapes), and full sums are built only for the top-K and "other".
  const auto& groups = cfg.destinations.groups;
  std::vector<DestAcc> group_acc(groups.size());
  const double usable = b.usable;
  unmatched_.clear();

  auto tuple_acc = [&](const TupleEntry& e) {
    DestAcc t;
    for (int i = 0; i < kNumStates; ++i) t.sockets[i] = e.states[i];
    t.used = e.used;
    t.used_max = e.used;
    t.tuples = 1;
    for (size_t i = 0; i <= ntw; ++i) {
      t.tw[i] = e.tw[i];
      t.tw_count += e.tw[i];
    }
    t.tw_sum_ms = e.tw_sum_ms;
    return t;
  };

  for (size_t idx = 0; idx < table_.size(); ++idx) {
    const TupleEntry& e = table_[idx];
    if (!e.occupied) continue;
    if (range_known_ && usable > 0) {
      const double ratio = double(e.used) / usable;
      size_t i = 0;
      while (i < out->occupancy_bounds.size() && ratio > out->occupancy_bounds[i]) ++i;
      ++occ[i];
      out->occupancy_sum += ratio;
      ++out->occupancy_count;
    }

    const Family fam = e.key.family ? Family::kIpv6 : Family::kIpv4;
    int gi = -1;
    for (size_t g = 0; g < groups.size() && gi < 0; ++g) {
      const DestinationGroup& grp = groups[g];
      if (!grp.any_port && !grp.ports.test(e.key.dport)) continue;
      if (grp.cidrs.empty()) {
        gi = int(g);
        break;
      }
      for (const Cidr& c : grp.cidrs) {
        if (c.Contains(fam, e.key.dst)) {
          gi = int(g);
          break;
        }
      }
    }
    if (gi >= 0) {
      AccumulateInto(group_acc[gi], tuple_acc(e));
    } else {
      unmatched_.push_back(UnmatchedTuple{e.key.dst, e.key.dport, e.key.family, uint32_t(idx)});
    }
  }
  uint64_t cum = 0;
  out->occupancy_buckets.resize(out->occupancy_bounds.size());
  for (size_t i = 0; i < out->occupancy_bounds.size(); ++i) {
    cum += occ[i];
    out->occupancy_buckets[i] = cum;
  }

  for (size_t g = 0; g < groups.size(); ++g) {
    out->destinations.push_back(ToStats(groups[g].name, group_acc[g], ntw, true));
  }

  // Group unmatched tuples by destination, then rank destinations by ports used (then sockets,
  // then address for a stable order).
  auto key_less = [](const UnmatchedTuple& a, const UnmatchedTuple& b) {
    if (a.family != b.family) return a.family < b.family;
    if (a.dst != b.dst) return a.dst < b.dst;
    return a.port < b.port;
  };
  std::sort(unmatched_.begin(), unmatched_.end(), key_less);
  ranks_.clear();
  for (size_t i = 0; i < unmatched_.size();) {
    size_t j = i;
    DestRank r{uint32_t(i), 0, 0, 0};
    while (j < unmatched_.size() && !key_less(unmatched_[i], unmatched_[j])) {
      const TupleEntry& e = table_[unmatched_[j].index];
      r.used += e.used;
      for (uint16_t v : e.states) r.total += v;
      ++j;
    }
    r.end = uint32_t(j);
    ranks_.push_back(r);
    i = j;
  }
  std::sort(ranks_.begin(), ranks_.end(), [&](const DestRank& a, const DestRank& b) {
    if (a.used != b.used) return a.used > b.used;
    if (a.total != b.total) return a.total > b.total;
    return key_less(unmatched_[a.begin], unmatched_[b.begin]);
  });
  const size_t room = cfg.destinations.max_series > groups.size() + 1
                          ? cfg.destinations.max_series - groups.size() - 1
                          : 0;
  const size_t k = std::min<size_t>({cfg.destinations.top_k, room, ranks_.size()});
  DestAcc other;
  for (size_t i = 0; i < ranks_.size(); ++i) {
    DestAcc acc;
    DestAcc& into = i < k ? acc : other;
    for (uint32_t j = ranks_[i].begin; j < ranks_[i].end; ++j) {
      AccumulateInto(into, tuple_acc(table_[unmatched_[j].index]));
    }
    if (i < k) {
      const UnmatchedTuple& u = unmatched_[ranks_[i].begin];
      Family f = u.family ? Family::kIpv6 : Family::kIpv4;
      out->destinations.push_back(ToStats(FormatDestination(f, u.dst, u.port), acc, ntw, false));
    }
  }
  out->destinations_folded = ranks_.size() - k;
  // Untracked tuples (beyond max_tuples) only add to "other"'s sums: their per-tuple maximum is
  // unknown, which sockstate_destination_untracked_sockets tells.
  for (int i = 0; i < kNumStates; ++i) other.sockets[i] += untracked_states_[i];
  other.used += untracked_used_;
  for (size_t i = 0; i <= ntw; ++i) {
    other.tw[i] += untracked_tw_[i];
    other.tw_count += untracked_tw_[i];
  }
  other.tw_sum_ms += untracked_tw_sum_ms_;
  out->sockets_untracked = untracked_sockets_;
  out->destinations.push_back(ToStats("other", other, ntw, false));

  // Inbound: groups by local port, then top-K ports by sockets, then "other".
  const auto& igroups = cfg.inbound.groups;
  std::vector<DestAcc> igroup_acc(igroups.size());
  std::vector<std::pair<uint16_t, DestAcc>> iunmatched;
  for (size_t s = 0; s < inbound_ports_.size(); ++s) {
    const uint16_t port = inbound_ports_[s];
    DestAcc a;
    for (int i = 0; i < kNumStates; ++i) a.sockets[i] = inbound_[s].states[i];
    int gi = -1;
    for (size_t g = 0; g < igroups.size(); ++g) {
      if (igroups[g].ports.test(port)) {
        gi = int(g);
        break;
      }
    }
    if (gi >= 0) {
      AccumulateInto(igroup_acc[gi], a);
    } else {
      iunmatched.emplace_back(port, a);
    }
  }
  for (size_t g = 0; g < igroups.size(); ++g) {
    out->inbound.push_back(ToStats(igroups[g].name, igroup_acc[g], 0, true));
  }
  std::sort(iunmatched.begin(), iunmatched.end(), [](const auto& a, const auto& b) {
    uint64_t ta = a.second.Total(), tb = b.second.Total();
    if (ta != tb) return ta > tb;
    return a.first < b.first;
  });
  const size_t iroom =
      cfg.inbound.max_series > igroups.size() + 1 ? cfg.inbound.max_series - igroups.size() - 1 : 0;
  const size_t ik = std::min<size_t>({cfg.inbound.top_k, iroom, iunmatched.size()});
  for (size_t i = 0; i < ik; ++i) {
    out->inbound.push_back(
        ToStats(std::to_string(iunmatched[i].first), iunmatched[i].second, 0, false));
  }
  DestAcc iother;
  for (size_t i = ik; i < iunmatched.size(); ++i) AccumulateInto(iother, iunmatched[i].second);
  out->services_folded = iunmatched.size() - ik;
  out->inbound.push_back(ToStats("other", iother, 0, false));
}

size_t FoldAcrossNamespaces(const std::vector<AggregateResult*>& results, size_t max_series,
                            bool inbound) {
  struct Candidate {
    uint64_t used, total;
    size_t result, index;
  };
  size_t series = 0;
  std::vector<Candidate> candidates;
  for (size_t r = 0; r < results.size(); ++r) {
    const auto& list = inbound ? results[r]->inbound : results[r]->destinations;
    series += list.size();
    for (size_t i = 0; i < list.size(); ++i) {
      const DestinationStats& d = list[i];
      if (d.is_group || d.label == "other") continue;
      uint64_t total = 0;
      for (uint64_t v : d.sockets) total += v;
      candidates.push_back({d.ports_used, total, r, i});
    }
  }
  if (series <= max_series) return 0;
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.used != b.used) return a.used < b.used;
    if (a.total != b.total) return a.total < b.total;
    return std::tie(a.result, a.index) > std::tie(b.result, b.index);
  });
  size_t folded = 0;
  std::vector<std::vector<bool>> drop(results.size());
  for (size_t r = 0; r < results.size(); ++r) {
    drop[r].assign((inbound ? results[r]->inbound : results[r]->destinations).size(), false);
  }
  for (const Candidate& c : candidates) {
    if (series <= max_series) break;
    auto& list = inbound ? results[c.result]->inbound : results[c.result]->destinations;
    DestinationStats& other = list.back();  // "other" is always last
    const DestinationStats& d = list[c.index];
    for (int i = 0; i < kNumStates; ++i) other.sockets[i] += d.sockets[i];
    other.ports_used += d.ports_used;
    other.ports_used_max = std::max(other.ports_used_max, d.ports_used_max);
    other.tuples += d.tuples;
    for (size_t i = 0; i < other.tw_buckets.size() && i < d.tw_buckets.size(); ++i) {
      other.tw_buckets[i] += d.tw_buckets[i];
    }
    other.tw_count += d.tw_count;
    other.tw_sum_seconds += d.tw_sum_seconds;
    drop[c.result][c.index] = true;
    if (inbound) {
      ++results[c.result]->services_folded;
    } else {
      ++results[c.result]->destinations_folded;
    }
    --series;
    ++folded;
  }
  for (size_t r = 0; r < results.size(); ++r) {
    auto& list = inbound ? results[r]->inbound : results[r]->destinations;
    std::vector<DestinationStats> kept;
    kept.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      if (!drop[r][i]) kept.push_back(std::move(list[i]));
    }
    list.swap(kept);
  }
  return folded;
}

}  // namespace sockstate
