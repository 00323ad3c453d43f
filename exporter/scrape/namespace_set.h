#pragma once
// The network namespaces the exporter reads: discovery (namespaces.mode), the lifetime of each
// namespace's source instances (kept across scrapes, closed when the namespace goes away), and
// the budgeted run of one scrape on namespaces.parallel_dumps worker threads.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "kernel/netns.h"
#include "sources/source.h"

namespace sockstate {

/// Creates the per-namespace sources of one namespace (MakeNetnsSources, or a test's own).
using NetnsSourceFactory = std::function<std::vector<std::unique_ptr<NetnsSource>>()>;

/// How one source did in one namespace in this scrape.
struct SourceRun {
  bool enabled = false;  // false: skipped (no read, no series, no success metric)
  bool ok = false;
  double seconds = 0;
};

/// One namespace the exporter reads, kept across scrapes. Used by one scrape at a time.
struct Namespace {
  std::unique_ptr<NetnsTarget> target;
  std::vector<std::unique_ptr<NetnsSource>> sources;  // registration order
  NamespaceInfo info;                                 // label, inode, own
  std::string container_id;                           // from the cgroup of a process in it, if any
  std::string pod_uid;
  // This scrape (reset by NamespaceSet::Run):
  std::vector<SourceRun> runs;  // parallel to `sources`
  bool read = false;            // false: not read (over the scrape budget)
  bool ok = false;              // read, and every enabled source succeeded
  bool detailed = true;         // read in detail (its bound reached detail_threshold, or own)
  double seconds = 0;
};

/// The namespace set. Not thread-safe: one scrape at a time uses it.
class NamespaceSet {
 public:
  NamespaceSet(const SourceEnv& env, NetnsSourceFactory make_sources);
  ~NamespaceSet();

  /// Updates the set to what `config` selects: mode own = the exporter's namespace; all/list =
  /// discovery, at most namespaces.max_namespaces (the rest counted as skipped). Namespaces
  /// that went away are closed; one that cannot be entered is logged and left out.
  void Refresh(const Config& config);

  /// Runs `read` for every namespace inside it: on the calling thread for mode own, else on
  /// namespaces.parallel_dumps worker threads of this scrape that setns() into each namespace
  /// in turn (a namespace that cannot be entered any more is logged and not read). With more
  /// than one namespace, those not started within namespaces.scrape_budget_seconds are not
  /// read (read = false) and counted as skipped.
  void Run(const Config& config, const std::function<void(Namespace&)>& read);

  /// The namespaces, in order (own first, then by label).
  const std::vector<Namespace*>& list() const { return list_; }
  uint64_t discovered() const { return discovered_; }
  /// Beyond max_namespaces at Refresh(), plus over the budget in the last Run().
  uint64_t skipped() const { return skipped_ + over_budget_; }

 private:
  std::unique_ptr<Namespace> Make(std::unique_ptr<NetnsTarget> target, uint64_t inode);
  void NoteOwnInode();  // the nsfs inode of the exporter's namespace, once
  void FillContainerInfo(Namespace& ns, pid_t pid) const;

  const SourceEnv& env_;
  NetnsSourceFactory make_sources_;
  std::unique_ptr<Namespace> own_;
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Namespace>> others_;
  std::vector<Namespace*> list_;
  uint64_t discovered_ = 0;
  uint64_t skipped_ = 0;
  uint64_t over_budget_ = 0;
  uint64_t own_inode_ = 0;
};

}  // namespace sockstate
