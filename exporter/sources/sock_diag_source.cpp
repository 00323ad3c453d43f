#include "sources/sock_diag_source.h"

#include <algorithm>
#include <mutex>
#include <string>

#include "aggregate/tracked.h"
#include "aggregate/workloads.h"
#include "sources/occupancy_bound_source.h"
#include "sources/sysctl_source.h"

namespace sockstate {

namespace {

using Clock = std::chrono::steady_clock;

/// The per-state series of one destination or service: established and time_wait always,
/// other states when non-zero.
void AddStateSeries(FamilySet& fs, const MetricDef& def, const Labels& labels,
                    const DestinationStats& d) {
  for (int s = 0; s < kNumStates; ++s) {
    const uint8_t st = kExportedStates[s];
    if (d.sockets[s] == 0 && st != kTcpEstablished && st != kTcpTimeWait) continue;
    fs.Add(def, With(labels, {{"state", std::string(TcpStateName(st))}}), double(d.sockets[s]));
  }
}

/// Who holds the destination's sockets (docs/workloads.md): one series per workload and state
/// (states at 0 omitted) and the ports each uses.
void AddWorkloads(FamilySet& fs, const DestinationStats& d, const Labels& dl) {
  for (const WorkloadStats& w : d.workloads) {
    const Labels wl = With(dl, {{"workload", w.workload.name}, {"workload_kind", w.workload.kind}});
    for (int s = 0; s < kNumStates; ++s) {
      if (w.sockets[s] == 0) continue;
      fs.Add(metric::kDestinationWorkloadSockets,
             With(wl, {{"state", std::string(TcpStateName(kExportedStates[s]))}}),
             double(w.sockets[s]));
    }
    fs.Add(metric::kDestinationWorkloadEphemeralPortsUsed, wl, double(w.ports_used));
  }
}

void AddDestination(FamilySet& fs, const AggregateResult& a, const DestinationStats& d,
                    const Labels& base, bool peaks) {
  const PortBudget& b = a.budget;
  Labels dl = With(base, {{"destination", d.label}});
  AddStateSeries(fs, metric::kDestinationSockets, dl, d);
  fs.Add(metric::kDestinationEphemeralPortsUsed, dl, double(d.ports_used));
  if (d.label != "other" || a.sockets_untracked == 0) {
    fs.Add(metric::kDestinationEphemeralPortsUsedMax, dl, double(d.ports_used_max));
  }
  if (b.known) {
    double ratio =
        b.usable > 0 ? double(d.ports_used_max) / b.usable : (d.ports_used_max > 0 ? 1.0 : 0.0);
    fs.Add(metric::kDestinationOccupancyRatio, dl, ratio);
  }
  if (peaks && b.known) {  // the tracker's peak window
    const double peak = b.usable > 0 ? std::min(1.0, double(d.ports_used_peak) / b.usable)
                                     : (d.ports_used_peak > 0 ? 1.0 : 0.0);
    fs.Add(metric::kDestinationOccupancyPeakRatio, dl, peak);
  }
  fs.Add(metric::kDestinationTuples, dl, double(d.tuples));
  fs.Histogram(metric::kDestinationTimeWaitRemainingSeconds, dl, a.tw_bounds, d.tw_buckets,
               d.tw_count, d.tw_sum_seconds);
  AddWorkloads(fs, d, dl);
}

/// Aggregators lent to the reads of namespaces the tracker serves.
class AggregatorPool {
 public:
  std::unique_ptr<Aggregator> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return std::make_unique<Aggregator>();
    std::unique_ptr<Aggregator> a = std::move(free_.back());
    free_.pop_back();
    return a;
  }
  void Give(std::unique_ptr<Aggregator> a) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(a));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Aggregator>> free_;
};

AggregatorPool& TrackedAggregators() {
  static AggregatorPool pool;
  return pool;
}

void AddBudget(FamilySet& fs, const PortBudget& b, const Labels& base) {
  fs.Add(metric::kEphemeralPortRangePorts, base, b.range);
  fs.Add(metric::kEphemeralPortReservedPorts, base, b.reserved);
  fs.Add(metric::kEphemeralPortBindHeldPorts, base, b.bind_held);
  fs.Add(metric::kEphemeralPortUsablePorts, base, b.usable);
}

}  // namespace

void SockDiagSource::ResetAggregator() {
  aggregator_->Reset(*config_, range_, reserved_);
  // Workload attribution (docs/workloads.md): a tuple's first owner lives in the tuple; cells
  // for further (tuple, cgroup) pairs are bounded by the tuples' bound.
  if (config_->workloads.top_k > 0) {
    aggregator_->SetAttribution(size_t(config_->destinations.max_tuples), tw_owners_,
                                netns_inode_);
  }
}

void SockDiagSource::Prepare(const NetnsReadContext& ctx) {
  // Namespaces never dumped (cleared by their bound) do not pay for the tables.
  if (!aggregator_) aggregator_ = std::make_unique<Aggregator>();
  // The port range drives the aggregation: it comes from this scrape's sysctl source.
  const SysctlSource* sysctl = ctx.Earlier<SysctlSource>();
  const NetSysctls* s = sysctl ? &sysctl->sysctls() : nullptr;
  config_ = &ctx.config;
  env_ = &ctx.mutable_env;
  tw_owners_ = ctx.env.time_wait_owners && ctx.env.time_wait_owners->available() &&
                       ctx.netns_inode != 0
                   ? ctx.env.time_wait_owners.get()
                   : nullptr;
  netns_inode_ = ctx.netns_inode;
  range_ = s && s->port_range ? &*s->port_range : nullptr;
  reserved_ = s && s->reserved_ports ? &*s->reserved_ports : nullptr;
  snap_.max_tw_buckets = s ? s->tcp_max_tw_buckets : std::nullopt;
  ResetAggregator();
}

void SockDiagSource::ReadTracked(const NetnsReadContext& ctx, const Tracker& tracker,
                                 const TrackedNamespace& ns) {
  // Namespaces the tracker serves borrow an aggregator from a pool (one per namespace read at
  // the same time, reused across scrapes): kept per namespace, its tables cost ~0.4 MB each
  // (50 small namespaces: 38.7 MB peak RSS against 19.4 MB). A namespace that falls back to
  // dumps makes its own again.
  aggregator_ = TrackedAggregators().Take();
  Prepare(ctx);
  AggregateTracked(ns, tracker.snapshot().jiffies, tracker.snapshot().hz, *aggregator_);
  aggregator_->Finish(&snap_.agg);
  TrackedAggregators().Give(std::move(aggregator_));
  snap_.dump_sockets = snap_.agg.sockets;
  config_ = nullptr;
  range_ = nullptr;
  reserved_ = nullptr;
  tw_owners_ = {};
}

Status SockDiagSource::Read(const NetnsReadContext& ctx) {
  // The tracker's counts when it serves this namespace: no dump.
  const Tracker* tracker = ctx.env.tracker.get();
  snap_.tracker_available = tracker != nullptr && tracker->available();
  snap_.tracked = false;
  const bool replay = !ctx.env.replay_dump.empty() && ctx.own;  // a recorded dump wins
  if (snap_.tracker_available && !replay) {
    if (cookie_ == 0) cookie_ = TrackerProbe::ThisNamespaceCookie();
    snap_.tracker_health = tracker->Health(cookie_);
    if (const TrackedNamespace* ns = tracker->Serve(cookie_)) {
      snap_.dumped = true;
      snap_.tracked = true;
      ReadTracked(ctx, *tracker, *ns);
      return Status::Ok();
    }
  }
  // A namespace whose occupancy bound is below the threshold is not dumped.
  const OccupancyBoundSource* bound = ctx.Earlier<OccupancyBoundSource>();
  snap_.dumped = bound == nullptr || bound->detailed();
  if (!snap_.dumped) return Status::Ok();
  Prepare(ctx);
  Status st;
  if (!ctx.env.replay_dump.empty() && ctx.own) {
    st = ReplayDumpFile(ctx.env.replay_dump, *aggregator_);
    ctx.mutable_env.netlink_dumps++;
  } else {
    st = DumpLive(ctx);
  }
  if (st.ok()) {
    aggregator_->Finish(&snap_.agg);
    snap_.dump_sockets = snap_.agg.sockets;
  }
  config_ = nullptr;
  range_ = nullptr;
  reserved_ = nullptr;
  tw_owners_ = nullptr;
  return st;
}

Status SockDiagSource::DumpLive(const NetnsReadContext& ctx) {
  std::unique_ptr<DumpRecorder> recorder;
  const Status ready =
      PrepareLiveDump(&socket_, ctx.own ? ctx.env.record_dump : "", false, &recorder);
  if (!ready.ok()) return ready;
  // bound_inactive (bit 13) is left out of the per-scrape dump: asking for it makes the kernel
  // walk the host-wide bind hash. It has its own, rarer dump below.
  Status st = socket_->DumpTcp(kAllStatesMask & ~(1u << kTcpBoundInactive), *aggregator_,
                               recorder.get(), nullptr, [this] { ResetAggregator(); });
  ctx.mutable_env.netlink_dumps++;
  const auto now = Clock::now();
  const double interval = ctx.config.collector.bound_inactive_interval_seconds;
  if (st.ok() && (!bound_inactive_ || interval <= 0 ||
                  now - bound_inactive_at_ >= std::chrono::duration<double>(interval))) {
    BoundInactiveSink bi;
    st = socket_->DumpTcp(1u << kTcpBoundInactive, bi);
    if (st.ok()) {
      bound_inactive_ = bi.snapshot;
      bound_inactive_at_ = now;
    } else {
      st = st.WithContext("bound_inactive dump");
    }
  }
  if (st.ok() && bound_inactive_) aggregator_->AddBoundInactive(*bound_inactive_);
  if (!st.ok()) socket_.reset();  // reopen on the next scrape
  return st;
}

void SockDiagSource::FinishAcrossNamespaces(const std::vector<NetnsSource*>& all,
                                            const Config& config) {
  std::vector<AggregateResult*> aggs;
  for (NetnsSource* s : all) {
    auto* d = dynamic_cast<SockDiagSource*>(s);
    if (d != nullptr && d->snap_.dumped) aggs.push_back(&d->snap_.agg);
  }
  FoldAcrossNamespaces(aggs, config.destinations.max_series, /*inbound=*/false);
  FoldAcrossNamespaces(aggs, config.inbound.max_series, /*inbound=*/true);
  // Workloads (docs/workloads.md): every owner cgroup of this scrape resolved with one bounded
  // walk of the cgroup2 tree for the ids not cached, then ranked per destination and capped.
  SockDiagSource* first = all.empty() ? nullptr : dynamic_cast<SockDiagSource*>(all.front());
  CgroupResolver* cgroups = first && first->env_ ? first->env_->cgroups.get() : nullptr;
  std::vector<uint64_t> ids;
  for (const AggregateResult* a : aggs) {
    for (const DestinationStats& d : a->destinations) {
      for (const OwnerCounts& o : d.owners) {
        if (o.cgroup_id != 0) ids.push_back(o.cgroup_id);
      }
    }
  }
  if (cgroups != nullptr) cgroups->Resolve(ids);
  NameAndRankWorkloads(aggs, config.workloads.top_k, config.workloads.max_series, [&](uint64_t id) {
    return cgroups != nullptr ? cgroups->Find(id) : UnknownWorkload();
  });
}

namespace {

void AddTrackerHealth(FamilySet& fs, const TrackerHealth& h, const Labels& base) {
  if (h.overflow) fs.Add(metric::kTrackerOverflowTotal, base, double(h.overflow));
  if (h.reconciles == 0) return;  // the series budget: nothing to say before a reconcile
  fs.Add(metric::kTrackerDriftSockets, base, double(h.drift_last));
  fs.Add(metric::kTrackerReconcilesTotal, base, double(h.reconciles));
}

}  // namespace

void SockDiagSource::AddFamilies(FamilySet& fs, const Labels& base, const ExportContext&) const {
  if (snap_.tracker_available) {
    fs.Add(metric::kTrackerInUse, base, snap_.tracked ? 1 : 0);
    AddTrackerHealth(fs, snap_.tracker_health, base);
  }
  if (!snap_.dumped) return;
  const AggregateResult& a = snap_.agg;
  for (int fam = 0; fam < 2; ++fam) {
    for (int s = 0; s < kNumStates; ++s) {
      fs.Add(metric::kTcpSockets,
             With(base, {{"family", fam ? "ipv6" : "ipv4"},
                         {"state", std::string(TcpStateName(kExportedStates[s]))}}),
             double(a.states[fam][s]));
    }
  }
  fs.Add(metric::kNetlinkDumpSockets, base, double(snap_.dump_sockets));
  if (a.budget.known) AddBudget(fs, a.budget, base);
  for (const DestinationStats& d : a.destinations) AddDestination(fs, a, d, base, snap_.tracked);
  if (a.budget.known) {
    fs.Histogram(metric::kTupleOccupancyRatio, base, a.occupancy_bounds, a.occupancy_buckets,
                 a.occupancy_count, a.occupancy_sum);
  }
  fs.Add(metric::kDestinationsFolded, base, double(a.destinations_folded));
  fs.Add(metric::kDestinationUntrackedSockets, base, double(a.sockets_untracked));
  for (const DestinationStats& d : a.inbound) {
    AddStateSeries(fs, metric::kInboundSockets, With(base, {{"service", d.label}}), d);
  }
  if (a.attributed) {
    fs.Add(metric::kDestinationWorkloadsFolded, base, double(a.workloads_folded));
    fs.Add(metric::kTimeWaitUnknownOwnerSockets, base, double(a.time_wait_unknown));
  }
  fs.Add(metric::kInboundServicesFolded, base, double(a.services_folded));
  if (snap_.max_tw_buckets && *snap_.max_tw_buckets > 0) {
    const int tw = ExportedStateIndex(kTcpTimeWait);
    const double tws = double(a.states[0][tw] + a.states[1][tw]);
    fs.Add(metric::kTimeWaitBucketUsageRatio, base, tws / double(*snap_.max_tw_buckets));
  }
}

}  // namespace sockstate
