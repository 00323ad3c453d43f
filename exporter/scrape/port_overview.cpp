#include "scrape/port_overview.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>

#include "metrics/names.h"

namespace sockstate {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

std::string Label(const ClientMetric& m, const char* name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return "";
}

double Value(const ClientMetric& m, prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return m.counter.value;
    case prometheus::MetricType::Gauge:
      return m.gauge.value;
    case prometheus::MetricType::Untyped:
      return m.untyped.value;
    default:
      return NAN;
  }
}

const MetricFamily* Find(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// Per-namespace gauge (no labels but netns): netns -> value.
std::map<std::string, double> PerNamespace(const std::vector<MetricFamily>& families,
                                           const std::string& name) {
  std::map<std::string, double> out;
  if (const MetricFamily* f = Find(families, name)) {
    for (const auto& m : f->metric) {
      double v = Value(m, f->type);
      if (std::isfinite(v)) out[Label(m, "netns")] = v;
    }
  }
  return out;
}

using Key = std::pair<std::string, std::string>;  // (netns, destination)

// Chooses the TIME_WAIT buckets to show: 10 s, 30 s and 60 s when configured (the defaults),
// otherwise all finite bounds if three or fewer, otherwise the first, middle and last.
std::vector<TimeWaitReturn> Returns(const ClientMetric::Histogram& h) {
  std::vector<TimeWaitReturn> finite;
  for (const auto& b : h.bucket) {
    if (std::isfinite(b.upper_bound)) {
      finite.push_back({b.upper_bound, double(b.cumulative_count)});
    }
  }
  std::vector<TimeWaitReturn> wanted;
  for (double s : {10.0, 30.0, 60.0}) {
    for (const auto& r : finite) {
      if (r.seconds == s) wanted.push_back(r);
    }
  }
  if (wanted.size() == 3) return wanted;
  if (finite.size() <= 3) return finite;
  return {finite.front(), finite[finite.size() / 2], finite.back()};
}

// One setting's value per namespace -> grouped by value, namespaces in sorted order.
SettingRow Group(std::string name, std::string meaning,
                 const std::map<std::string, std::string>& by_netns) {
  SettingRow row{std::move(name), std::move(meaning), {}};
  for (const auto& [netns, value_ref] : by_netns) {
    const std::string& value = value_ref;  // clang 14 cannot capture a structured binding
    auto it = std::find_if(row.values.begin(), row.values.end(),
                           [&](const auto& v) { return v.first == value; });
    if (it == row.values.end()) {
      row.values.push_back({value, {netns}});
    } else {
      it->second.push_back(netns);
    }
  }
  return row;
}

std::string TwReuse(double v) {
  std::string s = FormatNumber(v);
  if (v == 0) return s + " (off)";
  if (v == 1) return s + " (on)";
  if (v == 2) return s + " (loopback only)";
  return s;
}

using PerNs = std::map<std::string, double>;

// Who holds the ports: each row's heaviest workloads (ports used, then sockets, then name).
void AddWorkloads(const std::vector<MetricFamily>& families, std::map<Key, DestinationRow>& rows) {
  std::map<std::tuple<std::string, std::string, std::string, std::string>, WorkloadCell> cells;
  auto cell = [&](const ClientMetric& m) -> WorkloadCell& {
    WorkloadCell& c = cells[{Label(m, "netns"), Label(m, "destination"), Label(m, "workload_kind"),
                             Label(m, "workload")}];
    c.kind = Label(m, "workload_kind");
    c.name = Label(m, "workload");
    return c;
  };
  if (const MetricFamily* f = Find(families, metric::kDestinationWorkloadEphemeralPortsUsed.name)) {
    for (const auto& m : f->metric) {
      const double v = Value(m, f->type);
      if (std::isfinite(v)) cell(m).ports_used = v;
    }
  }
  if (const MetricFamily* f = Find(families, metric::kDestinationWorkloadSockets.name)) {
    for (const auto& m : f->metric) {
      const double v = Value(m, f->type);
      if (std::isfinite(v) && v != 0) cell(m).states.push_back({Label(m, "state"), v});
    }
  }
  for (auto& [k, c] : cells) {
    std::stable_sort(c.states.begin(), c.states.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    auto it = rows.find({std::get<0>(k), std::get<1>(k)});
    if (it != rows.end()) it->second.workloads.push_back(std::move(c));
  }
  auto total = [](const WorkloadCell& c) {
    double t = 0;
    for (const auto& s : c.states) t += s.second;
    return t;
  };
  for (auto& [k, r] : rows) {
    std::stable_sort(r.workloads.begin(), r.workloads.end(),
                     [&](const WorkloadCell& a, const WorkloadCell& b) {
                       if (a.ports_used != b.ports_used) return a.ports_used > b.ports_used;
                       if (total(a) != total(b)) return total(a) > total(b);
                       return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
                     });
    if (r.workloads.size() > kOverviewWorkloads) r.workloads.resize(kOverviewWorkloads);
  }
}

// The rows of every destination series: occupancy, ports, tuples, states, TIME_WAIT.
std::map<Key, DestinationRow> DestinationRows(const std::vector<MetricFamily>& families) {
  std::map<Key, DestinationRow> rows;
  auto row = [&](const ClientMetric& m) -> DestinationRow& {
    Key k{Label(m, "netns"), Label(m, "destination")};
    DestinationRow& r = rows[k];
    r.netns = k.first;
    r.destination = k.second;
    return r;
  };
  auto gauge_into = [&](const MetricDef& def, auto set) {
    if (const MetricFamily* f = Find(families, def.name)) {
      for (const auto& m : f->metric) {
        double v = Value(m, f->type);
        if (std::isfinite(v)) set(row(m), v);
      }
    }
  };
  gauge_into(metric::kDestinationOccupancyRatio,
             [](DestinationRow& r, double v) { r.occupancy = v; });
  gauge_into(metric::kDestinationEphemeralPortsUsedMax,
             [](DestinationRow& r, double v) { r.ports_used_max = v; });
  gauge_into(metric::kDestinationEphemeralPortsUsed,
             [](DestinationRow& r, double v) { r.ports_used = v; });
  gauge_into(metric::kDestinationTuples, [](DestinationRow& r, double v) { r.tuples = v; });
  if (const MetricFamily* f = Find(families, metric::kDestinationSockets.name)) {
    for (const auto& m : f->metric) {
      double v = Value(m, f->type);
      if (std::isfinite(v) && v != 0) row(m).states.push_back({Label(m, "state"), v});
    }
  }
  if (const MetricFamily* f = Find(families, metric::kDestinationTimeWaitRemainingSeconds.name)) {
    for (const auto& m : f->metric) {
      DestinationRow& r = row(m);
      r.time_wait = double(m.histogram.sample_count);
      r.time_wait_returns = Returns(m.histogram);
    }
  }
  const PerNs usable = PerNamespace(families, metric::kEphemeralPortUsablePorts.name);
  for (auto& [k, r] : rows) {
    auto it = usable.find(k.first);
    if (it != usable.end()) r.usable = it->second;
  }
  AddWorkloads(families, rows);
  return rows;
}

// The destinations with sockets (a configured group at 0 or an empty "other" answers
// nothing), fullest first: occupancy, then the fullest tuple, then ports; ties by name.
std::vector<DestinationRow> FullestFirst(std::map<Key, DestinationRow> rows) {
  std::vector<DestinationRow> sorted;
  sorted.reserve(rows.size());
  for (auto& [k, r] : rows) {
    if (r.ports_used > 0 || r.occupancy.value_or(0) > 0 || !r.states.empty()) {
      sorted.push_back(std::move(r));
    }
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const DestinationRow& a, const DestinationRow& b) {
                     auto key = [](const DestinationRow& r) {
                       return std::make_tuple(r.occupancy.value_or(-1),
                                              r.ports_used_max.value_or(-1), r.ports_used);
                     };
                     if (key(a) != key(b)) return key(a) > key(b);
                     return std::tie(a.netns, a.destination) < std::tie(b.netns, b.destination);
                   });
  return sorted;
}

// One UDP row per namespace with UDP sockets, fullest first.
std::vector<UdpRow> UdpRows(const std::vector<MetricFamily>& families) {
  std::map<std::string, UdpRow> rows;
  auto row = [&](const ClientMetric& m) -> UdpRow& {
    UdpRow& r = rows[Label(m, "netns")];
    r.netns = Label(m, "netns");
    return r;
  };
  auto each = [&](const MetricDef& def, auto use) {
    if (const MetricFamily* f = Find(families, def.name)) {
      for (const auto& m : f->metric) {
        const double v = Value(m, f->type);
        if (std::isfinite(v)) use(m, v);
      }
    }
  };
  each(metric::kUdpOccupancyRatio, [&](const ClientMetric& m, double v) { row(m).occupancy = v; });
  each(metric::kUdpEphemeralPortsUsed,
       [&](const ClientMetric& m, double v) { row(m).ports_used = v; });
  each(metric::kUdpEphemeralPortUsablePorts,
       [&](const ClientMetric& m, double v) { row(m).usable = v; });
  each(metric::kUdpSocketsSharingPorts,
       [&](const ClientMetric& m, double v) { row(m).sharing_ports = v; });
  std::map<std::string, std::pair<double, double>> states;  // netns -> (unconnected, connected)
  each(metric::kUdpSockets, [&](const ClientMetric& m, double v) {
    UdpRow& r = row(m);
    r.sockets += v;
    auto& s = states[r.netns];
    (Label(m, "state") == "connected" ? s.second : s.first) += v;
  });
  each(metric::kUdpDestinationSockets, [&](const ClientMetric& m, double v) {
    if (v > 0) row(m).destinations.push_back({Label(m, "destination"), v});
  });
  each(metric::kConnectFailuresTotal, [&](const ClientMetric& m, double v) {
    if (Label(m, "protocol") == "udp") row(m).failures = row(m).failures.value_or(0) + v;
  });
  std::vector<UdpRow> out;
  for (auto& [netns, r] : rows) {
    if (r.sockets <= 0 && r.ports_used <= 0) continue;
    const auto& [unconnected, connected] = states[netns];
    if (unconnected > 0) r.states.push_back({"unconnected", unconnected});
    if (connected > 0) r.states.push_back({"connected", connected});
    std::sort(r.destinations.begin(), r.destinations.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (r.destinations.size() > kOverviewUdpDestinations) {
      r.destinations.resize(kOverviewUdpDestinations);
    }
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(), [](const UdpRow& a, const UdpRow& b) {
    auto key = [](const UdpRow& r) {
      return std::make_tuple(r.occupancy.value_or(-1), r.ports_used, r.sockets);
    };
    return key(a) > key(b);  // ties keep the map's netns order
  });
  return out;
}

// Namespaces: every netns value of the per-namespace families (a namespace below
// detail_threshold has only its netns series).
size_t CountNamespaces(const std::vector<MetricFamily>& families) {
  std::map<std::string, bool> namespaces;
  for (const MetricDef* def : {&metric::kTcpSockets, &metric::kEphemeralPortUsablePorts,
                               &metric::kSysctlIpLocalPortRangeLow, &metric::kNetnsInfo}) {
    if (const MetricFamily* f = Find(families, def->name)) {
      for (const auto& m : f->metric) namespaces[Label(m, "netns")] = true;
    }
  }
  return namespaces.size();
}

// One row of the settings table: a per-namespace family, and a second one its text may use.
struct SettingSpec {
  const char* name;
  const char* meaning;
  const MetricDef& metric;
  const MetricDef* extra;                                          // or nullptr
  std::string (*text)(double value, std::optional<double> extra);  // "" leaves it out
};

std::string Plain(double v, std::optional<double>) { return FormatNumber(v); }
std::string Seconds(double v, std::optional<double>) { return FormatNumber(v) + " s"; }

// The settings, in the order an on-call engineer reads them: the budget, then TIME_WAIT.
const SettingSpec kSettings[] = {
    {"net.ipv4.ip_local_port_range",
     "Local ports connect() picks from; its size caps every destination tuple.",
     metric::kSysctlIpLocalPortRangeLow, &metric::kSysctlIpLocalPortRangeHigh,
     [](double lo, std::optional<double> hi) {
       if (!hi) return std::string();
       return FormatNumber(lo) + "-" + FormatNumber(*hi) + " (" + FormatNumber(*hi - lo + 1) +
              " ports)";
     }},
    {"net.ipv4.ip_local_reserved_ports",
     "Ports connect() never picks; those inside the range shrink every tuple's budget.",
     metric::kSysctlIpLocalReservedPorts, &metric::kEphemeralPortReservedPorts,
     [](double v, std::optional<double> in_range) {
       return FormatNumber(v) + " reserved" +
              (in_range ? ", " + FormatNumber(*in_range) + " in range" : "");
     }},
    {"ports held by bind()",
     "Ports inside the range held by listeners and bound sockets: connect() skips them for "
     "every destination.",
     metric::kEphemeralPortBindHeldPorts, nullptr, Plain},
    {"usable ports per tuple",
     "range - reserved - bind-held: what one (source, destination, port) tuple can use; "
     "occupancy divides by it.",
     metric::kEphemeralPortUsablePorts, nullptr, Plain},
    {"net.ipv4.tcp_tw_reuse",
     "1 lets connect() reuse TIME_WAIT ports (needs timestamps); 2 only towards loopback; 0 "
     "never.",
     metric::kSysctlTcpTwReuse, nullptr,
     [](double v, std::optional<double>) { return TwReuse(v); }},
    {"net.ipv4.tcp_tw_reuse_delay",
     "How old a TIME_WAIT socket must be before tcp_tw_reuse may take its port (Linux 6.14+).",
     metric::kSysctlTcpTwReuseDelaySeconds, nullptr, Seconds},
    {"net.ipv4.tcp_timestamps", "TCP timestamps; tcp_tw_reuse works only when they are on.",
     metric::kSysctlTcpTimestamps, nullptr, Plain},
    {"net.ipv4.tcp_max_tw_buckets",
     "Most TIME_WAIT sockets the namespace keeps; beyond it connections close without "
     "TIME_WAIT.",
     metric::kSysctlTcpMaxTwBuckets, &metric::kTimeWaitBucketUsageRatio,
     [](double v, std::optional<double> used) {
       return FormatNumber(v) + (used ? " (" + FormatPercent(*used) + " used)" : "");
     }},
    {"net.ipv4.tcp_fin_timeout",
     "Lifetime of orphaned FIN_WAIT2 sockets; it does not shorten TIME_WAIT (always 60 s).",
     metric::kSysctlTcpFinTimeoutSeconds, nullptr, Seconds},
};

// The settings table: each kSettings row present in some namespace, namespaces grouped by value.
std::vector<SettingRow> Settings(const std::vector<MetricFamily>& families) {
  std::vector<SettingRow> out;
  for (const SettingSpec& spec : kSettings) {
    const PerNs extra = spec.extra ? PerNamespace(families, spec.extra->name) : PerNs{};
    std::map<std::string, std::string> by;
    for (const auto& [netns, v] : PerNamespace(families, spec.metric.name)) {
      auto it = extra.find(netns);
      std::string text =
          spec.text(v, it == extra.end() ? std::nullopt : std::optional<double>(it->second));
      if (!text.empty()) by[netns] = std::move(text);
    }
    if (!by.empty()) out.push_back(Group(spec.name, spec.meaning, by));
  }
  return out;
}

// Sources and namespaces that failed this scrape: "netlink", "netlink (netns pod-a)", "netns x".
std::vector<std::string> Failing(const std::vector<MetricFamily>& families) {
  std::vector<std::string> out;
  if (const MetricFamily* f = Find(families, metric::kScrapeSourceSuccess.name)) {
    for (const auto& m : f->metric) {
      if (Value(m, f->type) != 0) continue;
      std::string netns = Label(m, "netns");
      out.push_back(Label(m, "source") + (netns.empty() ? "" : " (netns " + netns + ")"));
    }
  }
  if (const MetricFamily* f = Find(families, metric::kNetnsScrapeSuccess.name)) {
    for (const auto& m : f->metric) {
      if (Value(m, f->type) == 0) out.push_back("netns " + Label(m, "netns"));
    }
  }
  return out;
}

}  // namespace

std::string FormatNumber(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3f", v);
    std::string s = buf;
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  return buf;
}

std::string FormatPercent(double ratio) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f%%", ratio * 100.0);
  return buf;
}

std::string NamespaceName(const std::string& netns) { return netns.empty() ? "(own)" : netns; }

std::string WorkloadsSummary(const DestinationRow& r) {
  std::string out;
  for (const WorkloadCell& w : r.workloads) {
    if (!out.empty()) out += ", ";
    out += WorkloadName(w) + " " + FormatNumber(w.ports_used);
    if (!w.states.empty()) out += " (" + w.states.front().first + ")";
  }
  return out.empty() ? "-" : out;
}

std::string WorkloadName(const WorkloadCell& w) {
  if (w.kind == "container") return "container " + w.name.substr(0, 12);
  if (w.kind == "pod") return "pod " + w.name;
  return w.name;
}

std::string NamespaceList(const std::vector<std::string>& netns, size_t max) {
  std::string out;
  for (size_t i = 0; i < netns.size() && i < max; ++i) {
    out += (i ? ", " : "") + NamespaceName(netns[i]);
  }
  if (netns.size() > max) out += " and " + std::to_string(netns.size() - max) + " more";
  return out;
}

PortOverview BuildPortOverview(const std::vector<MetricFamily>& families, size_t max_rows) {
  PortOverview out;
  out.rows = FullestFirst(DestinationRows(families));
  out.destinations_total = out.rows.size();
  if (out.rows.size() > max_rows) out.rows.resize(max_rows);
  out.udp_read = Find(families, metric::kUdpOccupancyRatio.name) != nullptr;
  out.udp = UdpRows(families);
  out.udp_total = out.udp.size();
  if (out.udp.size() > max_rows) out.udp.resize(max_rows);
  out.namespaces = CountNamespaces(families);
  out.settings = Settings(families);
  out.failing = Failing(families);
  return out;
}

}  // namespace sockstate
