// The registration lines: every kernel source the exporter reads. Adding a source is one line
// here (see docs/architecture.md for the rest of what it touches).

#include <fcntl.h>
#include <unistd.h>

#include "kernel/tracker_probe.h"
#include "sources/connect_failures_source.h"
#include "sources/conntrack_source.h"
#include "sources/occupancy_bound_source.h"
#include "sources/proc_sources.h"
#include "sources/sock_diag_source.h"
#include "sources/source.h"
#include "sources/sysctl_source.h"
#include "sources/time_wait_owners_source.h"
#include "sources/tracker_source.h"
#include "sources/udp_source.h"

namespace sockstate {

std::vector<std::unique_ptr<NetnsSource>> MakeNetnsSources() {
  std::vector<std::unique_ptr<NetnsSource>> s;
  // Order matters: the bound, sock_diag and udp take the port range, sock_diag and udp the
  // bound.
  s.push_back(std::make_unique<SysctlSource>());
  s.push_back(std::make_unique<OccupancyBoundSource>());
  s.push_back(std::make_unique<SockDiagSource>());
  s.push_back(std::make_unique<UdpSource>());
  s.push_back(MakeSockstatSource());
  s.push_back(MakeSockstat6Source());
  s.push_back(MakeNetstatSource());
  s.push_back(MakeSnmpSource());
  s.push_back(MakeSnmp6Source());
  s.push_back(std::make_unique<ConntrackSource>());  // nat: off / on / auto
  return s;
}

Result<HostSources> MakeHostSources(const HostSourceOptions& options) {
  // Every kernel-event feature in the process's one BPF object, loaded once.
  const UdpFailureOptions udp{options.connect_failures_udp};
  // The tracker follows TIME_WAIT and request sockets by their timer callbacks (kernel
  // symbols) and bind()/close() through the cgroup v2 root: without them it cannot be exact.
  std::string tracker_mode = options.tracker;
  Status tracker_missing;
  if (tracker_mode != "off") {
    const std::string sym = TrackerMissingKernelSymbol();
    if (!sym.empty()) {
      tracker_missing = Status::Error("/proc/kallsyms shows no address for " + sym +
                                      " (needs CAP_SYSLOG, or kernel.kptr_restrict below 2)");
    }
  }
  BpfAttachOptions attach;
  if (tracker_mode != "off" && !options.cgroup2_root.empty()) {
    attach.cgroup_fd = open(options.cgroup2_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (tracker_missing.ok() && tracker_mode != "off" && attach.cgroup_fd < 0) {
    tracker_missing = Status::Error("no cgroup v2 hierarchy to attach the bind()/close() hooks to");
  }
  std::vector<BpfMapSize> sizes = TrackerMapSizes(options.tracker_config);
  sizes.push_back({kTimeWaitSocketsMap, options.time_wait_max_sockets});
  const BpfFeatureSet bpf = LoadBpfFeatures(
      {ConnectFailureFeature(options.connect_failures, udp),
       {"--collector.time-wait-owners", options.time_wait_owners, TimeWaitOwnerPrograms(), {}},
       {"--collector.tracker", tracker_missing.ok() ? tracker_mode : "off", TrackerPrograms(), {}}},
      sizes, attach);
  if (attach.cgroup_fd >= 0) close(attach.cgroup_fd);  // the links hold the cgroup
  HostSources s;
  // connect() failures (docs/connect-failures.md); null when off.
  Result<std::unique_ptr<ConnectFailureProbe>> probe = bpf.status[0];
  if (bpf.loaded(0)) probe = OpenConnectFailureProbe(bpf.object, udp, bpf.variant[0]);
  auto cf = MakeConnectFailuresSource(options.connect_failures, options.connect_failures_udp,
                                      options.cgroup2_root, std::move(probe), bpf.notes[0]);
  if (!cf.ok()) return cf.status();
  if (*cf) s.sources.push_back(std::move(*cf));
  // Owners of TIME_WAIT sockets (docs/workloads.md).
  auto tw = MakeTimeWaitOwners(options.time_wait_owners, options.time_wait_max_sockets,
                               bpf.status[1], bpf.object);
  if (!tw.ok()) return tw.status();
  s.time_wait_owners = tw->owners;
  if (tw->source) s.sources.push_back(std::move(tw->source));
  // Socket counts kept from kernel events (docs/architecture.md); null when off.
  auto tracker = MakeTracker(tracker_mode, options.tracker_config,
                             tracker_missing.ok() ? bpf.status[2] : tracker_missing,
                             bpf.loaded(2) ? bpf.object : nullptr);
  if (!tracker.ok()) return tracker.status();
  s.tracker = tracker->tracker;
  // Served by the tracker, a namespace has no dump: its TIME_WAIT sockets come from the
  // tracker's map to be looked up in the owner ring.
  if (s.tracker && s.time_wait_owners && s.time_wait_owners->available()) {
    s.tracker->ReadTimeWaitSockets(true);
  }
  if (tracker->source) s.sources.push_back(std::move(tracker->source));
  return s;
}

}  // namespace sockstate
