#include "aggregate/rank.h"

#include <cstring>

namespace sockstate {

size_t IndividualRoom(size_t top_k, size_t max_series, size_t groups) {
  const size_t room = max_series > groups + 1 ? max_series - groups - 1 : 0;
  return std::min(top_k, room);
}

size_t KeepUnderCap(size_t series, size_t candidates, size_t max_series) {
  if (series <= max_series) return candidates;
  const size_t excess = series - max_series;
  return excess >= candidates ? 0 : candidates - excess;
}

namespace {

bool DestinationLess(const WeightedDestination& a, const WeightedDestination& b) {
  if (a.family != b.family) return a.family < b.family;
  if (const int c = std::memcmp(a.addr.data(), b.addr.data(), 16); c != 0) return c < 0;
  return a.port < b.port;
}

}  // namespace

DestinationLabels LabelDestinations(const DestinationPlan& plan,
                                    std::span<const WeightedDestination> entries) {
  DestinationLabels out;
  out.groups = plan.group_count();
  out.slot_of.assign(entries.size(), 0);
  for (size_t g = 0; g < plan.group_count(); ++g) out.labels.push_back(plan.group_name(g));
  out.weights.assign(plan.group_count(), 0);

  // Entries by destination; equal destinations are one run [begin, end) of `order`.
  std::vector<uint32_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = uint32_t(i);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return DestinationLess(entries[a], entries[b]); });
  struct Run {
    uint32_t begin, end;
    uint64_t weight;
  };
  std::vector<Run> unmatched;
  for (size_t i = 0; i < order.size();) {
    const WeightedDestination& d = entries[order[i]];
    Run run{uint32_t(i), uint32_t(i), 0};
    while (run.end < order.size() && !DestinationLess(d, entries[order[run.end]])) {
      run.weight += entries[order[run.end]].weight;
      ++run.end;
    }
    i = run.end;
    const int g = plan.MatchGroup(d.family, d.addr.data(), d.port);
    if (g < 0) {
      unmatched.push_back(run);
      continue;
    }
    out.weights[g] += run.weight;
    for (uint32_t j = run.begin; j < run.end; ++j) out.slot_of[order[j]] = uint32_t(g);
  }

  const size_t kept = std::min(plan.top_k(), unmatched.size());
  const uint32_t other = uint32_t(out.groups + kept);
  uint64_t other_weight = 0;
  auto assign = [&](const Run& run, uint32_t slot) {
    for (uint32_t j = run.begin; j < run.end; ++j) out.slot_of[order[j]] = slot;
  };
  out.folded = RankAndFold(
      std::span<Run>(unmatched), kept,
      [](const Run& r) {
        return RankWeight{r.weight, 0};
      },
      [&](const Run& a, const Run& b) {
        return DestinationLess(entries[order[a.begin]], entries[order[b.begin]]);
      },
      [&](const Run& r) {
        other_weight += r.weight;
        assign(r, other);
      });
  for (size_t i = 0; i < kept; ++i) {
    const WeightedDestination& d = entries[order[unmatched[i].begin]];
    out.labels.push_back(DestinationLabel(d.family, d.addr.data(), d.port));
    out.weights.push_back(unmatched[i].weight);
    assign(unmatched[i], uint32_t(out.groups + i));
  }
  out.labels.push_back(kOtherLabel);
  out.weights.push_back(other_weight);
  return out;
}

size_t CapAcrossNamespaces(std::span<DestinationLabels* const> lists, size_t max_series) {
  size_t series = 0;
  std::vector<CapCandidate> candidates;
  for (size_t l = 0; l < lists.size(); ++l) {
    const DestinationLabels& d = *lists[l];
    series += d.labels.size();
    for (size_t s = d.groups; s + 1 < d.labels.size(); ++s) {
      candidates.push_back(CapCandidate{{d.weights[s], 0}, uint32_t(l), uint32_t(s)});
    }
  }
  std::vector<std::vector<bool>> dropped(lists.size());
  for (size_t l = 0; l < lists.size(); ++l) dropped[l].assign(lists[l]->labels.size(), false);
  const size_t folded = FoldUnderCap(std::span<CapCandidate>(candidates), series, max_series,
                                     [&](const CapCandidate& c) {
                                       DestinationLabels& d = *lists[c.list];
                                       d.weights.back() += d.weights[c.index];
                                       dropped[c.list][c.index] = true;
                                       ++d.folded;
                                     });
  for (size_t l = 0; l < lists.size(); ++l) {
    DestinationLabels& d = *lists[l];
    const size_t kept = d.labels.size() - std::count(dropped[l].begin(), dropped[l].end(), true);
    std::vector<uint32_t> new_slot(d.labels.size());
    for (size_t s = 0, n = 0; s < new_slot.size(); ++s) {
      new_slot[s] = uint32_t(dropped[l][s] ? kept - 1 : n++);  // dropped: into "other" (last)
    }
    EraseDropped(d.labels, dropped[l]);
    EraseDropped(d.weights, dropped[l]);
    for (uint32_t& slot : d.slot_of) slot = new_slot[slot];
  }
  return folded;
}

}  // namespace sockstate
