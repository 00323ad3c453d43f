#include "sources/occupancy_bound_source.h"

#include <algorithm>
#include <string>

#include "kernel/procfs.h"
#include "sources/sysctl_source.h"
#include "sources/tracker_source.h"

namespace sockstate {

namespace {

/// table[line][key], 0 when the line or key is missing.
uint64_t Field(const SockstatTable& t, const char* line, const char* key) {
  auto l = t.find(line);
  if (l == t.end()) return 0;
  auto k = l->second.find(key);
  return k == l->second.end() ? 0 : k->second;
}

/// net.ipv4.tcp_ehash_entries inside the namespace (signed: negative = the shared table).
/// nullopt when the file is missing (kernels before 6.1 have no per-namespace table).
Result<std::optional<int64_t>> ReadEhashEntries(const ProcPaths& paths) {
  const std::string path = paths.root + "/sys/net/ipv4/tcp_ehash_entries";
  FileRead r = ReadProcFile(path);
  if (r.outcome == ReadOutcome::kNotFound) return std::optional<int64_t>();
  if (r.outcome != ReadOutcome::kOk) return Status::Error(r.error);
  std::string_view text = r.text;
  const bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  Result<int64_t> v = ParseSysctlInt(text);
  if (!v.ok()) return v.status().WithContext(path);
  return std::optional<int64_t>(negative ? -*v : *v);
}

}  // namespace

double OccupancyBound(const OccupancyCounts& c) {
  const double used = double(c.tcp_inuse) + double(c.tcp6_inuse) + double(c.tcp_tw);
  const double usable_at_least =
      double(c.range_ports) - double(c.reserved_in_range) - double(c.sockets_used);
  return used / std::max(1.0, usable_at_least);
}

double UdpOccupancyBound(const OccupancyCounts& c) {
  const double used = double(c.udp_inuse) + double(c.udp6_inuse);
  return used / std::max(1.0, double(c.range_ports) - double(c.reserved_in_range));
}

std::string_view DetailReasonName(DetailReason r) {
  switch (r) {
    case DetailReason::kOwn:
      return "own";
    case DetailReason::kOwnHash:
      return "own_hash";
    case DetailReason::kThreshold:
      return "threshold";
    case DetailReason::kHysteresis:
      return "hysteresis";
    case DetailReason::kBelowThreshold:
      return "below_threshold";
    case DetailReason::kTracker:
      return "tracker";
  }
  return "";
}

DetailReason DecideDetail(bool own, bool own_hash, double bound, double threshold,
                          bool was_detailed) {
  if (own) return DetailReason::kOwn;
  if (own_hash) return DetailReason::kOwnHash;
  if (bound >= threshold) return DetailReason::kThreshold;
  if (was_detailed && bound >= threshold * kDetailHysteresis) return DetailReason::kHysteresis;
  return DetailReason::kBelowThreshold;
}

Status OccupancyBoundSource::Read(const NetnsReadContext& ctx) {
  // On failure the namespace is dumped; it then stays detailed until a bound clears it.
  const bool was_detailed = was_detailed_;
  was_detailed_ = true;
  const SysctlSource* sysctl = ctx.Earlier<SysctlSource>();
  if (sysctl == nullptr || !sysctl->sysctls().port_range) {
    return Status::Error("occupancy_bound: ip_local_port_range unknown (sysctl source failed)");
  }
  auto sockstat = ReadSockstat(ctx.paths, "sockstat");
  if (!sockstat.ok()) return sockstat.status();
  if (!sockstat->has_value()) return Status::Error(ctx.paths.net_dir + "/sockstat: not found");
  auto sockstat6 = ReadSockstat(ctx.paths, "sockstat6");  // missing without IPv6: 0
  if (!sockstat6.ok()) return sockstat6.status();
  auto ehash = ReadEhashEntries(ctx.paths);
  if (!ehash.ok()) return ehash.status();
  const NetSysctls& s = sysctl->sysctls();
  OccupancyCounts c;
  c.range_ports = s.port_range->size();
  if (s.reserved_ports) {
    for (uint32_t p = s.port_range->low; p <= s.port_range->high; ++p) {
      c.reserved_in_range += (*s.reserved_ports)[p] ? 1 : 0;
    }
  }
  c.sockets_used = Field(**sockstat, "sockets", "used");
  c.tcp_inuse = Field(**sockstat, "TCP", "inuse");
  c.tcp_tw = Field(**sockstat, "TCP", "tw");
  c.tcp6_inuse = *sockstat6 ? Field(**sockstat6, "TCP6", "inuse") : 0;
  c.udp_inuse = Field(**sockstat, "UDP", "inuse");
  c.udp6_inuse = *sockstat6 ? Field(**sockstat6, "UDP6", "inuse") : 0;
  counts_ = c;
  bound_ = OccupancyBound(c);
  udp_bound_ = UdpOccupancyBound(c);
  const bool own_hash = ehash->has_value() && **ehash > 0;
  reason_ = DecideDetail(ctx.own, own_hash, std::max(bound_, udp_bound_),
                         ctx.config.namespaces.detail_threshold, was_detailed);
  was_detailed_ = detailed();
  // The tracker counts every namespace it serves exactly, without a dump (the bound still
  // decides for the sources that dump, UDP).
  tracked_ = false;
  if (!ctx.own && ctx.env.tracker && ctx.env.tracker->available()) {
    if (cookie_ == 0) cookie_ = TrackerProbe::ThisNamespaceCookie();
    tracked_ = ctx.env.tracker->Serve(cookie_) != nullptr;
  }
  return Status::Ok();
}

void OccupancyBoundSource::AddFamilies(FamilySet& fs, const Labels& base,
                                       const ExportContext&) const {
  fs.Add(metric::kNetnsOccupancyBoundRatio, base, bound_);
  fs.Add(metric::kNetnsUdpOccupancyBoundRatio, base, udp_bound_);
  if (tracked_) {
    fs.Add(metric::kNetnsDetailed,
           With(base, {{"reason", std::string(DetailReasonName(DetailReason::kTracker))}}), 1);
    return;
  }
  fs.Add(metric::kNetnsDetailed, With(base, {{"reason", std::string(DetailReasonName(reason_))}}), detailed() ? 1 : 0);
}

}  // namespace sockstate
