#include "sources/sysctl_source.h"

#include <optional>

namespace sockstate {

Status SysctlSource::Read(const NetnsReadContext& ctx) {
  Result<NetSysctls> r = ReadNetSysctls(ctx.paths);
  if (!r.ok()) return r.status();
  sysctls_ = std::move(*r);
  return Status::Ok();
}

void SysctlSource::AddFamilies(FamilySet& fs, const Labels& base, const ExportContext& ctx) const {
  if (!ctx.kernel_counters) return;
  const NetSysctls& s = sysctls_;
  if (s.port_range) {
    fs.Add(metric::kSysctlIpLocalPortRangeLow, base,
             s.port_range->low);
    fs.Add(metric::kSysctlIpLocalPortRangeHigh, base,
             s.port_range->high);
  }
  if (s.reserved_ports) {
    fs.Add(metric::kSysctlIpLocalReservedPorts, base, double(s.reserved_ports->count()));
  }
  auto opt = [&](const std::optional<int64_t>& v, const MetricDef& def, double scale) {
    if (v) fs.Add(def, base, double(*v) * scale);
  };
  opt(s.tcp_tw_reuse, metric::kSysctlTcpTwReuse, 1);
  opt(s.tcp_tw_reuse_delay_ms, metric::kSysctlTcpTwReuseDelaySeconds, 0.001);
  opt(s.tcp_max_tw_buckets, metric::kSysctlTcpMaxTwBuckets, 1);
  opt(s.tcp_fin_timeout_s, metric::kSysctlTcpFinTimeoutSeconds, 1);
  opt(s.tcp_timestamps, metric::kSysctlTcpTimestamps, 1);
}

}  // namespace sockstate
