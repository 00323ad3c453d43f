#include "scrape/collector.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <exception>
#include <thread>

#include "scrape/cgroup.h"
#include "scrape/families.h"
#include "util/log.h"

namespace sockstate {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

SourceResult NewSource(const char* name) {
  SourceResult s;
  s.name = name;
  return s;
}

void Fail(SourceResult& s, const std::string& netns, std::string error) {
  s.ok = false;
  s.error = std::move(error);
  Log(LogLevel::kWarn,
      "source " + s.name + (netns.empty() ? "" : " netns " + netns) + " failed: " + s.error);
}

/// The container (and pod) of the process holding the namespace. Retried on every scrape while
/// unknown: a pinned namespace (/var/run/netns/cni-...) is often found before a process is in it.
void FillContainerInfo(NetnsTarget& t, const NetnsRef& r, const std::string& procfs) {
  if (r.pid == 0 || !t.container_id.empty() || !t.pod_uid.empty()) return;
  ContainerInfo ci = ReadContainerInfo(procfs, r.pid);
  t.container_id = std::move(ci.container_id);
  t.pod_uid = std::move(ci.pod_uid);
}

}  // namespace

Collector::Collector(CollectorOptions options, std::shared_ptr<const Config> config)
    : options_(std::move(options)), config_(std::move(config)) {
  last_reload_success_ts_ = UnixNow();
}

Collector::~Collector() = default;

void Collector::SetConfig(std::shared_ptr<const Config> config) {
  std::lock_guard<std::mutex> lock(config_mu_);
  config_ = std::move(config);
}

void Collector::NoteReload(bool ok) {
  std::lock_guard<std::mutex> lock(config_mu_);
  last_reload_ok_ = ok;
  if (ok) last_reload_success_ts_ = UnixNow();
}

std::vector<prometheus::MetricFamily> Collector::Collect() const {
  std::unique_lock<std::mutex> lock(flight_mu_);
  ++scrapes_total_;  // under the lock: a counted scrape is already waiting or leading
  if (in_flight_) {
    // Share the dump in flight instead of starting another one.
    const uint64_t gen = generation_;
    flight_cv_.wait(lock, [&] { return generation_ != gen; });
    return *last_;
  }
  in_flight_ = true;
  lock.unlock();
  std::shared_ptr<const std::vector<prometheus::MetricFamily>> result;
  try {
    result = std::make_shared<const std::vector<prometheus::MetricFamily>>(ScrapeAll());
  } catch (const std::exception& e) {  // Collect() must never throw
    Log(LogLevel::kError, std::string("scrape failed: ") + e.what());
    result = std::make_shared<const std::vector<prometheus::MetricFamily>>();
  }
  lock.lock();
  last_ = result;
  in_flight_ = false;
  ++generation_;
  flight_cv_.notify_all();
  return *result;
}

void Collector::RefreshTargets(const Config& config) const {
  const NamespaceConfig& nc = config.namespaces;
  if (nc.mode == NetnsMode::kOwn) {
    targets_.clear();
    if (!own_) own_ = NetnsTarget::Own();
    discovered_ = 1;
    skipped_ = 0;
    return;
  }
  own_.reset();
  std::vector<NetnsRef> refs = DiscoverNamespaces(nc, options_.procfs, options_.netns_dir);
  discovered_ = refs.size();
  skipped_ = refs.size() > nc.max_namespaces ? refs.size() - nc.max_namespaces : 0;
  if (refs.size() > nc.max_namespaces) refs.resize(nc.max_namespaces);
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<NetnsTarget>> next;
  for (const NetnsRef& r : refs) {
    auto key = std::make_pair(r.dev, r.ino);
    auto it = targets_.find(key);
    if (it != targets_.end()) {
      FillContainerInfo(*it->second, r, options_.procfs);
      next.emplace(key, std::move(it->second));
      continue;
    }
    auto t = NetnsTarget::Enter(r);
    if (!t.ok()) {
      Log(LogLevel::kWarn, t.status().message());
      continue;
    }
    FillContainerInfo(**t, r, options_.procfs);
    next.emplace(key, std::move(*t));
  }
  targets_.swap(next);  // namespaces that went away are closed here (thread and socket)
}

void Collector::ScrapeTarget(NetnsTarget& target, const Config& config, TargetSnapshot* out) const {
  const ProcPaths paths = target.own() ? ProcPaths::ForRoot(options_.procfs)
                                       : ProcPaths::ForThreadNetns(options_.procfs);
  const auto start = Clock::now();
  out->netns = target.label();
  out->container_id = target.container_id;
  out->pod_uid = target.pod_uid;

  // Kernel settings first: the port range drives the aggregation.
  {
    SourceResult s = NewSource("sysctl");
    auto t0 = Clock::now();
    auto r = ReadNetSysctls(paths);
    if (r.ok()) {
      s.ok = true;
      out->sysctls = std::move(*r);
    } else {
      Fail(s, out->netns, r.status().message());
    }
    s.duration_seconds = Since(t0);
    out->sources.push_back(std::move(s));
  }

  {
    SourceResult s = NewSource("netlink");
    auto t0 = Clock::now();
    const PortRange* range =
        out->sysctls && out->sysctls->port_range ? &*out->sysctls->port_range : nullptr;
    const PortSet* reserved =
        out->sysctls && out->sysctls->reserved_ports ? &*out->sysctls->reserved_ports : nullptr;
    target.aggregator.Reset(config, range, reserved);
    Status st;
    DumpStats stats;
    if (!options_.replay_dump.empty() && target.own()) {
      st = ReplayDumpFile(options_.replay_dump, target.aggregator);
      dumps_total_++;
    } else {
      if (!target.socket) {
        auto sock = SockDiagSocket::Open();
        if (sock.ok()) {
          target.socket = std::move(*sock);
        } else {
          st = sock.status();
        }
      }
      if (target.socket) {
        std::unique_ptr<DumpRecorder> recorder;
        if (!options_.record_dump.empty() && target.own()) {
          auto rec = DumpRecorder::Open(options_.record_dump);
          if (rec.ok()) {
            recorder = std::move(*rec);
          } else {
            Log(LogLevel::kWarn, rec.status().message());
          }
        }
        struct RestartCtx {
          Aggregator* agg;
          const Config* cfg;
          const PortRange* range;
          const PortSet* reserved;
        } ctx{&target.aggregator, &config, range, reserved};
        // bound_inactive (bit 13) is left out of the per-scrape dump: asking for it makes the
        // kernel walk the host-wide bind hash. It has its own, rarer dump below.
        st = target.socket->DumpTcp(
            kAllStatesMask & ~(1u << kTcpBoundInactive), target.aggregator, recorder.get(), &stats,
            [](void* p) {
              auto* c = static_cast<RestartCtx*>(p);
              c->agg->Reset(*c->cfg, c->range, c->reserved);
            },
            &ctx);
        dumps_total_++;
        const auto now = Clock::now();
        const double interval = config.collector.bound_inactive_interval_seconds;
        if (st.ok() &&
            (!target.bound_inactive || interval <= 0 ||
             now - target.bound_inactive_at >= std::chrono::duration<double>(interval))) {
          BoundInactiveSink bi;
          st = target.socket->DumpTcp(1u << kTcpBoundInactive, bi);
          if (st.ok()) {
            target.bound_inactive = bi.snapshot;
            target.bound_inactive_at = now;
          } else {
            st = st.WithContext("bound_inactive dump");
          }
        }
        if (st.ok() && target.bound_inactive) {
          target.aggregator.AddBoundInactive(*target.bound_inactive);
        }
        if (!st.ok()) target.socket.reset();  // reopen on the next scrape
      }
    }
    if (st.ok()) {
      target.aggregator.Finish(&out->agg);
      out->netlink_ok = true;
      out->dump_messages = out->agg.sockets;
      s.ok = true;
    } else {
      Fail(s, out->netns, st.message());
    }
    s.duration_seconds = Since(t0);
    out->sources.push_back(std::move(s));
  }

  // The /proc/net sources: one reader each, the same success/duration bookkeeping.
  auto read_proc = [&](const char* source, auto reader, auto* dest) {
    SourceResult s = NewSource(source);
    auto t0 = Clock::now();
    auto r = reader(paths, source);
    if (r.ok()) {
      s.ok = true;
      *dest = std::move(*r);
    } else {
      Fail(s, out->netns, r.status().message());
    }
    s.duration_seconds = Since(t0);
    out->sources.push_back(std::move(s));
  };
  read_proc("sockstat", ReadSockstat, &out->sockstat);
  read_proc("sockstat6", ReadSockstat, &out->sockstat6);
  read_proc("netstat", ReadNetstat, &out->netstat);
  read_proc("snmp", ReadNetstat, &out->snmp);

  for (const SourceResult& s : out->sources) out->ok = out->ok && s.ok;
  out->duration_seconds = Since(start);
}

std::vector<prometheus::MetricFamily> Collector::ScrapeAll() const {
  std::shared_ptr<const Config> config;
  ExporterStats stats;
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    config = config_;
    stats.last_reload_ok = last_reload_ok_;
    stats.last_reload_success_timestamp = last_reload_success_ts_;
  }
  RefreshTargets(*config);
  std::vector<NetnsTarget*> list;
  if (own_) list.push_back(own_.get());
  for (auto& [k, t] : targets_) list.push_back(t.get());

  std::vector<TargetSnapshot> snaps(list.size());
  const auto start = Clock::now();
  const double budget = config->namespaces.scrape_budget_seconds;
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> over_budget{0};
  auto worker = [&] {
    for (size_t i = next++; i < list.size(); i = next++) {
      if (list.size() > 1 && Since(start) > budget) {
        ++over_budget;
        snaps[i].netns = list[i]->label();
        snaps[i].container_id = list[i]->container_id;
        snaps[i].pod_uid = list[i]->pod_uid;
        snaps[i].ok = false;
        continue;
      }
      list[i]->Run([&, i] { ScrapeTarget(*list[i], *config, &snaps[i]); });
    }
  };
  const size_t parallel =
      std::max<size_t>(1, std::min<size_t>(config->namespaces.parallel_dumps, list.size()));
  if (parallel <= 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < parallel; ++i) threads.emplace_back(worker);
    for (auto& th : threads) th.join();
  }
  // Series caps hold across all namespaces, not only within each.
  if (snaps.size() > 1) {
    std::vector<AggregateResult*> aggs;
    for (TargetSnapshot& t : snaps) {
      if (t.netlink_ok) aggs.push_back(&t.agg);
    }
    FoldAcrossNamespaces(aggs, config->destinations.max_series, /*inbound=*/false);
    FoldAcrossNamespaces(aggs, config->inbound.max_series, /*inbound=*/true);
  }
  stats.scrapes_total = scrapes_total_.load();
  stats.dumps_total = dumps_total_.load();
  stats.label_netns = config->namespaces.mode != NetnsMode::kOwn;
  stats.namespaces_discovered = discovered_;
  stats.namespaces_skipped = skipped_ + over_budget.load();
  stats.page_size = sysconf(_SC_PAGESIZE);
  return BuildFamilies(snaps, stats);
}

}  // namespace sockstate
