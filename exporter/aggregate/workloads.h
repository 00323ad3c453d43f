#pragma once
// Who holds each destination's ports (docs/workloads.md): the owners the aggregation found per
// destination (cgroup ids) turned into the workloads people recognise, ranked and capped so
// that the series stay bounded whatever runs on the node.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "aggregate/result.h"
#include "kernel/workload.h"

namespace sockstate {

/// Names and ranks the owners of every destination of `results` (one per namespace): owners
/// whose cgroups name the same workload (two containers of one pod) are summed; per
/// destination the `top_k` heaviest workloads (ports used, then sockets, then kind and name)
/// keep a series of their own and the rest are summed into workload "other"; owners not known
/// (cgroup 0, or `name` says kind "unknown") are workload "unknown", which is never folded.
/// Then, while more than `max_series` (destination, workload) series name a workload across
/// all `results`, the lightest fold into their destination's "other". Fills each
/// destination's `workloads` (heaviest first, then "unknown", then "other") and each result's
/// `workloads_folded`. `name` maps a cgroup id to its workload. Not thread-safe on `results`.
void NameAndRankWorkloads(const std::vector<AggregateResult*>& results, size_t top_k,
                          size_t max_series,
                          const std::function<Workload(uint64_t cgroup_id)>& name);

/// The label values of the folded rest of a destination's workloads. Thread-safe.
const Workload& OtherWorkload();

}  // namespace sockstate
