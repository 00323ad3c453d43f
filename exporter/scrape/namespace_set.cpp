#include "scrape/namespace_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include "kernel/cgroup.h"
#include "util/file_util.h"
#include "util/log.h"

namespace sockstate {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

uint64_t OwnInode(const std::string& procfs) {
  struct stat st;
  return stat((procfs + "/self/ns/net").c_str(), &st) == 0 ? uint64_t(st.st_ino) : 0;
}

}  // namespace

NamespaceSet::NamespaceSet(const SourceEnv& env, NetnsSourceFactory make_sources)
    : env_(env), make_sources_(std::move(make_sources)) {}

void NamespaceSet::NoteOwnInode() {
  if (own_inode_ == 0) own_inode_ = OwnInode(env_.procfs);
}

NamespaceSet::~NamespaceSet() = default;

std::unique_ptr<Namespace> NamespaceSet::Make(std::unique_ptr<NetnsTarget> target, uint64_t inode) {
  auto ns = std::make_unique<Namespace>();
  ns->info.label = target->label();
  // In mode all/list the exporter's own namespace is found by discovery; it is still "own"
  // (read through <procfs>/net, always dumped exactly).
  ns->info.own = target->own() || (inode != 0 && inode == own_inode_);
  ns->info.inode = inode;
  ns->target = std::move(target);
  ns->sources = make_sources_();
  return ns;
}

/// The container (and pod) of the process holding the namespace. Retried on every scrape while
/// unknown: a pinned namespace (/var/run/netns/cni-...) is often found before a process is in it.
void NamespaceSet::FillContainerInfo(Namespace& ns, pid_t pid) const {
  if (pid == 0 || !ns.container_id.empty() || !ns.pod_uid.empty()) return;
  ContainerInfo ci = ReadContainerInfo(env_.procfs, pid);
  ns.container_id = std::move(ci.container_id);
  ns.pod_uid = std::move(ci.pod_uid);
}

void NamespaceSet::Refresh(const Config& config) {
  const NamespaceConfig& nc = config.namespaces;
  list_.clear();
  NoteOwnInode();
  if (nc.mode == NetnsMode::kOwn) {
    others_.clear();
    if (!own_) own_ = Make(NetnsTarget::Own(), own_inode_);
    discovered_ = 1;
    skipped_ = 0;
    list_.push_back(own_.get());
    return;
  }
  own_.reset();
  const NetnsSelection selection{nc.mode == NetnsMode::kAll, nc.names, nc.pattern};
  std::vector<NetnsRef> refs = DiscoverNamespaces(selection, env_.procfs, env_.netns_dir);
  discovered_ = refs.size();
  skipped_ = refs.size() > nc.max_namespaces ? refs.size() - nc.max_namespaces : 0;
  if (refs.size() > nc.max_namespaces) refs.resize(nc.max_namespaces);
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Namespace>> next;
  for (const NetnsRef& r : refs) {
    auto key = std::make_pair(r.dev, r.ino);
    auto it = others_.find(key);
    if (it == others_.end()) {
      auto t = NetnsTarget::Enter(r);
      if (!t.ok()) {
        Log(LogLevel::kWarn, t.status().message());
        continue;
      }
      it = others_.emplace(key, Make(std::move(*t), uint64_t(r.ino))).first;
    } else {
      it->second->target->Retarget(r);  // the process first seen in it may have exited
    }
    FillContainerInfo(*it->second, r.pid);
    next.emplace(key, std::move(it->second));
  }
  others_.swap(next);  // namespaces that went away are closed here (thread and sources)
  for (auto& [key, ns] : others_) list_.push_back(ns.get());
  // The order of discovery (by label), as the series are written in this order.
  std::stable_sort(list_.begin(), list_.end(), [](const Namespace* a, const Namespace* b) {
    return a->info.label < b->info.label;
  });
}

void NamespaceSet::Run(const Config& config, const std::function<void(Namespace&)>& read) {
  for (Namespace* ns : list_) {
    ns->runs.assign(ns->sources.size(), SourceRun{});
    ns->read = false;
    ns->ok = false;
    ns->seconds = 0;
  }
  const auto start = Clock::now();
  const double budget = config.namespaces.scrape_budget_seconds;
  auto read_one = [&](Namespace& ns) {
    const auto t0 = Clock::now();
    read(ns);
    ns.read = true;
    ns.seconds = Since(t0);
  };
  // Only the own namespace (mode own): read on the calling thread, nothing to enter.
  if (list_.size() == 1 && list_.front()->target->own()) {
    read_one(*list_.front());
    over_budget_ = 0;
    return;
  }
  // A few worker threads of this scrape (namespaces.parallel_dumps), not one per namespace:
  // each setns()es itself into the namespace of its next job, and goes back to the namespace
  // it started in (the exporter's) for the own one. They end with the scrape, so no thread
  // outlives it in another namespace.
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> over_budget{0};
  auto worker = [&] {
    int home = -1;  // the exporter's namespace, opened when first left
    bool at_home = true;
    for (size_t i = next++; i < list_.size(); i = next++) {
      Namespace& ns = *list_[i];
      if (list_.size() > 1 && Since(start) > budget) {
        ++over_budget;
        continue;
      }
      if (ns.target->own()) {
        if (!at_home) {
          Status s = SetThreadNetns(home, "back to the exporter's namespace");
          if (!s.ok()) {
            Log(LogLevel::kWarn, s.message());
            continue;
          }
          at_home = true;
        }
      } else {
        if (at_home && home < 0) home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (home < 0) {
          Log(LogLevel::kWarn,
              "netns " + ns.info.label + ": open /proc/thread-self/ns/net: " + ErrnoText(errno));
          continue;
        }
        Status s = ns.target->EnterOnThisThread();
        at_home = false;  // or unknown after a failed setns: go back explicitly next time
        if (!s.ok()) {
          Log(LogLevel::kWarn, s.message());
          continue;
        }
      }
      read_one(ns);
    }
    if (home >= 0) close(home);
  };
  const size_t parallel =
      std::max<size_t>(1, std::min<size_t>(config.namespaces.parallel_dumps, list_.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < parallel; ++i) threads.emplace_back(worker);
  for (auto& th : threads) th.join();
  over_budget_ = over_budget.load();
}

}  // namespace sockstate
