#pragma once
// Source "sysctl": the namespace's kernel settings behind port exhaustion
// (net.ipv4.ip_local_port_range, ip_local_reserved_ports, tcp_tw_reuse, ...). Read first: the
// sock_diag source takes the port range and reserved ports from it.

#include <string_view>

#include "kernel/procfs.h"
#include "sources/source.h"

namespace sockstate {

/// One namespace's sysctls. Not thread-safe (the pipeline never overlaps its calls).
class SysctlSource : public NetnsSource {
 public:
  std::string_view name() const override { return "sysctl"; }
  Status Read(const NetnsReadContext& ctx) override;
  void AddFamilies(FamilySet& fs, const Labels& base, const ExportContext& ctx) const override;

  /// The settings of the last successful Read().
  const NetSysctls& sysctls() const { return sysctls_; }
  /// Installs settings as if read (tests).
  void set_sysctls(NetSysctls s) { sysctls_ = std::move(s); }

 private:
  NetSysctls sysctls_;
};

}  // namespace sockstate
