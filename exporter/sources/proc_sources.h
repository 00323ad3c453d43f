#pragma once
// Sources "sockstat", "sockstat6", "netstat", "snmp" and "snmp6": one /proc/net file each, read and
// parsed by kernel/procfs.*, exported by a function of the file's own. A missing file (IPv6
// off, older kernel) is no data: success, no series.

#include <memory>
#include <optional>
#include <string_view>

#include "kernel/procfs.h"
#include "sources/source.h"

namespace sockstate {

/// One /proc/net file of one namespace, parsed into a `Table` (SockstatTable or NetstatTable).
/// Not thread-safe (the pipeline never overlaps its calls).
template <typename Table>
class ProcFileSource : public NetnsSource {
 public:
  /// Reads and parses paths.net_dir/<file>; nullopt when the file does not exist.
  using Reader = Result<std::optional<Table>> (*)(const ProcPaths& paths, const char* file);
  /// Adds the series of one parsed file.
  using Exporter = void (*)(FamilySet& fs, const Table& table, const Labels& base,
                            const ExportContext& ctx);

  /// `name` is both the source label and the file name under /proc/net.
  ProcFileSource(const char* name, Reader reader, Exporter exporter)
      : name_(name), reader_(reader), exporter_(exporter) {}

  std::string_view name() const override { return name_; }
  Status Read(const NetnsReadContext& ctx) override {
    auto r = reader_(ctx.paths, name_);
    if (!r.ok()) return r.status();
    table_ = std::move(*r);
    return Status::Ok();
  }
  void AddFamilies(FamilySet& fs, const Labels& base, const ExportContext& ctx) const override {
    if (table_) exporter_(fs, *table_, base, ctx);
  }

  /// The table of the last successful Read(); nullopt when the file did not exist.
  const std::optional<Table>& table() const { return table_; }
  /// Installs a table as if read (tests).
  void set_table(std::optional<Table> table) { table_ = std::move(table); }

 private:
  const char* name_;
  Reader reader_;
  Exporter exporter_;
  std::optional<Table> table_;
};

using SockstatSource = ProcFileSource<SockstatTable>;
using NetstatSource = ProcFileSource<NetstatTable>;
using Snmp6Source = ProcFileSource<Snmp6Table>;

/// /proc/net/sockstat: TCP inuse, orphan, tw, alloc, mem.
std::unique_ptr<SockstatSource> MakeSockstatSource();
/// /proc/net/sockstat6: TCP6 inuse.
std::unique_ptr<SockstatSource> MakeSockstat6Source();
/// /proc/net/netstat: TcpExt counters (TIME_WAIT, listen overflows, ...).
std::unique_ptr<NetstatSource> MakeNetstatSource();
/// /proc/net/snmp: Tcp counters (ActiveOpens, ...) and CurrEstab, Udp counters (family ipv4).
std::unique_ptr<NetstatSource> MakeSnmpSource();
/// /proc/net/snmp6: the Udp6 counters (family ipv6).
std::unique_ptr<Snmp6Source> MakeSnmp6Source();

}  // namespace sockstate
