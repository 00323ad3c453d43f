#pragma once
// The one rank-and-fold routine behind every destination-like label: keep the K heaviest
// unmatched entries individually, fold the rest into "other"; and the cross-namespace cap,
// which folds the lightest individually exported entries into their own namespace's "other"
// while more than max_series label values exist. Used by the sock_diag aggregation
// (destinations, inbound ports) and, through LabelDestinations(), by any other source that
// labels destinations (connect() failures, conntrack NAT ports).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "aggregate/plan.h"

namespace sockstate {

/// What an entry is ranked by: `primary`, then `secondary`, larger first. Value type.
struct RankWeight {
  uint64_t primary = 0;
  uint64_t secondary = 0;
};

/// Number of unmatched entries exported individually when `groups` groups and "other" take a
/// label value each: min(top_k, max_series - groups - 1), 0 when the cap leaves no room.
/// Pure; thread-safe.
size_t IndividualRoom(size_t top_k, size_t max_series, size_t groups);

/// How many of `candidates` foldable entries stay when `series` label values exist in all and
/// at most `max_series` may: all when series <= max_series, else candidates minus the excess
/// (0 when the excess is larger: groups and "other" are never folded). Pure; thread-safe.
size_t KeepUnderCap(size_t series, size_t candidates, size_t max_series);

/// THE rank-and-fold routine. Sorts `entries` heaviest first (weight_of(entry) -> RankWeight;
/// equal weights in key_less order, so the order is total and deterministic when keys are
/// unique), keeps entries [0, min(keep, size)) in that order and calls fold(entry) on every
/// other one, lightest first (the order floating-point sums are made in). Returns how many
/// were folded. Sorts in place; allocates nothing. Thread-safe on distinct data.
template <typename Entry, typename WeightOf, typename KeyLess, typename Fold>
size_t RankAndFold(std::span<Entry> entries, size_t keep, WeightOf weight_of, KeyLess key_less,
                   Fold fold) {
  std::sort(entries.begin(), entries.end(), [&](const Entry& a, const Entry& b) {
    const RankWeight wa = weight_of(a), wb = weight_of(b);
    if (wa.primary != wb.primary) return wa.primary > wb.primary;
    if (wa.secondary != wb.secondary) return wa.secondary > wb.secondary;
    return key_less(a, b);
  });
  const size_t kept = std::min(keep, entries.size());
  for (size_t i = entries.size(); i-- > kept;) fold(entries[i]);
  return entries.size() - kept;
}

/// An individually exported entry of one namespace's label list, for the cross-namespace cap:
/// entry `index` of list `list`, weighing `weight`. Value type.
struct CapCandidate {
  RankWeight weight;
  uint32_t list = 0;
  uint32_t index = 0;
};

/// The cross-namespace cap: with `series` label values in all lists together, calls
/// fold(candidate) on the lightest candidates (ties: the later list and index first) until at
/// most `max_series` values remain or no candidate is left. The caller adds a folded entry to
/// its list's "other" in `fold` and removes it afterwards. Returns how many were folded.
/// Sorts `candidates` in place; allocates nothing. Thread-safe on distinct data.
template <typename Fold>
size_t FoldUnderCap(std::span<CapCandidate> candidates, size_t series, size_t max_series,
                    Fold fold) {
  return RankAndFold(
      candidates, KeepUnderCap(series, candidates.size(), max_series),
      [](const CapCandidate& c) { return c.weight; },
      [](const CapCandidate& a, const CapCandidate& b) {
        return std::tie(a.list, a.index) < std::tie(b.list, b.index);
      },
      fold);
}

/// Removes the entries of `v` whose flag in `dropped` (same size) is set, keeping the order
/// of the others (the last step of the cross-namespace cap). Allocates nothing.
template <typename T>
void EraseDropped(std::vector<T>& v, const std::vector<bool>& dropped) {
  size_t n = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (dropped[i]) continue;
    if (n != i) v[n] = std::move(v[i]);
    ++n;
  }
  v.erase(v.begin() + n, v.end());
}

/// One weighted destination of a source (e.g. connect() failures with weight = failures, or
/// NAT ports with weight = ports used). `addr` in SocketRecord layout (IPv4 in addr[0..3],
/// IPv4-mapped IPv6 normalised to kIpv4). Value type.
struct WeightedDestination {
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  uint64_t weight = 0;
};

/// Label values of a set of weighted destinations, exactly as the occupancy series label
/// them: slots [0, groups) are the plan's groups in file order (always present, weight 0 when
/// nothing matched), then the top K unmatched destinations heaviest first (ties: family, then
/// address bytes, then port, ascending), then "other" (always last). Value type.
struct DestinationLabels {
  std::vector<std::string> labels;  // per slot
  std::vector<uint64_t> weights;    // per slot: sum of the weights of its entries
  size_t groups = 0;                // slots [0, groups) are groups
  std::vector<uint32_t> slot_of;    // per input entry: its slot
  size_t folded = 0;                // distinct unmatched destinations folded into "other"
};

/// Labels `entries` with `plan`. Entries with the same (family, addr, port) are one
/// destination (weights summed). Allocates proportionally to the entries; thread-safe.
DestinationLabels LabelDestinations(const DestinationPlan& plan,
                                    std::span<const WeightedDestination> entries);

/// The cross-namespace cap over several namespaces' labels (one DestinationLabels each):
/// while more than `max_series` label values exist in total, folds the lightest individually
/// exported destination (weight, ties: later namespace and slot first) into its own
/// namespace's "other" (weights added, slot_of remapped, `folded` incremented). Groups and
/// "other" are never folded. Returns how many were folded. Not thread-safe on `lists`.
size_t CapAcrossNamespaces(std::span<DestinationLabels* const> lists, size_t max_series);

}  // namespace sockstate
