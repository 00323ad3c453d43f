#include "sources/proc_sources.h"

#include <algorithm>
#include <string>

namespace sockstate {

namespace {

/// A field of a /proc/net table and the help of its series.
struct Field {
  const char* key;
  const char* help;
};

/// One gauge per present field of `block`, named by `names` (same order as `fields`).
template <size_t N>
void AddGauges(FamilySet& fs, const SockstatTable::mapped_type& block, const Field (&fields)[N],
               const char* const (&names)[N], const Labels& base) {
  for (size_t i = 0; i < N; ++i) {
    auto v = block.find(fields[i].key);
    if (v != block.end()) fs.Gauge(names[i], fields[i].help, base, double(v->second));
  }
}

/// One counter per present field of `block`: <prefix><lowercase key>_total.
template <size_t N>
void AddCounters(FamilySet& fs, const NetstatTable::mapped_type& block, const char* prefix,
                 const Field (&fields)[N], const Labels& base) {
  for (const Field& f : fields) {
    auto v = block.find(f.key);
    if (v == block.end()) continue;
    std::string lower(f.key);
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    fs.Counter(prefix + lower + "_total", f.help, base, double(v->second));
  }
}

void AddSockstat(FamilySet& fs, const SockstatTable& t, const Labels& base,
                 const ExportContext& ctx) {
  auto it = t.find("TCP");
  if (it == t.end()) return;
  if (ctx.kernel_counters) {
    static const Field kFields[] = {
        {"inuse", "TCP sockets in use in the namespace, TIME_WAIT excluded (/proc/net/sockstat)."},
        {"tw", "TIME_WAIT sockets of the namespace, IPv4 and IPv6 (/proc/net/sockstat)."},
    };
    static const char* const kNames[] = {"sockstate_sockstat_tcp_inuse",
                                         "sockstate_sockstat_tcp_tw"};
    AddGauges(fs, it->second, kFields, kNames, base);
  }
  if (!ctx.host_wide) return;
  // Host-wide values: the same in every namespace, so exported once, without a netns label.
  static const Field kHostFields[] = {
      {"orphan", "Orphaned TCP sockets, host-wide (/proc/net/sockstat)."},
      {"alloc", "Allocated TCP sockets, host-wide (/proc/net/sockstat)."},
  };
  static const char* const kHostNames[] = {"sockstate_sockstat_tcp_orphan",
                                           "sockstate_sockstat_tcp_alloc"};
  AddGauges(fs, it->second, kHostFields, kHostNames, {});
  auto mem = it->second.find("mem");
  if (mem != it->second.end()) {
    fs.Gauge("sockstate_sockstat_tcp_mem_bytes",
             "Memory of TCP socket buffers, host-wide (/proc/net/sockstat mem pages * page "
             "size).",
             {}, double(mem->second) * double(ctx.page_size));
  }
}

void AddSockstat6(FamilySet& fs, const SockstatTable& t, const Labels& base,
                  const ExportContext& ctx) {
  auto it = t.find("TCP6");
  if (it == t.end() || !ctx.kernel_counters) return;
  static const Field kFields[] = {
      {"inuse", "IPv6 TCP sockets in use in the namespace (/proc/net/sockstat6)."}};
  static const char* const kNames[] = {"sockstate_sockstat6_tcp6_inuse"};
  AddGauges(fs, it->second, kFields, kNames, base);
}

// /proc/net/netstat TcpExt counters exported as sockstate_netstat_tcpext_<key>_total.
const Field kTcpExtCounters[] = {
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

void AddNetstat(FamilySet& fs, const NetstatTable& t, const Labels& base,
                const ExportContext& ctx) {
  auto it = t.find("TcpExt");
  if (it != t.end() && ctx.kernel_counters)
    AddCounters(fs, it->second, "sockstate_netstat_tcpext_", kTcpExtCounters, base);
}

// /proc/net/snmp Tcp counters exported as sockstate_snmp_tcp_<key>_total.
const Field kTcpCounters[] = {
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

void AddSnmp(FamilySet& fs, const NetstatTable& t, const Labels& base, const ExportContext& ctx) {
  auto it = t.find("Tcp");
  if (it == t.end() || !ctx.kernel_counters) return;
  AddCounters(fs, it->second, "sockstate_snmp_tcp_", kTcpCounters, base);
  auto v = it->second.find("CurrEstab");
  if (v != it->second.end()) {
    fs.Gauge("sockstate_snmp_tcp_currestab",
             "Connections in ESTABLISHED or CLOSE_WAIT (Tcp CurrEstab).", base, double(v->second));
  }
}

}  // namespace

std::unique_ptr<SockstatSource> MakeSockstatSource() {
  return std::make_unique<SockstatSource>("sockstat", ReadSockstat, AddSockstat);
}
std::unique_ptr<SockstatSource> MakeSockstat6Source() {
  return std::make_unique<SockstatSource>("sockstat6", ReadSockstat, AddSockstat6);
}
std::unique_ptr<NetstatSource> MakeNetstatSource() {
  return std::make_unique<NetstatSource>("netstat", ReadNetstat, AddNetstat);
}
std::unique_ptr<NetstatSource> MakeSnmpSource() {
  return std::make_unique<NetstatSource>("snmp", ReadNetstat, AddSnmp);
}

}  // namespace sockstate
