#include "aggregate/tuple_table.h"

namespace sockstate {

void TupleTable::Reset(size_t max_tuples) {
  if (slots_.empty()) {
    slots_.resize(1024);
    mask_ = slots_.size() - 1;
    for (Entry& e : slots_) e.c.occupied = 0;
  } else if (count_ != 0) {
    for (Entry& e : slots_) e.c.occupied = 0;
  }
  count_ = 0;
  max_tuples_ = max_tuples;
  overflow_.Clear();
  overflow_sockets_ = 0;
}

TupleTable::Counters* TupleTable::Insert(const Key& key, uint64_t hash, size_t free_slot) {
  if (count_ >= max_tuples_) return nullptr;
  if ((count_ + 1) * 4 > slots_.size() * 3) {  // keep load <= 3/4
    Grow();
    free_slot = hash & mask_;
    while (slots_[free_slot].c.occupied) free_slot = (free_slot + 1) & mask_;
  }
  Entry& e = slots_[free_slot];
  e.key = key;
  e.c.Clear();
  e.c.occupied = 1;
  ++count_;
  return &e.c;
}

void TupleTable::Grow() {
  std::vector<Entry> old;
  old.swap(slots_);
  slots_.resize(old.size() * 2);
  for (Entry& e : slots_) e.c.occupied = 0;
  mask_ = slots_.size() - 1;
  for (const Entry& e : old) {
    if (!e.c.occupied) continue;
    size_t i = Hash(e.key) & mask_;
    while (slots_[i].c.occupied) i = (i + 1) & mask_;
    slots_[i] = e;
  }
}

}  // namespace sockstate
