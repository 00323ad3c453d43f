#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "config/group_sections.h"
#include "config/yaml_util.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

// Limits of the schema (docs/configuration.md; the group sections' in group_sections.h).
constexpr uint64_t kMaxNamespaces = 4096;
constexpr uint64_t kMaxParallelDumps = 64;

// Walks one YAML document and fills a Config (errors: see YamlWalker); the group sections
// (destinations, inbound, nat) go to GroupSectionParser.
class Parser : public GroupSectionParser {
 public:
  explicit Parser(const std::string& source) : GroupSectionParser(source) {}

  Config Parse(const YAML::Node& root) {
    Config config = DefaultConfig();
    if (root.IsNull()) return config;  // empty file or only comments
    if (!root.IsMap())
      Fail(root, "top level", std::string("expected a map, got ") + KindName(root));
    ForEachKey(root, "",
               {"collector", "destinations", "inbound", "histograms", "namespaces", "nat",
                "connect_failures"},
               [&](const std::string& key, const YAML::Node& value, const std::string& path) {
                 if (value.IsNull()) return;  // "destinations:" alone = defaults
                 if (key == "destinations") ParseDestinations(value, path, config.destinations);
                 if (key == "inbound") ParseInbound(value, path, config.inbound);
                 if (key == "histograms") ParseHistograms(value, path, config.histograms);
                 if (key == "namespaces") ParseNamespaces(value, path, config.namespaces);
                 if (key == "collector") ParseCollector(value, path, config.collector);
                 if (key == "nat") ParseNat(value, path, config.nat);
                 if (key == "connect_failures") {
                   ParseConnectFailures(value, path, config.connect_failures);
                 }
               });
    return config;
  }

 private:
  std::vector<double> Buckets(const YAML::Node& n, const std::string& path, double max,
                              size_t max_count) {
    const YAML::Node& list = List(n, path);
    if (list.size() == 0) Fail(n, path, "must list at least one bucket");
    if (list.size() > max_count) {
      Fail(n, path,
           "at most " + std::to_string(max_count) + " buckets, got " + std::to_string(list.size()));
    }
    std::vector<double> out;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string p = Index(path, i);
      const double v = Number(list[i], p);
      const std::string text = list[i].Scalar();
      if (v <= 0) Fail(list[i], p, "bucket " + text + " must be > 0");
      if (v > max) Fail(list[i], p, "bucket " + text + " out of range (0, 1]");
      if (!out.empty() && v <= out.back()) {
        Fail(list[i], p,
             "bucket " + text + " is not greater than the previous bucket " + list[i - 1].Scalar() +
                 " (buckets must be strictly increasing)");
      }
      out.push_back(v);
    }
    return out;
  }

  void ParseHistograms(const YAML::Node& n, const std::string& path, HistogramConfig& out) {
    ForEachKey(n, path, {"time_wait_remaining_seconds", "occupancy_ratio"},
               [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                 if (key == "time_wait_remaining_seconds") {
                   out.time_wait_remaining_seconds = Buckets(v, p, HUGE_VAL, kMaxTimeWaitBuckets);
                 } else if (key == "occupancy_ratio") {
                   out.occupancy_ratio = Buckets(v, p, 1.0, kMaxOccupancyBuckets);
                 }
               });
  }

  void ParseCollector(const YAML::Node& n, const std::string& path, CollectorConfig& out) {
    ForEachKey(n, path, {"bound_inactive_interval_seconds"},
               [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                 if (key == "bound_inactive_interval_seconds") {
                   out.bound_inactive_interval_seconds = Number(v, p);
                   if (out.bound_inactive_interval_seconds < 0 ||
                       out.bound_inactive_interval_seconds > 86400) {
                     Fail(v, p, v.Scalar() + " out of range 0..86400");
                   }
                 }
               });
  }

  void ParseConnectFailures(const YAML::Node& n, const std::string& path,
                            ConnectFailuresConfig& out) {
    ForEachKey(n, path, {"workloads_top_k"},
               [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                 if (key == "workloads_top_k") {
                   out.workloads_top_k = Integer(v, p, 0, kMaxWorkloadsTopK);
                 }
               });
  }

  void ParseNamespaces(const YAML::Node& n, const std::string& path, NamespaceConfig& out) {
    YAML::Node names_node;
    YAML::Node pattern_node;
    ForEachKey(n, path,
               {"mode", "names", "pattern", "max_namespaces", "parallel_dumps",
                "scrape_budget_seconds", "detail_threshold"},
               [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                 if (key == "mode") {
                   const std::string mode = String(v, p);
                   if (mode == "own") {
                     out.mode = NetnsMode::kOwn;
                   } else if (mode == "all") {
                     out.mode = NetnsMode::kAll;
                   } else if (mode == "list") {
                     out.mode = NetnsMode::kList;
                   } else {
                     Fail(v, p, "invalid mode " + QuoteText(mode) + " (allowed: own, all, list)");
                   }
                 } else if (key == "names") {
                   names_node = v;
                   if (v.IsNull()) return;
                   const YAML::Node& list = List(v, p);
                   for (size_t i = 0; i < list.size(); ++i) {
                     const std::string np = Index(p, i);
                     std::string name = String(list[i], np);
                     const bool absolute = !name.empty() && name[0] == '/';
                     if (name.empty() || name == "." || name == ".." ||
                         (!absolute && name.find('/') != std::string::npos)) {
                       Fail(list[i], np,
                            "invalid namespace " + QuoteText(name) +
                                ": give a name under /var/run/netns or an absolute path");
                     }
                     out.names.push_back(std::move(name));
                   }
                 } else if (key == "pattern") {
                   pattern_node = v;
                   if (!v.IsNull()) out.pattern = String(v, p);
                 } else if (key == "max_namespaces") {
                   out.max_namespaces = Integer(v, p, 1, kMaxNamespaces);
                 } else if (key == "parallel_dumps") {
                   out.parallel_dumps = Integer(v, p, 1, kMaxParallelDumps);
                 } else if (key == "scrape_budget_seconds") {
                   out.scrape_budget_seconds = Number(v, p);
                   if (out.scrape_budget_seconds <= 0) Fail(v, p, v.Scalar() + " must be > 0");
                 } else if (key == "detail_threshold") {
                   out.detail_threshold = Number(v, p);
                   if (!(out.detail_threshold >= 0 && out.detail_threshold <= 1)) {
                     Fail(v, p, v.Scalar() + " must be between 0 and 1");
                   }
                 }
               });
    if (out.mode != NetnsMode::kList) {
      if (!out.names.empty()) {
        Fail(names_node, Child(path, "names"), "only used with mode: list");
      }
      if (!out.pattern.empty()) {
        Fail(pattern_node, Child(path, "pattern"), "only used with mode: list");
      }
    } else if (out.names.empty() && out.pattern.empty()) {
      Fail(n, Child(path, "mode"), "mode \"list\" needs names or a pattern");
    }
  }
};

}  // namespace

Config DefaultConfig() { return Config{}; }

Result<Config> ParseConfig(const std::string& yaml_text, const std::string& source_name) {
  Parser parser(source_name);
  return ParseYamlDocument<Config>(yaml_text, source_name,
                                   [&](const YAML::Node& root) { return parser.Parse(root); });
}

Result<Config> LoadConfigFile(const std::string& path) {
  Result<std::string> text = ReadYamlFile(path, "config file");
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

}  // namespace sockstate
