#include "scrape/cgroup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

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

struct ScopePrefix {
  std::string_view prefix;
  std::string_view runtime;
};

// systemd scope names ("<prefix><id>.scope") and the "<prefix>:<id>" form some containerd
// setups leave in cgroup v1 paths. Order matters: conmon prefixes are checked first.
constexpr ScopePrefix kScopes[] = {
    {"cri-containerd-", "containerd"},
    {"crio-", "crio"},
    {"docker-", "docker"},
    {"libpod-", "podman"},
};
constexpr ScopePrefix kColonForms[] = {
    {"cri-containerd:", "containerd"},
    {"crio:", "crio"},
    {"docker:", "docker"},
};

/// Container id and runtime named by one path component, if any.
bool ContainerFromComponent(std::string_view comp, std::string_view parent, ContainerInfo* out) {
  if (StartsWith(comp, "crio-conmon-") || StartsWith(comp, "libpod-conmon-")) return false;
  if (EndsWith(comp, ".scope")) {
    std::string_view name = comp.substr(0, comp.size() - 6);
    for (const ScopePrefix& p : kScopes) {
      if (StartsWith(name, p.prefix) && IsContainerId(name.substr(p.prefix.size()))) {
        out->container_id = std::string(name.substr(p.prefix.size()));
        out->runtime = std::string(p.runtime);
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
      for (const ScopePrefix& p : kColonForms) {
        if (StartsWith(tail, p.prefix) && IsContainerId(tail.substr(p.prefix.size()))) {
          out->container_id = std::string(tail.substr(p.prefix.size()));
          out->runtime = std::string(p.runtime);
          return true;
        }
      }
    }
    return false;
  }
  // cgroupfs driver: a bare id under the pod directory, or under /docker.
  if (IsContainerId(comp)) {
    out->container_id = std::string(comp);
    out->runtime = parent == "docker" ? "docker" : "";
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
  std::string_view parent;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(pos, end - pos);
    if (!comp.empty()) {
      ContainerInfo c;
      if (ContainerFromComponent(comp, parent, &c)) {
        info.container_id = std::move(c.container_id);
        info.runtime = std::move(c.runtime);
      } else if (PodFromComponent(comp, &c)) {
        info.pod_uid = std::move(c.pod_uid);
        // A container found above a pod belongs to another level (e.g. a kind node).
        info.container_id.clear();
        info.runtime.clear();
      }
      // The unconverted systemd form also names the pod slice before the ':'.
      if (comp.find(':') != std::string_view::npos) {
        ContainerInfo p;
        if (PodFromComponent(comp.substr(0, comp.find(':')), &p)) info.pod_uid = p.pod_uid;
      }
      parent = comp;
    }
    pos = end + 1;
  }
  return info;
}

}  // namespace

ContainerInfo ParseCgroupFile(std::string_view text) {
  ContainerInfo first_pod_only;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
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
  const std::string path = procfs + "/" + std::to_string(pid) + "/cgroup";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string text;
  char buf[4096];
  while (text.size() < (1 << 20)) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, size_t(n));
  }
  close(fd);
  return ParseCgroupFile(text);
}

}  // namespace sockstate
