#pragma once
// The conntrack source (docs/nat.md): per namespace, the conntrack table's fill and per-CPU
// statistics from /proc, and a ctnetlink dump folded into the NAT port model
// (aggregate/nat_model.h). Config: the `nat` section (off / on / auto).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregate/nat_model.h"
#include "kernel/conntrack_netlink.h"
#include "kernel/conntrack_proc.h"
#include "sources/source.h"

namespace sockstate {

/// Options of one ConntrackSource (tests and benchmarks; the exporter uses the defaults).
struct ConntrackSourceOptions {
  /// Replay this recorded dump (SSCTRK01) instead of dumping the kernel (/proc is still read).
  std::string replay_dump;
  /// Record every dump's raw buffers here (overwritten on every Read).
  std::string record_dump;
  /// The kernel release deciding nat.time_wait_takeover: auto; empty = uname -r.
  std::string kernel_release;
};

/// The start-up check of `nat.enabled: on` in the calling thread's namespace: conntrack exists
/// (`procfs`/sys/net/netfilter/nf_conntrack_count) and ctnetlink lets this process dump
/// (ConntrackSocket::Probe). An error says why not; main() exits 1 with it. Thread-safe.
Status ProbeConntrack(const std::string& procfs);

/// One namespace's conntrack source. Read() and AddFamilies() never overlap (NetnsSource
/// contract); not thread-safe otherwise.
class ConntrackSource : public NetnsSource {
 public:
  explicit ConntrackSource(ConntrackSourceOptions options = {});
  ~ConntrackSource() override;

  std::string_view name() const override { return "conntrack"; }
  /// False when nat.enabled is off.
  bool Enabled(const Config& config) const override;
  /// Reads the table files, then dumps the table into the model. auto: a kernel without
  /// conntrack (no nf_conntrack_count) is success with no series, said once in the log; on:
  /// that is an error. A dump refused for lack of CAP_NET_ADMIN is, in auto, success without
  /// per-destination series (said once; sockstate_conntrack_dump_permitted 0); in on, and any
  /// other failed dump, fails the source with the reason.
  Status Read(const NetnsReadContext& ctx) override;
  /// The destination series cap (nat.max_series) across namespaces and both protocols.
  void FinishAcrossNamespaces(const std::vector<NetnsSource*>& all, const Config& config) override;
  /// The table's fill and statistics, the dump's entries and the NAT series only where they
  /// say something: the namespace has conntrack entries, a refused dump, or it is the own
  /// namespace and nat.enabled is on (asked for explicitly). nf_conntrack_max, the hash size and
  /// the TIME_WAIT takeover assumption are host-wide: once, by the host-wide namespace, unlabelled.
  void AddFamilies(FamilySet& fs, const Labels& base, const ExportContext& ctx) const override;

  /// The model of the last successful Read() (tests).
  const NatModel& model() const { return model_; }
  /// Whether the last Read() found conntrack in the kernel.
  bool available() const { return available_; }
  /// Whether SNAT takeover of TIME_WAIT/CLOSE entries was assumed in the last Read().
  bool takeover() const { return takeover_; }

 private:
  ConntrackSourceOptions options_;
  std::unique_ptr<ConntrackSocket> socket_;
  NatModel model_;
  ConntrackTable table_;
  CtDumpStats dump_stats_;
  bool available_ = false;
  bool takeover_ = false;
  bool said_unavailable_ = false;
  bool dump_refused_ = false;  // auto and ctnetlink refused the last dump (no CAP_NET_ADMIN)
  bool said_refused_ = false;
  bool have_dump_ = false;
  bool nat_named_ = false;  // the own namespace with nat.enabled: on: its series even when empty
  // The last dump attempted in this namespace succeeded: while nf_conntrack_count stays 0
  // the next ones are skipped (a refused or failed dump is tried again every scrape).
  bool last_dump_ok_ = false;
};

}  // namespace sockstate
