#pragma once
// What the sock_diag aggregation reports for one namespace and one scrape, and the
// cross-namespace series cap applied to several namespaces' results.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "aggregate/tuple_table.h"
#include "kernel/socket_record.h"
#include "kernel/workload.h"

namespace sockstate {

/// State number -> index in kExportedStates (0..11), -1 for states never exported.
inline constexpr std::array<int8_t, 256> kStateIndex = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (size_t i = 0; i < kExportedStates.size(); ++i) t[kExportedStates[i]] = int8_t(i);
  return t;
}();
static_assert(kExportedStates.size() == size_t(kNumStates));

/// Index of an exported state in kExportedStates order (0..11), or -1. Pure; thread-safe.
inline int ExportedStateIndex(uint8_t state) { return kStateIndex[state]; }

/// The sockets of one destination held by one owner, a cgroup v2 id (0: the owner is not
/// known), before naming (docs/workloads.md). Value type.
struct OwnerCounts {
  uint64_t cgroup_id = 0;
  std::array<uint64_t, kNumStates> sockets{};  // by exported state index
  uint64_t ports_used = 0;                     // of them on a port inside the ephemeral range

  uint64_t Total() const;
  /// Adds `o`'s counts (cgroup kept).
  void Add(const OwnerCounts& o);
};

/// The sockets of one destination held by one named workload, after ranking (a pod, a
/// container, a systemd unit, a cgroup, "unknown" or "other"). Value type.
struct WorkloadStats {
  Workload workload;
  std::array<uint64_t, kNumStates> sockets{};
  uint64_t ports_used = 0;
};

/// Per-destination (or per-service) totals after Aggregator::Finish(). Value type.
struct DestinationStats {
  std::string label;                           // group name, "addr:port", or "other"
  std::array<uint64_t, kNumStates> sockets{};  // by exported state index
  uint64_t ports_used = 0;                     // sum over tuples of in-range, non-LISTEN sockets
  uint64_t ports_used_max = 0;                 // the fullest tuple's ports used
  uint64_t ports_used_peak = 0;  // highest of a tuple's ports used over the tracker's window
  uint64_t tuples = 0;
  std::vector<uint64_t> tw_buckets;  // cumulative counts per TIME_WAIT bucket bound
  uint64_t tw_count = 0;
  double tw_sum_seconds = 0;
  bool is_group = false;
  /// Workload attribution (outgoing destinations, when on): the sockets by owner cgroup from
  /// the aggregation (the unknown rest as cgroup 0), and after NameAndRankWorkloads() the
  /// named workloads exported (heaviest first, then "unknown" and "other" when non-empty).
  std::vector<OwnerCounts> owners;
  std::vector<WorkloadStats> workloads;

  /// Sockets in all states.
  uint64_t Total() const;
  /// Adds `o`'s sums into this one (as folding `o` into "other" does): counts and buckets
  /// add (over the buckets both have), ports_used_max is the larger. Label kept.
  void Add(const DestinationStats& o);
};

/// The namespace's port budget. usable = range - reserved_in_range - bind_held. Value type.
struct PortBudget {
  bool known = false;  // false when ip_local_port_range could not be read
  uint16_t low = 0, high = 0;
  uint32_t range = 0;
  uint32_t reserved = 0;   // reserved ports inside the range
  uint32_t bind_held = 0;  // bind()-held ports inside the range, not reserved
  uint32_t usable = 0;
};

/// Everything one scrape reports about sockets, built by Aggregator::Finish(). Value type.
struct AggregateResult {
  std::array<std::array<uint64_t, kNumStates>, 2> states{};  // [family][state index]
  uint64_t sockets = 0;
  PortBudget budget;
  std::vector<DestinationStats> destinations;  // groups (file order), top-K, then "other"
  std::vector<DestinationStats> inbound;       // groups, top-K ports, then "other"
  uint64_t destinations_folded = 0;            // unmatched destinations folded into "other"
  uint64_t services_folded = 0;
  uint64_t sockets_untracked = 0;  // sockets of tuples beyond max_tuples (only in "other")
  uint64_t tuples = 0;
  std::vector<double> occupancy_bounds;     // tuple occupancy histogram
  std::vector<uint64_t> occupancy_buckets;  // cumulative
  double occupancy_sum = 0;
  uint64_t occupancy_count = 0;
  std::vector<double> tw_bounds;
  bool attributed = false;         // workload attribution ran (owners filled)
  uint64_t workloads_folded = 0;   // (destination, workload) pairs folded into "other"
  uint64_t time_wait_unknown = 0;  // outgoing TIME_WAIT sockets whose owner is not known
  uint64_t owners_untracked = 0;   // sockets beyond the (tuple, cgroup) table's bound
};

/// Applies a series cap across several namespaces' results: while more than `max_series`
/// destination (or, with `inbound`, service) label values are exported in total, folds the
/// smallest individually exported ones (top-K entries, fewest ports used then fewest sockets)
/// into their own namespace's "other". Groups and "other" are never folded, so the total can
/// stay above the cap when groups and "other" alone exceed it. Returns how many were folded.
/// Uses FoldUnderCap (aggregate/rank.h). Not thread-safe on `results`.
size_t FoldAcrossNamespaces(const std::vector<AggregateResult*>& results, size_t max_series,
                            bool inbound);

}  // namespace sockstate
