#include "scrape/collector.h"

#include <unistd.h>

#include <chrono>
#include <exception>
#include <system_error>
#include <thread>

#include "sources/occupancy_bound_source.h"
#include "sources/tracker_source.h"
#include "util/log.h"
#include "version.h"

namespace sockstate {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Times one Read(); logs a failure once, with the source and namespace.
template <typename Source, typename Ctx>
bool TimedRead(Source& source, const Ctx& ctx, const std::string& netns, double* seconds) {
  const auto t0 = Clock::now();
  Status st = source.Read(ctx);
  *seconds = Since(t0);
  if (!st.ok()) {
    Log(LogLevel::kWarn, "source " + std::string(source.name()) +
                             (netns.empty() ? "" : " netns " + netns) + " failed: " + st.message());
  }
  return st.ok();
}

/// sockstate_scrape_source_success / _duration_seconds of one source.
void AddSourceOutcome(FamilySet& fs, const Labels& base, std::string_view source, bool ok,
                      double seconds) {
  const Labels l = With(base, {{"source", std::string(source)}});
  fs.Add(metric::kScrapeSourceSuccess, l, ok ? 1 : 0);
  fs.Add(metric::kScrapeSourceDurationSeconds, l, seconds);
}

/// The series of one namespace: its own (labelled mode), then each enabled source's. A
/// namespace not read in detail (below namespaces.detail_threshold) reports its sources only
/// when one fails, unless namespaces.kernel_counters is all. `host_wide`: this namespace's
/// sources export the host-wide values (once per scrape).
void AddNamespace(FamilySet& fs, const Namespace& ns, ExportContext ctx, bool host_wide) {
  ctx.host_wide = host_wide;
  ctx.kernel_counters =
      ns.detailed || ctx.config.namespaces.kernel_counters == KernelCounters::kAll;
  Labels base;
  if (ctx.label_netns) {
    const std::string& netns = ns.info.label;
    base.push_back({"netns", netns});
    fs.Add(metric::kNetnsInfo,
           {{"netns", netns}, {"container_id", ns.container_id}, {"pod_uid", ns.pod_uid}}, 1);
    fs.Add(metric::kNetnsScrapeSuccess, base, ns.ok ? 1 : 0);
    fs.Add(metric::kNetnsScrapeDurationSeconds, base, ns.seconds);
  }
  if (!ns.read) return;
  for (size_t i = 0; i < ns.sources.size(); ++i) {
    if (ns.runs[i].enabled && (ctx.kernel_counters || !ns.runs[i].ok)) {
      AddSourceOutcome(fs, base, ns.sources[i]->name(), ns.runs[i].ok, ns.runs[i].seconds);
    }
  }
  for (size_t i = 0; i < ns.sources.size(); ++i) {
    if (ns.runs[i].ok) ns.sources[i]->AddFamilies(fs, base, ctx);
  }
}

}  // namespace

Collector::Collector(CollectorOptions options, std::shared_ptr<const Config> config,
                     std::vector<std::unique_ptr<HostSource>> host_sources)
    : config_(std::move(config)), namespaces_(env_, std::move(options.make_netns_sources)) {
  env_.procfs = std::move(options.procfs);
  env_.netns_dir = std::move(options.netns_dir);
  env_.replay_dump = std::move(options.replay_dump);
  env_.record_dump = std::move(options.record_dump);
  env_.replay_udp_dump = std::move(options.replay_udp_dump);
  env_.record_udp_dump = std::move(options.record_udp_dump);
  env_.time_wait_owners = std::move(options.time_wait_owners);
  env_.cgroups = std::move(options.cgroups);
  env_.tracker = std::move(options.tracker);
  for (auto& s : host_sources) host_.push_back(HostRun{std::move(s)});
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
    result = std::make_shared<const std::vector<prometheus::MetricFamily>>(Scrape());
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

void Collector::ReadNamespace(Namespace& ns, const Config& config) const {
  const ProcPaths paths =
      ns.info.own ? ProcPaths::ForRoot(env_.procfs) : ProcPaths::ForThreadNetns(env_.procfs);
  std::vector<const NetnsSource*> earlier;
  const NetnsReadContext ctx{config,      env_,          env_,    paths,
                             ns.info.own, ns.info.label, earlier, ns.info.inode};
  ns.ok = true;
  for (size_t i = 0; i < ns.sources.size(); ++i) {
    NetnsSource& source = *ns.sources[i];
    SourceRun& run = ns.runs[i];
    run.enabled = source.Enabled(config);
    if (!run.enabled) continue;
    // In the own namespace (one per scrape; other namespaces are read in parallel already, by
    // namespaces.parallel_dumps workers) a next source that reads alongside this one starts
    // on a second thread, which is in this thread's network namespace too.
    const size_t j = i + 1;
    const bool alongside = ns.info.own && j < ns.sources.size() &&
                           ns.sources[j]->ReadsAlongsidePrevious() &&
                           ns.sources[j]->Enabled(config);
    const std::vector<const NetnsSource*> side_earlier =
        alongside ? earlier : std::vector<const NetnsSource*>{};
    const NetnsReadContext side_ctx{config,      env_,          env_,         paths,
                                    ns.info.own, ns.info.label, side_earlier, ns.info.inode};
    // jthread: joined on the way out too, should the read on this thread throw. What the side
    // read throws is rethrown here after the join, as a read on this thread would throw it.
    std::jthread side;
    std::exception_ptr side_error;
    if (alongside) {
      ns.runs[j].enabled = true;
      auto read_side = [&] {
        try {
          ns.runs[j].ok = TimedRead(*ns.sources[j], side_ctx, ns.info.label, &ns.runs[j].seconds);
        } catch (...) {
          side_error = std::current_exception();
        }
      };
      try {
        side = std::jthread(read_side);
      } catch (const std::system_error&) {  // no thread to be had: one after the other
        read_side();
      }
    }
    run.ok = TimedRead(source, ctx, ns.info.label, &run.seconds);
    if (side.joinable()) side.join();
    if (side_error) std::rethrow_exception(side_error);
    if (run.ok) earlier.push_back(&source);
    ns.ok = ns.ok && run.ok;
    if (alongside) {
      if (ns.runs[j].ok) earlier.push_back(ns.sources[j].get());
      ns.ok = ns.ok && ns.runs[j].ok;
      ++i;
    }
  }
  // Without a bound (it failed) the namespace was dumped: it counts as detailed.
  const auto* bound = ctx.Earlier<OccupancyBoundSource>();
  ns.detailed = bound == nullptr || bound->detailed();
}

std::vector<prometheus::MetricFamily> Collector::Scrape() const {
  std::shared_ptr<const Config> config;
  bool reload_ok;
  double reload_ts;
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    config = config_;
    reload_ok = last_reload_ok_;
    reload_ts = last_reload_success_ts_;
  }
  const bool label_netns = config->namespaces.mode != NetnsMode::kOwn;
  namespaces_.Refresh(*config);
  if (env_.tracker) {  // the namespaces the tracker seeds and reconciles
    std::vector<TrackerTarget> targets;
    for (const Namespace* ns : namespaces_.list()) {
      targets.push_back({ns->target->ref(), ns->target->own()});
    }
    env_.tracker->SetTargets(std::move(targets), label_netns);
  }
  for (HostRun& h : host_) h.source->BeforeNamespaces();  // snapshots the namespaces use
  namespaces_.Run(*config, [&](Namespace& ns) { ReadNamespace(ns, *config); });
  const std::vector<Namespace*>& list = namespaces_.list();

  // Caps that hold across namespaces: each source sees all of its successful instances.
  const size_t num_sources = list.empty() ? 0 : list.front()->sources.size();
  for (size_t i = 0; i < num_sources; ++i) {
    std::vector<NetnsSource*> all;
    for (Namespace* ns : list) {
      if (ns->read && ns->runs[i].ok) all.push_back(ns->sources[i].get());
    }
    if (!all.empty()) all.front()->FinishAcrossNamespaces(all, *config);
  }

  std::vector<NamespaceInfo> infos;
  for (const Namespace* ns : list) {
    if (ns->read) infos.push_back(ns->info);
  }
  const HostReadContext host_ctx{*config, env_, label_netns, infos};
  for (HostRun& h : host_) h.ok = TimedRead(*h.source, host_ctx, "", &h.seconds);

  FamilySet fs;
  const ExportContext ctx{*config, label_netns, sysconf(_SC_PAGESIZE)};
  bool host_wide = true;  // the first namespace read carries the host-wide values
  for (const Namespace* ns : list) {
    AddNamespace(fs, *ns, ctx, host_wide && ns->read);
    host_wide = host_wide && !ns->read;
  }
  for (const HostRun& h : host_) {
    AddSourceOutcome(fs, {}, h.source->name(), h.ok, h.seconds);
    h.source->AddFamilies(fs, ctx);
  }
  fs.Add(metric::kBuildInfo,
         {{"version", kVersion}, {"revision", kRevision}, {"compiler", __VERSION__}}, 1);
  fs.Add(metric::kScrapesTotal, {}, double(scrapes_total_.load()));
  fs.Add(metric::kNetlinkDumpsTotal, {}, double(env_.netlink_dumps.load()));
  fs.Add(metric::kConfigLastReloadSuccessful, {}, reload_ok ? 1 : 0);
  fs.Add(metric::kConfigLastReloadSuccessTimestampSeconds, {}, reload_ts);
  if (label_netns) {
    fs.Add(metric::kNetnsDiscovered, {}, double(namespaces_.discovered()));
    fs.Add(metric::kNetnsSkipped, {}, double(namespaces_.skipped()));
  }
  return fs.Take();
}

}  // namespace sockstate
