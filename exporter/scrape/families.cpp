#include "scrape/families.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "version.h"

namespace sockstate {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<std::pair<std::string, std::string>>;

// Collects families by name so several namespaces add series to the same family.
class FamilySet {
 public:
  MetricFamily& Get(const std::string& name, const std::string& help, MetricType type) {
    auto it = families_.find(name);
    if (it == families_.end()) {
      MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      it = families_.emplace(name, std::move(f)).first;
    }
    return it->second;
  }
  void Gauge(const std::string& name, const std::string& help, const Labels& labels, double v) {
    Add(Get(name, help, MetricType::Gauge), labels).gauge.value = v;
  }
  void Counter(const std::string& name, const std::string& help, const Labels& labels, double v) {
    Add(Get(name, help, MetricType::Counter), labels).counter.value = v;
  }
  void Histogram(const std::string& name, const std::string& help, const Labels& labels,
                 const std::vector<double>& bounds, const std::vector<uint64_t>& cumulative,
                 uint64_t count, double sum) {
    ClientMetric& m = Add(Get(name, help, MetricType::Histogram), labels);
    m.histogram.sample_count = count;
    m.histogram.sample_sum = sum;
    for (size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
      m.histogram.bucket.push_back({cumulative[i], bounds[i]});
    }
    m.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
  }
  std::vector<MetricFamily> Take() {
    std::vector<MetricFamily> out;
    out.reserve(families_.size());
    for (auto& [name, f] : families_) {
      if (!f.metric.empty()) out.push_back(std::move(f));
    }
    return out;  // std::map keeps them sorted by name
  }

 private:
  static ClientMetric& Add(MetricFamily& f, const Labels& labels) {
    f.metric.emplace_back();
    ClientMetric& m = f.metric.back();
    for (const auto& [k, v] : labels) m.label.push_back({k, v});
    return m;
  }
  std::map<std::string, MetricFamily> families_;
};

Labels With(const Labels& base, Labels extra) {
  Labels l = base;
  l.insert(l.end(), extra.begin(), extra.end());
  return l;
}

const std::string kStateHelp =
    "TCP sockets by address family and state, from a netlink sock_diag dump. IPv4-mapped IPv6 "
    "sockets count as ipv4.";

void AddSocketFamilies(FamilySet& fs, const TargetSnapshot& t, const Labels& base) {
  const AggregateResult& a = t.agg;
  for (int fam = 0; fam < 2; ++fam) {
    for (int s = 0; s < kNumStates; ++s) {
      fs.Gauge("sockstate_tcp_sockets", kStateHelp,
               With(base, {{"family", fam ? "ipv6" : "ipv4"},
                           {"state", std::string(TcpStateName(kExportedStates[s]))}}),
               double(a.states[fam][s]));
    }
  }
  fs.Gauge("sockstate_netlink_dump_sockets", "Sockets in the last sock_diag dump (both families).",
           base, double(t.dump_messages));

  const PortBudget& b = a.budget;
  if (b.known) {
    fs.Gauge("sockstate_ephemeral_port_range_ports",
             "Ports in net.ipv4.ip_local_port_range (high - low + 1).", base, b.range);
    fs.Gauge("sockstate_ephemeral_port_reserved_ports",
             "Ports of ip_local_reserved_ports inside the ephemeral range.", base, b.reserved);
    fs.Gauge("sockstate_ephemeral_port_bind_held_ports",
             "Distinct ports inside the range, not reserved, held by bind() (listeners, "
             "bound-inactive sockets): connect() skips them for every destination.",
             base, b.bind_held);
    fs.Gauge("sockstate_ephemeral_port_usable_ports",
             "Ephemeral ports connect() can use per destination tuple: range - reserved - "
             "bind_held.",
             base, b.usable);
  }

  for (const DestinationStats& d : a.destinations) {
    Labels dl = With(base, {{"destination", d.label}});
    for (int s = 0; s < kNumStates; ++s) {
      const uint8_t st = kExportedStates[s];
      if (d.sockets[s] == 0 && st != kTcpEstablished && st != kTcpTimeWait) continue;
      fs.Gauge("sockstate_destination_sockets",
               "Outgoing TCP sockets per destination and state (inbound connections excluded).",
               With(dl, {{"state", std::string(TcpStateName(st))}}), double(d.sockets[s]));
    }
    fs.Gauge("sockstate_destination_ephemeral_ports_used",
             "Ephemeral ports used by the destination: sockets of its tuples in any non-LISTEN "
             "state whose local port is inside the range, summed over its tuples.",
             dl, double(d.ports_used));
    if (d.label != "other" || a.sockets_untracked == 0) {
      fs.Gauge("sockstate_destination_ephemeral_ports_used_max",
               "Ephemeral ports used by the destination's fullest (src addr, dst addr, dst port) "
               "tuple.",
               dl, double(d.ports_used_max));
    }
    if (b.known) {
      double ratio =
          b.usable > 0 ? double(d.ports_used_max) / b.usable : (d.ports_used_max > 0 ? 1.0 : 0.0);
      fs.Gauge("sockstate_destination_occupancy_ratio",
               "Occupancy of the destination's fullest tuple: ports used / usable ports. At 1.0 "
               "connect() to it fails with EADDRNOTAVAIL.",
               dl, ratio);
    }
    fs.Gauge("sockstate_destination_tuples",
             "Distinct (src addr, dst addr, dst port) tuples of the destination.", dl,
             double(d.tuples));
    fs.Histogram("sockstate_destination_time_wait_remaining_seconds",
                 "Remaining TIME_WAIT lifetime of the destination's sockets: how soon their ports "
                 "come back.",
                 dl, a.tw_bounds, d.tw_buckets, d.tw_count, d.tw_sum_seconds);
  }
  if (b.known) {
    fs.Histogram("sockstate_tuple_occupancy_ratio",
                 "Occupancy (ports used / usable) of every outgoing tuple, folded ones included.",
                 base, a.occupancy_bounds, a.occupancy_buckets, a.occupancy_count, a.occupancy_sum);
  }
  fs.Gauge("sockstate_destinations_folded",
           "Distinct unmatched destinations (addr:port) beyond top_k, folded into "
           "destination=\"other\".",
           base, double(a.destinations_folded));
  fs.Gauge("sockstate_destination_untracked_sockets",
           "Sockets of tuples beyond destinations.max_tuples, counted only in "
           "destination=\"other\" (its used_max is then not reported).",
           base, double(a.sockets_untracked));

  for (const DestinationStats& d : a.inbound) {
    Labels sl = With(base, {{"service", d.label}});
    for (int s = 0; s < kNumStates; ++s) {
      const uint8_t st = kExportedStates[s];
      if (d.sockets[s] == 0 && st != kTcpEstablished && st != kTcpTimeWait) continue;
      fs.Gauge("sockstate_inbound_sockets",
               "Inbound (accepted) TCP sockets per local service port and state.",
               With(sl, {{"state", std::string(TcpStateName(st))}}), double(d.sockets[s]));
    }
  }
  fs.Gauge("sockstate_inbound_services_folded",
           "Listening ports beyond inbound.top_k, folded into service=\"other\".", base,
           double(a.services_folded));
}

void AddSysctlFamilies(FamilySet& fs, const TargetSnapshot& t, const Labels& base) {
  const NetSysctls& s = *t.sysctls;
  if (s.port_range) {
    fs.Gauge("sockstate_sysctl_ip_local_port_range_low",
             "net.ipv4.ip_local_port_range, first ephemeral port (inclusive).", base,
             s.port_range->low);
    fs.Gauge("sockstate_sysctl_ip_local_port_range_high",
             "net.ipv4.ip_local_port_range, last ephemeral port (inclusive).", base,
             s.port_range->high);
  }
  if (s.reserved_ports) {
    fs.Gauge("sockstate_sysctl_ip_local_reserved_ports",
             "Number of ports in net.ipv4.ip_local_reserved_ports (anywhere, not only in the "
             "range).",
             base, double(s.reserved_ports->count()));
  }
  auto opt = [&](const std::optional<int64_t>& v, const char* name, const char* help,
                 double scale) {
    if (v) fs.Gauge(name, help, base, double(*v) * scale);
  };
  opt(s.tcp_tw_reuse, "sockstate_sysctl_tcp_tw_reuse",
      "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only. Lets connect() reuse TIME_WAIT "
      "ports (needs tcp_timestamps).",
      1);
  opt(s.tcp_tw_reuse_delay_ms, "sockstate_sysctl_tcp_tw_reuse_delay_seconds",
      "net.ipv4.tcp_tw_reuse_delay (6.14+): minimum TIME_WAIT age before reuse.", 0.001);
  opt(s.tcp_max_tw_buckets, "sockstate_sysctl_tcp_max_tw_buckets",
      "net.ipv4.tcp_max_tw_buckets: TIME_WAIT sockets allowed in the namespace.", 1);
  opt(s.tcp_fin_timeout_s, "sockstate_sysctl_tcp_fin_timeout_seconds",
      "net.ipv4.tcp_fin_timeout: lifetime of orphaned FIN_WAIT2 (not TIME_WAIT).", 1);
  opt(s.tcp_timestamps, "sockstate_sysctl_tcp_timestamps",
      "net.ipv4.tcp_timestamps (0 off, 1 on with random offsets, 2 on without).", 1);
  if (s.tcp_max_tw_buckets && *s.tcp_max_tw_buckets > 0 && t.netlink_ok) {
    const int tw = ExportedStateIndex(kTcpTimeWait);
    double tws = double(t.agg.states[0][tw] + t.agg.states[1][tw]);
    fs.Gauge("sockstate_time_wait_bucket_usage_ratio",
             "TIME_WAIT sockets (both families) / tcp_max_tw_buckets. At 1.0 new TIME_WAIT "
             "sockets are dropped (TCPTimeWaitOverflow).",
             base, tws / double(*s.tcp_max_tw_buckets));
  }
}

void AddProcFamilies(FamilySet& fs, const TargetSnapshot& t, const Labels& base, long page_size) {
  if (t.sockstat) {
    auto it = t.sockstat->find("TCP");
    if (it != t.sockstat->end()) {
      const auto& m = it->second;
      struct F {
        const char* key;
        const char* name;
        const char* help;
      };
      static const F kFields[] = {
          {"inuse", "sockstate_sockstat_tcp_inuse",
           "TCP sockets in use in the namespace, TIME_WAIT excluded (/proc/net/sockstat)."},
          {"orphan", "sockstate_sockstat_tcp_orphan",
           "Orphaned TCP sockets, host-wide (/proc/net/sockstat)."},
          {"tw", "sockstate_sockstat_tcp_tw",
           "TIME_WAIT sockets of the namespace, IPv4 and IPv6 (/proc/net/sockstat)."},
          {"alloc", "sockstate_sockstat_tcp_alloc",
           "Allocated TCP sockets, host-wide (/proc/net/sockstat)."},
      };
      for (const F& f : kFields) {
        auto v = m.find(f.key);
        if (v != m.end()) fs.Gauge(f.name, f.help, base, double(v->second));
      }
      auto mem = m.find("mem");
      if (mem != m.end()) {
        fs.Gauge("sockstate_sockstat_tcp_mem_bytes",
                 "Memory of TCP socket buffers, host-wide (/proc/net/sockstat mem pages * page "
                 "size).",
                 base, double(mem->second) * double(page_size));
      }
    }
  }
  if (t.sockstat6) {
    auto it = t.sockstat6->find("TCP6");
    if (it != t.sockstat6->end()) {
      auto v = it->second.find("inuse");
      if (v != it->second.end()) {
        fs.Gauge("sockstate_sockstat6_tcp6_inuse",
                 "IPv6 TCP sockets in use in the namespace (/proc/net/sockstat6).", base,
                 double(v->second));
      }
    }
  }
  if (t.netstat) {
    auto it = t.netstat->find("TcpExt");
    if (it != t.netstat->end()) {
      struct F {
        const char* key;
        const char* help;
      };
      static const F kFields[] = {
          {"TW",
           "TCP sockets that entered TIME_WAIT (TcpExt TW): its rate is the rate at which ports go "
           "into quarantine."},
          {"TWKilled", "TIME_WAIT sockets killed before their time (TcpExt TWKilled)."},
          {"TWRecycled",
           "TIME_WAIT sockets reused by connect() thanks to tcp_tw_reuse (TcpExt TWRecycled)."},
          {"TCPTimeWaitOverflow",
           "TIME_WAIT sockets not created because tcp_max_tw_buckets was reached (TcpExt "
           "TCPTimeWaitOverflow)."},
          {"TCPAbortOnClose",
           "Connections reset because the application closed with unread data (TcpExt "
           "TCPAbortOnClose)."},
          {"ListenOverflows", "Accept queue overflows of listeners (TcpExt ListenOverflows)."},
          {"ListenDrops", "SYNs dropped by listeners (TcpExt ListenDrops)."},
      };
      for (const F& f : kFields) {
        auto v = it->second.find(f.key);
        if (v == it->second.end()) continue;
        std::string lower(f.key);
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        fs.Counter("sockstate_netstat_tcpext_" + lower + "_total", f.help, base, double(v->second));
      }
    }
  }
  if (t.snmp) {
    auto it = t.snmp->find("Tcp");
    if (it != t.snmp->end()) {
      struct F {
        const char* key;
        const char* help;
      };
      static const F kCounters[] = {
          {"ActiveOpens",
           "Outgoing connections opened: connect() reached SYN_SENT (Tcp "
           "ActiveOpens). Its rate is the churn that consumes ephemeral ports."},
          {"PassiveOpens", "Inbound connections accepted (Tcp PassiveOpens)."},
          {"AttemptFails",
           "Connection attempts that failed (Tcp AttemptFails). EADDRNOTAVAIL "
           "is not counted here."},
          {"EstabResets", "Established connections reset (Tcp EstabResets)."},
          {"RetransSegs", "Segments retransmitted (Tcp RetransSegs)."},
          {"OutRsts", "RST segments sent (Tcp OutRsts)."},
      };
      for (const F& f : kCounters) {
        auto v = it->second.find(f.key);
        if (v == it->second.end()) continue;
        std::string lower(f.key);
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        fs.Counter("sockstate_snmp_tcp_" + lower + "_total", f.help, base, double(v->second));
      }
      auto v = it->second.find("CurrEstab");
      if (v != it->second.end()) {
        fs.Gauge("sockstate_snmp_tcp_currestab",
                 "Connections in ESTABLISHED or CLOSE_WAIT (Tcp CurrEstab).", base,
                 double(v->second));
      }
    }
  }
}

}  // namespace

std::vector<MetricFamily> BuildFamilies(const std::vector<TargetSnapshot>& targets,
                                        const ExporterStats& stats) {
  FamilySet fs;
  for (const TargetSnapshot& t : targets) {
    Labels base;
    if (stats.label_netns) {
      base.push_back({"netns", t.netns});
      fs.Gauge("sockstate_netns_info",
               "A network namespace the exporter reads, with its container and pod if known.",
               {{"netns", t.netns}, {"container_id", t.container_id}, {"pod_uid", t.pod_uid}}, 1);
      fs.Gauge("sockstate_netns_scrape_success",
               "1 when every source of the namespace was read, 0 otherwise.", base, t.ok ? 1 : 0);
      fs.Gauge("sockstate_netns_scrape_duration_seconds",
               "Time spent reading the namespace in this scrape.", base, t.duration_seconds);
    }
    for (const SourceResult& s : t.sources) {
      fs.Gauge("sockstate_scrape_source_success",
               "1 when the source was read (a missing optional file counts as success), 0 when "
               "it failed; the exporter logs why.",
               With(base, {{"source", s.name}}), s.ok ? 1 : 0);
      fs.Gauge("sockstate_scrape_source_duration_seconds", "Time spent reading the source.",
               With(base, {{"source", s.name}}), s.duration_seconds);
    }
    if (t.netlink_ok) AddSocketFamilies(fs, t, base);
    if (t.sysctls) AddSysctlFamilies(fs, t, base);
    AddProcFamilies(fs, t, base, stats.page_size);
  }
  fs.Gauge("sockstate_build_info", "Build of the exporter; the value is always 1.",
           {{"version", kVersion}, {"revision", kRevision}, {"compiler", __VERSION__}}, 1);
  fs.Counter("sockstate_scrapes_total", "Scrape requests answered since start.", {},
             double(stats.scrapes_total));
  fs.Counter("sockstate_netlink_dumps_total",
             "sock_diag dumps run since start. Concurrent scrapes share one dump.", {},
             double(stats.dumps_total));
  fs.Gauge("sockstate_config_last_reload_successful",
           "1 when the last configuration (re)load succeeded.", {}, stats.last_reload_ok ? 1 : 0);
  fs.Gauge("sockstate_config_last_reload_success_timestamp_seconds",
           "Unix time of the last successful configuration load.", {},
           stats.last_reload_success_timestamp);
  if (stats.label_netns) {
    fs.Gauge("sockstate_netns_discovered", "Network namespaces found by discovery.", {},
             double(stats.namespaces_discovered));
    fs.Gauge("sockstate_netns_skipped",
             "Network namespaces not read: beyond namespaces.max_namespaces or the scrape "
             "budget.",
             {}, double(stats.namespaces_skipped));
  }
  return fs.Take();
}

}  // namespace sockstate
