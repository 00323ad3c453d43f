#pragma once
// Network namespaces the exporter reads. A sock_diag dump sees only the namespace of its
// netlink socket, and /proc/sys/net resolves to the calling thread's namespace, so work for
// another namespace runs on a thread that entered it with setns(CLONE_NEWNET) and stays there.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

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

/// Which namespaces discovery lists. Value type.
struct NetnsSelection {
  /// Every named namespace and every namespace a process holds; `names` and `pattern` unused.
  bool all = false;
  std::vector<std::string> names;  // names under the netns directory, or absolute paths
  std::string pattern;             // also every name under the netns directory matching (glob)
};

/// Lists the namespaces `selection` selects, deduplicated by (dev, inode), sorted by label.
/// Unreadable entries are skipped. Thread-safe.
std::vector<NetnsRef> DiscoverNamespaces(const NetnsSelection& selection,
                                         const std::string& procfs, const std::string& netns_dir);

/// One network namespace the exporter reads: the exporter's own, or another one entered by
/// path. Holds no thread, no fd and no scrape state (the namespace's sources live in
/// scrape/namespace_set.h, its netlink sockets hold their own reference): work for another
/// namespace runs on a worker thread of the scrape that calls EnterOnThisThread() first (see
/// NamespaceSet::Run). EnterOnThisThread() is thread-safe; Retarget() must not run at the same
/// time as it (NamespaceSet calls it in Refresh(), before Run()).
class NetnsTarget {
 public:
  /// The exporter's own namespace: nothing to enter.
  static std::unique_ptr<NetnsTarget> Own(std::string label = "");
  /// Another namespace: checks that `ref.path` is still (dev, inode) and that setns() into it
  /// works (on a short-lived thread, so the caller's namespace does not change). Fails with
  /// context.
  static Result<std::unique_ptr<NetnsTarget>> Enter(const NetnsRef& ref);
  NetnsTarget(const NetnsTarget&) = delete;
  NetnsTarget& operator=(const NetnsTarget&) = delete;

  /// Moves the calling thread into the namespace (setns). The path is opened again and its
  /// (dev, inode) compared with the discovered one, so a name or pid reused by another
  /// namespace is refused. Not for own(): the caller returns to its home namespace itself.
  Status EnterOnThisThread() const;

  /// The path discovery found for the same (dev, inode) this scrape: the process whose
  /// /proc/<pid>/ns/net was used can exit while other processes keep the namespace.
  void Retarget(const NetnsRef& ref);

  bool own() const { return own_; }
  const std::string& label() const { return label_; }
  /// Where it was found (path, dev, inode; no pid): enough for Enter() from another thread.
  NetnsRef ref() const { return NetnsRef{label_, path_, dev_, ino_, 0}; }

 private:
  NetnsTarget() = default;

  bool own_ = true;
  std::string label_;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

/// Moves the calling thread into the namespace open at `fd` (setns(CLONE_NEWNET)). Thread-safe.
Status SetThreadNetns(int fd, const std::string& what);

}  // namespace sockstate
