#pragma once
// Turns the stream of sockets from one dump into everything the exporter reports about them:
// counts per family and state, the namespace's ephemeral port budget, per-destination
// occupancy and histograms, and inbound connections per service port.
//
// Hot path (OnSocket): O(1) per socket and no allocation except when the tuple table grows
// past its largest size so far (memory follows tuples, not sockets; tables are reused across
// scrapes). Everything that allocates (matching groups, ranking, labels) runs once per scrape
// in Finish(), proportional to tuples and destinations.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "util/port_list.h"
#include "sources/procfs.h"
#include "sources/socket_record.h"

namespace sockstate {

/// Index of an exported state in kExportedStates order (0..11), or -1.
int ExportedStateIndex(uint8_t state);
inline constexpr int kNumStates = 12;

/// Per-destination (or per-service) totals after Finish().
struct DestinationStats {
  std::string label;                           // group name, "addr:port", or "other"
  std::array<uint64_t, kNumStates> sockets{};  // by exported state index
  uint64_t ports_used = 0;                     // sum over tuples of in-range, non-LISTEN sockets
  uint64_t ports_used_max = 0;                 // the fullest tuple's ports used
  uint64_t tuples = 0;
  std::vector<uint64_t> tw_buckets;  // cumulative counts per TIME_WAIT bucket bound
  uint64_t tw_count = 0;
  double tw_sum_seconds = 0;
  bool is_group = false;
};

/// The namespace's port budget. usable = range - reserved_in_range - bind_held.
struct PortBudget {
  bool known = false;  // false when ip_local_port_range could not be read
  uint16_t low = 0, high = 0;
  uint32_t range = 0;
  uint32_t reserved = 0;   // reserved ports inside the range
  uint32_t bind_held = 0;  // bind()-held ports inside the range, not reserved
  uint32_t usable = 0;
};

/// Everything one scrape reports about sockets, built by Finish().
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
};

/// Applies a series cap across several namespaces' results: while more than `max_series`
/// destination (or, with `inbound`, service) label values are exported in total, folds the
/// smallest individually exported ones (top-K entries, fewest ports used then fewest sockets)
/// into their own namespace's "other". Groups and "other" are never folded, so the total can
/// stay above the cap when groups and "other" alone exceed it. Returns how many were folded.
size_t FoldAcrossNamespaces(const std::vector<AggregateResult*>& results, size_t max_series,
                            bool inbound);

/// bound_inactive sockets (6.8+) of one namespace, from their own dump (see
/// CollectorConfig::bound_inactive_interval_seconds). Value type.
struct BoundInactiveSnapshot {
  std::array<uint64_t, 2> count{};  // per family
  PortSet ports;                    // their local ports (held against every destination)
};

/// Collects a BoundInactiveSnapshot from a dump whose state mask is only 1 << 13. The kernel
/// reports those sockets with idiag_state = their sk_state, TCP_CLOSE (7), not 13: the bit is
/// only a filter. So every record of that dump counts, except connected ones. Not thread-safe.
class BoundInactiveSink : public RecordSink {
 public:
  void OnSocket(const SocketRecord& r) override {
    if (r.dst_port != 0 || (r.state != kTcpClose && r.state != kTcpBoundInactive)) return;
    ++snapshot.count[r.family == Family::kIpv6 ? 1 : 0];
    snapshot.ports.set(r.src_port);
  }
  BoundInactiveSnapshot snapshot;
};

/// Aggregates one dump. Not thread-safe: one scrape at a time uses an instance (the collector
/// serialises scrapes); reuse the same instance across scrapes to reuse its tables.
class Aggregator : public RecordSink {
 public:
  Aggregator();

  /// Starts a scrape. `range` may be null when ip_local_port_range is unknown (then no socket
  /// counts as an ephemeral port and occupancy is not reported).
  void Reset(const Config& config, const PortRange* range, const PortSet* reserved);

  void OnSocket(const SocketRecord& r) override;

  /// Adds bound_inactive sockets that came from a separate (possibly cached) dump. Call
  /// between Reset() and Finish().
  void AddBoundInactive(const BoundInactiveSnapshot& snapshot);

  /// Completes the scrape into `out` (cleared first).
  void Finish(AggregateResult* out);

  /// Bytes held by the tuple table (for the memory bound and benchmarks).
  size_t TableBytes() const { return table_.capacity() * sizeof(TupleEntry); }

 private:
 public:
  /// Most TIME_WAIT histogram bounds supported (config validation enforces it).
  static constexpr int kMaxTwBuckets = int(kMaxTimeWaitBuckets);

 private:
  struct TupleKey {
    std::array<uint8_t, 16> src;
    std::array<uint8_t, 16> dst;
    uint16_t dport;
    uint8_t family;
    uint8_t pad = 0;
    bool operator==(const TupleKey& o) const = default;
  };
  // Counters are 16-bit: a (src, dst, dport) tuple can hold at most 65535 sockets because the
  // local port makes the 4-tuple unique. Increments saturate anyway.
  struct TupleEntry {
    TupleKey key;
    uint32_t tw_sum_ms;  // TIME_WAIT remaining lifetime summed, ms: <= 65535 * 60000 fits
    std::array<uint16_t, kNumStates> states;
    uint16_t used;
    uint8_t occupied;
    uint8_t pad;
    std::array<uint16_t, kMaxTwBuckets + 1> tw;  // non-cumulative; last = above the top bound
  };
  // The memory bound documented for destinations.max_tuples depends on this size.
  static_assert(sizeof(TupleEntry) == 92, "update docs/config-reference.md (max_tuples)");

  TupleEntry* FindOrInsert(const TupleKey& key, uint64_t hash);
  void Grow();
  bool InRange(uint16_t port) const { return port >= range_low_ && port <= range_high_; }
  int TwBucket(uint32_t expires_ms) const;

  const Config* config_ = nullptr;
  bool range_known_ = false;
  uint16_t range_low_ = 1, range_high_ = 0;
  PortSet reserved_;
  PortSet listen_ports_;
  PortSet bind_held_;
  std::array<std::array<uint64_t, kNumStates>, 2> states_{};
  uint64_t sockets_ = 0;

  std::vector<TupleEntry> table_;  // open addressing, linear probing, power-of-two size
  size_t mask_ = 0;
  size_t count_ = 0;
  size_t max_tuples_ = 0;

  // Tuples beyond max_tuples_: folded straight into "other".
  std::array<uint64_t, kNumStates> untracked_states_{};
  uint64_t untracked_used_ = 0;
  uint64_t untracked_sockets_ = 0;
  std::array<uint64_t, kMaxTwBuckets + 1> untracked_tw_{};
  uint64_t untracked_tw_sum_ms_ = 0;

  // Inbound: per local (listening) port.
  struct InboundEntry {
    std::array<uint32_t, kNumStates> states{};
  };
  std::vector<uint16_t> inbound_slot_;   // port -> 1 + index into inbound_, 0 = none
  std::vector<uint16_t> inbound_ports_;  // ports with a slot, to reset them
  std::vector<InboundEntry> inbound_;

  std::vector<uint32_t> tw_bounds_ms_;

  // Finish() scratch, reused across scrapes: unmatched tuples grouped by destination.
  struct UnmatchedTuple {
    std::array<uint8_t, 16> dst;
    uint16_t port;
    uint8_t family;
    uint32_t index;  // into table_
  };
  struct DestRank {
    uint32_t begin, end;  // range in unmatched_
    uint64_t used, total;
  };
  std::vector<UnmatchedTuple> unmatched_;
  std::vector<DestRank> ranks_;
};

}  // namespace sockstate
