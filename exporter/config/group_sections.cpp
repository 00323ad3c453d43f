#include "config/group_sections.h"

#include <netinet/in.h>

#include <string>
#include <utility>

#include "util/text_util.h"

namespace sockstate {
namespace {

// Limits of the schema (docs/configuration.md).
constexpr uint64_t kMaxTopK = 10000;
constexpr uint64_t kMaxSeries = 100000;
constexpr uint64_t kMinTuples = 1000;
constexpr uint64_t kMaxTuples = 10000000;
constexpr std::string_view kOther = "other";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// One entry of a `ports` list: an integer or a string "a-b" (also "a,b-c"), all in 1..65535.
void AddPorts(const YamlWalker& w, const YAML::Node& n, const std::string& path, PortSet& set) {
  if (!n.IsScalar()) {
    w.Fail(n, path, std::string("expected a port or a range \"a-b\", got ") + KindName(n));
  }
  const std::string& s = n.Scalar();
  if (w.IsDigits(s) || (s.size() > 1 && s[0] == '-' && w.IsDigits(s.substr(1)))) {
    if (s[0] == '-' || s.size() > 5 || std::stoul(s) < 1 || std::stoul(s) > 65535) {
      w.Fail(n, path, "port " + s + " out of range 1..65535");
    }
    set.set(std::stoul(s));
    return;
  }
  Result<PortSet> parsed = ParsePortList(s);
  if (!parsed.ok()) {
    w.Fail(n, path, "invalid port range " + QuoteText(s) + ": " + parsed.status().message());
  }
  if (parsed->none()) w.Fail(n, path, "empty port range " + QuoteText(s));
  if (parsed->test(0)) {
    w.Fail(n, path, "port range " + QuoteText(s) + ": port 0 out of range 1..65535");
  }
  set |= *parsed;
}

PortSet PortList(const YamlWalker& w, const YAML::Node& n, const std::string& path) {
  PortSet set;
  for (const auto& [item, p] : w.Items(n, path)) AddPorts(w, item, p, set);
  return set;
}

// A list of ports and ranges; `at_least_one`: also when the key has no value.
template <typename S>
Value<S> Ports(PortSet S::*field, bool at_least_one) {
  Value<S> v;
  v.read = [=](SchemaWalker& w, const YAML::Node& n, const std::string& p, S& out) {
    if (!n.IsNull()) out.*field = PortList(w, n, p);
    if (at_least_one && (out.*field).none()) w.Fail(n, p, "must list at least one port");
  };
  v.doc = KeyDoc("list of integers or `\"a-b\"` strings", "[]");
  v.null_is_absent = !at_least_one;
  return v;
}

// A port range "a-b" or a list of ports and ranges, kept as the number of ports.
template <typename S>
Value<S> PortCount(uint32_t S::*field) {
  Value<S> v;
  v.read = [=](SchemaWalker& w, const YAML::Node& n, const std::string& p, S& out) {
    PortSet set;
    if (n.IsSequence()) {
      set = PortList(w, n, p);
    } else {
      AddPorts(w, n, p, set);
    }
    if (set.none()) w.Fail(n, p, "must name at least one port");
    out.*field = uint32_t(set.count());
  };
  v.doc = KeyDoc("port range or list of ports and ranges");
  return v;
}

Value<DestinationGroup> Cidrs() {
  Value<DestinationGroup> v;
  v.read = [](SchemaWalker& w, const YAML::Node& n, const std::string& path,
              DestinationGroup& out) {
    for (const auto& [item, p] : w.Items(n, path)) {
      const std::string text = w.String(item, p);
      Result<Cidr> cidr = ParseCidr(text);
      if (!cidr.ok()) {
        w.Fail(item, p, "invalid CIDR " + QuoteText(text) + ": " + cidr.status().message());
      }
      out.cidrs.push_back(*cidr);
    }
  };
  v.doc = KeyDoc("list of strings", "[]");
  v.null_is_absent = true;
  return v;
}

// A group's name, unique in its list; `numeric_ok` is false where a number would collide with
// port-number label values.
template <typename S>
Value<S> GroupName(std::string S::*field, bool numeric_ok) {
  Value<S> v;
  v.read = [=](SchemaWalker& w, const YAML::Node& n, const std::string& p, S& out) {
    std::string name = w.String(n, p);
    if (name.empty()) w.Fail(n, p, "group name must not be empty");
    for (char c : name) {
      if (!IsNameChar(c)) {
        w.Fail(n, p,
               "invalid group name " + QuoteText(name) +
                   ": use only letters, digits, '_', '.' and '-'");
      }
    }
    if (name == kOther) {
      w.Fail(n, p, "group name \"other\" is reserved (it labels everything unmatched)");
    }
    if (!numeric_ok && w.IsDigits(name)) {
      w.Fail(n, p,
             "group name " + QuoteText(name) +
                 " is all digits and would clash with port-number labels");
    }
    auto [it, inserted] = w.names_in_list().emplace(name, p);
    if (!inserted) {
      w.Fail(n, p,
             "duplicate group name " + QuoteText(name) + " (first used at " + it->second + ")");
    }
    out.*field = std::move(name);
  };
  v.doc = KeyDoc("string");
  return v;
}

Value<NatConfig> Toggle(NatToggle NatConfig::*field) {
  return OneOf(field, Choices<NatToggle>{"invalid value",
                                         {{"auto", NatToggle::kAuto},
                                          {"on", NatToggle::kOn},
                                          {"off", NatToggle::kOff},
                                          {"true", NatToggle::kOn, /*listed=*/false},
                                          {"false", NatToggle::kOff, /*listed=*/false}}});
}

// max_series holds the groups, top_k and "other"; the error points at max_series, or at the
// section when the default is too small.
template <typename S>
void CheckSeries(SchemaWalker& w, const YAML::Node& n, const std::string& path, S& out) {
  const uint64_t need = out.groups.size() + uint64_t{out.top_k} + 1;
  if (out.max_series < need) {
    const YAML::Node max_series = n["max_series"];
    w.Fail(max_series ? max_series.Mark() : n.Mark(), w.Child(path, "max_series"),
           std::to_string(out.max_series) + " is too small: " + std::to_string(out.groups.size()) +
               " groups + top_k " + std::to_string(out.top_k) + " + 1 (\"other\") need at least " +
               std::to_string(need));
  }
}

// name, cidrs and ports of a destination group (also a nat group's destination).
Section<DestinationGroup> DestinationGroupSection() {
  using G = DestinationGroup;
  return {{
              {"name", GroupName(&G::name, /*numeric_ok=*/true), Presence::kRequired},
              {"cidrs", Cidrs()},
              {"ports", Ports(&G::ports, /*at_least_one=*/false)},
          },
          [](SchemaWalker&, const YAML::Node&, const std::string&, G& g) {
            g.any_port = g.ports.none();
          }};
}

Section<InboundGroup> InboundGroupSection() {
  using G = InboundGroup;
  return {{
      {"name", GroupName(&G::name, /*numeric_ok=*/false), Presence::kRequired},
      {"ports", Ports(&G::ports, /*at_least_one=*/true), Presence::kRequired},
  }};
}

Section<NatGroup> NatGroupSection() {
  Section<NatGroup> s = Within(&NatGroup::destination, DestinationGroupSection());
  const Choices<uint8_t> protocols = {"invalid protocol",
                                      {{"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP}, {"any", 0}}};
  s.fields.push_back({"protocol", OneOf(&NatGroup::protocol, protocols)});
  s.fields.push_back({"usable_ports", PortCount(&NatGroup::usable_ports)});
  return s;
}

}  // namespace

Section<DestinationConfig> DestinationsSection() {
  using D = DestinationConfig;
  return {{
              {"groups", ListOf(&D::groups, DestinationGroupSection())},
              {"top_k", Integer(&D::top_k, 0, kMaxTopK)},
              {"max_series", Integer(&D::max_series, 1, kMaxSeries)},
              {"max_tuples", Integer(&D::max_tuples, kMinTuples, kMaxTuples)},
          },
          CheckSeries<D>};
}

Section<InboundConfig> InboundSection() {
  using I = InboundConfig;
  return {{
              {"groups", ListOf(&I::groups, InboundGroupSection())},
              {"top_k", Integer(&I::top_k, 0, kMaxTopK)},
              {"max_series", Integer(&I::max_series, 1, kMaxSeries)},
          },
          CheckSeries<I>};
}

Section<NatConfig> NatSection() {
  using N = NatConfig;
  return {{
              {"enabled", Toggle(&N::enabled)},
              {"time_wait_takeover", Toggle(&N::time_wait_takeover)},
              {"usable_ports", PortCount(&N::usable_ports)},
              {"groups", ListOf(&N::groups, NatGroupSection())},
              {"top_k", Integer(&N::top_k, 0, kMaxTopK)},
              {"max_series", Integer(&N::max_series, 1, kMaxSeries)},
              {"max_tuples", Integer(&N::max_tuples, kMinTuples, kMaxTuples)},
          },
          CheckSeries<N>};
}

}  // namespace sockstate
