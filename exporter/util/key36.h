#pragma once
// Hash and equality of the 36-byte tuple keys of the open-addressing tables (the sock_diag
// tuple table and the conntrack NAT model) and of the 48-byte (tuple, cgroup) keys of the
// workload cells. Inline and word-wise: a defaulted operator== calls
// memcmp out of line (+45% per socket, callgrind). Thread-safe (pure).

#include <cstdint>
#include <cstring>

namespace sockstate {

/// An unaligned 64-bit load.
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

/// Hash of 36 bytes at `k`: multiply each word by its own odd constant, fold, finalise.
inline uint64_t HashKey36(const uint8_t* k) {
  uint64_t h = Load64(k) * 0x9E3779B97F4A7C15ULL;
  h ^= Load64(k + 8) * 0xC2B2AE3D27D4EB4FULL;
  h ^= Load64(k + 16) * 0x165667B19E3779F9ULL;
  h ^= Load64(k + 24) * 0xD6E8FEB86659FD93ULL;
  h ^= Load64(k + 28) * 0xFF51AFD7ED558CCDULL;
  h ^= h >> 32;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 29;
  return h;
}

/// Whether the 36 bytes at `a` and `b` are equal (five word compares).
inline bool KeyEquals36(const uint8_t* a, const uint8_t* b) {
  return Load64(a) == Load64(b) && Load64(a + 8) == Load64(b + 8) &&
         Load64(a + 16) == Load64(b + 16) && Load64(a + 24) == Load64(b + 24) &&
         Load64(a + 28) == Load64(b + 28);
}

/// Hash of 48 bytes at `k` (the 36-byte hash and the last 12 bytes folded in).
inline uint64_t HashKey48(const uint8_t* k) {
  uint64_t h = HashKey36(k) ^ (Load64(k + 36) * 0x94D049BB133111EBULL) ^
               (Load64(k + 40) * 0xBF58476D1CE4E5B9ULL);
  h ^= h >> 31;
  return h * 0x9E3779B97F4A7C15ULL;
}

/// Whether the 48 bytes at `a` and `b` are equal (six word compares).
inline bool KeyEquals48(const uint8_t* a, const uint8_t* b) {
  return KeyEquals36(a, b) && Load64(a + 36) == Load64(b + 36) && Load64(a + 40) == Load64(b + 40);
}

}  // namespace sockstate
