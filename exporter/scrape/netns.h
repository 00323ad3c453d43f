#pragma once
// Network namespaces the exporter reads. A sock_diag dump sees only the namespace of its
// netlink socket, and /proc/sys/net resolves to the calling thread's namespace, so work for
// another namespace runs on a thread that entered it with setns(CLONE_NEWNET) and stays there.

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "util/status.h"

namespace sockstate {

/// A namespace found by discovery. `label` is the netns name, or its inode number as text for
/// unnamed namespaces held by a process.
struct NetnsRef {
  std::string label;
  std::string path;  // /var/run/netns/<name> or <procfs>/<pid>/ns/net
  dev_t dev = 0;
  ino_t ino = 0;
  pid_t pid = 0;  // a process in it (0 for named ones with no process found)
};

/// Lists the namespaces `config` selects (mode all or list), deduplicated by (dev, inode),
/// sorted by label. Unreadable entries are skipped. Thread-safe.
std::vector<NetnsRef> DiscoverNamespaces(const NamespaceConfig& config, const std::string& procfs,
                                         const std::string& netns_dir);

/// Runs work inside one network namespace: inline for the exporter's own, else on a thread of
/// its own that entered the namespace with setns and stays there. Holds no scrape state (the
/// namespace's sources live in scrape/namespace_set.h). Run() is thread-safe (calls are
/// serialised).
class NetnsTarget {
 public:
  /// The exporter's own namespace: Run() executes inline.
  static std::unique_ptr<NetnsTarget> Own(std::string label = "");
  /// Another namespace: opens `ref.path`, starts a thread that enters it. Fails with context.
  static Result<std::unique_ptr<NetnsTarget>> Enter(const NetnsRef& ref);
  ~NetnsTarget();
  NetnsTarget(const NetnsTarget&) = delete;
  NetnsTarget& operator=(const NetnsTarget&) = delete;

  /// Runs `fn` inside the namespace and waits for it.
  void Run(const std::function<void()>& fn);

  bool own() const { return own_; }
  const std::string& label() const { return label_; }

 private:
  NetnsTarget() = default;
  void ThreadMain(int fd);

  bool own_ = true;
  std::string label_;
  std::thread thread_;
  std::mutex run_mu_;  // serialises Run()
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* job_ = nullptr;
  bool job_done_ = false;
  bool stop_ = false;
  bool entered_ = false;
  std::string enter_error_;
};

}  // namespace sockstate
