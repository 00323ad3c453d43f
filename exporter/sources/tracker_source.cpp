#include "sources/tracker_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "kernel/time_wait_owners.h"
#include "metrics/names.h"
#include "util/file_util.h"
#include "util/log.h"

namespace sockstate {

namespace {

using Clock = std::chrono::steady_clock;

double SteadyNow() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Where in the reconcile interval a namespace's turn falls: spread by its cookie, so that
/// namespaces tracked at once are not all walked at once.
double Spread(uint64_t cookie) {
  uint64_t x = cookie * 0x9e3779b97f4a7c15ULL;
  x ^= x >> 29;
  return double(x % 1000) / 1000.0;
}

std::string Describe(const TrackerTarget& t) { return t.own ? "own" : t.ref.label; }

}  // namespace

Tracker::Tracker(std::unique_ptr<TrackerProbe> probe, const TrackerConfig& config)
    : probe_(std::move(probe)), config_(config) {
  if (probe_) worker_ = std::thread([this] { Worker(); });
}

Tracker::~Tracker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Tracker::SetTargets(std::vector<TrackerTarget> targets, bool discovery) {
  std::lock_guard<std::mutex> lock(mu_);
  targets_ = std::move(targets);
  // Namespaces made later are counted from their first socket when discovery may read them.
  if (probe_ && started_) probe_->SetAutoTrack(discovery);
  discovery_ = discovery;
}

Status Tracker::BeginScrape() {
  if (!probe_) return Status::Ok();
  Status st = probe_->Read(&snap_);
  std::lock_guard<std::mutex> lock(mu_);
  brief_.clear();
  if (!st.ok()) return st;
  const double now = SteadyNow();
  if (!lost_known_) {  // what was lost before any namespace was seeded does not matter
    lost_known_ = true;
    lost_seen_ = snap_.stats.lost;
  }
  if (snap_.stats.lost > lost_seen_) {
    // An event no program counted: which namespace it concerned is not known, so every
    // tracked one is walked again, one after the other.
    Log(LogLevel::kWarn, "tracker: " + std::to_string(snap_.stats.lost - lost_seen_) +
                             " kernel events were not counted (nested runs); reconciling every "
                             "tracked namespace");
    lost_seen_ = snap_.stats.lost;
    for (auto& [cookie, s] : states_) s.next_due = std::min(s.next_due, now);
  }
  for (const TrackedNamespace& n : snap_.namespaces) {
    brief_[n.cookie] = Brief{n.cur, n.overflow, n.range_changes};
    auto it = states_.find(n.cookie);
    if (n.cur != 0 && it == states_.end()) {  // tracked from its first socket: reconcile later
      NsState s;
      s.next_due = now + config_.reconcile_interval_seconds * (0.5 + Spread(n.cookie));
      states_.emplace(n.cookie, s);
    }
    if (it != states_.end()) it->second.health.overflow = n.overflow;
  }
  cv_.notify_all();
  return Status::Ok();
}

bool Tracker::ServedLocked(uint64_t cookie, const NsState* state) const {
  const TrackedNamespace* n = snap_.Find(cookie);
  if (n == nullptr || n->cur == 0) return false;
  const uint32_t overflow = state ? state->overflow_at_seed : 0;
  const uint32_t ranges = state ? state->range_changes_at_seed : 0;
  return n->overflow == overflow && n->range_changes == ranges;
}

const TrackedNamespace* Tracker::Serve(uint64_t cookie) const {
  if (!probe_ || cookie == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_ || !started_) return nullptr;
  auto it = states_.find(cookie);
  if (!ServedLocked(cookie, it == states_.end() ? nullptr : &it->second)) return nullptr;
  return snap_.Find(cookie);
}

TrackerHealth Tracker::Health(uint64_t cookie) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(cookie);
  return it == states_.end() ? TrackerHealth{} : it->second.health;
}

std::map<std::string, uint64_t> Tracker::NamespaceStates() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, uint64_t> out{{"tracked", 0}, {"seeding", 0}, {"fallback", 0}};
  for (const TrackerTarget& t : targets_) {
    uint64_t cookie = own_cookie_;
    if (!t.own) {
      auto c = cookie_of_.find({t.ref.dev, t.ref.ino});
      cookie = c == cookie_of_.end() ? 0 : c->second;
    }
    const TrackedNamespace* n = cookie ? snap_.Find(cookie) : nullptr;
    auto it = states_.find(cookie);
    if (n == nullptr || n->cur == 0) {
      ++out["seeding"];
    } else if (ServedLocked(cookie, it == states_.end() ? nullptr : &it->second)) {
      ++out["tracked"];
    } else {
      ++out["fallback"];
    }
  }
  return out;
}

bool Tracker::NextJob(Job* job) {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = SteadyNow();
  int best = 0;  // 1 learn or seed, 2 reseed, 3 reconcile due
  for (const TrackerTarget& t : targets_) {
    uint64_t cookie = own_cookie_;
    if (!t.own) {
      auto c = cookie_of_.find({t.ref.dev, t.ref.ino});
      cookie = c == cookie_of_.end() ? 0 : c->second;
    }
    int rank = 0;
    const char* why = "";
    auto st = states_.find(cookie);
    const NsState* s = st == states_.end() ? nullptr : &st->second;
    auto b = brief_.find(cookie);
    if (cookie == 0) {
      rank = 1, why = "first read";
    } else if (s != nullptr && s->retry_at > now) {
      continue;
    } else if (b == brief_.end() || b->second.cur == 0) {
      rank = 1, why = "not tracked yet";
    } else if (b->second.overflow != (s ? s->overflow_at_seed : 0)) {
      rank = 2, why = "a map was full";
    } else if (b->second.range_changes != (s ? s->range_changes_at_seed : 0)) {
      rank = 2, why = "ip_local_port_range changed";
    } else if (config_.reconcile_interval_seconds > 0 && s != nullptr && s->next_due <= now) {
      rank = 3, why = "reconcile";
    }
    if (rank != 0 && (best == 0 || rank < best)) {
      best = rank;
      *job = Job{t, cookie, why};
    }
  }
  return best != 0;
}

void Tracker::RunJob(const Job& job) {
  // Enter the namespace (the worker starts in the exporter's own and goes back after each job,
  // so that it never keeps another namespace alive).
  int home = -1;
  std::unique_ptr<NetnsTarget> target;
  if (!job.target.own) {
    home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    auto t = NetnsTarget::Enter(job.target.ref);
    Status s = t.ok() ? (*t)->EnterOnThisThread() : t.status();
    if (!s.ok()) {
      if (home >= 0) {
        SetThreadNetns(home, "back to the exporter's namespace");
        close(home);
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (job.cookie) states_[job.cookie].retry_at = SteadyNow() + 60;
      Log(LogLevel::kWarn, "tracker: netns " + Describe(job.target) + ": " + s.message());
      return;
    }
  }
  const uint64_t cookie = TrackerProbe::ThisNamespaceCookie();
  bool seed = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (job.target.own) {
      own_cookie_ = cookie;
    } else {
      cookie_of_[{job.target.ref.dev, job.target.ref.ino}] = cookie;
    }
    if (job.cookie == 0) {  // only learning its cookie: is it tracked already?
      auto b = brief_.find(cookie);
      seed = b == brief_.end() || b->second.cur == 0;
    }
  }
  Result<SeedOutcome> o = Status::Ok();
  const auto t0 = Clock::now();
  if (seed) o = probe_->SeedThisNamespace();
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  if (home >= 0) {
    Status s = SetThreadNetns(home, "back to the exporter's namespace");
    if (!s.ok()) Log(LogLevel::kError, "tracker: " + s.message());
    close(home);
  }
  if (!seed || cookie == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  NsState& s = states_[cookie];
  const double now = SteadyNow();
  const std::string where = "tracker: netns " + Describe(job.target);
  if (!o.ok()) {
    s.retry_at = now + 60;
    Log(LogLevel::kWarn, where + ": seeding failed (" + o.status().message() +
                             "); it is read by dumps meanwhile, retried in 60 s");
    return;
  }
  if (!o->exact) {
    s.retry_at = now + 30;
    Log(LogLevel::kWarn, where + ": a tracker map filled up or the port range changed during " +
                             "the walk; it is read by dumps meanwhile, retried in 30 s");
    return;
  }
  s.retry_at = 0;
  brief_[cookie] = Brief{o->gen, o->overflow, o->range_changes};  // until the next scrape
  s.overflow_at_seed = o->overflow;
  s.range_changes_at_seed = o->range_changes;
  s.next_due = now + config_.reconcile_interval_seconds *
                         (o->previous_gen == 0 ? 0.5 + Spread(cookie) : 1.0);
  s.health.known = true;
  s.health.last_reconcile = UnixNow();
  char secs[32];
  snprintf(secs, sizeof(secs), "%.3f", took);
  if (o->previous_gen == 0) {
    Log(LogLevel::kInfo, where + ": seeded from one walk (" + std::to_string(o->walked) +
                             " sockets, " + secs + " s); counted from kernel events from now on");
    return;
  }
  ++s.health.reconciles;
  s.health.drift_last = o->drift;
  s.health.drift_total += o->drift;
  if (o->drift == 0) {
    Log(LogLevel::kDebug, where + ": reconciled (" + std::to_string(o->walked) +
                              " sockets walked in " + secs + " s), no drift");
    return;
  }
  std::string detail;
  for (const std::string& d : o->differences) detail += (detail.empty() ? "" : "; ") + d;
  Log(LogLevel::kWarn, where + ": reconcile found " + std::to_string(o->drift) +
                           " sockets of drift, corrected (" + detail + ")");
}

bool Tracker::RunOneJobForTest() {
  Job job;
  if (!probe_ || !NextJob(&job)) return false;
  RunJob(job);
  return true;
}

void Tracker::Worker() {
  Status st = probe_->Start();
  if (!st.ok()) {
    Log(LogLevel::kError, "tracker: " + st.message() + "; every namespace is read by dumps");
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
    probe_->SetAutoTrack(discovery_);
  }
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return stop_; });
      if (stop_) return;
    }
    const double now = SteadyNow();
    if (now >= next_epoch_) {
      Status e = probe_->NextPeakEpoch();
      if (!e.ok()) Log(LogLevel::kWarn, "tracker: " + e.message());
      next_epoch_ = now + config_.peak_window_seconds / 2;
    }
    Job job;
    if (NextJob(&job)) RunJob(job);  // one walk at a time, the next one after the next tick
  }
}

void TrackerSource::BeforeNamespaces() { began_ = tracker_->BeginScrape(); }

void TrackerSource::AddFamilies(FamilySet& fs, const ExportContext&) const {
  fs.Add(metric::kTrackerAvailable, {}, tracker_->available() ? 1 : 0);
  if (!tracker_->available()) return;
  const TrackerSnapshot& s = tracker_->snapshot();
  fs.Add(metric::kTrackerEventsTotal, {{"kind", "state_change"}}, double(s.stats.events));
  fs.Add(metric::kTrackerEventsTotal, {{"kind", "born"}}, double(s.stats.born));
  fs.Add(metric::kTrackerEventsTotal, {{"kind", "ended"}}, double(s.stats.ended));
  fs.Add(metric::kTrackerEventsTotal, {{"kind", "swept"}}, double(s.stats.swept));
  fs.Add(metric::kTrackerEventsTotal, {{"kind", "nested"}}, double(s.stats.nested));
  fs.Add(metric::kTrackerLostEventsTotal, {}, double(s.stats.lost));
  for (const TrackerMapUse& m : s.maps) {
    fs.Add(metric::kTrackerMapEntries, {{"map", m.name}}, double(m.entries));
    fs.Add(metric::kTrackerMapMaxEntries, {{"map", m.name}}, double(m.capacity));
    fs.Add(metric::kTrackerMapBytes, {{"map", m.name}}, double(m.entries * m.entry_bytes));
  }
  for (const auto& [state, n] : tracker_->NamespaceStates()) {
    fs.Add(metric::kTrackerNamespaces, {{"state", state}}, double(n));
  }
}

std::vector<BpfMapSize> TrackerMapSizes(const TrackerConfig& c) {
  return {{"trk_tuples", c.max_tuples},
          {"trk_cells", c.max_tuples},
          {"trk_mini", c.max_time_wait_sockets},
          {"trk_pending", std::max<uint32_t>(kMinTrackerEntries, c.max_time_wait_sockets / 4)},
          {"trk_ports", c.max_inbound_ports},
          {"trk_dests", c.max_destinations},
          {"trk_bound", c.max_listeners},
          {"trk_ns", c.max_namespaces}};
}

Result<TrackerFeature> MakeTracker(std::string_view mode, const TrackerConfig& config,
                                   const Status& loaded, std::shared_ptr<BpfObject> object) {
  TrackerFeature f;
  if (mode == "off") return f;
  if (mode != "auto" && mode != "on") {
    return Status::Error("--collector.tracker: want auto, on or off, got \"" + std::string(mode) +
                         "\"");
  }
  std::unique_ptr<TrackerProbe> probe;
  Status why = loaded;
  if (why.ok() && object == nullptr) why = Status::Error("no BPF object");
  if (why.ok()) {
    auto p = TrackerProbe::Open(std::move(object));
    if (p.ok()) {
      probe = std::move(*p);
    } else {
      why = p.status();
    }
  }
  if (!why.ok()) {
    if (mode == "on") return Status::Error("--collector.tracker=on: " + why.message());
    Log(LogLevel::kWarn, "socket counts are read by sock_diag dumps (--collector.tracker=auto): " +
                             why.message() + "; exporting " +
                             std::string(metric::kTrackerAvailable.name) + " 0");
  } else {
    Log(LogLevel::kInfo,
        "socket counts are kept from kernel events (tracker: inet_sock_set_state, TIME_WAIT "
        "and request socket timers, bind/close hooks); each namespace is walked once to seed "
        "it and every " +
            std::to_string(int(config.reconcile_interval_seconds)) + " s to check it");
  }
  f.tracker = std::make_shared<Tracker>(std::move(probe), config);
  f.source = std::make_unique<TrackerSource>(f.tracker);
  return f;
}

}  // namespace sockstate
