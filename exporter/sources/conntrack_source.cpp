#include "sources/conntrack_source.h"

#include <sys/utsname.h>

#include <array>
#include <cerrno>
#include <span>

#include "util/log.h"

namespace sockstate {
namespace {

// /proc/net/stat/nf_conntrack columns exported as counters: column, family.
struct StatColumn {
  const char* column;
  const MetricDef& metric;
};
const StatColumn kStatColumns[] = {
    {"found", metric::kConntrackFoundTotal},
    {"invalid", metric::kConntrackInvalidTotal},
    {"ignore", metric::kConntrackIgnoreTotal},
    {"insert", metric::kConntrackInsertTotal},
    {"insert_failed", metric::kConntrackInsertFailedTotal},
    {"drop", metric::kConntrackDropTotal},
    {"early_drop", metric::kConntrackEarlyDropTotal},
    {"icmp_error", metric::kConntrackIcmpErrorTotal},
    {"expect_new", metric::kConntrackExpectNewTotal},
    {"expect_create", metric::kConntrackExpectCreateTotal},
    {"expect_delete", metric::kConntrackExpectDeleteTotal},
    {"search_restart", metric::kConntrackSearchRestartTotal},
    {"clashres", metric::kConntrackClashResolveTotal},
    {"chainlength", metric::kConntrackChaintoolongTotal},
};

constexpr std::array<const char*, kCtTcpStates + 1> kTcpStateNames = {
    "none",     "syn_sent",  "syn_recv", "established", "fin_wait", "close_wait",
    "last_ack", "time_wait", "close",    "syn_sent2",   "unknown"};

std::string UnameRelease() {
  utsname u{};
  if (uname(&u) != 0) return "";
  return u.release;
}

}  // namespace

Status ProbeConntrack(const std::string& procfs) {
  const std::string count = procfs + "/sys/net/netfilter/nf_conntrack_count";
  FileRead r = ReadProcFile(count);
  if (r.outcome == ReadOutcome::kNotFound) {
    return Status::Error("there is no " + count + " (no conntrack in this kernel)");
  }
  if (r.outcome == ReadOutcome::kError) return Status::Error(r.error);
  Result<std::unique_ptr<ConntrackSocket>> sock = ConntrackSocket::Open();
  if (!sock.ok()) return sock.status();
  return (*sock)->Probe();
}

ConntrackSource::ConntrackSource(ConntrackSourceOptions options) : options_(std::move(options)) {
  if (options_.kernel_release.empty()) options_.kernel_release = UnameRelease();
}

ConntrackSource::~ConntrackSource() = default;

bool ConntrackSource::Enabled(const Config& config) const {
  return config.nat.enabled != NatToggle::kOff;
}

Status ConntrackSource::Read(const NetnsReadContext& ctx) {
  const NatConfig& nat = ctx.config.nat;
  have_dump_ = false;
  dump_refused_ = false;
  nat_named_ = ctx.own && nat.enabled == NatToggle::kOn;
  Result<ConntrackTable> t = ReadConntrackTable(ctx.paths);
  if (!t.ok()) return t.status().WithContext("conntrack");
  table_ = std::move(*t);
  available_ = table_.count.has_value();
  if (!available_) {
    const std::string why = "no " + ctx.paths.root +
                            "/sys/net/netfilter/nf_conntrack_count (no conntrack in this kernel)";
    if (nat.enabled == NatToggle::kOn) {
      return Status::Error("conntrack: nat.enabled is on but there is " + why);
    }
    if (!said_unavailable_) {
      Log(LogLevel::kInfo, "conntrack: " + why + "; NAT metrics are off (nat.enabled: auto)" +
                               (ctx.netns.empty() ? "" : " in namespace " + ctx.netns));
      said_unavailable_ = true;
    }
    return Status::Ok();
  }
  switch (nat.time_wait_takeover) {
    case NatToggle::kOn:
      takeover_ = true;
      break;
    case NatToggle::kOff:
      takeover_ = false;
      break;
    case NatToggle::kAuto:
      takeover_ = KernelHasTimeWaitTakeover(options_.kernel_release);
      break;
  }
  model_.Reset(nat, takeover_);
  // An empty table (most pods' namespaces) has nothing to dump, but the dump would still walk
  // the host-wide conntrack hash: ~3 ms per namespace per scrape. Skipped after a dump in this
  // namespace succeeded (so a refused dump is still found and reported); not when recording or
  // replaying.
  if (*table_.count == 0 && last_dump_ok_ && options_.replay_dump.empty() &&
      options_.record_dump.empty()) {
    socket_.reset();
    dump_stats_ = CtDumpStats{};
    model_.Finish();
    have_dump_ = true;
    return Status::Ok();
  }
  if (!options_.replay_dump.empty()) {
    Status s = ReplayConntrackFile(options_.replay_dump, model_);
    if (!s.ok()) return s.WithContext("conntrack");
  } else {
    if (socket_ == nullptr) {
      Result<std::unique_ptr<ConntrackSocket>> sock = ConntrackSocket::Open();
      if (!sock.ok()) return sock.status().WithContext("conntrack");
      socket_ = std::move(*sock);
    }
    std::unique_ptr<ConntrackRecorder> recorder;
    if (!options_.record_dump.empty()) {
      Result<std::unique_ptr<ConntrackRecorder>> r = ConntrackRecorder::Open(options_.record_dump);
      if (!r.ok()) return r.status().WithContext("conntrack");
      recorder = std::move(*r);
    }
    Status s = socket_->Dump(model_, recorder.get(), &dump_stats_,
                             [this, &nat] { model_.Reset(nat, takeover_); });
    last_dump_ok_ = s.ok();
    if (!s.ok() && socket_->last_errno() == EPERM && nat.enabled == NatToggle::kAuto) {
      // auto: no CAP_NET_ADMIN is not a failure. The table fill is still exported; say once.
      dump_refused_ = true;
      if (!said_refused_) {
        Log(LogLevel::kInfo, s.message() +
                                 "; per-destination NAT metrics are off (nat.enabled: auto)" +
                                 (ctx.netns.empty() ? "" : " in namespace " + ctx.netns));
        said_refused_ = true;
      }
      return Status::Ok();
    }
    if (!s.ok()) return s;
  }
  model_.Finish();
  have_dump_ = true;
  // An empty table (most namespaces of a node): the socket and its 64 KiB reply buffer are not
  // kept for the next scrape (200 pods would hold 200 of each); it is opened again then.
  if (dump_stats_.entries == 0) socket_.reset();
  return Status::Ok();
}

void ConntrackSource::FinishAcrossNamespaces(const std::vector<NetnsSource*>& all,
                                             const Config& config) {
  std::vector<DestinationLabels*> lists;
  for (NetnsSource* s : all) {
    auto* c = dynamic_cast<ConntrackSource*>(s);
    if (c == nullptr || !c->have_dump_) continue;
    for (int p = 0; p < kNatProtocols; ++p) {
      if (c->model_.entries(p) > 0) lists.push_back(&c->model_.labels(p));
    }
  }
  if (lists.empty()) return;
  CapAcrossNamespaces(std::span<DestinationLabels* const>(lists), config.nat.max_series);
}

void ConntrackSource::AddFamilies(FamilySet& fs, const Labels& base,
                                  const ExportContext& ctx) const {
  if (!available_) return;
  if (ctx.host_wide) {
    if (table_.max) fs.Add(metric::kConntrackEntriesLimit, {}, double(*table_.max));
    if (table_.buckets) fs.Add(metric::kConntrackBuckets, {}, double(*table_.buckets));
    fs.Add(metric::kNatTimeWaitTakeover, {}, takeover_ ? 1 : 0);
  }
  // A namespace without entries (most pods': nothing loads conntrack there) has nothing to say.
  if (table_.count.value_or(0) == 0 && !dump_refused_ && !nat_named_) return;
  if (table_.count) {
    fs.Add(metric::kConntrackEntries, base,
             double(*table_.count));
  }
  if (table_.stat) {
    for (const StatColumn& c : kStatColumns) {
      if (std::optional<uint64_t> v = table_.stat->Get(c.column)) {
        fs.Add(c.metric, base, double(*v));
      }
    }
  }
  fs.Add(metric::kConntrackDumpPermitted, base, dump_refused_ ? 0 : 1);
  if (!have_dump_) return;
  fs.Add(metric::kConntrackDumpEntries, With(base, {{"protocol", "tcp"}}),
           double(model_.entries(kNatTcp)));
  fs.Add(metric::kConntrackDumpEntries, With(base, {{"protocol", "udp"}}),
           double(model_.entries(kNatUdp)));
  fs.Add(metric::kConntrackDumpEntries, With(base, {{"protocol", "icmp"}}),
           double(model_.icmp_entries()));
  fs.Add(metric::kConntrackDumpEntries, With(base, {{"protocol", "other"}}),
           double(model_.other_entries()));
  const auto& tcp = model_.tcp_states();
  for (int s = 0; s <= kCtTcpStates; ++s) {
    if (s == kCtTcpStates && tcp[s] == 0) continue;
    fs.Add(metric::kConntrackTcpEntries, With(base, {{"state", kTcpStateNames[s]}}), double(tcp[s]));
  }
  fs.Add(metric::kNatUntrackedEntries, base, double(model_.untracked_entries()));
  static constexpr std::array<const char*, 2> kKinds = {"snat", "direct"};
  static constexpr std::array<const char*, 2> kStates = {"blocking", "reclaimable"};
  for (int p = 0; p < kNatProtocols; ++p) {
    if (model_.entries(p) == 0) continue;  // nothing of this protocol: no series
    const std::string proto(NatProtocolName(p));
    const std::vector<NatSlotStats> slots = model_.Summarize(p);
    for (const NatSlotStats& s : slots) {
      const Labels l = With(base, {{"destination", s.label}, {"protocol", proto}});
      for (int k = 0; k < 2; ++k) {
        for (int st = 0; st < 2; ++st) {
          fs.Add(metric::kNatPortsUsed, With(l, {{"kind", kKinds[k]}, {"state", kStates[st]}}), double(s.ports[k][st]));
        }
      }
      fs.Add(metric::kNatPortsBlockingMax, l,
               double(s.fullest_blocking));
      fs.Add(metric::kNatUsablePorts, l, double(s.usable));
      fs.Add(metric::kNatOccupancyRatio, l, s.Occupancy());
      fs.Add(metric::kNatTuples, l,
               double(s.tuples));
    }
    fs.Add(metric::kNatDestinationsFolded, With(base, {{"protocol", proto}}), double(model_.labels(p).folded));
  }
}

}  // namespace sockstate
