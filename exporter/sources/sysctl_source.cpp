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
}

}  // namespace sockstate
