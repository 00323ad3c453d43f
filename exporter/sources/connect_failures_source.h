#pragma once
// connect() failures counted by the kernel (docs/connect-failures.md): a host-wide source fed
// by a BPF program on the tracepoint sock:inet_sock_set_state (exporter/kernel/bpf/). The program
// counts failures in a bounded kernel map keyed by (netns inode, family, destination address
// and port, reason, cgroup id); every scrape drains that map (each entry read and deleted
// once) and user space adds the counts to totals it owns. So counters never go backwards:
// they do not depend on the kernel map surviving, only on this process.
//
// Labels: `destination` through the same groups / top-K / "other" as the occupancy series, a
// `netns` label when namespace discovery is on (mode own counts only the exporter's own
// namespace), and a per-workload counter labelled with the failing socket's systemd unit,
// container id or pod UID, resolved from its cgroup id through cgroupfs (cgroup v2).
// Labels come from aggregate/plan.h (DestinationPlan::MatchGroup, DestinationLabel) with the
// plan's top K and cap (aggregate/rank.h IndividualRoom), but not from the per-scrape
// re-ranking of LabelDestinations(): counters must never go backwards, so individually
// labelled destinations and workloads are sticky. Once a value has its own series it keeps
// it, and a value that arrives when the top K are taken goes to "other" for good, so "other"
// never loses counts to a promotion. Within one drain, free slots go to the heaviest first.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kernel/connect_failure_probe.h"
#include "kernel/workload.h"
#include "sources/source.h"
#include "util/status.h"

namespace sockstate {

class DestinationPlan;

/// "no_local_port", "refused", "timed_out", "unreachable", "abandoned" (the `reason` label).
/// Thread-safe.
std::string_view ConnectFailureReasonName(size_t reason);

/// The host-wide source "connect_failures". Holds monotonic totals for its process lifetime;
/// unavailable (no probe) it only exports sockstate_connect_failures_available 0. Read() and
/// AddFamilies() never overlap (the pipeline's contract); not thread-safe otherwise.
class ConnectFailuresSource : public HostSource {
 public:
  /// `probe` null: unavailable. `resolver` null: workloads are all "unknown".
  ConnectFailuresSource(std::unique_ptr<ConnectFailureProbe> probe,
                        std::unique_ptr<CgroupResolver> resolver);
  std::string_view name() const override { return "connect_failures"; }
  Status Read(const HostReadContext& ctx) override;
  void AddFamilies(FamilySet& fs, const ExportContext& ctx) const override;

  /// A namespace not read in a scrape has no series in it, but its totals are kept (and it
  /// still counts) until it was absent from this many scrapes in a row; then they are dropped.
  static constexpr int kForgetAfterScrapes = 10;

 private:
  using Counts = std::array<uint64_t, kNumConnectFailureReasons>;
  struct Individual {
    Family family;
    std::array<uint8_t, 16> addr;
    uint16_t port;
    std::string label;
    Counts counts{};
  };
  struct NsTotals {
    std::string label;
    int absent = 0;                                     // scrapes in a row without it
    std::map<std::string, Counts, std::less<>> groups;  // by group name (survives reloads)
    std::vector<Individual> individuals;                // sticky top K
    Counts other{};
    uint64_t udp = 0;  // UDP port-allocation failures: no destination (docs/udp.md)
  };
  struct WorkloadTotals {
    Workload workload;
    Counts counts{};   // TCP, by reason
    uint64_t udp = 0;  // UDP (only no_local_port)
  };

  void AddDestination(const FailureRecord& r, NsTotals& ns, const DestinationPlan& plan);
  void AddWorkload(const FailureRecord& r, size_t top_k);

  std::unique_ptr<ConnectFailureProbe> probe_;
  std::unique_ptr<CgroupResolver> resolver_;
  std::vector<FailureRecord> drained_;       // reused across scrapes
  std::vector<uint64_t> ids_;                // cgroup ids of drained_, reused
  std::map<uint64_t, NsTotals> namespaces_;  // by netns inode
  size_t individuals_ = 0;                   // across namespaces
  std::vector<WorkloadTotals> workloads_;    // sticky top K, then "other" and "unknown"
  uint64_t overflow_seen_ = 0;               // the kernel's last overflow total
  uint64_t overflow_total_ = 0;  // ours: never goes backwards when the kernel's restarts
  bool label_netns_ = false;
};

/// Creates the source for --collector.connect-failures=`mode` (auto|on|off). off: nullptr.
/// auto: the source, unavailable when the BPF program cannot be loaded (one log line says
/// why). on: an error naming what is missing (kernel BTF, CAP_BPF/CAP_PERFMON, the
/// tracepoint). `udp_mode` is --collector.connect-failures.udp (auto|syscalls|off; see
/// OpenConnectFailureProbe); a UDP program that cannot work in mode auto is said once in the
/// log. `procfs` finds the cgroup2 mount (<procfs>/self/mountinfo).
Result<std::unique_ptr<HostSource>> MakeConnectFailuresSource(std::string_view mode,
                                                              std::string_view udp_mode,
                                                              const std::string& procfs);
/// The same from a probe of the process's one BPF object (MakeHostSources()): `probe` is the
/// outcome of loading the feature, `udp_note` why the UDP programs did not load (mode auto).
/// Workloads are named from the cgroup2 tree at `cgroup2_root` ("": all "unknown").
Result<std::unique_ptr<HostSource>> MakeConnectFailuresSource(
    std::string_view mode, std::string_view udp_mode, const std::string& cgroup2_root,
    Result<std::unique_ptr<ConnectFailureProbe>> probe, const std::string& udp_note);

}  // namespace sockstate
