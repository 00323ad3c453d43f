#include "aggregate/aggregator.h"

#include <algorithm>
#include <string>

#include "aggregate/rank.h"

namespace sockstate {

namespace {

constexpr int kTimeWaitIdx = kStateIndex[kTcpTimeWait];
constexpr int kBoundInactiveIdx = kStateIndex[kTcpBoundInactive];

// A label value in the making: sums over its tuples (or, inbound, its ports' sockets).
struct Sums {
  SocketCounters<uint64_t, uint64_t> c{};
  uint64_t used_max = 0, peak = 0, tuples = 0;

  void AddTuple(const TupleTable::Counters& t) {
    c.AddAll(t);
    used_max = std::max<uint64_t>(used_max, t.used);
    peak = std::max<uint64_t>(peak, t.peak);
    if (!t.Empty()) ++tuples;
  }
  void AddSockets(const std::array<uint64_t, kNumStates>& states) {
    for (int i = 0; i < kNumStates; ++i) c.states[i] += states[i];
  }
};

DestinationStats ToStats(std::string label, const Sums& a, size_t nbounds, bool is_group) {
  DestinationStats s;
  s.label = std::move(label);
  s.sockets = a.c.states;
  s.ports_used = a.c.used;
  s.ports_used_max = a.used_max;
  s.ports_used_peak = a.peak;
  s.tuples = a.tuples;
  s.tw_sum_seconds = double(a.c.tw_sum_ms) / 1000.0;
  s.tw_buckets.resize(nbounds);
  for (size_t i = 0; i <= nbounds; ++i) {
    s.tw_count += a.c.tw[i];
    if (i < nbounds) s.tw_buckets[i] = s.tw_count;
  }
  s.is_group = is_group;
  return s;
}

}  // namespace

Aggregator::Aggregator() : inbound_slot_(65536, 0) {}

void Aggregator::Reset(const Config& config, const PortRange* range, const PortSet* reserved) {
  owned_plan_ = AggregationPlan(config);
  Reset(owned_plan_, range, reserved);
}

void Aggregator::Reset(const AggregationPlan& plan, const PortRange* range,
                       const PortSet* reserved) {
  plan_ = &plan;
  tw_bounds_ = int(std::min<size_t>(plan.tw_bounds_ms.size(), kMaxTwBuckets));
  std::copy_n(plan.tw_bounds_ms.begin(), tw_bounds_, tw_bounds_ms_.begin());
  range_known_ = range != nullptr;
  range_low_ = range ? range->low : 1;  // no range: empty, nothing is ephemeral
  range_high_ = range ? range->high : 0;
  if (reserved) {
    reserved_ = *reserved;
  } else {
    reserved_.reset();
  }
  listen_ports_.reset();
  bind_held_.reset();
  for (auto& f : states_) f.fill(0);
  sockets_ = 0;
  table_.Reset(plan.max_tuples);
  attribute_ = false;
  tw_owners_ = nullptr;
  for (uint16_t p : inbound_ports_) inbound_slot_[p] = 0;
  inbound_ports_.clear();
  inbound_.clear();
}

int Aggregator::TwBucket(uint32_t expires_ms) const {
  // Few bounds (<= 11): a linear scan beats a binary search here.
  int i = 0;
  while (i < tw_bounds_ && expires_ms > tw_bounds_ms_[i]) ++i;
  return i;
}

void Aggregator::OnSocket(const SocketRecord& r) {
  // A full-mask dump (e.g. a recorded one) reports bound-inactive sockets as CLOSE with no
  // peer: count them as what they are.
  const uint8_t state =
      (r.state == kTcpClose && r.dst_port == 0) ? uint8_t(kTcpBoundInactive) : r.state;
  const int idx = ExportedStateIndex(state);
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
    bind_held_.set(sport);  // Budget() counts only the ports inside the range
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
    ++inbound_[slot - 1][idx];
    return;
  }
  TupleTable::Key key;
  key.src = r.src_addr;
  key.dst = r.dst_addr;
  key.dport = r.dst_port;
  key.family = uint8_t(fam);
  key.pad = 0;
  TupleTable::Counters* t = table_.Add(
      key, idx, InRange(sport), idx == kTimeWaitIdx ? TwBucket(r.expires_ms) : -1, r.expires_ms);
  // Untracked tuples (t == nullptr) are "other" with an unknown owner.
  if (!attribute_ || t == nullptr) return;
  uint64_t cgroup = r.cgroup_id;
  if (idx == kTimeWaitIdx) {
    // A TIME_WAIT socket carries no cgroup: the kernel program recorded its owner when the
    // full socket closed, for the ones on an ephemeral port.
    const bool in_range = InRange(sport);
    cgroup = tw_owners_ != nullptr && in_range
                 ? tw_owners_->Owner(TimeWaitKey::Of(netns_inode_, r))
                 : 0;
    if (cgroup == 0) {
      TupleCounters::SatInc(t->tw_unknown);
      if (in_range) TupleCounters::SatInc(t->tw_unknown_used);
      return;
    }
  }
  const uint64_t owner = t->owner();
  if (cgroup != 0 && cgroup == owner) return;  // the common case: no cell
  if (cgroup != 0 && owner == 0) {
    t->set_owner(cgroup);
    return;
  }
  // Another owner, or no cgroup id (counted as cgroup 0: unknown, but not the first owner's).
  if (!cells_.Add(key, cgroup, idx, InRange(sport))) t->set_owner(TupleCounters::kMixedOwner);
}

void Aggregator::SetAttribution(size_t max_cells, const TimeWaitOwners* tw_owners,
                                uint64_t netns_inode) {
  attribute_ = true;
  cells_.Reset(max_cells);
  tw_owners_ = tw_owners;
  netns_inode_ = netns_inode;
}

void Aggregator::AddStateCount(Family fam, uint8_t state, uint64_t n) {
  const int idx = ExportedStateIndex(state);
  if (idx < 0 || n == 0) return;
  states_[fam == Family::kIpv6 ? 1 : 0][idx] += n;
  sockets_ += n;
}

void Aggregator::AddListenerPort(uint16_t port) {
  listen_ports_.set(port);
  if (InRange(port)) bind_held_.set(port);
}

void Aggregator::AddBoundPort(uint16_t port) { bind_held_.set(port); }

void Aggregator::AddTupleCounts(const TupleTable::Key& key, const TupleTable::Counters& counts) {
  table_.AddCounts(key, counts);
}

void Aggregator::AddTrackedTimeWait(const TupleTable::Key& key, uint16_t sport, bool in_range) {
  // Out of the range: unknown, as in a dump (the program records only ephemeral ports).
  if (!attribute_ || tw_owners_ == nullptr || !in_range) return;
  TimeWaitKey k;
  k.netns_inode = uint32_t(netns_inode_);
  k.sport = sport;
  k.dport = key.dport;
  k.family = key.family == 1 ? 10 : 2;
  k.saddr = key.src;
  k.daddr = key.dst;
  const uint64_t cgroup = tw_owners_->Owner(k);
  // The tuple has no first owner (the tracker's tuples): every named socket takes a cell, and
  // what none names is the destination's unknown.
  if (cgroup != 0) cells_.Add(key, cgroup, kTimeWaitIdx, true);
}

void Aggregator::AddInboundCounts(uint16_t port, const std::array<uint64_t, kNumStates>& states) {
  uint16_t slot = inbound_slot_[port];
  if (slot == 0) {
    inbound_.emplace_back();
    inbound_ports_.push_back(port);
    slot = uint16_t(inbound_.size());
    inbound_slot_[port] = slot;
  }
  for (int i = 0; i < kNumStates; ++i) inbound_[slot - 1][i] += states[i];
}

void Aggregator::AddBoundInactive(const BoundInactiveSnapshot& snapshot) {
  for (int fam = 0; fam < 2; ++fam) {
    states_[fam][kBoundInactiveIdx] += snapshot.count[fam];
    sockets_ += snapshot.count[fam];
  }
  bind_held_ |= snapshot.ports;  // Budget() counts only the ports inside the range
}

PortBudget Aggregator::Budget() const {
  PortBudget b;
  b.known = range_known_;
  if (!range_known_) return b;
  b.low = range_low_;
  b.high = range_high_;
  b.range = uint32_t(range_high_) - range_low_ + 1;
  b.reserved = CountInRange(reserved_, range_low_, range_high_);
  b.bind_held = CountInRange(bind_held_ & ~reserved_, range_low_, range_high_);
  b.usable = b.range - b.reserved - b.bind_held;
  return b;
}

void Aggregator::Finish(AggregateResult* out) {
  *out = AggregateResult();
  out->states = states_;
  out->sockets = sockets_;
  out->tuples = table_.size();
  out->budget = Budget();
  out->tw_bounds = plan_->tw_bounds;
  out->occupancy_bounds = plan_->occupancy_bounds;
  FinishDestinations(out);
  FinishOwners(out);
  FinishInbound(out);
}

// Destinations: groups by index; unmatched tuples are ranked by exact (family, dst, dport)
// with a sort over compact entries (memory bounded by the tracked tuples, reused across
// scrapes), and full sums are built only for the top-K and "other".
void Aggregator::FinishDestinations(AggregateResult* out) {
  const DestinationPlan& plan = plan_->destinations;
  const size_t ntw = plan_->tw_bounds.size();
  const std::vector<double>& bounds = out->occupancy_bounds;
  std::vector<uint64_t> occupancy(bounds.size() + 1, 0);
  const double usable = out->budget.usable;
  std::vector<Sums> groups(plan.group_count());
  unmatched_.clear();
  if (attribute_) dest_of_slot_.assign(table_.capacity(), -1);
  table_.ForEach([&](const TupleTable::Entry& e) {
    // A tuple the tracker keeps only for its peak (no socket left) is no tuple of the
    // occupancy histogram (a dump would not see it).
    const bool live = !e.value.Empty();
    if (live && range_known_ && usable > 0) {
      const double ratio = double(e.value.used) / usable;
      size_t i = 0;
      while (i < bounds.size() && ratio > bounds[i]) ++i;
      ++occupancy[i];
      out->occupancy_sum += ratio;
      ++out->occupancy_count;
    }
    const Family fam = e.key.family ? Family::kIpv6 : Family::kIpv4;
    const int g = plan.MatchGroup(fam, e.key.dst.data(), e.key.dport);
    if (g >= 0) {
      groups[g].AddTuple(e.value);
      if (attribute_) dest_of_slot_[table_.SlotOf(e)] = g;
    } else {
      unmatched_.push_back({e.key.dst, e.key.dport, e.key.family, table_.SlotOf(e)});
    }
  });
  out->occupancy_buckets.resize(bounds.size());
  for (size_t i = 0, cum = 0; i < bounds.size(); ++i)
    out->occupancy_buckets[i] = cum += occupancy[i];
  for (size_t g = 0; g < groups.size(); ++g) {
    out->destinations.push_back(ToStats(plan.group_name(g), groups[g], ntw, true));
  }

  // Runs of unmatched tuples with the same destination, ranked by ports used, then sockets,
  // then destination.
  auto key_less = [](const UnmatchedTuple& a, const UnmatchedTuple& b) {
    if (a.family != b.family) return a.family < b.family;
    if (a.dst != b.dst) return a.dst < b.dst;
    return a.port < b.port;
  };
  std::sort(unmatched_.begin(), unmatched_.end(), key_less);
  runs_.clear();
  for (uint32_t i = 0; i < unmatched_.size();) {
    DestinationRun run{i, i, 0, 0};
    for (; run.end < unmatched_.size() && !key_less(unmatched_[i], unmatched_[run.end]);
         ++run.end) {
      const TupleTable::Counters& c = table_.slot(unmatched_[run.end].slot).value;
      run.used += c.used;
      for (uint16_t v : c.states) run.total += v;
    }
    runs_.push_back(run);
    i = run.end;
  }
  auto add_run = [&](const DestinationRun& run, Sums& into) {
    for (uint32_t j = run.begin; j < run.end; ++j) into.AddTuple(table_.slot(unmatched_[j].slot).value);
  };
  Sums other;
  out->destinations_folded = RankAndFold(
      std::span<DestinationRun>(runs_), plan.top_k(),
      [](const DestinationRun& r) {
        return RankWeight{r.used, r.total};
      },
      [&](const DestinationRun& a, const DestinationRun& b) {
        return key_less(unmatched_[a.begin], unmatched_[b.begin]);
      },
      [&](const DestinationRun& run) { add_run(run, other); });
  const size_t kept = runs_.size() - out->destinations_folded;
  if (attribute_) {  // top-K runs are the next label values, folded ones go to "other"
    for (size_t i = 0; i < runs_.size(); ++i) {
      const int32_t dest = int32_t(groups.size() + (i < kept ? i : kept));
      for (uint32_t j = runs_[i].begin; j < runs_[i].end; ++j) {
        dest_of_slot_[unmatched_[j].slot] = dest;
      }
    }
  }
  for (size_t i = 0; i < kept; ++i) {
    Sums sums;
    add_run(runs_[i], sums);
    const UnmatchedTuple& u = unmatched_[runs_[i].begin];
    const Family fam = u.family ? Family::kIpv6 : Family::kIpv4;
    out->destinations.push_back(
        ToStats(DestinationLabel(fam, u.dst.data(), u.port), sums, ntw, false));
  }
  // Untracked tuples (beyond max_tuples) only add to "other"'s sums: their per-tuple maximum is
  // unknown, which sockstate_destination_untracked_sockets tells.
  other.c.AddAll(table_.overflow());
  out->sockets_untracked = table_.overflow_sockets();
  out->destinations.push_back(ToStats(kOtherLabel, other, ntw, false));
}

// Owners of every destination: each tuple's first owner (its sockets minus those of the
// tuple's cells and its TIME_WAIT sockets of unknown owner), the cells of its other owners,
// and the rest of each destination as owner 0 (unknown). Memory: one entry per (destination,
// cgroup) pair, not per tuple.
void Aggregator::FinishOwners(AggregateResult* out) {
  if (!attribute_) return;
  out->attributed = true;
  owner_index_.clear();
  owner_acc_.clear();
  auto at = [&](uint32_t dest, uint64_t cgroup) -> OwnerCounts& {
    auto [it, inserted] = owner_index_.try_emplace(OwnerKey{dest, cgroup}, owner_acc_.size());
    if (inserted) owner_acc_.push_back(OwnerPart{dest, cgroup, {}});
    return owner_acc_[it->second].counts;
  };
  uint64_t untracked = 0;  // sockets of tuples whose owners did not all fit in the cells
  table_.ForEach([&](const TupleTable::Entry& e) {
    const uint64_t owner = e.value.owner();
    if (owner == 0) return;
    const int32_t dest = dest_of_slot_[table_.SlotOf(e)];
    if (owner == TupleCounters::kMixedOwner) {
      for (uint16_t v : e.value.states) untracked += v;
      untracked -= std::min<uint64_t>(untracked, e.value.tw_unknown);
      return;
    }
    if (dest < 0) return;
    OwnerCounts& o = at(uint32_t(dest), owner);
    for (int s = 0; s < kNumStates; ++s) o.sockets[s] += e.value.states[s];
    o.sockets[kTimeWaitIdx] -= std::min<uint64_t>(o.sockets[kTimeWaitIdx], e.value.tw_unknown);
    o.ports_used += e.value.used - std::min(e.value.used, e.value.tw_unknown_used);
  });
  cells_.ForEach([&](const OwnerCells::Cell& c) {
    const int64_t slot = table_.Find(c.key.tuple);
    if (slot < 0 || dest_of_slot_[slot] < 0) return;
    const uint32_t dest = uint32_t(dest_of_slot_[slot]);
    const uint64_t first = table_.slot(uint32_t(slot)).value.owner();
    uint64_t total = 0;
    for (uint16_t v : c.value.states) total += v;
    if (first == TupleCounters::kMixedOwner) {
      untracked -= std::min(untracked, total);
    } else if (first != 0) {  // the first owner was counted with the whole tuple
      OwnerCounts& f = at(dest, first);
      for (int s = 0; s < kNumStates; ++s)
        f.sockets[s] -= std::min<uint64_t>(f.sockets[s], c.value.states[s]);
      f.ports_used -= std::min<uint64_t>(f.ports_used, c.value.used);
    }
    if (c.key.cgroup_id == 0) return;  // no cgroup id: left to "unknown"
    OwnerCounts& o = at(dest, c.key.cgroup_id);
    for (int s = 0; s < kNumStates; ++s) o.sockets[s] += c.value.states[s];
    o.ports_used += c.value.used;
  });
  std::sort(owner_acc_.begin(), owner_acc_.end(), [](const OwnerPart& a, const OwnerPart& b) {
    return a.dest != b.dest ? a.dest < b.dest : a.cgroup_id < b.cgroup_id;
  });
  for (const OwnerPart& p : owner_acc_) {
    if (p.counts.Total() == 0) continue;  // a first owner whose sockets all had cells
    OwnerCounts& w = out->destinations[p.dest].owners.emplace_back(p.counts);
    w.cgroup_id = p.cgroup_id;
  }
  for (DestinationStats& d : out->destinations) {
    OwnerCounts unknown;  // cgroup 0: what neither a tuple's owner nor a cell names
    for (int s = 0; s < kNumStates; ++s) unknown.sockets[s] = d.sockets[s];
    unknown.ports_used = d.ports_used;
    for (const OwnerCounts& w : d.owners) {
      for (int s = 0; s < kNumStates; ++s)
        unknown.sockets[s] -= std::min(unknown.sockets[s], w.sockets[s]);
      unknown.ports_used -= std::min(unknown.ports_used, w.ports_used);
    }
    out->time_wait_unknown += unknown.sockets[kTimeWaitIdx];
    if (unknown.Total() > 0) d.owners.push_back(unknown);
  }
  out->owners_untracked = untracked;
}

// Inbound: groups by local port, then the top-K ports by sockets, then "other".
void Aggregator::FinishInbound(AggregateResult* out) {
  const InboundPlan& plan = plan_->inbound;
  std::vector<Sums> groups(plan.group_count());
  struct Port {
    uint16_t port;
    uint16_t slot;  // in inbound_
    uint64_t total;
  };
  std::vector<Port> unmatched;
  for (size_t s = 0; s < inbound_ports_.size(); ++s) {
    const int g = plan.MatchGroup(inbound_ports_[s]);
    if (g >= 0) {
      groups[g].AddSockets(inbound_[s]);
      continue;
    }
    uint64_t total = 0;
    for (uint64_t v : inbound_[s]) total += v;
    unmatched.push_back({inbound_ports_[s], uint16_t(s), total});
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    out->inbound.push_back(ToStats(plan.group_name(g), groups[g], 0, true));
  }
  Sums other;
  out->services_folded = RankAndFold(
      std::span<Port>(unmatched), plan.top_k(),
      [](const Port& p) {
        return RankWeight{p.total, 0};
      },
      [](const Port& a, const Port& b) { return a.port < b.port; },
      [&](const Port& p) { other.AddSockets(inbound_[p.slot]); });
  for (size_t i = 0; i + out->services_folded < unmatched.size(); ++i) {
    Sums sums;
    sums.AddSockets(inbound_[unmatched[i].slot]);
    out->inbound.push_back(ToStats(std::to_string(unmatched[i].port), sums, 0, false));
  }
  out->inbound.push_back(ToStats(kOtherLabel, other, 0, false));
}

}  // namespace sockstate
