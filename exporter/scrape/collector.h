#pragma once
// The prometheus-cpp Collectable behind /metrics. Every Collect() builds fresh families from a
// new dump and fresh /proc reads (no stale series). Scrapes are single-flight: a scrape that
// arrives while one is running waits for it and shares its result, so concurrent scrapers never
// cause more than one dump at a time, and a scraper that gives up leaves no queued work.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "scrape/netns.h"
#include "scrape/snapshot.h"

namespace sockstate {

struct CollectorOptions {
  std::string procfs = "/proc";
  std::string netns_dir = "/var/run/netns";
  std::string replay_dump;  // if set, replay this recorded dump instead of dumping the kernel
  std::string record_dump;  // if set, record every dump of the own namespace here (overwritten)
};

/// Thread-safe: Collect() may be called from many HTTP threads at once.
class Collector : public prometheus::Collectable {
 public:
  Collector(CollectorOptions options, std::shared_ptr<const Config> config);
  ~Collector() override;

  std::vector<prometheus::MetricFamily> Collect() const override;

  /// Installs a new configuration for the next scrape (after a successful reload).
  void SetConfig(std::shared_ptr<const Config> config);
  /// Records the outcome of a reload attempt for the reload metrics.
  void NoteReload(bool ok);

  uint64_t dumps_total() const { return dumps_total_.load(); }
  uint64_t scrapes_total() const { return scrapes_total_.load(); }

 private:
  std::vector<prometheus::MetricFamily> ScrapeAll() const;
  void RefreshTargets(const Config& config) const;
  void ScrapeTarget(NetnsTarget& target, const Config& config, TargetSnapshot* out) const;

  const CollectorOptions options_;
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

  // Owned by the scrape in flight.
  mutable std::map<std::pair<dev_t, ino_t>, std::unique_ptr<NetnsTarget>> targets_;
  mutable std::unique_ptr<NetnsTarget> own_;
  mutable uint64_t discovered_ = 0;
  mutable uint64_t skipped_ = 0;

  mutable std::atomic<uint64_t> dumps_total_{0};
  mutable std::atomic<uint64_t> scrapes_total_{0};
};

}  // namespace sockstate
