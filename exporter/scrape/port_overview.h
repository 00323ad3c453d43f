#pragma once
// The incident view's data: which destinations are fullest, and the kernel settings behind
// them, extracted from one scrape's metric families. One extraction, two renderers: the
// landing page (http/landing_page.h) and the terminal view (scrape/terminal_view.h).
// Pure: reads only the families it is given, never throws on missing or odd series.

#include <prometheus/metric_family.h>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sockstate {

/// Destinations shown by default: the fullest ten.
inline constexpr size_t kOverviewRows = 10;

/// How many TIME_WAIT sockets of a destination are back (expired) within `seconds`.
struct TimeWaitReturn {
  double seconds = 0;
  double sockets = 0;
};

/// One workload holding ports of a destination (docs/workloads.md). Value type.
struct WorkloadCell {
  std::string kind;  // pod, container, systemd_unit, cgroup, unknown, other
  std::string name;
  double ports_used = 0;
  std::vector<std::pair<std::string, double>> states;  // non-zero states, largest first
};

/// Workloads shown per destination: the heaviest three.
inline constexpr size_t kOverviewWorkloads = 3;

/// "container 3f4c6b0e9a5d" (ids cut to 12 characters, as docker ps does), "pod <uid>",
/// "nginx.service", "/batch/job-7", "unknown", "other": how both views name a workload. Pure.
std::string WorkloadName(const WorkloadCell& w);

struct DestinationRow;
/// "b.service 7 (time_wait), container 3f4c6b0e9a5d 5 (established), unknown 4 (time_wait)":
/// a row's workloads with their ports used and their largest state, "-" when none. Pure.
std::string WorkloadsSummary(const DestinationRow& r);

/// One destination of one namespace. Value type.
struct DestinationRow {
  std::string netns;                     // "" when namespace discovery is off
  std::string destination;               // group name, addr:port or "other"
  std::optional<double> occupancy;       // sockstate_destination_occupancy_ratio
  std::optional<double> ports_used_max;  // fullest tuple (absent for an untracked "other")
  std::optional<double> usable;          // the namespace's sockstate_ephemeral_port_usable_ports
  double ports_used = 0;                 // summed over tuples
  double tuples = 0;
  std::vector<std::pair<std::string, double>> states;  // non-zero states, in exported order
  double time_wait = 0;                                // TIME_WAIT sockets (histogram count)
  std::vector<TimeWaitReturn> time_wait_returns;       // up to three cumulative buckets
  /// Who holds its ports: the heaviest workloads by ports used (at most kOverviewWorkloads,
  /// ties by sockets, then name); empty when attribution is off.
  std::vector<WorkloadCell> workloads;
};

/// One kernel setting (or port-budget figure) with what it does, and its value per namespace
/// grouped by value: {"32768-60999", {"", "pod-a"}} means those namespaces share the value.
struct SettingRow {
  std::string name;     // e.g. "net.ipv4.ip_local_port_range"
  std::string meaning;  // one line: what it does
  std::vector<std::pair<std::string, std::vector<std::string>>> values;
};

/// Connected destinations shown per UDP row: the three with the most sockets.
inline constexpr size_t kOverviewUdpDestinations = 3;

/// One namespace's UDP ports (source udp, docs/udp.md): one budget shared by every destination
/// and both families. Value type.
struct UdpRow {
  std::string netns;                // "" when namespace discovery is off
  std::optional<double> occupancy;  // sockstate_udp_occupancy_ratio
  double ports_used = 0;            // sockstate_udp_ephemeral_ports_used
  std::optional<double> usable;     // sockstate_udp_ephemeral_port_usable_ports
  double sockets = 0;               // UDP sockets, both families and states
  /// "unconnected", then "connected", summed over families; only non-zero ones.
  std::vector<std::pair<std::string, double>> states;
  double sharing_ports = 0;  // sockstate_udp_sockets_sharing_ports
  /// Connected sockets per destination, most first (ties by name), at most
  /// kOverviewUdpDestinations.
  std::vector<std::pair<std::string, double>> destinations;
  /// UDP port-allocation failures counted since the exporter started (absent when not counted).
  std::optional<double> failures;
};

/// Everything the incident view shows. Value type.
struct PortOverview {
  std::vector<DestinationRow> rows;  // fullest first, at most the requested number
  size_t destinations_total = 0;     // destinations with sockets (all namespaces)
  /// The scrape has the udp source's families (false: the source is off, no UDP section).
  bool udp_read = false;
  std::vector<UdpRow> udp;           // namespaces with UDP sockets, fullest first, at most max_rows
  size_t udp_total = 0;              // namespaces with UDP sockets
  size_t namespaces = 0;             // namespaces seen in the scrape
  std::vector<SettingRow> settings;  // in a fixed order; settings absent everywhere omitted
  std::vector<std::string> failing;  // "netlink" or "netlink (netns pod-a)": sources at 0
};

/// Extracts the overview from a scrape's families. Destinations without any socket are left
/// out (a configured group at 0 says nothing about exhaustion). Rows are sorted by occupancy
/// (descending), then ports used by the fullest tuple, then ports used, then netns and destination
/// (ascending), and cut to `max_rows`. UDP rows likewise: namespaces with UDP sockets by
/// occupancy, ports used, sockets (descending), then netns. Pure; thread-safe.
PortOverview BuildPortOverview(const std::vector<prometheus::MetricFamily>& families,
                               size_t max_rows = kOverviewRows);

/// A number as the page and the terminal show it: integers without decimals ("28232"),
/// others with up to 3 significant decimals ("0.5", "1.25"). Pure.
std::string FormatNumber(double v);

/// A ratio as a percentage with one decimal ("50.0%"). Pure.
std::string FormatPercent(double ratio);

/// "" -> "(own)", other netns labels unchanged: how a namespace is named in both views. Pure.
std::string NamespaceName(const std::string& netns);

/// Namespaces as both views list them: "(own), pod-a, pod-b", at most `max` names then
/// " and N more". Pure.
std::string NamespaceList(const std::vector<std::string>& netns, size_t max = 6);

}  // namespace sockstate
