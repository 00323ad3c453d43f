#pragma once
// The scrape pipeline: the prometheus-cpp Collectable behind /metrics. One scrape reads every
// host-wide source once and every per-namespace source in every namespace of the namespace set,
// lets each source apply its cross-namespace caps, then builds fresh families (no stale
// series): each source's own, plus, written once here for all sources, their success and
// duration and the exporter-wide series. Scrapes are single-flight: a scrape that arrives while
// one is running waits for it and shares its result, so concurrent scrapers never cause more
// than one dump at a time, and a scraper that gives up leaves no queued work.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "scrape/namespace_set.h"
#include "sources/source.h"

namespace sockstate {

/// Process-wide settings of the pipeline (from flags). Value type.
struct CollectorOptions {
  std::string procfs = "/proc";
  std::string netns_dir = "/var/run/netns";
  std::string replay_dump;      // if set, replay this recorded dump instead of dumping the kernel
  std::string record_dump;      // if set, record every dump of the own namespace here (overwritten)
  std::string replay_udp_dump;  // the same for the UDP dump (udp source)
  std::string record_udp_dump;
  /// The per-namespace sources of one namespace; tests put their own.
  NetnsSourceFactory make_netns_sources = MakeNetnsSources;
  /// TIME_WAIT owners from the kernel (MakeHostSources()); null: every owner "unknown".
  std::shared_ptr<const TimeWaitOwners> time_wait_owners;
  /// Names workloads from cgroup ids (docs/workloads.md); null: every workload "unknown".
  std::shared_ptr<CgroupResolver> cgroups;
  /// Socket counts kept from kernel events (MakeHostSources()); null: dumps only.
  std::shared_ptr<Tracker> tracker;
};

/// Thread-safe: Collect() may be called from many HTTP threads at once.
class Collector : public prometheus::Collectable {
 public:
  /// `host_sources` come from MakeHostSources (main.cpp); none by default.
  Collector(CollectorOptions options, std::shared_ptr<const Config> config,
            std::vector<std::unique_ptr<HostSource>> host_sources = {});
  ~Collector() override;

  std::vector<prometheus::MetricFamily> Collect() const override;

  /// Installs a new configuration for the next scrape (after a successful reload).
  void SetConfig(std::shared_ptr<const Config> config);
  /// Records the outcome of a reload attempt for the reload metrics.
  void NoteReload(bool ok);

  uint64_t dumps_total() const { return env_.netlink_dumps.load(); }
  uint64_t scrapes_total() const { return scrapes_total_.load(); }

 private:
  /// Everything of one scrape; runs on one thread at a time (single flight).
  std::vector<prometheus::MetricFamily> Scrape() const;
  void ReadNamespace(Namespace& ns, const Config& config) const;

  mutable SourceEnv env_;
  mutable std::mutex config_mu_;
  std::shared_ptr<const Config> config_;
  bool last_reload_ok_ = true;
  double last_reload_success_ts_ = 0;

  // Single flight.
  mutable std::mutex flight_mu_;
  mutable std::condition_variable flight_cv_;
  mutable bool in_flight_ = false;
  mutable uint64_t generation_ = 0;
  mutable std::shared_ptr<const std::vector<prometheus::MetricFamily>> last_;
  mutable std::atomic<uint64_t> scrapes_total_{0};

  // Owned by the scrape in flight.
  mutable NamespaceSet namespaces_;
  struct HostRun {
    std::unique_ptr<HostSource> source;
    bool ok = false;
    double seconds = 0;
  };
  mutable std::vector<HostRun> host_;
};

}  // namespace sockstate
