#include "sources/proc_sources.h"

namespace sockstate {

namespace {

/// A field of a /proc/net table and the family its value goes to.
struct Field {
  const char* key;
  const MetricDef& metric;
};

/// One series per present field of `block` (a gauge or a counter, as its family says).
template <typename Block, size_t N>
void AddFields(FamilySet& fs, const Block& block, const Field (&fields)[N], const Labels& base) {
  for (const Field& f : fields) {
    auto v = block.find(f.key);
    if (v != block.end()) fs.Add(f.metric, base, double(v->second));
  }
}

void AddSockstat(FamilySet& fs, const SockstatTable& t, const Labels& base,
                 const ExportContext& ctx) {
  auto it = t.find("TCP");
  if (it == t.end()) return;
  if (ctx.kernel_counters) {
    static const Field kFields[] = {{"inuse", metric::kSockstatTcpInuse},
                                    {"tw", metric::kSockstatTcpTw}};
    AddFields(fs, it->second, kFields, base);
  }
  if (!ctx.host_wide) return;
  // Host-wide values: the same in every namespace, so exported once, without a netns label.
  static const Field kHostFields[] = {{"orphan", metric::kSockstatTcpOrphan},
                                      {"alloc", metric::kSockstatTcpAlloc}};
  AddFields(fs, it->second, kHostFields, {});
  auto mem = it->second.find("mem");
  if (mem != it->second.end()) {
    fs.Add(metric::kSockstatTcpMemBytes, {}, double(mem->second) * double(ctx.page_size));
  }
}

void AddSockstat6(FamilySet& fs, const SockstatTable& t, const Labels& base,
                  const ExportContext& ctx) {
  auto it = t.find("TCP6");
  if (it == t.end() || !ctx.kernel_counters) return;
  static const Field kFields[] = {{"inuse", metric::kSockstat6Tcp6Inuse}};
  AddFields(fs, it->second, kFields, base);
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

void AddSnmp(FamilySet& fs, const NetstatTable& t, const Labels& base, const ExportContext& ctx) {
  auto it = t.find("Tcp");
  if (it == t.end() || !ctx.kernel_counters) return;
  AddFields(fs, it->second, kTcpCounters, base);
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
