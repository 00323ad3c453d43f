#include "config/config.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <map>
#include <set>
#include <string_view>

#include "config/yaml_util.h"
#include "util/file_util.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

// Limits of the schema (docs/configuration.md).
constexpr uint64_t kMaxTopK = 10000;
constexpr uint64_t kMaxSeries = 100000;
constexpr uint64_t kMinTuples = 1000;
constexpr uint64_t kMaxTuples = 10000000;
constexpr uint64_t kMaxNamespaces = 4096;
constexpr uint64_t kMaxParallelDumps = 64;
constexpr std::string_view kOther = "other";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Walks one YAML document and fills a Config (errors: see YamlWalker).
class Parser : public YamlWalker {
 public:
  explicit Parser(const std::string& source) : YamlWalker(source) {}

  Config Parse(const YAML::Node& root) {
    Config config = DefaultConfig();
    if (root.IsNull()) return config;  // empty file or only comments
    if (!root.IsMap())
      Fail(root, "top level", std::string("expected a map, got ") + KindName(root));
    ForEachKey(root, "",
               {"collector", "destinations", "inbound", "histograms", "namespaces", "nat"},
               [&](const std::string& key, const YAML::Node& value, const std::string& path) {
                 if (value.IsNull()) return;  // "destinations:" alone = defaults
                 if (key == "destinations") ParseDestinations(value, path, config.destinations);
                 if (key == "inbound") ParseInbound(value, path, config.inbound);
                 if (key == "histograms") ParseHistograms(value, path, config.histograms);
                 if (key == "namespaces") ParseNamespaces(value, path, config.namespaces);
                 if (key == "collector") ParseCollector(value, path, config.collector);
                 if (key == "nat") ParseNat(value, path, config.nat);
               });
    return config;
  }

 private:
  // One entry of a `ports` list: an integer or a string "a-b" (also "a,b-c"), all in 1..65535.
  void AddPorts(const YAML::Node& n, const std::string& path, PortSet& set) {
    if (!n.IsScalar()) {
      Fail(n, path, std::string("expected a port or a range \"a-b\", got ") + KindName(n));
    }
    const std::string& s = n.Scalar();
    if (IsDigits(s) || (s.size() > 1 && s[0] == '-' && IsDigits(s.substr(1)))) {
      if (s[0] == '-' || s.size() > 5 || std::stoul(s) < 1 || std::stoul(s) > 65535) {
        Fail(n, path, "port " + s + " out of range 1..65535");
      }
      set.set(std::stoul(s));
      return;
    }
    Result<PortSet> parsed = ParsePortList(s);
    if (!parsed.ok()) {
      Fail(n, path, "invalid port range " + QuoteText(s) + ": " + parsed.status().message());
    }
    if (parsed->none()) Fail(n, path, "empty port range " + QuoteText(s));
    if (parsed->test(0))
      Fail(n, path, "port range " + QuoteText(s) + ": port 0 out of range 1..65535");
    set |= *parsed;
  }

  PortSet Ports(const YAML::Node& n, const std::string& path) {
    PortSet set;
    const YAML::Node& list = List(n, path);
    for (size_t i = 0; i < list.size(); ++i) AddPorts(list[i], Index(path, i), set);
    return set;
  }

  // Checks a group name and records it; `numeric_ok` is false where a number would collide
  // with port-number label values.
  std::string GroupName(const YAML::Node& n, const std::string& path, bool numeric_ok,
                        std::map<std::string, std::string>& names) {
    std::string name = String(n, path);
    if (name.empty()) Fail(n, path, "group name must not be empty");
    for (char c : name) {
      if (!IsNameChar(c)) {
        Fail(n, path,
             "invalid group name " + QuoteText(name) +
                 ": use only letters, digits, '_', '.' and '-'");
      }
    }
    if (name == kOther) {
      Fail(n, path, "group name \"other\" is reserved (it labels everything unmatched)");
    }
    if (!numeric_ok && IsDigits(name)) {
      Fail(n, path,
           "group name " + QuoteText(name) +
               " is all digits and would clash with port-number labels");
    }
    auto [it, inserted] = names.emplace(name, path);
    if (!inserted) {
      Fail(n, path,
           "duplicate group name " + QuoteText(name) + " (first used at " + it->second + ")");
    }
    return name;
  }

  void CheckSeries(const YAML::Mark& mark, const std::string& path, size_t groups, uint32_t top_k,
                   uint32_t max_series) {
    const uint64_t need = groups + uint64_t{top_k} + 1;
    if (max_series < need) {
      Fail(mark, path,
           std::to_string(max_series) + " is too small: " + std::to_string(groups) +
               " groups + top_k " + std::to_string(top_k) + " + 1 (\"other\") need at least " +
               std::to_string(need));
    }
  }

  // A ranked section's groups (parsed by `groups`), top_k and max_series (checked against the
  // groups and top_k); its other keys go to `other`.
  template <typename Out, typename GroupsFn, typename OtherFn>
  void ParseRanked(const YAML::Node& n, const std::string& path,
                   std::initializer_list<std::string_view> allowed, Out& out, GroupsFn&& groups,
                   OtherFn&& other) {
    YAML::Mark series_mark = n.Mark();
    ForEachKey(n, path, allowed,
               [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                 if (key == "groups") {
                   if (!v.IsNull()) groups(v, p, out.groups);
                 } else if (key == "top_k") {
                   out.top_k = Integer(v, p, 0, kMaxTopK);
                 } else if (key == "max_series") {
                   out.max_series = Integer(v, p, 1, kMaxSeries);
                   series_mark = v.Mark();
                 } else {
                   other(key, v, p);
                 }
               });
    CheckSeries(series_mark, Child(path, "max_series"), out.groups.size(), out.top_k,
                out.max_series);
  }

  void ParseDestinations(const YAML::Node& n, const std::string& path, DestinationConfig& out) {
    ParseRanked(
        n, path, {"groups", "top_k", "max_series", "max_tuples"}, out,
        [&](const YAML::Node& v, const std::string& p, auto& groups) {
          ParseDestinationGroups(v, p, groups);
        },
        [&](const std::string& key, const YAML::Node& v, const std::string& p) {
          out.max_tuples = Integer(v, p, kMinTuples, kMaxTuples);  // key == "max_tuples"
        });
  }

  // Each entry of a groups list: a map of `allowed` keys, each handed to
  // key_fn(key, value, path, names, group); missing(group) names a required key it lacks.
  template <typename Group, typename KeyFn, typename MissingFn>
  void ParseGroupList(const YAML::Node& n, const std::string& path,
                      std::initializer_list<std::string_view> allowed, std::vector<Group>& out,
                      KeyFn&& key_fn, MissingFn&& missing) {
    std::map<std::string, std::string> names;
    for (const auto& [g, gpath] : Items(n, path)) {
      Group group;
      ForEachKey(g, gpath, allowed,
                 [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                   key_fn(key, v, p, names, group);
                 });
      if (const char* key = missing(group)) {
        Fail(g, gpath, "missing required key \"" + std::string(key) + "\"");
      }
      out.push_back(std::move(group));
    }
  }

  // name, cidrs and ports of a destination group (also a nat group's destination).
  void DestinationGroupKey(const std::string& key, const YAML::Node& v, const std::string& p,
                           std::map<std::string, std::string>& names, DestinationGroup& group) {
    if (key == "name") {
      group.name = GroupName(v, p, /*numeric_ok=*/true, names);
    } else if (key == "cidrs") {
      if (v.IsNull()) return;
      for (const auto& [c, cpath] : Items(v, p)) {
        std::string text = String(c, cpath);
        Result<Cidr> cidr = ParseCidr(text);
        if (!cidr.ok()) {
          Fail(c, cpath, "invalid CIDR " + QuoteText(text) + ": " + cidr.status().message());
        }
        group.cidrs.push_back(*cidr);
      }
    } else if (key == "ports") {
      if (v.IsNull()) return;
      group.ports = Ports(v, p);
      group.any_port = group.ports.none();
    }
  }

  void ParseDestinationGroups(const YAML::Node& n, const std::string& path,
                              std::vector<DestinationGroup>& out) {
    ParseGroupList(
        n, path, {"name", "cidrs", "ports"}, out,
        [&](const std::string& key, const YAML::Node& v, const std::string& p,
            std::map<std::string, std::string>& names,
            DestinationGroup& group) { DestinationGroupKey(key, v, p, names, group); },
        [](const DestinationGroup& group) { return group.name.empty() ? "name" : nullptr; });
  }

  void ParseInbound(const YAML::Node& n, const std::string& path, InboundConfig& out) {
    ParseRanked(
        n, path, {"groups", "top_k", "max_series"}, out,
        [&](const YAML::Node& v, const std::string& p, auto& groups) {
          ParseInboundGroups(v, p, groups);
        },
        [](const std::string&, const YAML::Node&, const std::string&) {});
  }

  void ParseInboundGroups(const YAML::Node& n, const std::string& path,
                          std::vector<InboundGroup>& out) {
    ParseGroupList(
        n, path, {"name", "ports"}, out,
        [&](const std::string& key, const YAML::Node& v, const std::string& p,
            std::map<std::string, std::string>& names, InboundGroup& group) {
          if (key == "name") {
            group.name = GroupName(v, p, /*numeric_ok=*/false, names);
          } else if (key == "ports") {
            if (!v.IsNull()) group.ports = Ports(v, p);
            if (group.ports.none()) Fail(v, p, "must list at least one port");
          }
        },
        [](const InboundGroup& group) -> const char* {
          if (group.name.empty()) return "name";
          return group.ports.none() ? "ports" : nullptr;
        });
  }

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

  void ParseNamespaces(const YAML::Node& n, const std::string& path, NamespaceConfig& out) {
    YAML::Node names_node;
    YAML::Node pattern_node;
    ForEachKey(
        n, path,
        {"mode", "names", "pattern", "max_namespaces", "parallel_dumps", "scrape_budget_seconds",
         "detail_threshold"},
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

  // ---- nat (docs/nat.md) ----

  NatToggle Toggle(const YAML::Node& v, const std::string& p) {
    const std::string s = String(v, p);
    if (s == "auto") return NatToggle::kAuto;
    if (s == "on" || s == "true") return NatToggle::kOn;
    if (s == "off" || s == "false") return NatToggle::kOff;
    Fail(v, p, "invalid value " + QuoteText(s) + " (allowed: auto, on, off)");
  }

  // `usable_ports`: a port range "a-b" (or list of ports and ranges); the number of ports.
  uint32_t UsablePorts(const YAML::Node& v, const std::string& p) {
    PortSet set;
    if (v.IsSequence()) {
      set = Ports(v, p);
    } else {
      AddPorts(v, p, set);
    }
    if (set.none()) Fail(v, p, "must name at least one port");
    return uint32_t(set.count());
  }

  void ParseNat(const YAML::Node& n, const std::string& path, NatConfig& out) {
    ParseRanked(
        n, path,
        {"enabled", "time_wait_takeover", "usable_ports", "groups", "top_k", "max_series",
         "max_tuples"},
        out,
        [&](const YAML::Node& v, const std::string& p, auto& groups) {
          ParseNatGroups(v, p, groups);
        },
        [&](const std::string& key, const YAML::Node& v, const std::string& p) {
          if (key == "enabled") {
            out.enabled = Toggle(v, p);
          } else if (key == "time_wait_takeover") {
            out.time_wait_takeover = Toggle(v, p);
          } else if (key == "usable_ports") {
            out.usable_ports = UsablePorts(v, p);
          } else if (key == "max_tuples") {
            out.max_tuples = Integer(v, p, kMinTuples, kMaxTuples);
          }
        });
  }

  void ParseNatGroups(const YAML::Node& n, const std::string& path, std::vector<NatGroup>& out) {
    ParseGroupList(
        n, path, {"name", "cidrs", "ports", "protocol", "usable_ports"}, out,
        [&](const std::string& key, const YAML::Node& v, const std::string& p,
            std::map<std::string, std::string>& names, NatGroup& group) {
          if (key == "protocol") {
            const std::string proto = String(v, p);
            if (proto == "tcp") {
              group.protocol = 6;
            } else if (proto == "udp") {
              group.protocol = 17;
            } else if (proto == "any") {
              group.protocol = 0;
            } else {
              Fail(v, p, "invalid protocol " + QuoteText(proto) + " (allowed: tcp, udp, any)");
            }
          } else if (key == "usable_ports") {
            group.usable_ports = UsablePorts(v, p);
          } else {
            DestinationGroupKey(key, v, p, names, group.destination);
          }
        },
        [](const NatGroup& group) { return group.destination.name.empty() ? "name" : nullptr; });
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
