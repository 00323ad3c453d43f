#pragma once
// Turns the stream of UDP sockets from one dump into what the exporter reports about them
// (docs/udp.md#what-the-exporter-claims): sockets per family and state, the namespace's UDP
// port budget (distinct ports of the range held, against the range minus its reserved ports),
// the same per local address, and connected sockets per destination.
//
// Hot path (OnUdpSocket): O(1) per socket and no allocation (8 KiB port bit sets, bounded
// util/flat_table.h tables for local addresses and destinations, reused across scrapes).
// Finish() ranks and labels once per scrape, proportional to addresses and destinations.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "aggregate/plan.h"
#include "aggregate/rank.h"
#include "kernel/udp_socket_record.h"
#include "util/flat_table.h"
#include "util/port_list.h"
#include "util/port_range.h"

namespace sockstate {

/// One local address and the ports a bind(address, 0) without reuse flags cannot get: those
/// held at that address or by a wildcard socket that covers it. Value type.
struct UdpLocalAddress {
  std::string label;  // "127.0.0.1", "fd00::1"
  uint32_t ports_used = 0;
};

/// Connected UDP sockets towards one destination from one local address (before labelling).
/// Value type.
struct UdpDestination {
  WeightedDestination destination;  // weight = the sockets on a port of the range
  uint64_t sockets = 0;
};

/// What one UDP dump of one namespace reports. Value type.
struct UdpResult {
  std::array<std::array<uint64_t, 2>, 2> sockets{};  // [family][0 unconnected, 1 connected]
  uint64_t dump_sockets = 0;
  bool budget_known = false;                     // ip_local_port_range was read
  uint32_t usable = 0;                           // range - reserved ports inside it
  uint32_t ports_used = 0;                       // distinct ports of the range (not reserved) held
  uint64_t sharing_sockets = 0;                  // sockets on a port of the range minus ports_used
  std::vector<UdpLocalAddress> local_addresses;  // the top K, most ports first
  uint64_t local_addresses_folded = 0;           // tracked addresses beyond the top K
  uint64_t untracked_address_sockets = 0;        // sockets of addresses beyond kMaxLocalAddresses
  std::vector<UdpDestination> destinations;      // every (local address, destination) tracked
  uint64_t untracked_sockets = 0;                // connected sockets beyond destinations.max_tuples
  uint64_t untracked_in_range = 0;               // of them, on a port of the range
  DestinationLabels labels;                      // of `destinations`: groups, top K, "other" last
  std::vector<uint64_t> slot_sockets;            // per label slot: connected sockets
  std::vector<uint64_t> slot_in_range;           // per label slot: of them, on a port of the range

  /// Recomputes slot_sockets and slot_in_range from `destinations`, `labels.slot_of` and the
  /// untracked sockets (counted in "other"), e.g. after CapAcrossNamespaces() remapped slots.
  void SumSlots();
};

/// Aggregates one UDP dump. Not thread-safe; reuse one instance across scrapes.
class UdpAggregator : public UdpRecordSink {
 public:
  /// Most specific local addresses tracked with a port set each (8 KiB); the ports of more
  /// addresses still count in the namespace's total.
  static constexpr size_t kMaxLocalAddresses = 64;

  /// Starts a scrape. `range` null: ip_local_port_range unknown (no budget and no address
  /// figures; sockets and destinations are still counted). `reserved` may be null.
  /// (local address, destination) pairs beyond `max_destinations` count in "other" only.
  void Reset(const PortRange* range, const PortSet* reserved, size_t max_destinations);

  void OnUdpSocket(const UdpSocketRecord& r) override;

  /// Completes the scrape into `out` (cleared first): the budget, the `local_addresses_top_k`
  /// addresses with the most ports used, and the destinations labelled with `plan`.
  void Finish(const DestinationPlan& plan, size_t local_addresses_top_k, UdpResult* out);

  /// Bytes held by the tables and port sets (for the memory bound and benchmarks).
  size_t Bytes() const;

 private:
  struct Key {  // 36 bytes: util/key36.h hashes and compares them as words
    std::array<uint8_t, 16> a;
    std::array<uint8_t, 16> b;
    uint16_t port;
    uint8_t family;
    uint8_t pad;
  };
  struct AddressSlot {
    uint8_t occupied;
    uint8_t index;  // into ports_
  };
  struct DestinationCounts {
    uint32_t sockets;
    uint32_t in_range;
    uint8_t occupied;
  };
  /// The port set of a specific local address, or nullptr when kMaxLocalAddresses are taken.
  PortSet* AddressPorts(Family family, const std::array<uint8_t, 16>& addr);

  bool range_known_ = false;
  PortSet eligible_;   // ports of the range, reserved ones excluded
  PortSet all_;        // every eligible port held
  PortSet wild_v4_;    // held by 0.0.0.0 (and ::ffff:0.0.0.0)
  PortSet wild_v6_;    // held by :: with IPV6_V6ONLY
  PortSet wild_both_;  // held by :: without IPV6_V6ONLY (or not known): covers both families
  FlatTable<Key, AddressSlot> addresses_;  // key: (address, 0, 0, family)
  std::vector<PortSet> ports_;             // per tracked address; at most kMaxLocalAddresses
  uint64_t untracked_address_sockets_ = 0;
  std::array<std::array<uint64_t, 2>, 2> sockets_{};
  uint64_t in_range_sockets_ = 0;
  FlatTable<Key, DestinationCounts> destinations_;  // key: (local, remote, port, family)
  uint64_t untracked_sockets_ = 0, untracked_in_range_ = 0;
};

}  // namespace sockstate
