// The registration lines: every kernel source the exporter reads. Adding a source is one line
// here (see docs/architecture.md for the rest of what it touches).

#include "sources/connect_failures_source.h"
#include "sources/conntrack_source.h"
#include "sources/occupancy_bound_source.h"
#include "sources/proc_sources.h"
#include "sources/sock_diag_source.h"
#include "sources/source.h"
#include "sources/sysctl_source.h"

namespace sockstate {

std::vector<std::unique_ptr<NetnsSource>> MakeNetnsSources() {
  std::vector<std::unique_ptr<NetnsSource>> s;
  // Order matters: the bound and sock_diag take the port range, sock_diag the bound.
  s.push_back(std::make_unique<SysctlSource>());
  s.push_back(std::make_unique<OccupancyBoundSource>());
  s.push_back(std::make_unique<SockDiagSource>());
  s.push_back(MakeSockstatSource());
  s.push_back(MakeSockstat6Source());
  s.push_back(MakeNetstatSource());
  s.push_back(MakeSnmpSource());
  s.push_back(std::make_unique<ConntrackSource>());  // nat: off / on / auto
  return s;
}

Result<std::vector<std::unique_ptr<HostSource>>> MakeHostSources(const HostSourceOptions& options) {
  std::vector<std::unique_ptr<HostSource>> s;
  // connect() failures from a BPF program (docs/connect-failures.md); null when off.
  auto cf =
      MakeConnectFailuresSource(options.connect_failures, options.connect_failures_udp, "/proc");
  if (!cf.ok()) return cf.status();
  if (*cf) s.push_back(std::move(*cf));
  return s;
}

}  // namespace sockstate
