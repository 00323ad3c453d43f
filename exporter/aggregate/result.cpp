#include "aggregate/result.h"

#include <algorithm>

#include "aggregate/plan.h"
#include "aggregate/rank.h"

namespace sockstate {

uint64_t DestinationStats::Total() const {
  uint64_t total = 0;
  for (uint64_t v : sockets) total += v;
  return total;
}

void DestinationStats::Add(const DestinationStats& o) {
  for (int i = 0; i < kNumStates; ++i) sockets[i] += o.sockets[i];
  ports_used += o.ports_used;
  ports_used_max = std::max(ports_used_max, o.ports_used_max);
  ports_used_peak = std::max(ports_used_peak, o.ports_used_peak);
  tuples += o.tuples;
  for (size_t i = 0; i < tw_buckets.size() && i < o.tw_buckets.size(); ++i) {
    tw_buckets[i] += o.tw_buckets[i];
  }
  tw_count += o.tw_count;
  tw_sum_seconds += o.tw_sum_seconds;
  for (const OwnerCounts& w : o.owners) {  // few owners per destination: a linear search
    auto it = std::find_if(owners.begin(), owners.end(),
                           [&](const OwnerCounts& x) { return x.cgroup_id == w.cgroup_id; });
    if (it == owners.end()) {
      owners.push_back(w);
    } else {
      it->Add(w);
    }
  }
}

uint64_t OwnerCounts::Total() const {
  uint64_t total = 0;
  for (uint64_t v : sockets) total += v;
  return total;
}

void OwnerCounts::Add(const OwnerCounts& o) {
  for (int i = 0; i < kNumStates; ++i) sockets[i] += o.sockets[i];
  ports_used += o.ports_used;
}

size_t FoldAcrossNamespaces(const std::vector<AggregateResult*>& results, size_t max_series,
                            bool inbound) {
  auto list = [&](size_t r) -> std::vector<DestinationStats>& {
    return inbound ? results[r]->inbound : results[r]->destinations;
  };
  size_t series = 0;
  std::vector<CapCandidate> candidates;
  std::vector<std::vector<bool>> dropped(results.size());
  for (size_t r = 0; r < results.size(); ++r) {
    series += list(r).size();
    dropped[r].assign(list(r).size(), false);
    for (size_t i = 0; i < list(r).size(); ++i) {
      const DestinationStats& d = list(r)[i];
      if (d.is_group || d.label == kOtherLabel) continue;
      candidates.push_back(CapCandidate{{d.ports_used, d.Total()}, uint32_t(r), uint32_t(i)});
    }
  }
  const size_t folded = FoldUnderCap(std::span<CapCandidate>(candidates), series, max_series,
                                     [&](const CapCandidate& c) {
                                       std::vector<DestinationStats>& l = list(c.list);
                                       l.back().Add(l[c.index]);  // "other" is always last
                                       dropped[c.list][c.index] = true;
                                       AggregateResult& res = *results[c.list];
                                       ++(inbound ? res.services_folded : res.destinations_folded);
                                     });
  for (size_t r = 0; folded != 0 && r < results.size(); ++r) EraseDropped(list(r), dropped[r]);
  return folded;
}

}  // namespace sockstate
