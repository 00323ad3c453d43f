#pragma once
// The exporter's YAML configuration (--config.file). Loading validates everything; a bad file
// is an error naming the file, the key path and the line, and never half-applies.

#include <cstdint>
#include <string>
#include <vector>

#include "util/cidr.h"
#include "util/port_list.h"
#include "util/status.h"

namespace sockstate {

/// A named set of outgoing destinations: any address inside one of `cidrs` (empty = any
/// address) with a destination port in `ports` (empty = any port).
struct DestinationGroup {
  std::string name;
  std::vector<Cidr> cidrs;
  PortSet ports;         // empty set = any port
  bool any_port = true;  // == ports.none(), kept for a cheap check on the hot path
};

/// A named set of local service ports for inbound connections (`ports` is never empty).
struct InboundGroup {
  std::string name;
  PortSet ports;
};

/// The `destinations` section. Value type.
struct DestinationConfig {
  std::vector<DestinationGroup> groups;  // first match wins, in file order
  uint32_t top_k = 20;          // unmatched destinations exported individually, by ports used
  uint32_t max_series = 100;    // hard cap on destination label values, groups + top_k + other
  uint32_t max_tuples = 65536;  // tuples tracked per scrape; beyond, counted in "other" only
};

/// The `inbound` section. Value type.
struct InboundConfig {
  std::vector<InboundGroup> groups;
  uint32_t top_k = 20;  // unmatched local ports exported individually, by sockets
  uint32_t max_series = 50;
};

/// The `histograms` section: bucket upper bounds, strictly increasing, > 0. Value type.
/// Most bucket bounds per histogram (the TIME_WAIT one is kept per tuple, so it is small).
inline constexpr size_t kMaxTimeWaitBuckets = 11;
inline constexpr size_t kMaxOccupancyBuckets = 32;

struct HistogramConfig {
  std::vector<double> time_wait_remaining_seconds = {1, 5, 10, 20, 30, 40, 50, 60};
  std::vector<double> occupancy_ratio = {0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.85, 0.95, 1};
};

/// Which network namespaces are inspected (`namespaces.mode`: own, all, list).
enum class NetnsMode { kOwn, kAll, kList };

/// Which namespaces export their kernel counter families (sysctl, sockstat, netstat, snmp)
/// and a success and duration series per source (`namespaces.kernel_counters`).
enum class KernelCounters { kDetailed, kAll };

/// The `namespaces` section. Value type.
struct NamespaceConfig {
  NetnsMode mode = NetnsMode::kOwn;
  std::vector<std::string> names;  // kList: names under /var/run/netns (or absolute paths)
  std::string pattern;             // kList: also every /var/run/netns name matching (glob)
  uint32_t max_namespaces = 64;
  uint32_t parallel_dumps = 1;
  double scrape_budget_seconds = 10;
  /// Other namespaces get the exact sock_diag dump only when their occupancy bound reaches
  /// this (0 = every namespace, as before); once detailed, until the bound falls below
  /// kDetailHysteresis times it. See docs/namespaces.md.
  double detail_threshold = 0.25;
  /// kDetailed: only the namespaces read in detail (the own one, those at detail_threshold or
  /// with their own socket hash); another namespace exports its netns series, its bound and a
  /// failing source only. kAll: every namespace read exports them (docs/fleet.md).
  KernelCounters kernel_counters = KernelCounters::kDetailed;
};

/// A detailed namespace stays detailed until its bound falls below this fraction of
/// namespaces.detail_threshold.
inline constexpr double kDetailHysteresis = 0.8;

/// The `collector` section: how sockets are collected. Value type.
struct CollectorConfig {
  /// bound_inactive sockets (6.8+) are dumped in a request of their own, at most this often;
  /// in between, the last result is reused. Asking for that state makes the kernel walk the
  /// host-wide bind hash (every bound socket of every namespace), which on a busy host costs
  /// ~0.3 us per socket per dump. 0 = every scrape.
  double bound_inactive_interval_seconds = 60;
};

/// auto / on / off switches of the `nat` section.
enum class NatToggle { kAuto, kOn, kOff };

/// One `nat.groups` entry: destinations of one protocol (or both) and the usable NAT ports of
/// the rule that translates them. Value type.
struct NatGroup {
  DestinationGroup destination;  // name, cidrs, ports (matching as in `destinations`)
  uint8_t protocol = 0;          // 0 = TCP and UDP, else IPPROTO_TCP or IPPROTO_UDP
  uint32_t usable_ports = 0;     // ports the NAT may use per tuple; 0 = nat.usable_ports
};

/// The `nat` section: conntrack NAT port occupancy (docs/nat.md). Value type.
struct NatConfig {
  NatToggle enabled = NatToggle::kAuto;
  /// Whether SNAT may take over ports of TIME_WAIT/CLOSE entries (Linux 6.5+); auto = by the
  /// running kernel's version.
  NatToggle time_wait_takeover = NatToggle::kAuto;
  uint32_t usable_ports = 64512;  // masquerade without a range: 1024-65535
  std::vector<NatGroup> groups;   // first match wins, in file order
  uint32_t top_k = 20;            // per protocol
  uint32_t max_series = 100;
  uint32_t max_tuples = 65536;
};

/// Most individually labelled workloads of the connect-failures source.
inline constexpr uint32_t kMaxWorkloadsTopK = 1000;

/// The `connect_failures` section (docs/connect-failures.md). Value type.
struct ConnectFailuresConfig {
  /// Workloads that get their own sockstate_workload_connect_failures_total series, first come
  /// (sticky); later ones are counted in "other". 0..kMaxWorkloadsTopK.
  uint32_t workloads_top_k = 20;
};

/// Limits of the `workloads` section.
inline constexpr uint32_t kMaxWorkloadsPerDestination = 100;
inline constexpr uint32_t kMaxWorkloadSeries = 100000;
inline constexpr uint32_t kMinTimeWaitOwnerSockets = 1024;
inline constexpr uint32_t kMaxTimeWaitOwnerSockets = 1u << 24;

/// The `workloads` section: who holds each destination's ports (docs/workloads.md). Value type.
struct WorkloadsConfig {
  /// Workloads per destination with a series of their own, by ports used; the rest are summed
  /// into workload "other". 0 turns attribution off (no per-socket cost, no series).
  uint32_t top_k = 3;
  /// Most (destination, workload) series naming a workload, across destinations and
  /// namespaces; beyond, the lightest fold into their destination's "other".
  uint32_t max_series = 500;
  /// Records of sockets entering TIME_WAIT the kernel program's ring holds (the latest;
  /// allocated at start: 72 bytes each; a reload does not resize it). TIME_WAIT sockets whose
  /// record was pushed out are "unknown".
  uint32_t time_wait_max_sockets = 65536;
};

/// Limits of the tracker section.
inline constexpr double kMaxReconcileIntervalSeconds = 86400;
inline constexpr double kMaxPeakWindowSeconds = 3600;
inline constexpr uint32_t kMinTrackerEntries = 1024;
inline constexpr uint32_t kMaxTrackerEntries = 1u << 24;

/// `tracker` section: socket counts kept from kernel events (--collector.tracker;
/// docs/architecture.md, "Counts kept from kernel events").
struct TrackerConfig {
  /// Each tracked namespace is walked again and compared with its counts this often (one
  /// namespace at a time, spread over the interval); 0 turns the reconcile off.
  double reconcile_interval_seconds = 900;
  /// The peak series show the highest ports in use over at least half of this window and at
  /// most all of it (it moves in half-window steps).
  double peak_window_seconds = 30;
  /// Map sizes (read at start; a reload does not resize them). Beyond, counts are lost for
  /// the namespace, which falls back to dumps until its next reconcile.
  uint32_t max_tuples = 262144;              // outgoing (namespace, source, destination) tuples
  uint32_t max_time_wait_sockets = 262144;   // TIME_WAIT and request sockets
  uint32_t max_inbound_ports = 65536;        // (namespace, local port) pairs with inbound sockets
  uint32_t max_destinations = 65536;         // destinations with TIME_WAIT sockets
  uint32_t max_listeners = 65536;            // listeners and bound-inactive sockets
  uint32_t max_namespaces = 16384;
};

/// The whole validated configuration. Value type; not synchronized.
/// Most local addresses with UDP series of their own (udp.local_addresses_top_k).
inline constexpr uint32_t kMaxUdpLocalAddressesTopK = 64;
/// The `udp` section (docs/udp.md). Value type.
struct UdpConfig {
  /// Local addresses that get their own sockstate_udp_local_address_* series (those holding the
  /// most ports). 0..kMaxUdpLocalAddressesTopK.
  uint32_t local_addresses_top_k = 8;
};

struct Config {
  CollectorConfig collector;
  DestinationConfig destinations;
  InboundConfig inbound;
  HistogramConfig histograms;
  NamespaceConfig namespaces;
  NatConfig nat;
  ConnectFailuresConfig connect_failures;
  WorkloadsConfig workloads;
  UdpConfig udp;
  TrackerConfig tracker;
};

/// The built-in defaults (used when --config.file is not given); equal to parsing an empty
/// file. Pure; thread-safe.
Config DefaultConfig();

/// Parses YAML text (schema: docs/configuration.md). Every key is optional; empty text or
/// only comments gives DefaultConfig(). `source_name` is used in error messages:
/// "<source_name>:<line>:<column>: <key.path>: <what is wrong>" (1-based line and column;
/// YAML syntax errors read "<source_name>:<line>:<column>: YAML syntax error: ...").
/// Unknown or duplicate keys, wrong types, bad CIDRs, ports outside 1..65535, bad or
/// duplicate group names (and the reserved "other"), values outside their limits,
/// max_series < groups + top_k + 1, empty, unsorted or non-positive histogram buckets and an
/// invalid namespaces.mode are errors. Never throws. Pure; thread-safe.
Result<Config> ParseConfig(const std::string& yaml_text, const std::string& source_name);

/// One key of the config file as the schema (config/schema.h) knows it, worded as
/// docs/configuration.md writes it; an empty default_value or limits is left to the docs'
/// own words. Value type.
struct ConfigKeyDoc {
  std::string path;           // "destinations.groups[].name"
  std::string type;           // "integer", "list of maps", "map" (a section)
  std::string default_value;  // "20", "[]", "own", "required"
  std::string limits;         // "0..10000", "`own`, `all`, `list`"
};

/// Every key of the config file, sections first and then their keys, in schema order. For the
/// docs check (tests/unit/config_schema_test.cpp). Thread-safe.
std::vector<ConfigKeyDoc> DescribeConfig();

/// Reads and parses a file; errors name the file. An unreadable file gives
/// "cannot read config file \"<path>\": <strerror>". Never throws. Thread-safe.
Result<Config> LoadConfigFile(const std::string& path);

}  // namespace sockstate
