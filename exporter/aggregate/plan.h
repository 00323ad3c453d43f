#pragma once
// How destinations and inbound service ports are labelled: which group an address:port
// belongs to, how many unmatched ones are exported individually, and their label text. Built
// once from the configuration at (re)load; immutable afterwards, so any number of threads and
// sources may share one plan. Every source that labels destinations (sock_diag occupancy,
// connect() failures, conntrack NAT) labels them through this plan and aggregate/rank.h, so
// the same address:port gets the same label value everywhere.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "kernel/socket_record.h"
#include "util/port_list.h"

namespace sockstate {

/// The label value of everything folded (unmatched entries beyond the top K).
inline constexpr const char* kOtherLabel = "other";

/// Label text of one destination: "10.0.0.2:80", IPv6 in brackets "[fd00::2]:443".
/// `addr` is in SocketRecord layout (IPv4 in addr[0..3]). Allocates the string; thread-safe.
std::string DestinationLabel(Family family, const uint8_t addr[16], uint16_t port);

/// Brings a kernel address into the layout MatchGroup and DestinationLabel take, as sock_diag
/// records have it: `af` AF_INET (4 bytes at addr[0..3]) or AF_INET6 (16 bytes); an
/// IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes kIpv4 a.b.c.d. Writes `family` and
/// `out` (the rest zeroed); false (outputs untouched) for another family. Pure; thread-safe.
bool NormalizeDestination(int af, const uint8_t addr[16], Family* family,
                          std::array<uint8_t, 16>* out);

/// The immutable labelling plan of outgoing destinations (config `destinations`): groups in
/// file order (first match wins), the individual top K and the label cap. Value type; all
/// const methods are thread-safe.
class DestinationPlan {
 public:
  /// No groups, the default top_k and max_series.
  DestinationPlan() : DestinationPlan(DestinationConfig()) {}
  /// Compiles `config` (already validated by ParseConfig).
  explicit DestinationPlan(const DestinationConfig& config);

  /// Index of the first group (file order) whose CIDRs and ports contain the destination, or
  /// -1. `addr` is in SocketRecord layout: IPv4 in addr[0..3], IPv4-mapped IPv6 addresses
  /// already normalised to kIpv4 by the caller. O(groups x CIDRs), no allocation.
  int MatchGroup(Family family, const uint8_t addr[16], uint16_t port) const;

  /// Number of groups; group label values are group_name(0 .. group_count()-1).
  size_t group_count() const { return groups_.size(); }
  /// The label value of group `i` (0 <= i < group_count()).
  const std::string& group_name(size_t i) const { return groups_[i].name; }
  /// Unmatched destinations exported individually per namespace:
  /// min(top_k, max_series - groups - 1) (the groups and "other" take a label value each).
  size_t top_k() const { return top_k_; }
  /// Most destination label values in all (per namespace and across namespaces).
  size_t max_series() const { return max_series_; }

 private:
  struct Prefix {  // a Cidr compiled for matching
    Family family;
    uint8_t whole;  // bytes compared in full
    uint8_t mask;   // mask of the partial byte addr[whole], 0 = none
    std::array<uint8_t, 16> addr;
  };
  struct Group {
    std::string name;
    std::vector<Prefix> prefixes;  // empty = any address
    bool any_port;
    PortSet ports;
  };
  std::vector<Group> groups_;
  size_t top_k_ = 0;
  size_t max_series_ = 0;
};

/// The immutable labelling plan of inbound connections per local service port (config
/// `inbound`): port groups in file order, the individual top K and the cap. Value type; all
/// const methods are thread-safe.
class InboundPlan {
 public:
  /// No groups, the default top_k and max_series.
  InboundPlan() : InboundPlan(InboundConfig()) {}
  /// Compiles `config` (already validated by ParseConfig).
  explicit InboundPlan(const InboundConfig& config);

  /// Index of the first group (file order) containing `port`, or -1. O(groups), no
  /// allocation.
  int MatchGroup(uint16_t port) const;
  /// Number of groups; label values group_name(0 .. group_count()-1).
  size_t group_count() const { return names_.size(); }
  /// The label value of group `i`.
  const std::string& group_name(size_t i) const { return names_[i]; }
  /// Unmatched ports exported individually: min(top_k, max_series - groups - 1).
  size_t top_k() const { return top_k_; }
  /// Most inbound label values in all.
  size_t max_series() const { return max_series_; }

 private:
  std::vector<std::string> names_;
  std::vector<PortSet> ports_;  // per group
  size_t top_k_ = 0;
  size_t max_series_ = 0;
};

/// Everything the sock_diag aggregation (Aggregator) takes from the configuration, compiled
/// once: labelling plans, the tuple cap and the histogram bounds. Value type; thread-safe to
/// share once built.
struct AggregationPlan {
  /// The plan of DefaultConfig().
  AggregationPlan();
  /// Compiles `config` (validated by ParseConfig).
  explicit AggregationPlan(const Config& config);

  DestinationPlan destinations;
  InboundPlan inbound;
  size_t max_tuples = 0;                 // tuples tracked per scrape; beyond: "other" only
  std::vector<double> tw_bounds;         // TIME_WAIT remaining histogram bounds, seconds
  std::vector<uint32_t> tw_bounds_ms;    // the same in ms (at most kMaxTimeWaitBuckets)
  std::vector<double> occupancy_bounds;  // tuple occupancy ratio histogram bounds
};

}  // namespace sockstate
