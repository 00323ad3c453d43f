#pragma once
// The per-socket side of workload attribution (docs/workloads.md): per (tuple, cgroup id) the
// sockets by state and the ephemeral ports they use, for the outgoing full sockets of a dump
// (each carries its cgroup id, INET_DIAG_CGROUP_ID) that are not held by their tuple's first
// owner (TupleCounters::owner(): most tuples have one owner and need no cell here), and for
// those without a cgroup id (cgroup 0). A bounded flat table (util/flat_table.h) reused across
// scrapes: counting a socket is O(1) and allocates nothing unless the table grows past its
// largest size so far; memory follows (tuple, workload) pairs, not sockets. Beyond `max_cells`
// Add() says no and the caller marks the tuple's owners unknown.

#include <array>
#include <cstddef>
#include <cstdint>

#include "aggregate/tuple_table.h"
#include "util/flat_table.h"

namespace sockstate {

/// Not thread-safe: one dump at a time.
class OwnerCells {
 public:
  /// A tuple and the cgroup owning some of its sockets: 48 bytes, all identity.
  struct Key {
    TupleTable::Key tuple;
    uint32_t pad = 0;
    uint64_t cgroup_id;
  };
  /// Saturating 16-bit counts, as the tuple's (a tuple holds at most 65535 sockets).
  struct Counts {
    std::array<uint16_t, kNumStates> states;
    uint16_t used;  // sockets on a local port inside the ephemeral range
    uint8_t occupied;
  };
  using Table = FlatTable<Key, Counts, 48>;
  using Cell = Table::Entry;
  static_assert(sizeof(Key) == 48);
  // The memory bound documented in docs/workloads.md depends on this size.
  static_assert(sizeof(Cell) == 80, "update docs/workloads.md (Limits and cost)");

  /// Empties the table for a scrape counting at most `max_cells` (tuple, cgroup) pairs.
  void Reset(size_t max_cells) {
    table_.Reset(max_cells);
    overflow_sockets_ = 0;
  }

  /// Counts one socket of `tuple` owned by `cgroup_id` in exported state `state_idx`; false
  /// (and counted in overflow_sockets()) when the pair is new and the table is full.
  bool Add(const TupleTable::Key& tuple, uint64_t cgroup_id, int state_idx, bool in_range) {
    const Key key{tuple, 0, cgroup_id};
    Counts* c = table_.FindOrInsert(key, Table::Hash(key));
    if (c == nullptr) {
      ++overflow_sockets_;
      return false;
    }
    TupleCounters::SatInc(c->states[state_idx]);
    if (in_range) TupleCounters::SatInc(c->used);
    return true;
  }

  /// Adds whole counts of `tuple` owned by `cgroup_id` (the state tracker's, not a dump's).
  void AddCounts(const TupleTable::Key& tuple, uint64_t cgroup_id,
                 const std::array<uint32_t, kNumStates>& states, uint32_t used) {
    const Key key{tuple, 0, cgroup_id};
    Counts* c = table_.FindOrInsert(key, Table::Hash(key));
    if (c == nullptr) {
      for (uint32_t v : states) overflow_sockets_ += v;
      return;
    }
    for (int i = 0; i < kNumStates; ++i) c->states[i] += states[i];
    c->used += used;
  }
  /// Calls fn(const Cell&) (key.tuple, key.cgroup_id, value) for every pair, in slot order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    table_.ForEach(fn);
  }
  size_t size() const { return table_.size(); }
  /// Sockets not counted because the table was full.
  uint64_t overflow_sockets() const { return overflow_sockets_; }

 private:
  Table table_;
  uint64_t overflow_sockets_ = 0;
};

}  // namespace sockstate
