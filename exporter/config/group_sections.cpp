#include "config/group_sections.h"

#include <string>
#include <utility>

#include "util/text_util.h"

namespace sockstate {
namespace {

// Limits of the schema (docs/configuration.md); kMaxTopK is in the header.
constexpr uint64_t kMaxSeries = 100000;
constexpr uint64_t kMinTuples = 1000;
constexpr uint64_t kMaxTuples = 10000000;
constexpr std::string_view kOther = "other";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

// One entry of a `ports` list: an integer or a string "a-b" (also "a,b-c"), all in 1..65535.
void GroupSectionParser::AddPorts(const YAML::Node& n, const std::string& path, PortSet& set) {
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

PortSet GroupSectionParser::Ports(const YAML::Node& n, const std::string& path) {
  PortSet set;
  const YAML::Node& list = List(n, path);
  for (size_t i = 0; i < list.size(); ++i) AddPorts(list[i], Index(path, i), set);
  return set;
}

// Checks a group name and records it; `numeric_ok` is false where a number would collide
// with port-number label values.
std::string GroupSectionParser::GroupName(const YAML::Node& n, const std::string& path,
                                          bool numeric_ok,
                                          std::map<std::string, std::string>& names) {
  std::string name = String(n, path);
  if (name.empty()) Fail(n, path, "group name must not be empty");
  for (char c : name) {
    if (!IsNameChar(c)) {
      Fail(
          n, path,
          "invalid group name " + QuoteText(name) + ": use only letters, digits, '_', '.' and '-'");
    }
  }
  if (name == kOther) {
    Fail(n, path, "group name \"other\" is reserved (it labels everything unmatched)");
  }
  if (!numeric_ok && IsDigits(name)) {
    Fail(
        n, path,
        "group name " + QuoteText(name) + " is all digits and would clash with port-number labels");
  }
  auto [it, inserted] = names.emplace(name, path);
  if (!inserted) {
    Fail(n, path,
         "duplicate group name " + QuoteText(name) + " (first used at " + it->second + ")");
  }
  return name;
}

void GroupSectionParser::CheckSeries(const YAML::Mark& mark, const std::string& path, size_t groups,
                                     uint32_t top_k, uint32_t max_series) {
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
void GroupSectionParser::ParseRanked(const YAML::Node& n, const std::string& path,
                                     std::initializer_list<std::string_view> allowed, Out& out,
                                     GroupsFn&& groups, OtherFn&& other) {
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
  CheckSeries(series_mark, Child(path, "max_series"), out.groups.size(), out.top_k, out.max_series);
}

void GroupSectionParser::ParseDestinations(const YAML::Node& n, const std::string& path,
                                           DestinationConfig& out) {
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
void GroupSectionParser::ParseGroupList(const YAML::Node& n, const std::string& path,
                                        std::initializer_list<std::string_view> allowed,
                                        std::vector<Group>& out, KeyFn&& key_fn,
                                        MissingFn&& missing) {
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
void GroupSectionParser::DestinationGroupKey(const std::string& key, const YAML::Node& v,
                                             const std::string& p,
                                             std::map<std::string, std::string>& names,
                                             DestinationGroup& group) {
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

void GroupSectionParser::ParseDestinationGroups(const YAML::Node& n, const std::string& path,
                                                std::vector<DestinationGroup>& out) {
  ParseGroupList(
      n, path, {"name", "cidrs", "ports"}, out,
      [&](const std::string& key, const YAML::Node& v, const std::string& p,
          std::map<std::string, std::string>& names,
          DestinationGroup& group) { DestinationGroupKey(key, v, p, names, group); },
      [](const DestinationGroup& group) { return group.name.empty() ? "name" : nullptr; });
}

void GroupSectionParser::ParseInbound(const YAML::Node& n, const std::string& path,
                                      InboundConfig& out) {
  ParseRanked(
      n, path, {"groups", "top_k", "max_series"}, out,
      [&](const YAML::Node& v, const std::string& p, auto& groups) {
        ParseInboundGroups(v, p, groups);
      },
      [](const std::string&, const YAML::Node&, const std::string&) {});
}

void GroupSectionParser::ParseInboundGroups(const YAML::Node& n, const std::string& path,
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

// ---- nat (docs/nat.md) ----

NatToggle GroupSectionParser::Toggle(const YAML::Node& v, const std::string& p) {
  const std::string s = String(v, p);
  if (s == "auto") return NatToggle::kAuto;
  if (s == "on" || s == "true") return NatToggle::kOn;
  if (s == "off" || s == "false") return NatToggle::kOff;
  Fail(v, p, "invalid value " + QuoteText(s) + " (allowed: auto, on, off)");
}

// `usable_ports`: a port range "a-b" (or list of ports and ranges); the number of ports.
uint32_t GroupSectionParser::UsablePorts(const YAML::Node& v, const std::string& p) {
  PortSet set;
  if (v.IsSequence()) {
    set = Ports(v, p);
  } else {
    AddPorts(v, p, set);
  }
  if (set.none()) Fail(v, p, "must name at least one port");
  return uint32_t(set.count());
}

void GroupSectionParser::ParseNat(const YAML::Node& n, const std::string& path, NatConfig& out) {
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

void GroupSectionParser::ParseNatGroups(const YAML::Node& n, const std::string& path,
                                        std::vector<NatGroup>& out) {
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
}  // namespace sockstate
