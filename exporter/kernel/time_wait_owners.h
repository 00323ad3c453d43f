#pragma once
// Who holds a TIME_WAIT socket (docs/workloads.md): a TIME_WAIT socket has no owner in any
// kernel table, so the BPF program time_wait_owners.bpf.c remembers the cgroup of each socket
// that enters TIME_WAIT on an ephemeral port and counts them per (namespace, source address,
// destination address, destination port, cgroup). This reads those counts once per scrape;
// the netlink source of each namespace then attributes its dump's TIME_WAIT sockets with them.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/family.h"
#include "util/status.h"

namespace sockstate {

class BpfObject;

/// TIME_WAIT sockets with a known owner on one (namespace, tuple, cgroup). IPv4 (and
/// IPv4-mapped IPv6) addresses are kIpv4 in [0..3]. Value type.
struct TimeWaitOwnerCount {
  uint64_t netns_inode = 0;
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> saddr{};
  std::array<uint8_t, 16> daddr{};
  uint16_t dport = 0;
  uint64_t cgroup_id = 0;
  uint64_t count = 0;
};

/// The program's running totals (sums over CPUs). Value type.
struct TimeWaitOwnerStats {
  uint64_t remembered = 0;    // TIME_WAIT sockets remembered since the program loaded
  uint64_t ended = 0;         // ... and forgotten when they ended
  uint64_t named = 0;         // ... whose owner the full socket's close named
  uint64_t sockets_full = 0;  // not remembered: the map of TIME_WAIT sockets was full
  uint64_t owners_full = 0;   // not counted by owner: the owner map was full
};

/// The kernel side, behind a seam so that the attribution is tested without BPF.
class TimeWaitOwnerReader {
 public:
  virtual ~TimeWaitOwnerReader() = default;
  /// Replaces `*out` with every count above 0 (any order) and `*stats` with the program's
  /// totals; forgets the entries that fell to 0. Not thread-safe.
  virtual Status Read(std::vector<TimeWaitOwnerCount>* out, TimeWaitOwnerStats* stats) = 0;
};

/// The programs the feature attaches (for LoadBpfFeatures()).
std::vector<std::string> TimeWaitOwnerPrograms();
/// The callback of a TIME_WAIT socket's timer, which the program recognises TIME_WAIT timers
/// by: resolved from /proc/kallsyms when it shows addresses (root, CAP_SYSLOG), else learned
/// from the first TIME_WAIT socket born after the program starts.
inline constexpr const char* kTimeWaitTimerSymbol = "tw_timer_handler";

/// Whether kallsyms-format `text` shows `symbol` with a non-zero address (kernel.kptr_restrict
/// and the reader's CAP_SYSLOG decide). Pure; thread-safe.
bool KernelSymbolVisible(std::string_view text, std::string_view symbol);
/// The same for a file (/proc/kallsyms: megabytes, read line by line). Thread-safe.
bool KernelSymbolVisibleIn(const std::string& path, std::string_view symbol);
/// The name of the map of remembered TIME_WAIT sockets (sized from the configuration).
inline constexpr const char* kTimeWaitSocketsMap = "tw_sockets";
/// Bytes of kernel memory per TIME_WAIT socket the map can hold: it is preallocated (an insert
/// then takes no allocation on the connection's path), 120 bytes an element on 6.18 (bpftool's
/// memlock for the map / max_entries: key 48, value 8, the kernel's element header).
inline constexpr uint64_t kTimeWaitEntryBytes = 120;

/// A reader of the maps of a loaded object (LoadBpfFeatures() with TimeWaitOwnerPrograms()).
std::unique_ptr<TimeWaitOwnerReader> OpenTimeWaitOwnerReader(std::shared_ptr<BpfObject> object);

/// The owners of one scrape. Refresh() once per scrape on one thread; then ForNamespace() from
/// any thread until the next Refresh(). Without a reader (the program is not loaded) it is
/// unavailable and holds nothing.
class TimeWaitOwners {
 public:
  explicit TimeWaitOwners(std::unique_ptr<TimeWaitOwnerReader> reader)
      : reader_(std::move(reader)) {}
  bool available() const { return reader_ != nullptr; }
  /// Reads the counts (sorted by namespace inode). On error keeps nothing and returns it.
  Status Refresh();
  /// The counts of one namespace (empty when none or unavailable).
  std::span<const TimeWaitOwnerCount> ForNamespace(uint64_t netns_inode) const;
  const TimeWaitOwnerStats& stats() const { return stats_; }
  /// Distinct (namespace, tuple, cgroup) counts of the last Refresh().
  size_t size() const { return counts_.size(); }

 private:
  std::unique_ptr<TimeWaitOwnerReader> reader_;
  std::vector<TimeWaitOwnerCount> counts_;
  TimeWaitOwnerStats stats_;
};

}  // namespace sockstate
