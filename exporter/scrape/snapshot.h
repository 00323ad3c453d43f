#pragma once
// What one scrape learned about one network namespace: the raw material of the metrics.

#include <optional>
#include <string>
#include <vector>

#include "aggregate/aggregator.h"
#include "sources/procfs.h"

namespace sockstate {

/// Outcome of reading one source (netlink, sysctl, sockstat, sockstat6, netstat, snmp).
struct SourceResult {
  std::string name;
  bool ok = false;
  double duration_seconds = 0;
  std::string error;  // empty when ok
};

/// One namespace's scrape. Value type.
struct TargetSnapshot {
  std::string netns;         // "" for the exporter's own namespace in mode "own"
  std::string container_id;  // from the owning process's cgroup, if any
  std::string pod_uid;
  std::vector<SourceResult> sources;
  bool netlink_ok = false;
  AggregateResult agg;  // valid when netlink_ok
  uint64_t dump_messages = 0;
  std::optional<NetSysctls> sysctls;
  std::optional<SockstatTable> sockstat, sockstat6;
  std::optional<NetstatTable> netstat, snmp;
  double duration_seconds = 0;
  bool ok = true;  // false when the namespace could not be entered at all
};

/// Exporter-wide values that are not per namespace.
struct ExporterStats {
  uint64_t scrapes_total = 0;
  uint64_t dumps_total = 0;
  bool last_reload_ok = true;
  double last_reload_success_timestamp = 0;
  bool label_netns = false;  // add the netns label (namespace discovery on)
  uint64_t namespaces_discovered = 0;
  uint64_t namespaces_skipped = 0;  // beyond max_namespaces or the scrape budget
  long page_size = 4096;
};

}  // namespace sockstate
