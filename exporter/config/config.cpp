#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "config/group_sections.h"
#include "config/schema.h"
#include "config/yaml_util.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

// Limits of the schema (docs/configuration.md; the group sections' in group_sections.cpp).
constexpr uint64_t kMaxNamespaces = 4096;
constexpr uint64_t kMaxParallelDumps = 64;
constexpr double kMaxBoundInactiveIntervalSeconds = 86400;

// Histogram bucket bounds: 1..max_count of them, each in (0, max], strictly increasing.
Value<HistogramConfig> Buckets(std::vector<double> HistogramConfig::*field, double max,
                               size_t max_count) {
  const std::string range = "(0, " + FormatNumber(max) + "]";
  const std::string each = max == HUGE_VAL ? "each > 0" : "each in " + range;
  std::string defaults;
  const HistogramConfig default_config;
  for (double v : default_config.*field) {
    defaults += (defaults.empty() ? "" : ", ") + FormatNumber(v);
  }
  Value<HistogramConfig> value;
  value.doc =
      KeyDoc("list of numbers", "[" + defaults + "]",
             "1.." + std::to_string(max_count) + " bounds, " + each + ", strictly increasing");
  value.read = [=](SchemaWalker& w, const YAML::Node& n, const std::string& path,
                   HistogramConfig& out) {
    const YAML::Node& list = w.List(n, path);
    if (list.size() == 0) w.Fail(n, path, "must list at least one bucket");
    if (list.size() > max_count) {
      w.Fail(
          n, path,
          "at most " + std::to_string(max_count) + " buckets, got " + std::to_string(list.size()));
    }
    std::vector<double> bounds;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string p = YamlWalker::Index(path, i);
      const double v = w.Number(list[i], p);
      const std::string text = list[i].Scalar();
      if (v <= 0) w.Fail(list[i], p, "bucket " + text + " must be > 0");
      if (v > max) w.Fail(list[i], p, "bucket " + text + " out of range " + range);
      if (!bounds.empty() && v <= bounds.back()) {
        w.Fail(list[i], p,
               "bucket " + text + " is not greater than the previous bucket " +
                   list[i - 1].Scalar() + " (buckets must be strictly increasing)");
      }
      bounds.push_back(v);
    }
    out.*field = std::move(bounds);
  };
  return value;
}

// namespaces.names: names under /var/run/netns or absolute paths.
Value<NamespaceConfig> NamespaceNames() {
  Value<NamespaceConfig> value;
  value.doc = KeyDoc("list of strings", "[]");
  value.null_is_absent = true;
  value.read = [](SchemaWalker& w, const YAML::Node& n, const std::string& path,
                  NamespaceConfig& out) {
    for (const auto& [item, p] : w.Items(n, path)) {
      std::string name = w.String(item, p);
      const bool absolute = !name.empty() && name[0] == '/';
      if (name.empty() || name == "." || name == ".." ||
          (!absolute && name.find('/') != std::string::npos)) {
        w.Fail(item, p,
               "invalid namespace " + QuoteText(name) +
                   ": give a name under /var/run/netns or an absolute path");
      }
      out.names.push_back(std::move(name));
    }
  };
  return value;
}

// names and pattern only with mode list, which needs one of them.
void CheckNamespaces(SchemaWalker& w, const YAML::Node& n, const std::string& path,
                     NamespaceConfig& out) {
  if (out.mode != NetnsMode::kList) {
    if (!out.names.empty()) w.Fail(n["names"], w.Child(path, "names"), "only used with mode: list");
    if (!out.pattern.empty()) {
      w.Fail(n["pattern"], w.Child(path, "pattern"), "only used with mode: list");
    }
  } else if (out.names.empty() && out.pattern.empty()) {
    w.Fail(n, w.Child(path, "mode"), "mode \"list\" needs names or a pattern");
  }
}

Section<CollectorConfig> CollectorSection() {
  using C = CollectorConfig;
  return {{
      {"bound_inactive_interval_seconds",
       Number(&C::bound_inactive_interval_seconds, InRange(0, kMaxBoundInactiveIntervalSeconds))},
  }};
}

Section<HistogramConfig> HistogramsSection() {
  using H = HistogramConfig;
  return {{
      {"time_wait_remaining_seconds",
       Buckets(&H::time_wait_remaining_seconds, HUGE_VAL, kMaxTimeWaitBuckets)},
      {"occupancy_ratio", Buckets(&H::occupancy_ratio, 1.0, kMaxOccupancyBuckets)},
  }};
}

Section<NamespaceConfig> NamespacesSection() {
  using N = NamespaceConfig;
  const Choices<NetnsMode> modes = {
      "invalid mode",
      {{"own", NetnsMode::kOwn}, {"all", NetnsMode::kAll}, {"list", NetnsMode::kList}}};
  const Choices<KernelCounters> counters = {
      "invalid value", {{"detailed", KernelCounters::kDetailed}, {"all", KernelCounters::kAll}}};
  return {{
              {"mode", OneOf(&N::mode, modes)},
              {"names", NamespaceNames()},
              {"pattern", Text(&N::pattern)},
              {"max_namespaces", Integer(&N::max_namespaces, 1, kMaxNamespaces)},
              {"parallel_dumps", Integer(&N::parallel_dumps, 1, kMaxParallelDumps)},
              {"scrape_budget_seconds", Number(&N::scrape_budget_seconds, Positive())},
              {"detail_threshold", Number(&N::detail_threshold, Fraction())},
              {"kernel_counters", OneOf(&N::kernel_counters, counters)},
          },
          CheckNamespaces};
}

Section<ConnectFailuresConfig> ConnectFailuresSection() {
  return {{
      {"workloads_top_k", Integer(&ConnectFailuresConfig::workloads_top_k, 0, kMaxWorkloadsTopK)},
  }};
}

Section<WorkloadsConfig> WorkloadsSection() {
  using W = WorkloadsConfig;
  return {{
      {"top_k", Integer(&W::top_k, 0, kMaxWorkloadsPerDestination)},
      {"max_series", Integer(&W::max_series, 1, kMaxWorkloadSeries)},
      {"time_wait_max_sockets",
       Integer(&W::time_wait_max_sockets, kMinTimeWaitOwnerSockets, kMaxTimeWaitOwnerSockets)},
  }};
}

Section<UdpConfig> UdpSection() {
  return {{
      {"local_addresses_top_k",
       Integer(&UdpConfig::local_addresses_top_k, 0, kMaxUdpLocalAddressesTopK)},
  }};
}

Section<TrackerConfig> TrackerSection() {
  using T = TrackerConfig;
  return {{
      {"reconcile_interval_seconds",
       Number(&T::reconcile_interval_seconds, InRange(0, kMaxReconcileIntervalSeconds))},
      {"peak_window_seconds", Number(&T::peak_window_seconds, InRange(1, kMaxPeakWindowSeconds))},
      {"max_tuples", Integer(&T::max_tuples, kMinTrackerEntries, kMaxTrackerEntries)},
      {"max_time_wait_sockets",
       Integer(&T::max_time_wait_sockets, kMinTrackerEntries, kMaxTrackerEntries)},
      {"max_inbound_ports", Integer(&T::max_inbound_ports, kMinTrackerEntries, kMaxTrackerEntries)},
      {"max_destinations", Integer(&T::max_destinations, kMinTrackerEntries, kMaxTrackerEntries)},
      {"max_listeners", Integer(&T::max_listeners, kMinTrackerEntries, kMaxTrackerEntries)},
      {"max_namespaces", Integer(&T::max_namespaces, kMinTrackerEntries, kMaxTrackerEntries)},
  }};
}

// The whole file: one row per section, in the order an unknown key's error lists them.
const Section<Config>& ConfigSection() {
  static const auto* const kSection = new Section<Config>{{
      {"collector", Map(&Config::collector, CollectorSection())},
      {"destinations", Map(&Config::destinations, DestinationsSection())},
      {"inbound", Map(&Config::inbound, InboundSection())},
      {"histograms", Map(&Config::histograms, HistogramsSection())},
      {"namespaces", Map(&Config::namespaces, NamespacesSection())},
      {"nat", Map(&Config::nat, NatSection())},
      {"connect_failures", Map(&Config::connect_failures, ConnectFailuresSection())},
      {"workloads", Map(&Config::workloads, WorkloadsSection())},
      {"udp", Map(&Config::udp, UdpSection())},
      {"tracker", Map(&Config::tracker, TrackerSection())},
  }};
  return *kSection;
}

}  // namespace

Config DefaultConfig() { return Config{}; }

std::vector<ConfigKeyDoc> DescribeConfig() { return DescribeSection(ConfigSection()); }

Result<Config> ParseConfig(const std::string& yaml_text, const std::string& source_name) {
  SchemaWalker walker(source_name);
  return ParseYamlDocument<Config>(yaml_text, source_name, [&](const YAML::Node& root) {
    Config config;
    if (!root.IsNull()) ReadSection(walker, root, "", ConfigSection(), config);
    return config;
  });
}

Result<Config> LoadConfigFile(const std::string& path) {
  Result<std::string> text = ReadYamlFile(path, "config file");
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

}  // namespace sockstate
