#pragma once
// A bounded hash table for the per-record hot paths (the sock_diag tuple table, the conntrack
// NAT model): open addressing with linear probing in a power-of-two array, load <= 3/4, at most
// `max_entries` entries (FindOrInsert() says no beyond, and the caller counts the record
// elsewhere). The array is reused across scrapes: finding or inserting is O(1) and allocates
// nothing unless the table grows past its largest size so far, so memory follows entries, not
// records. Keys are 36 or 48 bytes (util/key36.h hashes and compares them as words).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "util/key36.h"

namespace sockstate {

/// `Key`: trivially copyable, its first kIdentityBytes (36 or 48) bytes the identity (padding
/// zeroed by the caller). `Value`: trivially copyable, with a `uint8_t occupied` member the
/// table owns; a new entry's value starts zeroed. Not thread-safe.
template <typename Key, typename Value, size_t kIdentityBytes = 36>
class FlatTable {
  static_assert(kIdentityBytes == 36 || kIdentityBytes == 48);
  static_assert(sizeof(Key) >= kIdentityBytes && std::is_trivially_copyable_v<Key>);
  static_assert(std::is_trivially_copyable_v<Value>);

 public:
  struct Entry {
    Key key;
    Value value;
  };
  /// Slots of a new table.
  static constexpr size_t kInitialSlots = 1024;

  /// Empties the table (keeping its array) and bounds it to `max_entries` entries.
  void Reset(size_t max_entries) {
    if (slots_.empty()) {
      slots_.resize(kInitialSlots);
      mask_ = slots_.size() - 1;
      for (Entry& e : slots_) e.value.occupied = 0;
    } else if (count_ != 0) {
      for (Entry& e : slots_) e.value.occupied = 0;
    }
    count_ = 0;
    max_entries_ = max_entries;
  }
  /// Frees the array of an empty table (Reset() allocates it again).
  void ReleaseIfEmpty() {
    if (count_ == 0) std::vector<Entry>().swap(slots_);
  }

  static uint64_t Hash(const Key& key) {
    const uint8_t* k = reinterpret_cast<const uint8_t*>(&key);
    if constexpr (kIdentityBytes == 48) return HashKey48(k);
    return HashKey36(k);
  }
  static bool Equal(const uint8_t* a, const uint8_t* b) {
    if constexpr (kIdentityBytes == 48) return KeyEquals48(a, b);
    return KeyEquals36(a, b);
  }
  /// Starts loading the slot where a key of hash `hash` is looked for.
  void Prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[hash & mask_]); }

  /// The value of `key` (hash `hash` = Hash(key)), inserted zeroed if absent; nullptr when
  /// absent and the table holds max_entries already. Inlined into the caller's per-record loop
  /// (an out-of-line call costs ~15 instructions per record).
  [[gnu::always_inline]] Value* FindOrInsert(const Key& key, uint64_t hash) {
    const uint8_t* k = reinterpret_cast<const uint8_t*>(&key);
    size_t i = hash & mask_;
    while (slots_[i].value.occupied) {
      if (Equal(reinterpret_cast<const uint8_t*>(&slots_[i].key), k)) return &slots_[i].value;
      i = (i + 1) & mask_;
    }
    return Insert(key, hash, i);
  }

  /// Slot index of `key` (hash `hash`), or -1 when it is absent. Never inserts.
  int64_t Find(const Key& key, uint64_t hash) const {
    if (slots_.empty()) return -1;
    const uint8_t* k = reinterpret_cast<const uint8_t*>(&key);
    for (size_t i = hash & mask_; slots_[i].value.occupied; i = (i + 1) & mask_) {
      if (Equal(reinterpret_cast<const uint8_t*>(&slots_[i].key), k)) return int64_t(i);
    }
    return -1;
  }
  /// Slots of the array (slot indexes are below this).
  size_t capacity() const { return slots_.size(); }

  /// Calls fn(const Entry&) for every entry, in slot order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const Entry& e : slots_) {
      if (e.value.occupied) fn(e);
    }
  }
  /// Slot index of an entry handed out by ForEach (valid until the next insert or Reset).
  uint32_t SlotOf(const Entry& e) const { return uint32_t(&e - slots_.data()); }
  /// The entry in slot `slot` (from SlotOf).
  const Entry& slot(uint32_t slot) const { return slots_[slot]; }
  /// Entries held.
  size_t size() const { return count_; }
  /// Bytes held by the array.
  size_t Bytes() const { return slots_.capacity() * sizeof(Entry); }

 private:
  // Out of line: the rare path stays out of the caller's per-record loop.
  [[gnu::noinline]] Value* Insert(const Key& key, uint64_t hash, size_t free_slot) {
    if (count_ >= max_entries_) return nullptr;
    if ((count_ + 1) * 4 > slots_.size() * 3) {  // keep load <= 3/4
      Grow();
      free_slot = FreeSlot(hash);
    }
    Entry& e = slots_[free_slot];
    e.key = key;
    std::memset(static_cast<void*>(&e.value), 0, sizeof(Value));
    e.value.occupied = 1;
    ++count_;
    return &e.value;
  }
  size_t FreeSlot(uint64_t hash) const {
    size_t i = hash & mask_;
    while (slots_[i].value.occupied) i = (i + 1) & mask_;
    return i;
  }
  void Grow() {
    std::vector<Entry> old;
    old.swap(slots_);
    slots_.resize(old.size() * 2);
    for (Entry& e : slots_) e.value.occupied = 0;
    mask_ = slots_.size() - 1;
    for (const Entry& e : old) {
      if (e.value.occupied) slots_[FreeSlot(Hash(e.key))] = e;
    }
  }

  std::vector<Entry> slots_;  // power-of-two size, load <= 3/4
  size_t mask_ = 0;
  size_t count_ = 0;
  size_t max_entries_ = 0;
};

}  // namespace sockstate
