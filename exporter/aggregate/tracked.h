#pragma once
// Turns one namespace's counts kept by the state tracker (kernel/tracker_probe.h) into the same
// aggregation a sock_diag dump produces (aggregate/aggregator.h): the socket states, the ports
// held by bind(), the outgoing tuples with their TIME_WAIT histogram and peaks, and the inbound
// ports. Proportional to the namespace's tuples and ports, not to its sockets.

#include <cstdint>

#include "aggregate/aggregator.h"
#include "kernel/tracker_probe.h"

namespace sockstate {

/// Adds `ns` into `agg` (between Reset() and Finish()). `jiffies` and `hz` date the TIME_WAIT
/// expiry ring (TrackerSnapshot). Negative counts (drift the next reconcile corrects) count as
/// 0. Allocates a scratch index per call, proportional to the destinations. Not thread-safe on
/// `agg`.
void AggregateTracked(const TrackedNamespace& ns, uint64_t jiffies, uint32_t hz, Aggregator& agg);

}  // namespace sockstate
