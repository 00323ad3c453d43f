#include "kernel/cgroup.h"

#include <string>

#include "util/file_util.h"
#include "util/text_util.h"

namespace sockstate {

namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsHex(char c) { return IsLowerHex(c) || (c >= 'A' && c <= 'F'); }
char Lower(char c) { return (c >= 'A' && c <= 'F') ? char(c - 'A' + 'a') : c; }

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

/// A container id: exactly 64 lowercase hex digits.
bool IsContainerId(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

/// A pod UID: 8-4-4-4-12 hex groups separated by '-' (cgroupfs driver) or '_' (systemd
/// driver, which cannot use '-' inside a slice name), or 32 hex digits without separators
/// (static pods: the kubelet uses a hash of the manifest). Returns the normalised form
/// (lowercase, dashes) or empty.
std::string NormalisePodUid(std::string_view s) {
  if (s.size() == 32) {
    std::string out;
    for (char c : s) {
      if (!IsHex(c)) return "";
      out.push_back(Lower(c));
    }
    return out;
  }
  if (s.size() != 36) return "";
  const char sep = s[8];
  if (sep != '-' && sep != '_') return "";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != sep) return "";
      out.push_back('-');
    } else {
      if (!IsHex(c)) return "";
      out.push_back(Lower(c));
    }
  }
  return out;
}

// systemd scope names ("<prefix><id>.scope": containerd, CRI-O, Docker, podman) and the
// "<prefix>:<id>" form some containerd setups leave in cgroup v1 paths. conmon prefixes are
// rejected before these are tried.
constexpr std::string_view kScopes[] = {"cri-containerd-", "crio-", "docker-", "libpod-"};
constexpr std::string_view kColonForms[] = {"cri-containerd:", "crio:", "docker:"};

/// Container id named by one path component, if any.
bool ContainerFromComponent(std::string_view comp, ContainerInfo* out) {
  if (StartsWith(comp, "crio-conmon-") || StartsWith(comp, "libpod-conmon-")) return false;
  if (EndsWith(comp, ".scope")) {
    std::string_view name = comp.substr(0, comp.size() - 6);
    for (std::string_view p : kScopes) {
      if (StartsWith(name, p) && IsContainerId(name.substr(p.size()))) {
        out->container_id = std::string(name.substr(p.size()));
        return true;
      }
    }
    return false;
  }
  // "<pod slice>:cri-containerd:<id>" (a systemd cgroupsPath left unconverted).
  const size_t colon = comp.find(':');
  if (colon != std::string_view::npos) {
    std::string_view rest = comp.substr(colon + 1);
    for (std::string_view tail : {comp, rest}) {
      for (std::string_view p : kColonForms) {
        if (StartsWith(tail, p) && IsContainerId(tail.substr(p.size()))) {
          out->container_id = std::string(tail.substr(p.size()));
          return true;
        }
      }
    }
    return false;
  }
  // cgroupfs driver: a bare id under the pod directory, or under /docker.
  if (IsContainerId(comp)) {
    out->container_id = std::string(comp);
    return true;
  }
  return false;
}

/// Pod UID named by one path component, if any: "pod<uid>" (cgroupfs driver) or
/// "kubepods[-<qos>]-pod<uid_with_underscores>.slice" (systemd driver; a kubelet cgroup root
/// may add a prefix such as "kubelet-kubepods-...").
bool PodFromComponent(std::string_view comp, ContainerInfo* out) {
  std::string_view uid;
  if (EndsWith(comp, ".slice")) {
    std::string_view name = comp.substr(0, comp.size() - 6);
    if (name.find("kubepods") == std::string_view::npos) return false;
    const size_t at = name.rfind("-pod");
    if (at == std::string_view::npos) return false;
    uid = name.substr(at + 4);
  } else if (StartsWith(comp, "pod")) {
    uid = comp.substr(3);
  } else {
    return false;
  }
  std::string norm = NormalisePodUid(uid);
  if (norm.empty()) return false;
  out->pod_uid = std::move(norm);
  return true;
}

/// Parses one cgroup path ("/kubepods.slice/..."). The deepest container component wins
/// (nested containers); the pod is the one above it.
ContainerInfo ParsePath(std::string_view path) {
  ContainerInfo info;
  size_t pos = 0;
  std::string_view comp;
  while (NextPiece(path, '/', &pos, &comp)) {
    if (!comp.empty()) {
      ContainerInfo c;
      if (ContainerFromComponent(comp, &c)) {
        info.container_id = std::move(c.container_id);
      } else if (PodFromComponent(comp, &c)) {
        info.pod_uid = std::move(c.pod_uid);
        // A container found above a pod belongs to another level (e.g. a kind node).
        info.container_id.clear();
      }
      // The unconverted systemd form also names the pod slice before the ':'.
      if (comp.find(':') != std::string_view::npos) {
        ContainerInfo p;
        if (PodFromComponent(comp.substr(0, comp.find(':')), &p)) info.pod_uid = p.pod_uid;
      }
    }
  }
  return info;
}

}  // namespace

ContainerInfo ParseCgroupFile(std::string_view text) {
  ContainerInfo first_pod_only;
  size_t pos = 0;
  std::string_view line;
  while (NextPiece(text, '\n', &pos, &line)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // "<hierarchy-id>:<controllers>:<path>"; the path may itself contain ':'.
    const size_t c1 = line.find(':');
    if (c1 == std::string_view::npos || c1 == 0) continue;
    bool digits = true;
    for (char c : line.substr(0, c1)) digits = digits && c >= '0' && c <= '9';
    if (!digits) continue;
    const size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view path = line.substr(c2 + 1);
    if (path.empty() || path[0] != '/') continue;
    ContainerInfo info = ParsePath(path);
    if (!info.container_id.empty()) return info;
    if (!info.pod_uid.empty() && first_pod_only.pod_uid.empty()) first_pod_only = std::move(info);
  }
  return first_pod_only;
}

ContainerInfo ReadContainerInfo(const std::string& procfs, pid_t pid) {
  std::string text;
  if (ReadSmallFile(procfs + "/" + std::to_string(pid) + "/cgroup", &text) != 0) return {};
  return ParseCgroupFile(text);
}

}  // namespace sockstate
