#pragma once
// The state tracker as the scrape uses it (docs/architecture.md, "Counts kept from kernel
// events"): one process-wide Tracker (SourceEnv::tracker) that reads the tracker's maps once
// per scrape, before the namespaces are read, and tells each namespace's netlink source whether
// it serves that namespace (then the source reads the counts instead of dumping); a worker
// thread that seeds the namespaces the tracker does not count yet, one at a time, reconciles
// each tracked namespace every tracker.reconcile_interval_seconds (spread over the interval),
// and moves the peak window; and the host-wide source "tracker" with its own series.

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.h"
#include "kernel/bpf_object.h"
#include "kernel/netns.h"
#include "kernel/tracker_probe.h"
#include "sources/source.h"
#include "util/status.h"

namespace sockstate {

/// A namespace the scrape reads, as the worker enters it. Value type.
struct TrackerTarget {
  NetnsRef ref;      // path, dev, inode (not used for the own namespace)
  bool own = false;  // the exporter's own namespace (the worker is there already)
};

/// How the tracker does in one namespace, for its series. Value type.
struct TrackerHealth {
  bool known = false;           // seeded or reconciled at least once by this process
  double last_reconcile = 0;    // Unix time
  uint64_t reconciles = 0;
  uint64_t drift_last = 0;
  uint64_t drift_total = 0;
  uint64_t overflow = 0;        // counts lost since the tracker started (map full)
};

/// Process-wide. BeginScrape() and the reads between two of them come from the scrape (single
/// flight); Serve()/Health() are thread-safe from the namespaces' threads during a scrape.
class Tracker {
 public:
  /// `probe` null: unavailable (no worker). Otherwise starts the worker thread.
  Tracker(std::unique_ptr<TrackerProbe> probe, const TrackerConfig& config);
  ~Tracker();
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  bool available() const { return probe_ != nullptr; }
  /// Whether each scrape's snapshot lists the outgoing TIME_WAIT sockets too, for the owner
  /// ring (--collector.time-wait-owners, docs/workloads.md).
  void ReadTimeWaitSockets(bool on) {
    if (probe_) probe_->set_read_time_wait(on);
  }

  /// The namespaces this scrape reads (after discovery): the worker seeds those not tracked.
  /// `discovery` (mode all or list): namespaces created from now on are counted from their
  /// first socket, without a walk.
  void SetTargets(std::vector<TrackerTarget> targets, bool discovery);
  /// Once per scrape, before the namespaces are read: the sweep and every map.
  Status BeginScrape();
  /// The counts of the namespace with netns `cookie` when the tracker serves it this scrape
  /// (tracked, no map overflow and the same port range since its last walk), else nullptr.
  const TrackedNamespace* Serve(uint64_t cookie) const;
  TrackerHealth Health(uint64_t cookie) const;
  /// The last BeginScrape()'s snapshot (host-wide series).
  const TrackerSnapshot& snapshot() const { return snap_; }
  /// Namespaces by state: tracked, seeding (first walk pending), fallback.
  std::map<std::string, uint64_t> NamespaceStates() const;

  /// Runs the worker's next job now, on the calling thread (tests): returns false when none.
  bool RunOneJobForTest();

 private:
  struct NsState {
    uint32_t overflow_at_seed = 0;
    uint32_t range_changes_at_seed = 0;
    double next_due = 0;   // steady seconds
    double retry_at = 0;   // after a failed seed
    TrackerHealth health;
  };
  struct Job {
    TrackerTarget target;
    uint64_t cookie = 0;  // 0: learn it by entering
    const char* why = "";
  };

  void Worker();
  bool NextJob(Job* job);
  void RunJob(const Job& job);
  bool ServedLocked(uint64_t cookie, const NsState* state) const;

  std::unique_ptr<TrackerProbe> probe_;
  TrackerConfig config_;
  TrackerSnapshot snap_;  // written by BeginScrape() only

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stop_ = false;
  bool started_ = false;  // the worker found the timer callbacks and the clock
  bool failed_ = false;   // ... or could not: nothing is served
  bool discovery_ = false;  // namespaces.mode all or list
  std::vector<TrackerTarget> targets_;
  std::map<std::pair<dev_t, ino_t>, uint64_t> cookie_of_;  // targets entered once
  uint64_t own_cookie_ = 0;
  /// A summary of the last snapshot for the worker: cookie -> (cur, overflow, range_changes).
  struct Brief {
    uint8_t cur = 0;
    uint32_t overflow = 0;
    uint32_t range_changes = 0;
  };
  std::map<uint64_t, Brief> brief_;
  std::map<uint64_t, NsState> states_;
  double next_epoch_ = 0;
  uint64_t lost_seen_ = 0;  // lost events already acted on
  bool lost_known_ = false;
  std::thread worker_;
};

/// The host-wide source "tracker": whether the tracker runs, its events and its maps' use.
class TrackerSource : public HostSource {
 public:
  explicit TrackerSource(std::shared_ptr<Tracker> tracker) : tracker_(std::move(tracker)) {}
  std::string_view name() const override { return "tracker"; }
  void BeforeNamespaces() override;
  Status Read(const HostReadContext& ctx) override { return began_; }
  void AddFamilies(FamilySet& fs, const ExportContext& ctx) const override;

 private:
  std::shared_ptr<Tracker> tracker_;
  Status began_;
};

/// The tracker and its source for --collector.tracker=`mode` from the outcome of loading its
/// programs (LoadBpfFeatures()). off: neither. auto: an unavailable tracker when the programs
/// could not load (one log line says why; every namespace is then read as before). on: an
/// error naming what is missing. Value type.
struct TrackerFeature {
  std::shared_ptr<Tracker> tracker;    // null when off
  std::unique_ptr<HostSource> source;  // null when off
};
Result<TrackerFeature> MakeTracker(std::string_view mode, const TrackerConfig& config,
                                   const Status& loaded, std::shared_ptr<BpfObject> object);

/// The tracker's map sizes from the configuration (for LoadBpfFeatures()).
std::vector<BpfMapSize> TrackerMapSizes(const TrackerConfig& config);

}  // namespace sockstate
