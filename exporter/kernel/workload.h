#pragma once
// Workloads people recognise, from cgroup v2 ids: the kernel (BPF programs, sock_diag's
// INET_DIAG_CGROUP_ID) names a socket's owner by its cgroup id, which is the inode number of
// the cgroup's directory in the cgroup2 tree. These turn an id into a pod UID, a container id,
// a systemd unit or a cgroup path (parsing of kernel/cgroup.h).

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sockstate {

/// Who failed: the `workload` and `workload_kind` label values of a cgroup. Value type.
struct Workload {
  std::string kind;  // "pod", "container", "systemd_unit", "cgroup", "unknown" or "other"
  std::string name;  // pod UID, container id, unit name, cgroup path, or the kind again
  bool operator==(const Workload&) const = default;
};

/// The workload of a socket whose cgroup is not known: kind and name "unknown". Thread-safe.
const Workload& UnknownWorkload();

/// The workload of a cgroup v2 path relative to the hierarchy's root ("/system.slice/x.service"):
/// a pod UID when the path names a Kubernetes pod, else a container id (containerd, CRI-O,
/// Docker, podman; scope/cgroup/exporter parsing of kernel/cgroup.h), else the deepest
/// component ending in ".service" or ".scope" (systemd_unit), else the path itself (cgroup).
/// Pure; thread-safe.
Workload WorkloadFromCgroupPath(std::string_view path);

/// The mount point of the first cgroup2 filesystem in /proc/<pid>/mountinfo text ("" when
/// there is none: a cgroup v1-only host). Octal escapes (\040) are decoded. Pure; thread-safe.
std::string FindCgroup2Mount(std::string_view mountinfo);

/// The root of the cgroup2 tree workloads are named from: `configured` (--path.cgroup2) when
/// set, else the first cgroup2 mount of <procfs>/self/mountinfo ("" when there is none).
/// Thread-safe.
std::string Cgroup2Root(const std::string& configured, const std::string& procfs);

/// Resolves cgroup ids to workloads by walking a cgroup v2 tree (a cgroup's id is its
/// directory's inode number). Caches answers (bounded); one bounded walk per Resolve() that
/// has unknown ids. Not thread-safe.
class CgroupResolver {
 public:
  /// `root`: the cgroup2 mount point; "" resolves every id to kind "unknown".
  explicit CgroupResolver(std::string root) : root_(std::move(root)) {}
  /// Looks up the `ids` not cached yet with one walk of the tree.
  void Resolve(const std::vector<uint64_t>& ids);
  /// The workload of an id passed to Resolve() (kind "unknown" when it was not found: the
  /// cgroup was removed before the scrape, or lies outside the mounted tree).
  const Workload& Find(uint64_t id) const;
  const std::string& root() const { return root_; }
  /// Most directories one walk visits, most ids cached (then the cache starts over).
  static constexpr size_t kMaxWalk = 65536;
  static constexpr size_t kMaxCached = 16384;

 private:
  std::string root_;
  std::unordered_map<uint64_t, Workload> cache_;
};

}  // namespace sockstate
