#pragma once
// The user-space side of the state tracker (kernel/bpf/tracker.bpf.c; design in
// docs/architecture.md, "Counts kept from kernel events"): reads its maps once per scrape
// into a snapshot of every tracked namespace, runs its control program (the sweep of
// FIN_WAIT2 minisockets, the peak epoch, generation switches) and seeds a namespace (one walk
// merged with the events that race it) from a thread inside that namespace.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "util/family.h"
#include "util/status.h"

namespace sockstate {

class BpfObject;

/// Kernel TCP states 0..11 as the tracker counts them (NEW_SYN_RECV as SYN_RECV).
inline constexpr int kTrackerStates = 12;
/// Slots of the TIME_WAIT expiry ring (one second each).
inline constexpr int kTrackerRingSlots = 64;
using TrackerStateCounts = std::array<int32_t, kTrackerStates>;

/// Outgoing sockets of one destination tuple (source address, destination address and port).
/// Addresses in network order, IPv4 in [0..3]. Value type.
struct TrackedTuple {
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> saddr{};
  std::array<uint8_t, 16> daddr{};
  uint16_t dport = 0;
  TrackerStateCounts st{};
  int32_t used = 0;  // sockets on a local port inside ip_local_port_range
  int32_t peak = 0;  // highest `used` over the peak window
};

/// Outgoing full sockets of one tuple owned by one cgroup (workload attribution). Value type.
struct TrackedCell {
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> saddr{};
  std::array<uint8_t, 16> daddr{};
  uint16_t dport = 0;
  uint64_t cgroup = 0;
  TrackerStateCounts st{};
  int32_t used = 0;
};

/// Inbound sockets of one local port (accepted connections and request sockets). Value type.
struct TrackedPort {
  uint16_t port = 0;
  TrackerStateCounts st{};
  int32_t refs = 0;
};

/// TIME_WAIT sockets of one outgoing destination by the second their timer expires (slot =
/// second % kTrackerRingSlots). Value type.
struct TrackedDest {
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> daddr{};
  uint16_t dport = 0;
  std::array<int32_t, kTrackerRingSlots> slots{};
};

/// A listener or a bound-inactive socket: what holds a port by bind(). Value type.
struct TrackedBound {
  uint16_t port = 0;
  Family family = Family::kIpv4;
  bool listener = false;
};

/// An outgoing TIME_WAIT socket (substate TIME_WAIT, not FIN_WAIT2) as a dump shows it, for
/// the attribution of its owner (read only with TrackerProbe::set_read_time_wait()). Value type.
struct TrackedTimeWait {
  Family family = Family::kIpv4;
  bool in_range = false;  // its local port inside ip_local_port_range
  uint16_t sport = 0;
  uint16_t dport = 0;
  std::array<uint8_t, 16> saddr{};
  std::array<uint8_t, 16> daddr{};
};

/// One namespace's counts in its current generation. Value type.
struct TrackedNamespace {
  uint64_t cookie = 0;  // netns cookie (SO_NETNS_COOKIE)
  uint32_t inum = 0;    // nsfs inode
  uint8_t cur = 0;      // 0: not tracked (not seeded yet): nothing below is meaningful
  uint8_t seed = 0;     // a seeding in progress
  uint32_t range = 0;   // ip_local_port_range at its last event (low | high << 16), 0 unknown
  uint32_t range_changes = 0;
  uint32_t overflow = 0;  // counts lost because a map was full
  std::array<TrackerStateCounts, 2> st{};  // [IPv4, IPv6][state]: connected and minisockets
  std::vector<TrackedTuple> tuples;
  std::vector<TrackedCell> cells;
  std::vector<TrackedPort> ports;
  std::vector<TrackedDest> dests;
  std::vector<TrackedBound> bound;
  std::vector<TrackedTimeWait> time_wait;  // empty unless TrackerProbe::set_read_time_wait()
};

/// The program's running totals, summed over CPUs. Value type.
struct TrackerStats {
  uint64_t events = 0;       // state changes counted
  uint64_t born = 0;         // TIME_WAIT and request sockets counted at birth
  uint64_t ended = 0;        // ... ended
  uint64_t swept = 0;        // FIN_WAIT2 minisockets found in TIME_WAIT by the sweep
  uint64_t full = 0;         // counts lost: a map was full
  uint64_t unknown_end = 0;  // ends of minisockets never counted
  uint64_t nested = 0;       // events counted by a nested-level program (docs)
  uint64_t lost = 0;         // events no program counted (nested too deep or in its window)
};

/// Entries and capacity of one map, for the memory series. Value type.
struct TrackerMapUse {
  std::string name;
  uint64_t entries = 0;
  uint64_t capacity = 0;
  uint64_t entry_bytes = 0;  // key + value + the kernel's per-element header (estimate)
};

/// Everything one scrape reads. Reused across scrapes (vectors keep their capacity).
struct TrackerSnapshot {
  std::vector<TrackedNamespace> namespaces;  // sorted by cookie
  uint64_t jiffies = 0;                      // kernel jiffies when read
  uint32_t hz = 0;                           // jiffies per second
  TrackerStats stats;
  std::vector<TrackerMapUse> maps;
  /// The namespace with `cookie`, or nullptr.
  const TrackedNamespace* Find(uint64_t cookie) const;
};

/// What one seeding found. Value type.
struct SeedOutcome {
  bool exact = true;         // false: a map was full during the walk: not switched
  uint8_t previous_gen = 0;  // 0: first seeding (nothing compared)
  uint8_t gen = 0;
  uint64_t walked = 0;       // sockets the walk visited
  uint64_t bound_added = 0;  // bound-inactive sockets the dump added that the map lacked
  uint32_t overflow = 0;       // the namespace's overflow count when the walk began
  uint32_t range_changes = 0;  // ... and its port range changes
  /// Counter cells (tuple or port, state) that differed between the generations, summed as
  /// sockets: a socket counted in the wrong state counts twice, a missing one once.
  uint64_t drift = 0;
  std::vector<std::string> differences;  // the first differing cells, for the log
};

/// The maps and programs of a loaded object. Thread-safe where noted; one seeding at a time.
class TrackerProbe {
 public:
  /// Takes the tracker's maps and programs from `object` (loaded with TrackerPrograms()).
  static Result<std::unique_ptr<TrackerProbe>> Open(std::shared_ptr<BpfObject> object);

  /// Finds the TIME_WAIT and request socket timer callbacks in /proc/kallsyms (the programs
  /// follow nothing until then), measures jiffies per second (sleeps ~0.1 s), and, with
  /// CAP_SYS_ADMIN, finds the netns
  /// cookie above which every namespace was created after the attach (tracked from its first
  /// socket, never seeded). Call once, before seeding.
  Status Start();
  /// Whether namespaces created after Start() are tracked from their first socket (mode all);
  /// otherwise only namespaces seeded by SeedThisNamespace() are counted.
  Status SetAutoTrack(bool on);
  uint32_t hz() const { return hz_; }
  uint64_t c0() const { return c0_; }

  /// Runs the sweep (FIN_WAIT2 minisockets that turned TIME_WAIT silently) and reads every map
  /// into `out`. Not thread-safe with itself.
  Status Read(TrackerSnapshot* out);
  /// Whether Read() also lists each namespace's outgoing TIME_WAIT sockets (one more map read,
  /// entries of 72 bytes): their owners are looked up in the TIME_WAIT owner ring
  /// (docs/workloads.md). Call before the first Read().
  void set_read_time_wait(bool on) { read_time_wait_.store(on); }

  /// Starts a new peak epoch: the previous one is kept, the one before is forgotten.
  Status NextPeakEpoch();

  /// Seeds (or reconciles) the namespace of the calling thread: a new generation from one walk
  /// merged with the racing events, compared with the current one, then switched to it. The
  /// bound-inactive sockets come from a sock_diag dump on the first seeding. Blocking (one walk
  /// of the namespace's sockets). One at a time (the caller serialises).
  Result<SeedOutcome> SeedThisNamespace();

  /// The netns cookie of the calling thread's namespace (SO_NETNS_COOKIE), or 0.
  static uint64_t ThisNamespaceCookie();

  ~TrackerProbe();

 private:
  explicit TrackerProbe(std::shared_ptr<BpfObject> object);
  Status Control(uint64_t op, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
                 uint64_t a5 = 0);
  Status WriteCfg();
  Status MeasureHz();
  Status SeedBound(uint64_t cookie, uint64_t* added, uint64_t* removed,
                   std::vector<std::string>* differences);
  Status DeleteGeneration(uint64_t cookie, uint8_t gen);
  Status ClearCreated();
  Status DeleteTombstones(uint64_t cookie);
  SeedOutcome Compare(uint64_t cookie, uint8_t old_gen, uint8_t new_gen);

  std::shared_ptr<BpfObject> object_;
  int tuples_fd_ = -1, cells_fd_ = -1, ports_fd_ = -1, dests_fd_ = -1, ns_fd_ = -1, mini_fd_ = -1;
  int pending_fd_ = -1, bound_fd_ = -1, created_fd_ = -1, seed_fd_ = -1, cfg_fd_ = -1;
  int clock_fd_ = -1, stats_fd_ = -1;
  int control_fd_ = -1, iter_link_fd_ = -1;
  uint32_t hz_ = 0;
  uint64_t c0_ = 0;
  bool auto_track_ = false;
  std::atomic<bool> read_time_wait_{false};
  uint64_t tw_handler_ = 0, reqsk_handler_ = 0;  // timer callbacks (from /proc/kallsyms)
  uint32_t epoch_ = 0;
  std::vector<uint64_t> read_scratch_;  // Read()'s batch buffers (one scrape at a time)
  std::mutex cfg_mu_;  // trk_cfg is written whole: its writers (and epoch_) take turns
  int cpus_ = 1;
};

/// Addresses of the kernel symbols `names` (exact names) in kallsyms-format `path`, in one
/// pass; 0 for a symbol missing or shown without its address (no CAP_SYSLOG, kptr_restrict).
/// Thread-safe.
std::vector<uint64_t> KernelSymbolAddresses(const std::string& path,
                                            const std::vector<std::string>& names);
/// The first timer callback the tracker follows sockets by that `kallsyms` does not show with
/// its address, or "" when both are there. Thread-safe.
std::string TrackerMissingKernelSymbol(const std::string& kallsyms = "/proc/kallsyms");

/// The programs of the tracker (for LoadBpfFeatures()).
std::vector<std::string> TrackerPrograms();

/// Map names and their default sizes (tracker config keys map to them).
inline constexpr const char* kTrackerTuplesMap = "trk_tuples";
inline constexpr const char* kTrackerMiniMap = "trk_mini";

}  // namespace sockstate
