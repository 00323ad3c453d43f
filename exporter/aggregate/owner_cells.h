#pragma once
// The per-socket side of workload attribution (docs/workloads.md): per (tuple, cgroup id) the
// sockets by state and the ephemeral ports they use, for the outgoing full sockets of a dump
// (each carries its cgroup id, INET_DIAG_CGROUP_ID). Open addressing with linear probing in a
// power-of-two table reused across scrapes, like the tuple table: counting a socket is O(1)
// and allocates nothing unless the table grows past its largest size so far; memory follows
// (tuple, workload) pairs, not sockets. Bounded: beyond `max_cells` a socket is counted by
// nobody here (it then shows as owner "unknown").

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "aggregate/tuple_table.h"
#include "util/key36.h"

namespace sockstate {

/// Not thread-safe: one dump at a time.
class OwnerCells {
 public:
  struct Counts {
    std::array<uint32_t, kNumStates> states;
    uint32_t used;  // sockets on a local port inside the ephemeral range
  };
  struct Cell {
    TupleTable::Key tuple;
    uint64_t cgroup_id;
    Counts c;
    bool occupied;
  };

  /// Empties the table for a scrape counting at most `max_cells` (tuple, cgroup) pairs.
  void Reset(size_t max_cells);

  /// Counts one socket of `tuple` owned by `cgroup_id` in exported state `state_idx`.
  [[gnu::always_inline]] void Add(const TupleTable::Key& tuple, uint64_t cgroup_id, int state_idx,
                                  bool in_range) {
    const uint64_t h = Hash(tuple, cgroup_id);
    size_t i = h & mask_;
    while (cells_[i].occupied) {
      Cell& c = cells_[i];
      if (c.cgroup_id == cgroup_id && KeyEquals36(reinterpret_cast<const uint8_t*>(&c.tuple),
                                                  reinterpret_cast<const uint8_t*>(&tuple))) {
        ++c.c.states[state_idx];
        c.c.used += in_range;
        return;
      }
      i = (i + 1) & mask_;
    }
    Cell* c = Insert(tuple, cgroup_id, h, i);
    if (c == nullptr) {
      ++overflow_sockets_;
      return;
    }
    ++c->c.states[state_idx];
    c->c.used += in_range;
  }

  /// Calls fn(const Cell&) for every pair, in slot order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const Cell& c : cells_) {
      if (c.occupied) fn(c);
    }
  }
  size_t size() const { return count_; }
  /// Sockets not counted because the table was full.
  uint64_t overflow_sockets() const { return overflow_sockets_; }

 private:
  static uint64_t Hash(const TupleTable::Key& tuple, uint64_t cgroup_id) {
    uint64_t h =
        HashKey36(reinterpret_cast<const uint8_t*>(&tuple)) ^ (cgroup_id * 0x9E3779B97F4A7C15ULL);
    h ^= h >> 31;
    return h * 0xBF58476D1CE4E5B9ULL;
  }
  Cell* Insert(const TupleTable::Key& tuple, uint64_t cgroup_id, uint64_t hash, size_t free_slot);
  void Grow();

  std::vector<Cell> cells_;  // power-of-two size, load <= 3/4
  size_t mask_ = 0;
  size_t count_ = 0;
  size_t max_cells_ = 0;
  uint64_t overflow_sockets_ = 0;
};

}  // namespace sockstate
