#pragma once
// The NAT port model over one conntrack dump (docs/nat.md).
//
// Every conntrack entry claims its reply tuple (remote address, remote port, local address,
// local port, protocol), and the kernel keeps reply tuples unique: a source NAT picks the
// translated port so that the reply tuple is free (nf_nat_used_tuple). So the scarce resource
// is the local ports per (local address, remote address, remote port, protocol) — a "tuple"
// here — where the local address is the NAT address for NATed entries (IPS_SRC_NAT) and the
// host's own address for its own connections. Both claim the same reply tuples, so both count;
// they are reported apart (kind snat / direct).
//
// Per tuple the model counts entries (= distinct local ports) by kind and by whether the port
// blocks a new SNAT mapping: since Linux 6.5 (commit 4589725502871e77d06464f731f92fd9173e2be6)
// SNAT evicts a colliding TCP entry that is source-NATed, in TIME_WAIT or CLOSE (or the
// simultaneous-open state), not dying, without a fixed timeout, not offloaded, when the new
// SYN's sequence number is ahead of the old connection's; such a port is "reclaimable",
// everything else "blocking". Before 6.5 (or with nat.time_wait_takeover off) every entry
// blocks.
//
// Hot path (OnEntry): O(1), no allocation except when the tuple table grows past its largest
// size so far (memory follows tuples, not entries; the table is reused across scrapes, except
// an empty one, which Finish() frees).
// Finish() labels destinations (groups, top K, "other") through aggregate/rank.h, once per
// scrape, proportional to tuples.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aggregate/plan.h"
#include "aggregate/rank.h"
#include "config/config.h"
#include "kernel/conntrack_netlink.h"
#include "util/flat_table.h"

namespace sockstate {

/// Index of the protocols the model tracks per destination.
inline constexpr int kNatTcp = 0;
inline constexpr int kNatUdp = 1;
inline constexpr int kNatProtocols = 2;
/// Kinds: source-NATed entries and the rest (the host's own and forwarded, unNATed ones).
inline constexpr int kNatSnat = 0;
inline constexpr int kNatDirect = 1;
/// Port states: blocks a new SNAT mapping, or may be taken over by one.
inline constexpr int kNatBlocking = 0;
inline constexpr int kNatReclaimable = 1;

/// "tcp" / "udp" for kNatTcp / kNatUdp.
std::string_view NatProtocolName(int protocol_index);

/// True when the kernel `release` (uname -r, e.g. "6.18.44-fc-v1045") has SNAT take over
/// TIME_WAIT/CLOSE entries: 6.5 or later. False for unparsable text. Pure; thread-safe.
bool KernelHasTimeWaitTakeover(std::string_view release);

/// Whether one entry's port may be taken over by a new SNAT mapping, exactly as
/// nf_nat_used_tuple_harder() decides it apart from the sequence-number check (which the dump
/// cannot see): TCP, IPS_SRC_NAT, state TIME_WAIT, CLOSE or SYN_SENT2, not DYING, not
/// FIXED_TIMEOUT, not OFFLOAD/HW_OFFLOAD. `takeover` false (kernel before 6.5) makes every
/// entry blocking. Pure; thread-safe.
bool NatPortReclaimable(const ConntrackRecord& r, bool takeover);

/// Totals of one label slot (a group, a top-K destination or "other") of one protocol.
/// Value type.
struct NatSlotStats {
  std::string label;
  bool is_group = false;
  std::array<std::array<uint64_t, 2>, 2> ports{};  // [kind][state]: entries = local ports
  uint64_t tuples = 0;                             // (local address, destination) tuples
  uint64_t fullest_blocking = 0;                   // blocking ports of the fullest tuple
  uint32_t usable = 0;                             // usable NAT ports per tuple (config)
  /// fullest_blocking / usable.
  double Occupancy() const { return usable == 0 ? 0.0 : double(fullest_blocking) / usable; }
};

/// The NAT model of one namespace. Not thread-safe: one scrape at a time; reuse the same
/// instance across scrapes to reuse its tables.
class NatModel : public ConntrackSink {
 public:
  /// Starts a scrape with `config` (kept by reference until the next Reset) and the kernel's
  /// TIME_WAIT takeover behaviour.
  void Reset(const NatConfig& config, bool takeover);

  void OnEntry(const ConntrackRecord& r) override;

  /// Labels the destinations of this scrape (groups, top K per protocol, "other").
  void Finish();

  /// The labels of protocol `p` after Finish(); the cross-namespace cap may fold them.
  DestinationLabels& labels(int p) { return labels_[p]; }
  const DestinationLabels& labels(int p) const { return labels_[p]; }

  /// Per-slot totals of protocol `p` (slots as in labels(p)); the "other" slot also holds the
  /// entries of tuples beyond max_tuples. Allocates; proportional to tuples.
  std::vector<NatSlotStats> Summarize(int p) const;

  /// Entries of protocol `p` seen (tracked or not).
  uint64_t entries(int p) const { return entries_[p]; }
  uint64_t icmp_entries() const { return icmp_entries_; }
  uint64_t other_entries() const { return other_entries_; }
  /// TCP entries by conntrack state 0..9; [10] = state missing or out of range.
  const std::array<uint64_t, kCtTcpStates + 1>& tcp_states() const { return tcp_states_; }
  /// Entries of tuples beyond max_tuples (counted only in "other").
  uint64_t untracked_entries() const { return untracked_entries_; }
  /// Tracked tuples of protocol `p`.
  size_t tuples(int p) const { return index_[p].size(); }
  /// Bytes held by the tuple table (memory bound, benchmarks).
  size_t TableBytes() const { return table_.Bytes(); }

 private:
  struct Key {
    std::array<uint8_t, 16> local;
    std::array<uint8_t, 16> remote;
    uint16_t remote_port;
    uint8_t family;
    uint8_t protocol;  // kNatTcp / kNatUdp
  };
  static_assert(sizeof(Key) == 36);
  struct Ports {
    std::array<std::array<uint32_t, 2>, 2> ports;  // [kind][state]
    uint8_t occupied;                               // FlatTable's
  };
  using Table = FlatTable<Key, Ports>;
  // Counts the pending entries into the table. OnEntry() queues entries and prefetches their
  // slots, so that up to kPending cache misses on the table overlap instead of following one
  // another (the kernel's dump work between two buffers evicts the table from the cache).
  void Flush();

  struct Pending {
    Key key;
    uint64_t hash;
    uint8_t kind;
    uint8_t state;
  };
  static constexpr size_t kPending = 32;
  std::array<Pending, kPending> pending_;
  size_t npending_ = 0;

  const NatConfig* config_ = nullptr;
  bool takeover_ = false;
  Table table_;

  std::array<uint64_t, kNatProtocols> entries_{};
  uint64_t icmp_entries_ = 0;
  uint64_t other_entries_ = 0;
  std::array<uint64_t, kCtTcpStates + 1> tcp_states_{};
  uint64_t untracked_entries_ = 0;
  std::array<std::array<std::array<uint64_t, 2>, 2>, kNatProtocols> untracked_{};

  // Finish(): per protocol, the plan, the weighted destinations (one per tracked tuple), the
  // table index of each, their labels and the usable ports of each group slot.
  std::array<DestinationPlan, kNatProtocols> plans_;
  std::array<std::vector<uint32_t>, kNatProtocols> group_usable_;
  std::array<std::vector<WeightedDestination>, kNatProtocols> weighted_;
  std::array<std::vector<uint32_t>, kNatProtocols> index_;
  std::array<DestinationLabels, kNatProtocols> labels_;
};

}  // namespace sockstate
