#pragma once
// Turns the stream of sockets from one dump into everything the exporter reports about them:
// counts per family and state, the namespace's ephemeral port budget, per-destination
// occupancy and histograms, and inbound connections per service port.
//
// Hot path (OnSocket): O(1) per socket and no allocation except when the tuple table
// (aggregate/tuple_table.h) grows past its largest size so far. Everything that allocates
// (matching groups, ranking, labels: aggregate/plan.h, aggregate/rank.h) runs once per scrape
// in Finish(), proportional to tuples and destinations.

#include <array>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "aggregate/owner_cells.h"
#include "aggregate/plan.h"
#include "aggregate/result.h"
#include "aggregate/tuple_table.h"
#include "config/config.h"
#include "kernel/socket_record.h"
#include "kernel/time_wait_owners.h"
#include "util/port_list.h"
#include "util/port_range.h"

namespace sockstate {

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

  /// Starts a scrape with the plan compiled from `config` (copied; `config` need not outlive
  /// the call). `range` may be null when ip_local_port_range is unknown (then no socket counts
  /// as an ephemeral port and occupancy is not reported).
  void Reset(const Config& config, const PortRange* range, const PortSet* reserved);
  /// The same with a plan compiled once at (re)load; `plan` must outlive Finish().
  void Reset(const AggregationPlan& plan, const PortRange* range, const PortSet* reserved);

  void OnSocket(const SocketRecord& r) override;

  /// Turns on workload attribution for this scrape (call after Reset()): outgoing sockets are
  /// counted per (tuple, cgroup id) as well (a tuple's first owner in the tuple, further
  /// owners in at most `max_cells` cells), full sockets by their own cgroup id, TIME_WAIT
  /// sockets by `tw_owners` (may be null: all unknown; must outlive the scrape) in namespace
  /// `netns_inode`; Finish() fills each destination's `owners`.
  void SetAttribution(size_t max_cells, const TimeWaitOwners* tw_owners, uint64_t netns_inode);

  /// Adds bound_inactive sockets that came from a separate (possibly cached) dump. Call
  /// between Reset() and Finish().
  void AddBoundInactive(const BoundInactiveSnapshot& snapshot);

  /// Counts kept by the tracker (aggregate/tracked.h) instead of OnSocket() per socket: call
  /// between Reset() and Finish(). `n` sockets in kernel state `state` of family `fam`.
  void AddStateCount(Family fam, uint8_t state, uint64_t n);
  /// A listener's local port (its socket counted with AddStateCount()): inbound port, bind-held.
  void AddListenerPort(uint16_t port);
  /// A bound-inactive socket's local port (counted with AddStateCount()): bind-held.
  void AddBoundPort(uint16_t port);
  /// A whole outgoing tuple's counters (tw[] per bucket, not cumulative; see TimeWaitBucket()).
  void AddTupleCounts(const TupleTable::Key& key, const TupleTable::Counters& counts);
  /// Outgoing full sockets of a tuple owned by one cgroup (workload attribution; ignored
  /// unless SetAttribution() was called).
  void AddOwnerCounts(const TupleTable::Key& key, uint64_t cgroup_id,
                      const std::array<uint32_t, kNumStates>& states, uint32_t used) {
    if (attribute_ && cgroup_id != 0) cells_.AddCounts(key, cgroup_id, states, used);
  }
  /// An outgoing TIME_WAIT socket of a tuple counted with AddTupleCounts() (the tracker's), its
  /// local port `sport`: its owner is looked up in the TIME_WAIT owner ring as a dumped one's
  /// (ignored unless SetAttribution() was called with the owners; else it stays unknown).
  void AddTrackedTimeWait(const TupleTable::Key& key, uint16_t sport, bool in_range);
  /// The inbound sockets of one local port, by exported state index.
  void AddInboundCounts(uint16_t port, const std::array<uint64_t, kNumStates>& states);
  /// The TIME_WAIT histogram bucket of a remaining lifetime (plan bounds of the last Reset()).
  int TimeWaitBucket(uint32_t remaining_ms) const { return TwBucket(remaining_ms); }

  /// Completes the scrape into `out` (cleared first).
  void Finish(AggregateResult* out);

  /// Bytes held by the tuple table (for the memory bound and benchmarks).
  size_t TableBytes() const { return table_.Bytes(); }
  /// (tuple, cgroup) cells counted this scrape: pairs other than each tuple's first owner.
  size_t OwnerCellCount() const { return cells_.size(); }

  /// Most TIME_WAIT histogram bounds supported (config validation enforces it).
  static constexpr int kMaxTwBuckets = sockstate::kMaxTwBuckets;

 private:
  bool InRange(uint16_t port) const { return port >= range_low_ && port <= range_high_; }
  int TwBucket(uint32_t expires_ms) const;
  PortBudget Budget() const;
  void FinishDestinations(AggregateResult* out);
  void FinishOwners(AggregateResult* out);
  void FinishInbound(AggregateResult* out);

  AggregationPlan owned_plan_;  // Reset(Config) compiles into it
  const AggregationPlan* plan_ = &owned_plan_;
  std::array<uint32_t, kMaxTwBuckets> tw_bounds_ms_{};  // the plan's, copied for the hot path
  int tw_bounds_ = 0;
  bool range_known_ = false;
  uint16_t range_low_ = 1, range_high_ = 0;
  PortSet reserved_;
  PortSet listen_ports_;
  PortSet bind_held_;
  std::array<std::array<uint64_t, kNumStates>, 2> states_{};
  uint64_t sockets_ = 0;

  TupleTable table_;

  // Workload attribution (SetAttribution()).
  bool attribute_ = false;
  OwnerCells cells_;
  const TimeWaitOwners* tw_owners_ = nullptr;
  uint64_t netns_inode_ = 0;
  std::vector<int32_t> dest_of_slot_;  // tuple slot -> index in destinations (Finish scratch)
  // FinishOwners() scratch: per (destination, cgroup) pair, its counts.
  struct OwnerKey {
    uint32_t dest;
    uint64_t cgroup_id;
    bool operator==(const OwnerKey&) const = default;
  };
  struct OwnerKeyHash {
    size_t operator()(const OwnerKey& k) const {
      return std::hash<uint64_t>()(k.cgroup_id * 0x9e3779b97f4a7c15ull ^ k.dest);
    }
  };
  struct OwnerPart {
    uint32_t dest;
    uint64_t cgroup_id;
    OwnerCounts counts;
  };
  std::unordered_map<OwnerKey, size_t, OwnerKeyHash> owner_index_;  // -> owner_acc_
  std::vector<OwnerPart> owner_acc_;

  // Inbound: per local (listening) port.
  std::vector<uint16_t> inbound_slot_;   // port -> 1 + index into inbound_, 0 = none
  std::vector<uint16_t> inbound_ports_;  // ports with a slot, to reset them
  std::vector<std::array<uint64_t, kNumStates>> inbound_;

  // Finish() scratch, reused across scrapes: unmatched tuples grouped by destination.
  struct UnmatchedTuple {
    std::array<uint8_t, 16> dst;
    uint16_t port;
    uint8_t family;
    uint32_t slot;  // in table_
  };
  struct DestinationRun {
    uint32_t begin, end;  // range in unmatched_
    uint64_t used, total;
  };
  std::vector<UnmatchedTuple> unmatched_;
  std::vector<DestinationRun> runs_;
};

}  // namespace sockstate
