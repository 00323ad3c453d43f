#pragma once
// Container and Kubernetes pod of a process, from its /proc/<pid>/cgroup. Used to label a
// network namespace with the container that holds it, so that PromQL can join the exporter's
// series with kube-state-metrics' kube_pod_info{uid=...}.

#include <sys/types.h>

#include <string>
#include <string_view>

namespace sockstate {

struct ContainerInfo {
  std::string container_id;  // 64 lowercase hex digits, or empty
  std::string pod_uid;       // 8-4-4-4-12 with dashes (32 hex kept as is), or empty

  bool empty() const { return container_id.empty() && pod_uid.empty(); }
};

/// Parses the text of /proc/<pid>/cgroup. Understands cgroup v2 ("0::/path") and v1
/// ("12:memory:/path", several lines: the first line that yields a container id wins, else the
/// first that yields a pod UID), the systemd and cgroupfs drivers of the kubelet (all QoS
/// classes), containerd ("cri-containerd-<id>.scope", "cri-containerd:<id>"), CRI-O
/// ("crio-<id>.scope"), Docker ("docker-<id>.scope", "/docker/<id>") and podman
/// ("libpod-<id>.scope"). conmon scopes ("crio-conmon-", "libpod-conmon-") are not containers.
/// Paths relative to another cgroup namespace ("/../../kubepods-...") are fine. A host process
/// ("0::/init.scope", "0::/user.slice/...") and malformed text give an empty result. Pure;
/// never throws; thread-safe.
ContainerInfo ParseCgroupFile(std::string_view proc_pid_cgroup_text);

/// Reads <procfs>/<pid>/cgroup and parses it. Empty when the file cannot be read (process
/// gone, no permission). Thread-safe.
ContainerInfo ReadContainerInfo(const std::string& procfs, pid_t pid);

}  // namespace sockstate
