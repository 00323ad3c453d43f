#pragma once
// Source "occupancy_bound" (namespaces.mode all or list): from O(1) per-namespace counters, an
// upper bound on the occupancy of every tuple of the namespace, and the decision whether the
// namespace gets the exact sock_diag dump (which walks the host-wide hash table) this scrape.
//
// The bound (proof in docs/namespaces.md): a socket that uses a port of an outgoing tuple is a
// hashed TCP socket (sockstat TCP inuse + sockstat6 TCP6 inuse) or a TIME_WAIT minisocket
// (sockstat tw, both families); a port held by bind() (listeners, bound-inactive sockets) is
// held by a user socket of the namespace (sockstat "sockets: used", every protocol). So
//   fullest tuple occupancy <= (inuse + inuse6 + tw) / max(1, range - reserved_in_range - used).
// UDP (docs/udp.md) has one range for every destination: a UDP port of the range is held by a
// UDP socket with a port, which sockstat counts in "UDP: inuse" (+ sockstat6 "UDP6: inuse"),
// and no bind()-held port is taken out of UDP's usable ports, so
//   UDP occupancy <= (UDP inuse + UDP6 inuse) / max(1, range - reserved_in_range).
// The namespace is dumped when either bound reaches the threshold (both sources, sock_diag and
// udp, follow the one decision).
// The counters are per namespace on current kernels; a host-wide one (older kernels) counts the
// namespace's sockets and more, which only loosens the bound.

#include <cstdint>
#include <optional>
#include <string_view>

#include "sources/source.h"

namespace sockstate {

/// The O(1) counters of one namespace the bound is made of. Value type.
struct OccupancyCounts {
  uint32_t range_ports = 0;        // ip_local_port_range size
  uint32_t reserved_in_range = 0;  // ip_local_reserved_ports inside the range
  uint64_t sockets_used = 0;       // sockstat "sockets: used"
  uint64_t tcp_inuse = 0;          // sockstat "TCP: inuse"
  uint64_t tcp6_inuse = 0;         // sockstat6 "TCP6: inuse" (0 without IPv6)
  uint64_t tcp_tw = 0;             // sockstat "TCP: tw"
  uint64_t udp_inuse = 0;          // sockstat "UDP: inuse"
  uint64_t udp6_inuse = 0;         // sockstat6 "UDP6: inuse" (0 without IPv6)
};

/// The upper bound on the fullest tuple's occupancy (formula above). Pure; thread-safe.
double OccupancyBound(const OccupancyCounts& c);
/// The upper bound on the namespace's UDP occupancy (formula above). Pure; thread-safe.
double UdpOccupancyBound(const OccupancyCounts& c);

/// Why a namespace is (or is not) dumped exactly this scrape.
enum class DetailReason {
  kOwn,             // the exporter's own namespace: always
  kOwnHash,         // net.ipv4.tcp_ehash_entries > 0: its dump walks only its own sockets
  kThreshold,       // bound >= namespaces.detail_threshold
  kHysteresis,      // detailed before, bound still >= kDetailHysteresis * threshold
  kBelowThreshold,  // not detailed: every tuple's occupancy is provably below the bound
  kTracker,         // counted by the state tracker: exact without a dump (the label only: the
                    // bound's own decision still holds for the sources that dump, UDP)
};
/// The label value ("own", "own_hash", "threshold", "hysteresis", "below_threshold",
/// "tracker").
std::string_view DetailReasonName(DetailReason r);
/// The decision for one namespace. Pure; thread-safe.
DetailReason DecideDetail(bool own, bool own_hash, double bound, double threshold,
                          bool was_detailed);

/// One namespace's bound. Reads <net_dir>/sockstat, sockstat6 and net.ipv4.tcp_ehash_entries
/// itself (O(1) files) and takes the port range from the sysctl source read before it; fails
/// (and the namespace is then dumped) when any of that cannot be read. Not thread-safe.
class OccupancyBoundSource : public NetnsSource {
 public:
  std::string_view name() const override { return "occupancy_bound"; }
  bool Enabled(const Config& config) const override {
    return config.namespaces.mode != NetnsMode::kOwn;
  }
  Status Read(const NetnsReadContext& ctx) override;
  void AddFamilies(FamilySet& fs, const Labels& base, const ExportContext& ctx) const override;

  /// The namespace gets the exact dump this scrape.
  bool detailed() const { return reason_ != DetailReason::kBelowThreshold; }
  DetailReason reason() const { return reason_; }
  double bound() const { return bound_; }
  double udp_bound() const { return udp_bound_; }
  const OccupancyCounts& counts() const { return counts_; }

 private:
  OccupancyCounts counts_;
  double bound_ = 0;
  double udp_bound_ = 0;
  DetailReason reason_ = DetailReason::kOwn;
  bool was_detailed_ = false;
  uint64_t cookie_ = 0;  // the namespace's netns cookie (for the tracker), learned once
  bool tracked_ = false;  // the tracker serves the namespace this scrape (reason "tracker")
};

}  // namespace sockstate
