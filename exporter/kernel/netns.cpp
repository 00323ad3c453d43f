#include "kernel/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <thread>
#include <utility>

#include "util/file_util.h"

namespace sockstate {

namespace {

bool StatNs(const std::string& path, dev_t* dev, ino_t* ino) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  *dev = st.st_dev;
  *ino = st.st_ino;
  return true;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    out.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<NetnsRef> DiscoverNamespaces(const NetnsSelection& selection,
                                         const std::string& procfs, const std::string& netns_dir) {
  std::map<std::pair<dev_t, ino_t>, NetnsRef> found;
  auto add_named = [&](const std::string& label, const std::string& path) {
    NetnsRef r;
    r.label = label;
    r.path = path;
    if (!StatNs(path, &r.dev, &r.ino)) return;
    found.emplace(std::make_pair(r.dev, r.ino), r);
  };
  if (!selection.all) {
    for (const std::string& n : selection.names) {
      if (!n.empty() && n[0] == '/') {
        // A bind mount keeps its file name as label; a /proc/<pid>/ns/net link gets its inode.
        std::string base = n.substr(n.find_last_of('/') + 1);
        dev_t dev;
        ino_t ino;
        if (base == "net" && StatNs(n, &dev, &ino)) base = std::to_string(ino);
        add_named(base, n);
      } else {
        add_named(n, netns_dir + "/" + n);
      }
    }
    if (!selection.pattern.empty()) {
      for (const std::string& n : ListDir(netns_dir)) {
        if (fnmatch(selection.pattern.c_str(), n.c_str(), 0) == 0) add_named(n, netns_dir + "/" + n);
      }
    }
  } else {
    for (const std::string& n : ListDir(netns_dir)) add_named(n, netns_dir + "/" + n);
    // Namespaces of running processes; a named one keeps its name.
    for (const std::string& p : ListDir(procfs)) {
      if (p.find_first_not_of("0123456789") != std::string::npos) continue;
      NetnsRef r;
      r.path = procfs + "/" + p + "/ns/net";
      if (!StatNs(r.path, &r.dev, &r.ino)) continue;  // process gone or not ours to see
      r.pid = pid_t(std::stol(p));
      auto key = std::make_pair(r.dev, r.ino);
      auto it = found.find(key);
      if (it != found.end()) {
        if (it->second.pid == 0 || r.pid < it->second.pid) it->second.pid = r.pid;
        continue;
      }
      r.label = std::to_string(r.ino);
      found.emplace(key, r);
    }
  }
  std::vector<NetnsRef> out;
  for (auto& [k, r] : found) out.push_back(r);
  std::sort(out.begin(), out.end(),
            [](const NetnsRef& a, const NetnsRef& b) { return a.label < b.label; });
  return out;
}

std::unique_ptr<NetnsTarget> NetnsTarget::Own(std::string label) {
  std::unique_ptr<NetnsTarget> t(new NetnsTarget());
  t->own_ = true;
  t->label_ = std::move(label);
  return t;
}

Status SetThreadNetns(int fd, const std::string& what) {
  if (setns(fd, CLONE_NEWNET) != 0) return Status::Error(what + ": setns: " + ErrnoText(errno));
  return Status::Ok();
}

Status NetnsTarget::EnterOnThisThread() const {
  const std::string what = "netns " + label_;
  if (own_) return Status::Error(what + ": the own namespace is not entered by path");
  int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error(what + ": open " + path_ + ": " + ErrnoText(errno));
  struct stat st;
  Status s = Status::Ok();
  if (fstat(fd, &st) != 0) {
    s = Status::Error(what + ": fstat " + path_ + ": " + ErrnoText(errno));
  } else if (st.st_dev != dev_ || st.st_ino != ino_) {
    s = Status::Error(what + ": " + path_ + " is another namespace now (inode " +
                      std::to_string(st.st_ino) + ", was " + std::to_string(ino_) + ")");
  } else {
    s = SetThreadNetns(fd, what);
  }
  close(fd);
  return s;
}

void NetnsTarget::Retarget(const NetnsRef& ref) {
  if (own_ || ref.dev != dev_ || ref.ino != ino_) return;  // another namespace: not this one
  path_ = ref.path;
}

Result<std::unique_ptr<NetnsTarget>> NetnsTarget::Enter(const NetnsRef& ref) {
  std::unique_ptr<NetnsTarget> t(new NetnsTarget());
  t->own_ = false;
  t->label_ = ref.label;
  t->path_ = ref.path;
  t->dev_ = ref.dev;
  t->ino_ = ref.ino;
  // A thread of its own, so that the caller's namespace does not change; it ends right away.
  Status s = Status::Ok();
  std::thread probe([&] { s = t->EnterOnThisThread(); });
  probe.join();
  if (!s.ok()) return s;
  return t;
}

}  // namespace sockstate
