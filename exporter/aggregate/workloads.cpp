#include "aggregate/workloads.h"

#include <algorithm>
#include <span>
#include <tuple>

#include "aggregate/rank.h"

namespace sockstate {

namespace {

uint64_t Total(const WorkloadStats& w) {
  uint64_t t = 0;
  for (uint64_t v : w.sockets) t += v;
  return t;
}

void AddInto(WorkloadStats& into, const WorkloadStats& w) {
  for (int i = 0; i < kNumStates; ++i) into.sockets[i] += w.sockets[i];
  into.ports_used += w.ports_used;
}

RankWeight WeightOf(const WorkloadStats& w) { return {w.ports_used, Total(w)}; }

bool NameLess(const WorkloadStats& a, const WorkloadStats& b) {
  return std::tie(a.workload.kind, a.workload.name) < std::tie(b.workload.kind, b.workload.name);
}

// One destination: named workloads ranked, the rest in "other"; returns how many folded.
size_t RankDestination(DestinationStats& d, size_t top_k,
                       const std::function<Workload(uint64_t)>& name) {
  d.workloads.clear();
  WorkloadStats unknown{UnknownWorkload(), {}, 0};
  for (const OwnerCounts& o : d.owners) {
    WorkloadStats w{o.cgroup_id == 0 ? UnknownWorkload() : name(o.cgroup_id), o.sockets,
                    o.ports_used};
    if (w.workload.kind == UnknownWorkload().kind) {
      AddInto(unknown, w);
      continue;
    }
    auto same = std::find_if(d.workloads.begin(), d.workloads.end(),
                             [&](const WorkloadStats& x) { return x.workload == w.workload; });
    if (same == d.workloads.end()) {
      d.workloads.push_back(std::move(w));
    } else {
      AddInto(*same, w);
    }
  }
  WorkloadStats other{OtherWorkload(), {}, 0};
  const size_t folded = RankAndFold(std::span<WorkloadStats>(d.workloads), top_k, WeightOf,
                                    NameLess, [&](const WorkloadStats& w) { AddInto(other, w); });
  d.workloads.resize(d.workloads.size() - folded);
  if (Total(unknown) > 0) d.workloads.push_back(std::move(unknown));
  if (folded > 0) d.workloads.push_back(std::move(other));
  return folded;
}

bool IsNamed(const WorkloadStats& w) {
  return !(w.workload == UnknownWorkload()) && !(w.workload == OtherWorkload());
}

}  // namespace

const Workload& OtherWorkload() {
  static const Workload kOther{"other", "other"};
  return kOther;
}

void NameAndRankWorkloads(const std::vector<AggregateResult*>& results, size_t top_k,
                          size_t max_series, const std::function<Workload(uint64_t)>& name) {
  std::vector<DestinationStats*> dests;
  for (AggregateResult* r : results) {
    r->workloads_folded = 0;
    if (!r->attributed) continue;
    for (DestinationStats& d : r->destinations) {
      r->workloads_folded += RankDestination(d, top_k, name);
      dests.push_back(&d);
    }
  }
  // The cap across destinations and namespaces, on the series that name a workload.
  std::vector<CapCandidate> candidates;
  std::vector<AggregateResult*> result_of;
  for (AggregateResult* r : results) {
    if (!r->attributed) continue;
    for (DestinationStats& d : r->destinations) {
      for (size_t i = 0; i < d.workloads.size(); ++i) {
        if (!IsNamed(d.workloads[i])) continue;
        candidates.push_back({WeightOf(d.workloads[i]), uint32_t(result_of.size()), uint32_t(i)});
      }
      result_of.push_back(r);
    }
  }
  if (candidates.size() <= max_series) return;
  std::vector<std::vector<bool>> dropped(dests.size());
  for (size_t k = 0; k < dests.size(); ++k) dropped[k].assign(dests[k]->workloads.size(), false);
  const size_t named = candidates.size();
  FoldUnderCap(std::span<CapCandidate>(candidates), named, max_series, [&](const CapCandidate& c) {
    DestinationStats& d = *dests[c.list];
    auto other = std::find_if(d.workloads.begin(), d.workloads.end(),
                              [](const WorkloadStats& w) { return w.workload == OtherWorkload(); });
    if (other == d.workloads.end()) {  // appended last: indexes of the others stay valid
      d.workloads.push_back(WorkloadStats{OtherWorkload(), {}, 0});
      dropped[c.list].push_back(false);
      other = d.workloads.end() - 1;
    }
    AddInto(*other, d.workloads[c.index]);
    dropped[c.list][c.index] = true;
    ++result_of[c.list]->workloads_folded;
  });
  for (size_t k = 0; k < dests.size(); ++k) EraseDropped(dests[k]->workloads, dropped[k]);
}

}  // namespace sockstate
