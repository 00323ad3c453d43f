#pragma once
// Source "netlink": a sock_diag dump of every TCP socket of the namespace, aggregated into
// states, the ephemeral port budget, per-destination occupancy and inbound services. Keeps its
// netlink socket (reopened on the next scrape after a failure), the aggregation tables and the
// bound-inactive dump cache (collector.bound_inactive_interval_seconds) across scrapes. In the
// own namespace it replays or records dumps (--debug.replay-dump / --debug.record-dump).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "aggregate/aggregator.h"
#include "kernel/sock_diag.h"
#include "sources/source.h"
#include "sources/tracker_source.h"

namespace sockstate {

/// What one dump of one namespace produced. Value type.
struct SockDiagSnapshot {
  AggregateResult agg;
  uint64_t dump_sockets = 0;  // sockets in the dump (both families)
  /// net.ipv4.tcp_max_tw_buckets from the sysctl source of this scrape, when it was read.
  std::optional<int64_t> max_tw_buckets;
  /// False when the occupancy bound of this scrape cleared the namespace: no dump, no series.
  bool dumped = true;
  /// The tracker runs (sockstate_tracker_in_use is exported).
  bool tracker_available = false;
  /// The counts came from the tracker's maps (no dump): the peak series are exported.
  bool tracked = false;
  TrackerHealth tracker_health;  // the tracker's reconciles of this namespace
};

/// One namespace's sock_diag source. Not thread-safe (the pipeline never overlaps its calls).
class SockDiagSource : public NetnsSource {
 public:
  SockDiagSource() = default;
  /// A source holding `snapshot` as if read (tests).
  explicit SockDiagSource(SockDiagSnapshot snapshot) : snap_(std::move(snapshot)) {}

  std::string_view name() const override { return "netlink"; }
  Status Read(const NetnsReadContext& ctx) override;
  /// Applies destinations.max_series and inbound.max_series across namespaces.
  void FinishAcrossNamespaces(const std::vector<NetnsSource*>& all, const Config& config) override;
  void AddFamilies(FamilySet& fs, const Labels& base, const ExportContext& ctx) const override;

  /// The snapshot of the last successful Read().
  const SockDiagSnapshot& snapshot() const { return snap_; }

 private:
  Status DumpLive(const NetnsReadContext& ctx);
  /// The aggregation from the tracker's counts of this namespace instead of a dump.
  void ReadTracked(const NetnsReadContext& ctx, const Tracker& tracker, const TrackedNamespace& ns);
  void Prepare(const NetnsReadContext& ctx);  // the aggregator, reset with this scrape's range
  void ResetAggregator();  // with the range and reserved ports of the Read() in progress

  std::unique_ptr<SockDiagSocket> socket_;
  std::unique_ptr<Aggregator> aggregator_;               // created at the first dump (~150 KB)
  std::optional<BoundInactiveSnapshot> bound_inactive_;  // cached between their dumps
  std::chrono::steady_clock::time_point bound_inactive_at_;
  SockDiagSnapshot snap_;
  uint64_t cookie_ = 0;  // the namespace's netns cookie (for the tracker), learned once
  // Valid during Read() only (the restart callback resets the aggregator with them).
  const Config* config_ = nullptr;
  const PortRange* range_ = nullptr;
  const PortSet* reserved_ = nullptr;
  const TimeWaitOwners* tw_owners_ = nullptr;
  uint64_t netns_inode_ = 0;
  // The collector's environment (it outlives every source), for FinishAcrossNamespaces().
  SourceEnv* env_ = nullptr;
};

}  // namespace sockstate
