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

#include "sources/procfs.h"
#include "util/text_util.h"
#include "config/yaml_util.h"

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

// Thrown inside this file only, caught by ParseConfig: the complete error message.
struct ConfigError {
  std::string message;
};

std::string Join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (auto item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

const char* KindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing (null)";
    default:
      return "an undefined node";
  }
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Walks one YAML document and fills a Config; every error throws ConfigError with
// "<source>:<line>:<column>: <path>: <message>".
class Parser {
 public:
  explicit Parser(const std::string& source) : source_(source) {}

  [[noreturn]] void Fail(const YAML::Mark& mark, const std::string& path,
                         const std::string& message) const {
    std::string where = source_;
    if (!mark.is_null()) {
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    throw ConfigError{where + ": " + path + ": " + message};
  }
  [[noreturn]] void Fail(const YAML::Node& n, const std::string& path,
                         const std::string& message) const {
    Fail(n.Mark(), path, message);
  }

  Config Parse(const YAML::Node& root) {
    Config config = DefaultConfig();
    if (root.IsNull()) return config;  // empty file or only comments
    if (!root.IsMap())
      Fail(root, "top level", std::string("expected a map, got ") + KindName(root));
    ForEachKey(root, "", {"collector", "destinations", "inbound", "histograms", "namespaces"},
               [&](const std::string& key, const YAML::Node& value, const std::string& path) {
                 if (value.IsNull()) return;  // "destinations:" alone = defaults
                 if (key == "destinations") ParseDestinations(value, path, config.destinations);
                 if (key == "inbound") ParseInbound(value, path, config.inbound);
                 if (key == "histograms") ParseHistograms(value, path, config.histograms);
                 if (key == "namespaces") ParseNamespaces(value, path, config.namespaces);
                 if (key == "collector") ParseCollector(value, path, config.collector);
               });
    return config;
  }

 private:
  static std::string Child(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string Index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  // Calls fn(key, value, path) for each entry of map `n`, rejecting unknown, duplicate and
  // non-scalar keys.
  template <typename Fn>
  void ForEachKey(const YAML::Node& n, const std::string& path,
                  std::initializer_list<std::string_view> allowed, Fn&& fn) {
    if (!n.IsMap()) {
      Fail(n, path.empty() ? "top level" : path, std::string("expected a map, got ") + KindName(n));
    }
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      // it-> yields a temporary pair: copy the (reference-counted) nodes out of it.
      const YAML::Node key_node = it->first;
      const YAML::Node value = it->second;
      if (!key_node.IsScalar()) {
        Fail(key_node, path.empty() ? "top level" : path,
             std::string("keys must be plain strings, got ") + KindName(key_node));
      }
      const std::string key = key_node.Scalar();
      const std::string key_path = Child(path, key);
      bool known = false;
      for (auto a : allowed) known = known || a == key;
      if (!known) {
        Fail(key_node, key_path,
             "unknown key " + QuoteText(key) + " (allowed: " + Join(allowed) + ")");
      }
      if (!seen.insert(key).second) Fail(key_node, key_path, "duplicate key " + QuoteText(key));
      fn(key, value, key_path);
    }
  }

  std::string String(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) Fail(n, path, std::string("expected a string, got ") + KindName(n));
    return n.Scalar();
  }

  uint64_t Integer(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi) {
    if (!n.IsScalar()) Fail(n, path, std::string("expected an integer, got ") + KindName(n));
    const std::string& s = n.Scalar();
    uint64_t v = 0;
    const char* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), end, v);
    if (s.empty() || ptr != end || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      if (!s.empty() && s[0] == '-' && s.size() > 1 && IsDigits(s.substr(1))) {
        Fail(n, path, s + " out of range " + std::to_string(lo) + ".." + std::to_string(hi));
      }
      Fail(n, path, "expected an integer, got " + QuoteText(s));
    }
    if (ec == std::errc::result_out_of_range || v < lo || v > hi) {
      Fail(n, path, s + " out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return v;
  }
  static bool IsDigits(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  }

  double Number(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) Fail(n, path, std::string("expected a number, got ") + KindName(n));
    const std::string& s = n.Scalar();
    double v = 0;
    const char* begin = s.data();
    const char* end = begin + s.size();
    if (begin != end && *begin == '+') ++begin;
    auto [ptr, ec] = std::from_chars(begin, end, v);
    if (s.empty() || ptr != end || ec != std::errc() || !std::isfinite(v)) {
      Fail(n, path, "expected a number, got " + QuoteText(s));
    }
    return v;
  }

  const YAML::Node& List(const YAML::Node& n, const std::string& path) {
    if (!n.IsSequence()) Fail(n, path, std::string("expected a list, got ") + KindName(n));
    return n;
  }

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

  void ParseDestinations(const YAML::Node& n, const std::string& path, DestinationConfig& out) {
    YAML::Mark series_mark = n.Mark();
    std::string series_path = Child(path, "max_series");
    ForEachKey(n, path, {"groups", "top_k", "max_series", "max_tuples"},
               [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                 if (key == "groups") {
                   if (!v.IsNull()) ParseDestinationGroups(v, p, out.groups);
                 } else if (key == "top_k") {
                   out.top_k = Integer(v, p, 0, kMaxTopK);
                 } else if (key == "max_series") {
                   out.max_series = Integer(v, p, 1, kMaxSeries);
                   series_mark = v.Mark();
                 } else if (key == "max_tuples") {
                   out.max_tuples = Integer(v, p, kMinTuples, kMaxTuples);
                 }
               });
    CheckSeries(series_mark, series_path, out.groups.size(), out.top_k, out.max_series);
  }

  void ParseDestinationGroups(const YAML::Node& n, const std::string& path,
                              std::vector<DestinationGroup>& out) {
    std::map<std::string, std::string> names;
    const YAML::Node& list = List(n, path);
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& g = list[i];
      const std::string gpath = Index(path, i);
      DestinationGroup group;
      bool has_name = false;
      ForEachKey(g, gpath, {"name", "cidrs", "ports"},
                 [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                   if (key == "name") {
                     group.name = GroupName(v, p, /*numeric_ok=*/true, names);
                     has_name = true;
                   } else if (key == "cidrs") {
                     if (v.IsNull()) return;
                     const YAML::Node& cidrs = List(v, p);
                     for (size_t j = 0; j < cidrs.size(); ++j) {
                       const std::string cpath = Index(p, j);
                       std::string text = String(cidrs[j], cpath);
                       Result<Cidr> c = ParseCidr(text);
                       if (!c.ok()) {
                         Fail(cidrs[j], cpath,
                              "invalid CIDR " + QuoteText(text) + ": " + c.status().message());
                       }
                       group.cidrs.push_back(*c);
                     }
                   } else if (key == "ports") {
                     if (v.IsNull()) return;
                     group.ports = Ports(v, p);
                     group.any_port = group.ports.none();
                   }
                 });
      if (!has_name) Fail(g, gpath, "missing required key \"name\"");
      out.push_back(std::move(group));
    }
  }

  void ParseInbound(const YAML::Node& n, const std::string& path, InboundConfig& out) {
    YAML::Mark series_mark = n.Mark();
    std::string series_path = Child(path, "max_series");
    ForEachKey(n, path, {"groups", "top_k", "max_series"},
               [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                 if (key == "groups") {
                   if (!v.IsNull()) ParseInboundGroups(v, p, out.groups);
                 } else if (key == "top_k") {
                   out.top_k = Integer(v, p, 0, kMaxTopK);
                 } else if (key == "max_series") {
                   out.max_series = Integer(v, p, 1, kMaxSeries);
                   series_mark = v.Mark();
                 }
               });
    CheckSeries(series_mark, series_path, out.groups.size(), out.top_k, out.max_series);
  }

  void ParseInboundGroups(const YAML::Node& n, const std::string& path,
                          std::vector<InboundGroup>& out) {
    std::map<std::string, std::string> names;
    const YAML::Node& list = List(n, path);
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& g = list[i];
      const std::string gpath = Index(path, i);
      InboundGroup group;
      bool has_name = false;
      bool has_ports = false;
      ForEachKey(g, gpath, {"name", "ports"},
                 [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                   if (key == "name") {
                     group.name = GroupName(v, p, /*numeric_ok=*/false, names);
                     has_name = true;
                   } else if (key == "ports") {
                     if (!v.IsNull()) group.ports = Ports(v, p);
                     if (group.ports.none()) Fail(v, p, "must list at least one port");
                     has_ports = true;
                   }
                 });
      if (!has_name) Fail(g, gpath, "missing required key \"name\"");
      if (!has_ports) Fail(g, gpath, "missing required key \"ports\"");
      out.push_back(std::move(group));
    }
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
        {"mode", "names", "pattern", "max_namespaces", "parallel_dumps", "scrape_budget_seconds"},
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

  const std::string& source_;
};

}  // namespace

Config DefaultConfig() { return Config{}; }

Result<Config> ParseConfig(const std::string& yaml_text, const std::string& source_name) {
  try {
    YAML::Node root;
    if (Status st = LoadYaml(yaml_text, source_name, &root); !st.ok()) return st;
    return Parser(source_name).Parse(root);
  } catch (const ConfigError& e) {
    return Status::Error(e.message);
  } catch (const YAML::Exception& e) {
    return Status::Error(source_name + ": " + e.what());
  } catch (const std::exception& e) {
    return Status::Error(source_name + ": " + e.what());
  }
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::string text;
  if (const int err = ReadSmallFile(path, &text)) {
    return Status::Error("cannot read config file " + QuoteText(path) + ": " +
                         (err == EFBIG ? "larger than 1 MiB" : std::strerror(err)));
  }
  return ParseConfig(text, path);
}

}  // namespace sockstate
