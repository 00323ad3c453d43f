#pragma once
// Source "udp": a sock_diag dump of every UDP socket of the namespace (docs/udp.md), aggregated
// into sockets per family and state, the namespace's UDP port budget and occupancy (one range
// for every destination), the same per local address, and connected sockets per destination.
// Keeps its netlink socket (reopened after a failure) and its tables across scrapes. A
// namespace its occupancy bound clears (sources/occupancy_bound_source.h) is not dumped. In the
// own namespace it replays or records dumps (--debug.replay-udp-dump / --debug.record-udp-dump).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregate/udp_aggregator.h"
#include "kernel/sock_diag.h"
#include "sources/source.h"

namespace sockstate {

/// One namespace's UDP source. Not thread-safe (the pipeline never overlaps its calls).
class UdpSource : public NetnsSource {
 public:
  std::string_view name() const override { return "udp"; }
  /// The UDP dump uses sysctl's range and the bound, never the TCP dump before it.
  bool ReadsAlongsidePrevious() const override { return true; }
  Status Read(const NetnsReadContext& ctx) override;
  /// Applies destinations.max_series to the UDP destination labels across namespaces.
  void FinishAcrossNamespaces(const std::vector<NetnsSource*>& all, const Config& config) override;
  void AddFamilies(FamilySet& fs, const Labels& base, const ExportContext& ctx) const override;

  /// The result of the last successful Read() (dumped() false: the bound cleared it).
  const UdpResult& result() const { return result_; }
  bool dumped() const { return dumped_; }
  /// Bytes of the aggregation tables (0 before the first dump).
  size_t TableBytes() const { return aggregator_ ? aggregator_->Bytes() : 0; }

 private:
  std::unique_ptr<SockDiagSocket> socket_;
  std::unique_ptr<UdpAggregator> aggregator_;  // created at the first dump
  UdpResult result_;
  bool dumped_ = false;
};

}  // namespace sockstate
