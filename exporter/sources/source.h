#pragma once
// The one contract of a kernel source: read from the kernel (through a reader of kernel/) -> a
// typed snapshot (the source's own members) -> metric families. The scrape (scrape/collector.*
// and scrape/namespace_set.*) times every Read(), records success and failure
// (sockstate_scrape_source_success / _duration_seconds{source}), and logs a failure once per
// scrape, for all sources alike; a source never does that itself.
//
// Two kinds:
//  - NetnsSource: read once per namespace the exporter reads (sock_diag, sysctl, sockstat,
//    netstat/snmp, conntrack). One instance per namespace, kept across scrapes, so a source may
//    keep sockets and tables. Read() runs on the namespace's thread (inside it, via setns).
//  - HostSource: sees every namespace at once (kernel events); read once per scrape on the
//    scrape thread; it labels its own series (netns, destination, ...).
//
// Adding a source: its reader under kernel/, its adapter under sources/, one line in
// sources/registry.cpp, its tests, its docs (docs/architecture.md lists exactly what that
// touches).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "metrics/family_set.h"
#include "kernel/procfs.h"
#include "kernel/time_wait_owners.h"
#include "kernel/workload.h"
#include "util/status.h"

namespace sockstate {

/// Process-wide settings and counters every source may use (from flags). Outlives every
/// source. The counters are thread-safe.
class Tracker;  // sources/tracker_source.h

struct SourceEnv {
  std::string procfs = "/proc";              // --path.procfs
  std::string netns_dir = "/var/run/netns";  // --path.netns
  std::string replay_dump;  // --debug.replay-dump: sock_diag replays this in the own namespace
  std::string record_dump;  // --debug.record-dump: sock_diag records the own namespace here
  std::string replay_udp_dump;  // --debug.replay-udp-dump: the udp source replays this (own)
  std::string record_udp_dump;  // --debug.record-udp-dump: the udp source records here (own)
  std::atomic<uint64_t> netlink_dumps{0};  // sockstate_netlink_dumps_total
  /// Owners of TIME_WAIT sockets from the kernel (docs/workloads.md), refreshed once per scrape
  /// before the namespaces are read; null or unavailable: every TIME_WAIT socket's owner is
  /// "unknown".
  std::shared_ptr<const TimeWaitOwners> time_wait_owners;
  /// Socket counts kept from kernel events (--collector.tracker); read once per scrape before
  /// the namespaces. Null (off) or unavailable: every namespace is dumped (or bounded).
  std::shared_ptr<Tracker> tracker;
  /// Names workloads from cgroup ids; used by FinishAcrossNamespaces() (one thread) only.
  std::shared_ptr<CgroupResolver> cgroups;
};

class NetnsSource;

/// What a per-namespace source gets for one Read(). Valid during that call only.
struct NetnsReadContext {
  const Config& config;
  const SourceEnv& env;
  SourceEnv& mutable_env;    // for the counters
  const ProcPaths& paths;    // this namespace's /proc (own: root/net; other: root/thread-self/net)
  bool own = false;          // the exporter's own namespace
  const std::string& netns;  // the namespace's label ("" in mode own)
  /// The sources of this namespace that already read successfully in this scrape, in
  /// registration order (so sock_diag finds sysctl's port range).
  const std::vector<const NetnsSource*>& earlier;
  uint64_t netns_inode = 0;  // the namespace's nsfs inode (what BPF programs see), 0: unknown

  /// The first earlier source of type T that read successfully in this scrape, or nullptr.
  template <typename T>
  const T* Earlier() const {
    for (const NetnsSource* s : earlier) {
      if (auto* t = dynamic_cast<const T*>(s)) return t;
    }
    return nullptr;
  }
};

/// What every source gets when it adds its series.
struct ExportContext {
  const Config& config;
  bool label_netns = false;  // namespace discovery is on: series carry a netns label
  long page_size = 4096;
  /// Per namespace: export the per-namespace kernel counter families (sysctl, sockstat, netstat,
  /// snmp). False for a namespace below namespaces.detail_threshold unless
  /// namespaces.kernel_counters is all: it then costs its netns series only (docs/fleet.md).
  bool kernel_counters = true;
  /// Per namespace: this one carries the host-wide values (nf_conntrack_max, socket memory, ...),
  /// exported once per scrape and without a netns label.
  bool host_wide = true;
};

/// A source read once per namespace. Read() and AddFamilies() of one instance never overlap.
class NetnsSource {
 public:
  virtual ~NetnsSource() = default;
  /// The `source` label value ("netlink", "sysctl", "sockstat", "conntrack", ...).
  virtual std::string_view name() const = 0;
  /// False: skipped this scrape (no read, no series, no success metric), e.g. turned off in
  /// the config. Checked on every scrape, so a reload can turn a source on or off.
  virtual bool Enabled(const Config& config) const { return true; }
  /// True: Read() uses nothing of the source registered just before it, and no source reads
  /// this one before the previous source's read ends, so that in the exporter's own namespace
  /// the two read at the same time, on two threads (the UDP dump alongside the TCP dump: two
  /// walks of host-wide hash tables). Both then see the same earlier sources.
  virtual bool ReadsAlongsidePrevious() const { return false; }
  /// Reads the kernel into this instance's snapshot. An error (with context, e.g. "netlink:
  /// recvmsg: ...") fails this source in this namespace for this scrape only.
  virtual Status Read(const NetnsReadContext& ctx) = 0;
  /// Called once per scrape after every namespace was read and before AddFamilies(), on one
  /// instance, with every instance of this source that read successfully (itself included):
  /// caps that hold across namespaces (destination series) are applied here. Default: none.
  virtual void FinishAcrossNamespaces(const std::vector<NetnsSource*>& all, const Config& config) {}
  /// Adds the series of the last successful Read(). `base` holds {netns} when labelled.
  virtual void AddFamilies(FamilySet& fs, const Labels& base, const ExportContext& ctx) const = 0;
};

/// A namespace the exporter reads this scrape, as host-wide sources see it.
struct NamespaceInfo {
  std::string label;   // "" for the exporter's own namespace in mode own
  uint64_t inode = 0;  // of its nsfs file: what the kernel (and BPF) calls the netns
  bool own = false;
};

/// What a host-wide source gets for one Read(). Valid during that call only.
struct HostReadContext {
  const Config& config;
  const SourceEnv& env;
  bool label_netns = false;
  const std::vector<NamespaceInfo>& namespaces;  // every namespace read this scrape
};

/// A source that sees every namespace at once. Read() and AddFamilies() never overlap.
class HostSource {
 public:
  virtual ~HostSource() = default;
  virtual std::string_view name() const = 0;
  /// Called once per scrape before any namespace is read, on the scrape thread: a source whose
  /// snapshot the namespaces' sources use (through SourceEnv) takes it here. Default: nothing.
  virtual void BeforeNamespaces() {}
  /// Reads the kernel (e.g. BPF maps) into this instance's snapshot.
  virtual Status Read(const HostReadContext& ctx) = 0;
  /// Adds the series of the last Read(); called even when it failed (a source may export that
  /// it is unavailable). Labels its own series.
  virtual void AddFamilies(FamilySet& fs, const ExportContext& ctx) const = 0;
};

/// The registration lines (sources/registry.cpp). The per-namespace sources of one namespace,
/// in read order. Thread-safe.
std::vector<std::unique_ptr<NetnsSource>> MakeNetnsSources();

/// The host-wide sources, created once at startup. An error means a source explicitly turned
/// on cannot work: the exporter exits 1 with it. Sources in mode auto that cannot work are
/// still returned (they log one line and export that they are unavailable).
/// All kernel-event features share the process's one BPF object (kernel/bpf_object.h).
struct HostSourceOptions {
  std::string connect_failures = "auto";  // --collector.connect-failures: auto|on|off
  std::string time_wait_owners = "auto";  // --collector.time-wait-owners: auto|on|off
  uint32_t time_wait_max_sockets = WorkloadsConfig().time_wait_max_sockets;
  std::string cgroup2_root;  // where workloads are named from (Cgroup2Root())
  std::string connect_failures_udp = "auto";  // --collector.connect-failures.udp
  std::string tracker = "auto";               // --collector.tracker: auto|on|off
  TrackerConfig tracker_config;               // map sizes (read at start), reconcile, peaks
};
/// What MakeHostSources() made. Value type.
struct HostSources {
  std::vector<std::unique_ptr<HostSource>> sources;
  /// For SourceEnv::time_wait_owners (unavailable when the program is not loaded).
  std::shared_ptr<TimeWaitOwners> time_wait_owners;
  /// For SourceEnv::tracker (null when off).
  std::shared_ptr<Tracker> tracker;
};
Result<HostSources> MakeHostSources(const HostSourceOptions& options);

}  // namespace sockstate
