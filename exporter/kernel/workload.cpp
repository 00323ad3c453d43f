#include "kernel/workload.h"

#include <dirent.h>
#include <sys/stat.h>

#include <unordered_set>

#include "kernel/cgroup.h"
#include "util/file_util.h"
#include "util/text_util.h"

namespace sockstate {

namespace {

bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

/// Decodes the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) of a
/// mountinfo field.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const char a = s[i + 1], b = s[i + 2], c = s[i + 3];
      if (a >= '0' && a <= '3' && b >= '0' && b <= '7' && c >= '0' && c <= '7') {
        out.push_back(char((a - '0') * 64 + (b - '0') * 8 + (c - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

const Workload& UnknownWorkload() {
  static const Workload kUnknown{"unknown", "unknown"};
  return kUnknown;
}

Workload WorkloadFromCgroupPath(std::string_view path) {
  const std::string line = "0::" + std::string(path);
  ContainerInfo info = ParseCgroupFile(line);
  if (!info.pod_uid.empty()) return {"pod", info.pod_uid};
  if (!info.container_id.empty()) return {"container", info.container_id};
  // The deepest systemd unit: "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service"
  // names x.service. A unit's own "init.scope" (where a user's service manager runs) names the
  // unit above it: user@1000.service.
  std::string_view unit;
  size_t pos = 0;
  std::string_view comp;
  while (NextPiece(path, '/', &pos, &comp)) {
    if (comp == "init.scope" && !unit.empty()) continue;
    if (EndsWith(comp, ".service") || EndsWith(comp, ".scope")) unit = comp;
  }
  if (!unit.empty()) return {"systemd_unit", std::string(unit)};
  if (path.empty()) return {"cgroup", "/"};
  return {"cgroup", std::string(path)};
}

std::string FindCgroup2Mount(std::string_view text) {
  size_t pos = 0;
  std::string_view line;
  while (NextPiece(text, '\n', &pos, &line)) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> ..."
    const size_t sep = line.find(" - ");
    if (sep == std::string_view::npos) continue;
    std::string_view after = line.substr(sep + 3);
    if (after.substr(0, after.find(' ')) != "cgroup2") continue;
    std::string_view fields = line.substr(0, sep);
    size_t f = 0;
    for (int i = 0; i < 4 && f != std::string_view::npos; ++i) {
      f = fields.find(' ', f);
      if (f != std::string_view::npos) ++f;
    }
    if (f == std::string_view::npos || f >= fields.size()) continue;
    std::string_view mount = fields.substr(f, fields.find(' ', f) - f);
    if (mount.empty() || mount[0] != '/') continue;
    return Unescape(mount);
  }
  return "";
}

void CgroupResolver::Resolve(const std::vector<uint64_t>& ids) {
  std::unordered_set<uint64_t> wanted;
  for (uint64_t id : ids) {
    if (!cache_.count(id)) wanted.insert(id);
  }
  if (wanted.empty()) return;
  if (cache_.size() + wanted.size() > kMaxCached) cache_.clear();
  if (!root_.empty()) {
    struct stat st;
    if (stat(root_.c_str(), &st) == 0 && wanted.erase(uint64_t(st.st_ino))) {
      cache_[uint64_t(st.st_ino)] = WorkloadFromCgroupPath("/");
    }
    // Depth-first walk; d_ino of a cgroupfs directory is the cgroup id.
    std::vector<std::string> stack = {""};
    size_t visited = 0;
    while (!stack.empty() && !wanted.empty() && visited < kMaxWalk) {
      const std::string rel = std::move(stack.back());
      stack.pop_back();
      ++visited;
      DIR* dir = opendir((root_ + rel).c_str());
      if (dir == nullptr) continue;
      while (dirent* e = readdir(dir)) {
        if (e->d_type != DT_DIR) continue;
        const std::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        std::string child = rel + "/" + e->d_name;
        if (wanted.erase(uint64_t(e->d_ino)))
          cache_[uint64_t(e->d_ino)] = WorkloadFromCgroupPath(child);
        stack.push_back(std::move(child));
      }
      closedir(dir);
    }
  }
  for (uint64_t id : wanted) cache_[id] = UnknownWorkload();
}

const Workload& CgroupResolver::Find(uint64_t id) const {
  auto it = cache_.find(id);
  return it == cache_.end() ? UnknownWorkload() : it->second;
}

std::string Cgroup2Root(const std::string& configured, const std::string& procfs) {
  if (!configured.empty()) return configured;
  std::string mountinfo;
  return ReadSmallFile(procfs + "/self/mountinfo", &mountinfo) == 0 ? FindCgroup2Mount(mountinfo)
                                                                    : "";
}

}  // namespace sockstate
