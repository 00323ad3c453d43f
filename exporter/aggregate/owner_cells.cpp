#include "aggregate/owner_cells.h"

#include <cstring>

namespace sockstate {

void OwnerCells::Reset(size_t max_cells) {
  if (cells_.empty()) {
    cells_.resize(256);
    mask_ = cells_.size() - 1;
    for (Cell& c : cells_) c.occupied = false;
  } else if (count_ != 0) {
    for (Cell& c : cells_) c.occupied = false;
  }
  count_ = 0;
  max_cells_ = max_cells;
  overflow_sockets_ = 0;
}

OwnerCells::Cell* OwnerCells::Insert(const TupleTable::Key& tuple, uint64_t cgroup_id,
                                     uint64_t hash, size_t free_slot) {
  if (count_ >= max_cells_) return nullptr;
  if ((count_ + 1) * 4 > cells_.size() * 3) {  // keep load <= 3/4
    Grow();
    free_slot = hash & mask_;
    while (cells_[free_slot].occupied) free_slot = (free_slot + 1) & mask_;
  }
  Cell& c = cells_[free_slot];
  c.tuple = tuple;
  c.cgroup_id = cgroup_id;
  std::memset(&c.c, 0, sizeof(c.c));
  c.occupied = true;
  ++count_;
  return &c;
}

void OwnerCells::Grow() {
  std::vector<Cell> old;
  old.swap(cells_);
  cells_.resize(old.size() * 2);
  for (Cell& c : cells_) c.occupied = false;
  mask_ = cells_.size() - 1;
  for (const Cell& c : old) {
    if (!c.occupied) continue;
    size_t i = Hash(c.tuple, c.cgroup_id) & mask_;
    while (cells_[i].occupied) i = (i + 1) & mask_;
    cells_[i] = c;
  }
}

}  // namespace sockstate
