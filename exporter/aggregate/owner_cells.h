#pragma once
// The per-socket side of workload attribution (docs/workloads.md): per (tuple, cgroup id) the
// sockets by state and the ephemeral ports they use, for the outgoing full sockets of a dump
// (each carries its cgroup id, INET_DIAG_CGROUP_ID). A bounded flat table (util/flat_table.h)
// reused across scrapes: counting a socket is O(1) and allocates nothing unless the table grows
// past its largest size so far; memory follows (tuple, workload) pairs, not sockets. Beyond
// `max_cells` a socket is counted by nobody here (it then shows as owner "unknown").

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
  struct Counts {
    std::array<uint32_t, kNumStates> states;
    uint32_t used;  // sockets on a local port inside the ephemeral range
    uint8_t occupied;
  };
  using Table = FlatTable<Key, Counts, 48>;
  using Cell = Table::Entry;
  static_assert(sizeof(Key) == 48);

  /// Empties the table for a scrape counting at most `max_cells` (tuple, cgroup) pairs.
  void Reset(size_t max_cells) {
    table_.Reset(max_cells);
    overflow_sockets_ = 0;
  }

  /// Counts one socket of `tuple` owned by `cgroup_id` in exported state `state_idx`.
  [[gnu::always_inline]] void Add(const TupleTable::Key& tuple, uint64_t cgroup_id, int state_idx,
                                  bool in_range) {
    const Key key{tuple, 0, cgroup_id};
    Counts* c = table_.FindOrInsert(key, Table::Hash(key));
    if (c == nullptr) {
      ++overflow_sockets_;
      return;
    }
    ++c->states[state_idx];
    c->used += in_range;
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
