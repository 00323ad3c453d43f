#pragma once
// Who holds a TIME_WAIT socket (docs/workloads.md): a TIME_WAIT socket has no owner in any
// kernel table, so the BPF program (time_wait_owners.bpf.h, in sock_state_change.bpf.c) records the
// cgroup of each socket that enters TIME_WAIT on an ephemeral port, with what a dump shows of the
// TIME_WAIT socket, in a ring of the latest records. This takes a snapshot of the ring once per
// scrape; the netlink source of each namespace then looks up every TIME_WAIT socket of its dump in
// it.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernel/socket_record.h"
#include "util/status.h"

namespace sockstate {

class BpfObject;

/// A TIME_WAIT socket as a dump shows it, laid out as the program's map key (48 bytes, padding
/// zero): namespace inode, local and remote port (host order), family (2 or 10), addresses
/// (IPv4 and IPv4-mapped IPv6 as IPv4 in [0..3]). Value type.
struct TimeWaitKey {
  uint32_t netns_inode = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t family = 0;
  std::array<uint8_t, 7> pad{};
  std::array<uint8_t, 16> saddr{};
  std::array<uint8_t, 16> daddr{};

  /// The key of a dumped socket of namespace `netns_inode`.
  static TimeWaitKey Of(uint64_t netns_inode, const SocketRecord& r);
};
static_assert(sizeof(TimeWaitKey) == 48);

/// The kernel side, behind a seam so that the attribution is tested without BPF: a ring of
/// records numbered from 0 (record n in slot n % size), of which the latest `size` are held.
class TimeWaitOwnerReader {
 public:
  virtual ~TimeWaitOwnerReader() = default;
  /// Records made so far (the next record's number). Cheap (no system call). Thread-safe.
  virtual uint64_t Head() const = 0;
  /// Calls fn(key, cgroup id) for each complete record numbered from `from` to `to` - 1 that
  /// the ring still holds (to - from <= its size), oldest first. Not thread-safe.
  virtual Status Read(uint64_t from, uint64_t to,
                      const std::function<void(const TimeWaitKey&, uint64_t)>& fn) = 0;
  /// The ring's size.
  virtual uint64_t size() const = 0;
};

/// The programs the feature attaches (for LoadBpfFeatures()).
std::vector<std::string> TimeWaitOwnerPrograms();
/// The name of the ring of records (sized from the configuration).
inline constexpr const char* kTimeWaitSocketsMap = "tw_ring";
/// Bytes of kernel memory per record the ring holds (an array: 72-byte records, allocated at
/// load; bpftool's memlock for the map / max_entries on 6.18).
inline constexpr uint64_t kTimeWaitEntryBytes = 72;

/// A reader of the maps of a loaded object (LoadBpfFeatures() with TimeWaitOwnerPrograms() and
/// the ring sized `size`); the program records from then on.
std::unique_ptr<TimeWaitOwnerReader> OpenTimeWaitOwnerReader(std::shared_ptr<BpfObject> object,
                                                             uint32_t size);

/// The owners of one scrape. Refresh() once per scrape on one thread; then Owner() from any
/// thread until the next Refresh(). Without a reader (the program is not loaded) it is
/// unavailable and knows no owner.
class TimeWaitOwners {
 public:
  explicit TimeWaitOwners(std::unique_ptr<TimeWaitOwnerReader> reader)
      : reader_(std::move(reader)) {}
  bool available() const { return reader_ != nullptr; }
  /// Takes the snapshot: every record the ring holds. On error keeps nothing and returns it.
  Status Refresh();
  /// The cgroup id of the owner of the TIME_WAIT socket `key`, 0 when not known: from the
  /// snapshot, else from the records made since (a socket born during the dump). Thread-safe
  /// after Refresh().
  uint64_t Owner(const TimeWaitKey& key) const;
  /// Records the ring held at the last Refresh().
  uint64_t entries() const { return entries_; }
  /// Records made since the program loaded, at the last Refresh().
  uint64_t recorded() const { return recorded_; }
  /// Records read after the snapshot since the last Refresh().
  uint64_t late_records() const;

 private:
  // Snapshot: open addressing on the key's 64-bit hash (0 = empty slot), load <= 1/2; 16
  // bytes a slot, reused across scrapes (2 MiB for 65,536 records). Two keys with the same
  // 64-bit hash (~1e-10 for 65,536 records) would share an owner.
  struct Slot {
    uint64_t hash;
    uint64_t cgroup;
  };
  static uint64_t HashOf(const TimeWaitKey& key);
  void Insert(uint64_t hash, uint64_t cgroup);

  std::unique_ptr<TimeWaitOwnerReader> reader_;
  std::vector<Slot> slots_;
  uint64_t entries_ = 0;
  uint64_t recorded_ = 0;
  // Records made after the snapshot, read on a miss (under mu_).
  mutable std::mutex mu_;
  mutable uint64_t late_from_ = 0;
  mutable std::unordered_map<uint64_t, uint64_t> late_;  // hash -> cgroup
  mutable uint64_t late_read_ = 0;
};

}  // namespace sockstate
