#include "sources/proc_sources.h"

#include <span>
#include <string>

namespace sockstate {

namespace {

/// A field of a /proc/net table and the family its value goes to.
struct Field {
  const char* key;
  const MetricDef& metric;
};

/// One series per present field of `block` (a gauge or a counter, as its family says).
template <typename Block>
void AddFields(FamilySet& fs, const Block& block, std::span<const Field> fields,
               const Labels& base) {
  for (const Field& f : fields) {
    auto v = block.find(f.key);
    if (v != block.end()) fs.Add(f.metric, base, double(v->second));
  }
}

/// The `line` block of a sockstat table: its per-namespace `fields` (when the namespace's
/// kernel counters are exported), and its host-wide values, the same in every namespace, once
/// and without a netns label: `host_fields` and "mem" (pages) into `mem` as bytes.
void AddSockstatLine(FamilySet& fs, const SockstatTable& t, const char* line,
                     std::span<const Field> fields, std::span<const Field> host_fields,
                     const MetricDef* mem, const Labels& base, const ExportContext& ctx) {
  auto it = t.find(line);
  if (it == t.end()) return;
  if (ctx.kernel_counters) AddFields(fs, it->second, fields, base);
  if (!ctx.host_wide) return;
  AddFields(fs, it->second, host_fields, {});
  auto m = it->second.find("mem");
  if (mem != nullptr && m != it->second.end()) {
    fs.Add(*mem, {}, double(m->second) * double(ctx.page_size));
  }
}

void AddSockstat(FamilySet& fs, const SockstatTable& t, const Labels& base,
                 const ExportContext& ctx) {
  static const Field kTcp[] = {{"inuse", metric::kSockstatTcpInuse},
                               {"tw", metric::kSockstatTcpTw}};
  static const Field kTcpHost[] = {{"orphan", metric::kSockstatTcpOrphan},
                                   {"alloc", metric::kSockstatTcpAlloc}};
  static const Field kUdp[] = {{"inuse", metric::kSockstatUdpInuse}};
  AddSockstatLine(fs, t, "TCP", kTcp, kTcpHost, &metric::kSockstatTcpMemBytes, base, ctx);
  AddSockstatLine(fs, t, "UDP", kUdp, {}, &metric::kSockstatUdpMemBytes, base, ctx);
}

void AddSockstat6(FamilySet& fs, const SockstatTable& t, const Labels& base,
                  const ExportContext& ctx) {
  static const Field kTcp6[] = {{"inuse", metric::kSockstat6Tcp6Inuse}};
  static const Field kUdp6[] = {{"inuse", metric::kSockstat6Udp6Inuse}};
  AddSockstatLine(fs, t, "TCP6", kTcp6, {}, nullptr, base, ctx);
  AddSockstatLine(fs, t, "UDP6", kUdp6, {}, nullptr, base, ctx);
}

const Field kTcpExtCounters[] = {
    {"TW", metric::kNetstatTcpextTwTotal},
    {"TWKilled", metric::kNetstatTcpextTwkilledTotal},
    {"TWRecycled", metric::kNetstatTcpextTwrecycledTotal},
    {"TCPTimeWaitOverflow", metric::kNetstatTcpextTcptimewaitoverflowTotal},
    {"TCPAbortOnClose", metric::kNetstatTcpextTcpabortoncloseTotal},
    {"ListenOverflows", metric::kNetstatTcpextListenoverflowsTotal},
    {"ListenDrops", metric::kNetstatTcpextListendropsTotal},
};

void AddNetstat(FamilySet& fs, const NetstatTable& t, const Labels& base,
                const ExportContext& ctx) {
  auto it = t.find("TcpExt");
  if (it != t.end() && ctx.kernel_counters) AddFields(fs, it->second, kTcpExtCounters, base);
}

const Field kTcpCounters[] = {
    {"ActiveOpens", metric::kSnmpTcpActiveopensTotal},
    {"PassiveOpens", metric::kSnmpTcpPassiveopensTotal},
    {"AttemptFails", metric::kSnmpTcpAttemptfailsTotal},
    {"EstabResets", metric::kSnmpTcpEstabresetsTotal},
    {"RetransSegs", metric::kSnmpTcpRetranssegsTotal},
    {"OutRsts", metric::kSnmpTcpOutrstsTotal},
    {"CurrEstab", metric::kSnmpTcpCurrestab},
};

// The Udp counters, named as in /proc/net/snmp's Udp block ("Udp6" + name in snmp6).
const Field kUdpCounters[] = {
    {"InDatagrams", metric::kSnmpUdpIndatagramsTotal},
    {"NoPorts", metric::kSnmpUdpNoportsTotal},
    {"InErrors", metric::kSnmpUdpInerrorsTotal},
    {"OutDatagrams", metric::kSnmpUdpOutdatagramsTotal},
    {"RcvbufErrors", metric::kSnmpUdpRcvbuferrorsTotal},
    {"SndbufErrors", metric::kSnmpUdpSndbuferrorsTotal},
    {"MemErrors", metric::kSnmpUdpMemerrorsTotal},
};

void AddSnmp(FamilySet& fs, const NetstatTable& t, const Labels& base, const ExportContext& ctx) {
  if (!ctx.kernel_counters) return;
  auto it = t.find("Tcp");
  if (it != t.end()) AddFields(fs, it->second, kTcpCounters, base);
  auto udp = t.find("Udp");
  if (udp != t.end()) AddFields(fs, udp->second, kUdpCounters, With(base, {{"family", "ipv4"}}));
}

void AddSnmp6(FamilySet& fs, const Snmp6Table& t, const Labels& base, const ExportContext& ctx) {
  if (!ctx.kernel_counters) return;
  const Labels l = With(base, {{"family", "ipv6"}});
  for (const Field& f : kUdpCounters) {
    auto v = t.find("Udp6" + std::string(f.key));
    if (v != t.end()) fs.Add(f.metric, l, double(v->second));
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
std::unique_ptr<Snmp6Source> MakeSnmp6Source() {
  return std::make_unique<Snmp6Source>("snmp6", ReadSnmp6, AddSnmp6);
}

}  // namespace sockstate
