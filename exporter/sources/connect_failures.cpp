#include "sources/connect_failures.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_set>

#include "aggregate/plan.h"
#include "aggregate/rank.h"
#include "scrape/cgroup.h"
#include "util/text_util.h"

namespace sockstate {

namespace {

constexpr std::string_view kReasonNames[kNumConnectFailureReasons] = {"no_local_port",
                                                                      "refused_or_timeout"};

const Workload& UnknownWorkload() {
  static const Workload kUnknown{"unknown", "unknown"};
  return kUnknown;
}

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

std::string_view ConnectFailureReasonName(size_t reason) {
  return reason < kNumConnectFailureReasons ? kReasonNames[reason] : "unknown";
}

Workload WorkloadFromCgroupPath(std::string_view path) {
  const std::string line = "0::" + std::string(path);
  ContainerInfo info = ParseCgroupFile(line);
  if (!info.pod_uid.empty()) return {"pod", info.pod_uid};
  if (!info.container_id.empty()) return {"container", info.container_id};
  // The deepest systemd unit: "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service"
  // names x.service.
  std::string_view unit;
  size_t pos = 0;
  std::string_view comp;
  while (NextPiece(path, '/', &pos, &comp)) {
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

void CgroupResolver::Resolve(const std::vector<FailureRecord>& records) {
  std::unordered_set<uint64_t> wanted;
  for (const FailureRecord& r : records) {
    if (!cache_.count(r.cgroup_id)) wanted.insert(r.cgroup_id);
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

ConnectFailuresSource::ConnectFailuresSource(std::unique_ptr<ConnectFailureProbe> probe,
                                             std::unique_ptr<CgroupResolver> resolver)
    : probe_(std::move(probe)), resolver_(std::move(resolver)) {
  drained_.reserve(1024);
}

Status ConnectFailuresSource::Read(const HostReadContext& ctx) {
  if (!probe_) return Status::Ok();  // unavailable: said once at start, exported as a gauge
  label_netns_ = ctx.label_netns;
  drained_.clear();
  uint64_t overflow = 0;
  Status s = probe_->Drain(&drained_, &overflow);
  // Whatever was drained is counted even if the drain stopped half way.
  overflow_total_ += overflow >= overflow_seen_ ? overflow - overflow_seen_ : overflow;
  overflow_seen_ = overflow;

  for (auto& [inode, ns] : namespaces_) ++ns.absent;
  for (const NamespaceInfo& n : ctx.namespaces) {
    NsTotals& ns = namespaces_[n.inode];
    ns.label = n.label;
    ns.absent = 0;
  }
  const DestinationPlan plan(ctx.config.destinations);  // per scrape: follows reloads
  if (resolver_) resolver_->Resolve(drained_);
  // Free top-K slots go to the destinations and workloads that failed most in this drain.
  std::sort(drained_.begin(), drained_.end(),
            [](const FailureRecord& a, const FailureRecord& b) { return a.count > b.count; });
  for (const FailureRecord& r : drained_) {
    if (r.reason >= kNumConnectFailureReasons || r.count == 0) continue;
    auto it = namespaces_.find(r.netns_inode);
    if (it == namespaces_.end()) continue;  // a namespace the exporter does not read
    AddDestination(r, it->second, plan);
    AddWorkload(r, ctx.config.connect_failures.workloads_top_k);
  }
  for (auto it = namespaces_.begin(); it != namespaces_.end();) {
    if (it->second.absent >= kForgetAfterScrapes) {
      individuals_ -= it->second.individuals.size();
      it = namespaces_.erase(it);
    } else {
      ++it;
    }
  }
  return s.WithContext("connect_failures: draining the BPF map");
}

void ConnectFailuresSource::AddDestination(const FailureRecord& r, NsTotals& ns,
                                           const DestinationPlan& plan) {
  const int g = plan.MatchGroup(r.family, r.daddr.data(), r.dport);
  if (g >= 0) {
    const std::string& name = plan.group_name(size_t(g));
    auto it = ns.groups.find(name);
    if (it == ns.groups.end()) it = ns.groups.emplace(name, Counts{}).first;
    it->second[r.reason] += r.count;
    return;
  }
  for (Individual& i : ns.individuals) {
    if (i.family == r.family && i.port == r.dport && i.addr == r.daddr) {
      i.counts[r.reason] += r.count;
      return;
    }
  }
  // Per namespace the plan's top K; across namespaces the cap (max_series) holds too.
  const size_t room = IndividualRoom(plan.max_series(), plan.max_series(), plan.group_count());
  if (ns.individuals.size() < plan.top_k() && individuals_ < room) {
    Individual i{
        r.family, r.daddr, r.dport, DestinationLabel(r.family, r.daddr.data(), r.dport), {}};
    i.counts[r.reason] = r.count;
    ns.individuals.push_back(std::move(i));
    ++individuals_;
    return;
  }
  ns.other[r.reason] += r.count;
}

void ConnectFailuresSource::AddWorkload(const FailureRecord& r, size_t top_k) {
  const Workload& w = resolver_ ? resolver_->Find(r.cgroup_id) : UnknownWorkload();
  for (WorkloadTotals& t : workloads_) {
    if (t.workload == w) {
      t.counts[r.reason] += r.count;
      return;
    }
  }
  // Sticky top K (connect_failures.workloads_top_k of the config in force: a reload that lowers
  // it keeps the series already named); beyond, "other" (unknown always has its own series).
  size_t named = 0;
  for (const WorkloadTotals& t : workloads_) {
    if (t.workload.kind != "other" && t.workload.kind != "unknown") ++named;
  }
  const bool own = w.kind == "unknown" || named < top_k;
  const Workload& target = own ? w : Workload{"other", "other"};
  for (WorkloadTotals& t : workloads_) {
    if (t.workload == target) {
      t.counts[r.reason] += r.count;
      return;
    }
  }
  workloads_.push_back(WorkloadTotals{target, {}});
  workloads_.back().counts[r.reason] = r.count;
}

void ConnectFailuresSource::AddFamilies(FamilySet& fs, const ExportContext& ctx) const {
  fs.Gauge("sockstate_connect_failures_available",
           "1 when connect() failures are counted by the kernel (BPF program loaded and "
           "attached), 0 when not (see the exporter's start-up log for why).",
           {}, probe_ ? 1 : 0);
  if (!probe_) return;
  const char* kHelp =
      "Failed TCP connect()s counted by the kernel, by destination and reason: no_local_port "
      "(EADDRNOTAVAIL, no free ephemeral port for that destination) or refused_or_timeout "
      "(SYN_SENT -> CLOSE: refused, timed out, or closed while connecting).";
  auto add = [&](const NsTotals& ns, const std::string& dest, const Counts& c) {
    for (size_t reason = 0; reason < kNumConnectFailureReasons; ++reason) {
      Labels l;
      if (label_netns_) l.push_back({"netns", ns.label});
      l.push_back({"destination", dest});
      l.push_back({"reason", std::string(kReasonNames[reason])});
      fs.Counter("sockstate_connect_failures_total", kHelp, l, double(c[reason]));
    }
  };
  for (const auto& [inode, ns] : namespaces_) {
    // Only namespaces read in this scrape are exported (a deleted namespace disappears at
    // once); one missing for a few scrapes keeps its totals and comes back with them.
    if (ns.absent > 0) continue;
    // Groups of the current config first (0 when none failed yet), then groups of an earlier
    // config that counted something (their totals are kept), individuals, "other".
    for (const DestinationGroup& g : ctx.config.destinations.groups) {
      auto it = ns.groups.find(g.name);
      add(ns, g.name, it == ns.groups.end() ? Counts{} : it->second);
    }
    for (const auto& group : ns.groups) {  // not a structured binding: clang 14 cannot capture one
      const auto& groups = ctx.config.destinations.groups;
      if (std::none_of(groups.begin(), groups.end(),
                       [&](const DestinationGroup& g) { return g.name == group.first; })) {
        add(ns, group.first, group.second);
      }
    }
    for (const Individual& i : ns.individuals) add(ns, i.label, i.counts);
    add(ns, kOtherLabel, ns.other);
  }
  for (const WorkloadTotals& w : workloads_) {
    for (size_t reason = 0; reason < kNumConnectFailureReasons; ++reason) {
      fs.Counter("sockstate_workload_connect_failures_total",
                 "Failed TCP connect()s counted by the kernel, by the failing socket's workload "
                 "(pod UID, container id, systemd unit or cgroup path, from its cgroup v2 id) "
                 "and reason.",
                 {{"workload", w.workload.name},
                  {"workload_kind", w.workload.kind},
                  {"reason", std::string(kReasonNames[reason])}},
                 double(w.counts[reason]));
    }
  }
  fs.Counter("sockstate_connect_failures_map_overflow_total",
             "Failed connect()s the kernel program could not count because its map was full "
             "(more distinct failing keys between two scrapes than it holds).",
             {}, double(overflow_total_));
}

}  // namespace sockstate
