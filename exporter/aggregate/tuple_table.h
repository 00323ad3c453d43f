#pragma once
// The hot path of the aggregation: per (source address, destination address, destination
// port) tuple, the sockets by state, the ephemeral ports they use and their TIME_WAIT
// remaining lifetimes, in a util/flat_table.h table reused across scrapes: counting a socket
// is O(1) and allocates nothing unless the table grows past its largest size so far (memory
// follows tuples, not sockets).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "config/config.h"
#include "util/flat_table.h"

namespace sockstate {

/// Number of exported states (kExportedStates).
inline constexpr int kNumStates = 12;
/// Most TIME_WAIT histogram bounds supported (config validation enforces it).
inline constexpr int kMaxTwBuckets = int(kMaxTimeWaitBuckets);

/// Socket counters of one tuple (Count = uint16_t, Sum = uint32_t: a tuple holds at most
/// 65535 sockets since the local port makes the 4-tuple unique; increments saturate anyway)
/// or of the sockets beyond the table's capacity (uint64_t). Value type.
template <typename Count, typename Sum>
struct SocketCounters {
  Sum tw_sum_ms;  // TIME_WAIT remaining lifetimes summed, ms (saturating)
  std::array<Count, kNumStates> states;
  Count used;        // sockets on a local port inside the ephemeral range
  uint8_t occupied;  // tuple table slot in use (FlatTable's; unused outside the table)
  uint8_t pad;
  Count peak;        // highest `used` over the tracker's peak window (tracker input only)
  std::array<Count, kMaxTwBuckets + 1> tw;  // per bucket, not cumulative; last = above the top

  /// Zeroes every counter (and `occupied`).
  void Clear() { std::memset(this, 0, sizeof(*this)); }
  /// No socket in any state (a tuple kept by the tracker for its peak only).
  bool Empty() const {
    for (Count v : states) {
      if (v != 0) return false;
    }
    return true;
  }
  /// Counts one socket in exported state `state_idx`; `tw_bucket` >= 0 for TIME_WAIT.
  void Add(int state_idx, bool in_range, int tw_bucket, uint32_t expires_ms) {
    SatInc(states[state_idx]);
    if (in_range) SatInc(used);
    if (tw_bucket < 0) return;
    SatInc(tw[tw_bucket]);
    const Sum add = expires_ms < 3600000 ? expires_ms : 3600000;  // a bogus value saturates
    tw_sum_ms = tw_sum_ms > std::numeric_limits<Sum>::max() - add ? std::numeric_limits<Sum>::max()
                                                                  : Sum(tw_sum_ms + add);
  }
  /// Adds all of `o`'s counters (for wide sums: no saturation).
  template <typename C, typename S>
  void AddAll(const SocketCounters<C, S>& o) {
    for (int i = 0; i < kNumStates; ++i) states[i] += o.states[i];
    used += o.used;
    for (size_t i = 0; i < tw.size(); ++i) tw[i] += o.tw[i];
    tw_sum_ms += o.tw_sum_ms;
  }
  static void SatInc(Count& v) {
    if (v != std::numeric_limits<Count>::max()) ++v;
  }
};

/// A tuple's counters in the table, plus what workload attribution (docs/workloads.md) needs
/// per tuple: the first cgroup seen holding one of its sockets (its sockets are the tuple's
/// minus those of the tuple's other (tuple, cgroup) cells, aggregate/owner_cells.h, and of
/// its TIME_WAIT sockets with no known owner, so that a tuple with one owner, the common case,
/// needs no cell). 4-byte aligned: the entry is 108 bytes.
struct TupleCounters : SocketCounters<uint16_t, uint32_t> {
  uint16_t tw_unknown;       // TIME_WAIT sockets whose owner is not known
  uint16_t tw_unknown_used;  // ... of them on a local port inside the ephemeral range
  std::array<uint32_t, 2> owner_words;  // owner(): 0 = none yet, kMixedOwner = not known

  /// Owner value of a tuple whose other owners did not all fit in the cells table.
  static constexpr uint64_t kMixedOwner = ~uint64_t(0);
  uint64_t owner() const { return uint64_t(owner_words[1]) << 32 | owner_words[0]; }
  void set_owner(uint64_t id) {
    owner_words[0] = uint32_t(id);
    owner_words[1] = uint32_t(id >> 32);
  }
};

/// The tuple table. Not thread-safe: one dump at a time.
class TupleTable {
 public:
  /// Destination of a tuple plus its source address; 36 bytes, compared as words.
  struct Key {
    std::array<uint8_t, 16> src;
    std::array<uint8_t, 16> dst;
    uint16_t dport;
    uint8_t family;  // 0 = IPv4, 1 = IPv6
    uint8_t pad = 0;
  };
  using Counters = TupleCounters;
  using Overflow = SocketCounters<uint64_t, uint64_t>;
  using Table = FlatTable<Key, Counters>;
  using Entry = Table::Entry;  // key, value (the counters)
  // The memory bound documented for destinations.max_tuples depends on this size.
  static_assert(sizeof(Entry) == 108, "update docs/configuration.md (destinations.max_tuples)");

  /// Empties the table for a scrape tracking at most `max_tuples` tuples (beyond: Overflow).
  void Reset(size_t max_tuples) {
    table_.Reset(max_tuples);
    overflow_.Clear();
    overflow_sockets_ = 0;
  }

  /// Counts one socket of tuple `key` (see SocketCounters::Add) and returns the tuple's
  /// counters, or nullptr when the tuple is beyond max_tuples (counted in overflow()). O(1)
  /// amortised; allocates only when the table grows past its largest size so far. Inlined into
  /// the caller's per-socket loop.
  [[gnu::always_inline]] Counters* Add(const Key& key, int state_idx, bool in_range,
                                       int tw_bucket, uint32_t expires_ms) {
    Counters* c = table_.FindOrInsert(key, Table::Hash(key));
    if (c != nullptr) {
      c->Add(state_idx, in_range, tw_bucket, expires_ms);
    } else {
      overflow_.Add(state_idx, in_range, tw_bucket, expires_ms);
      ++overflow_sockets_;
    }
    return c;
  }

  /// Adds the counters of a whole tuple (the tracker's maps, not a dump). Allocates only when
  /// the table grows past its largest size so far.
  void AddCounts(const Key& key, const Counters& counts) {
    Counters* c = table_.FindOrInsert(key, Table::Hash(key));
    if (c != nullptr) {
      const uint8_t occupied = c->occupied;
      c->AddAll(counts);
      c->occupied = occupied;
      c->peak = std::max(c->peak, counts.peak);
    } else {
      overflow_.AddAll(counts);
      for (uint16_t v : counts.states) overflow_sockets_ += v;
    }
  }

  /// Calls fn(const Entry&) for every tuple, in slot order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    table_.ForEach(fn);
  }
  /// Slot index of an entry handed out by ForEach (valid until the next Add or Reset).
  uint32_t SlotOf(const Entry& e) const { return table_.SlotOf(e); }
  /// The tuple in slot `slot` (from SlotOf).
  const Entry& slot(uint32_t slot) const { return table_.slot(slot); }
  /// Slot index of the tuple `key` (as SlotOf() gives it), or -1 when it is not tracked.
  int64_t Find(const Key& key) const { return table_.Find(key, Table::Hash(key)); }
  /// Slots of the table (slot indexes are below this).
  size_t capacity() const { return table_.capacity(); }
  /// Tuples tracked.
  size_t size() const { return table_.size(); }
  /// Counters of the sockets of tuples beyond max_tuples, and how many sockets they are.
  const Overflow& overflow() const { return overflow_; }
  uint64_t overflow_sockets() const { return overflow_sockets_; }
  /// Bytes held by the table.
  size_t Bytes() const { return table_.Bytes(); }

 private:
  Table table_;
  Overflow overflow_{};
  uint64_t overflow_sockets_ = 0;
};

}  // namespace sockstate
