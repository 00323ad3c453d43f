#include "sources/connect_failures_source.h"

#include <netinet/in.h>

#include <algorithm>

#include "aggregate/plan.h"
#include "aggregate/rank.h"
#include "util/file_util.h"
#include "util/log.h"

namespace sockstate {

namespace {

constexpr std::string_view kReasonNames[kNumConnectFailureReasons] = {
    "no_local_port", "refused", "timed_out", "unreachable", "abandoned"};

}  // namespace

std::string_view ConnectFailureReasonName(size_t reason) {
  return reason < kNumConnectFailureReasons ? kReasonNames[reason] : "unknown";
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
  if (resolver_) {
    ids_.clear();
    for (const FailureRecord& r : drained_) ids_.push_back(r.cgroup_id);
    resolver_->Resolve(ids_);
  }
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
  if (r.protocol == IPPROTO_UDP) {  // a UDP port is not per destination
    if (r.reason == uint8_t(ConnectFailureReason::kNoLocalPort)) ns.udp += r.count;
    return;
  }
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
  auto add = [&](WorkloadTotals& t) {
    if (r.protocol != IPPROTO_UDP) {
      t.counts[r.reason] += r.count;
    } else if (r.reason == uint8_t(ConnectFailureReason::kNoLocalPort)) {
      t.udp += r.count;
    }
  };
  for (WorkloadTotals& t : workloads_) {
    if (t.workload == w) {
      add(t);
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
      add(t);
      return;
    }
  }
  workloads_.push_back(WorkloadTotals{target, {}, 0});
  add(workloads_.back());
}

void ConnectFailuresSource::AddFamilies(FamilySet& fs, const ExportContext& ctx) const {
  fs.Add(metric::kConnectFailuresAvailable, {}, probe_ ? 1 : 0);
  if (!probe_) return;
  const bool udp = probe_->udp_hook() != UdpFailureHook::kNone;
  fs.Add(metric::kConnectFailuresUdpAvailable, {}, udp ? 1 : 0);
  auto add = [&](const NsTotals& ns, const std::string& dest, const Counts& c) {
    for (size_t reason = 0; reason < kNumConnectFailureReasons; ++reason) {
      Labels l;
      if (label_netns_) l.push_back({"netns", ns.label});
      l.push_back({"destination", dest});
      l.push_back({"protocol", "tcp"});
      l.push_back({"reason", std::string(kReasonNames[reason])});
      fs.Add(metric::kConnectFailuresTotal, l, double(c[reason]));
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
    if (udp) {  // one series per namespace: a UDP failure has no destination
      Labels l;
      if (label_netns_) l.push_back({"netns", ns.label});
      l.push_back({"protocol", "udp"});
      l.push_back({"reason", std::string(kReasonNames[0])});
      fs.Add(metric::kConnectFailuresTotal, l, double(ns.udp));
    }
  }
  for (const WorkloadTotals& w : workloads_) {
    for (size_t reason = 0; reason < kNumConnectFailureReasons; ++reason) {
      fs.Add(metric::kWorkloadConnectFailuresTotal,
             {{"workload", w.workload.name},
              {"workload_kind", w.workload.kind},
              {"protocol", "tcp"},
              {"reason", std::string(kReasonNames[reason])}},
             double(w.counts[reason]));
    }
    if (udp) {
      fs.Add(metric::kWorkloadConnectFailuresTotal,
             {{"workload", w.workload.name},
              {"workload_kind", w.workload.kind},
              {"protocol", "udp"},
              {"reason", std::string(kReasonNames[0])}},
             double(w.udp));
    }
  }
  fs.Add(metric::kConnectFailuresMapOverflowTotal, {}, double(overflow_total_));
}

namespace {

Status CheckModes(std::string_view mode, std::string_view udp_mode) {
  if (mode != "auto" && mode != "on" && mode != "off") {
    return Status::Error("--collector.connect-failures: want auto, on or off, got \"" +
                         std::string(mode) + "\"");
  }
  if (udp_mode != "auto" && udp_mode != "syscalls" && udp_mode != "off") {
    return Status::Error("--collector.connect-failures.udp: want auto, syscalls or off, got \"" +
                         std::string(udp_mode) + "\"");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<HostSource>> MakeConnectFailuresSource(std::string_view mode,
                                                              std::string_view udp_mode,
                                                              const std::string& procfs) {
  if (mode == "off") return std::unique_ptr<HostSource>();
  if (Status st = CheckModes(mode, udp_mode); !st.ok()) return st;
  std::string udp_note;
  Result<std::unique_ptr<ConnectFailureProbe>> probe =
      OpenConnectFailureProbe(UdpFailureOptions{std::string(udp_mode)}, &udp_note);
  return MakeConnectFailuresSource(mode, udp_mode, Cgroup2Root("", procfs), std::move(probe),
                                   udp_note);
}

Result<std::unique_ptr<HostSource>> MakeConnectFailuresSource(
    std::string_view mode, std::string_view udp_mode, const std::string& cgroup2_root,
    Result<std::unique_ptr<ConnectFailureProbe>> probe, const std::string& udp_note) {
  if (mode == "off") return std::unique_ptr<HostSource>();
  if (Status st = CheckModes(mode, udp_mode); !st.ok()) return st;
  if (!probe.ok()) {
    if (mode == "on") {
      return Status::Error("--collector.connect-failures=on: " + probe.status().message());
    }
    Log(LogLevel::kWarn,
        "connect() failures are not counted (--collector.connect-failures=auto): " +
            probe.status().message() + "; exporting sockstate_connect_failures_available 0");
    return std::unique_ptr<HostSource>(std::make_unique<ConnectFailuresSource>(nullptr, nullptr));
  }
  const std::string& root = cgroup2_root;
  if (root.empty()) {
    Log(LogLevel::kInfo,
        "connect() failures: no cgroup v2 hierarchy mounted; workloads are reported as "
        "\"unknown\"");
  }
  Log(LogLevel::kInfo, "connect() failures are counted by the kernel (tp_btf/inet_sock_set_state)");
  switch ((*probe)->udp_hook()) {
    case UdpFailureHook::kFexit:
      Log(LogLevel::kInfo,
          "UDP port-allocation failures are counted by the kernel (fexit on udp_v4_get_port, "
          "udp_v6_get_port)");
      break;
    case UdpFailureHook::kSyscalls:
      Log(LogLevel::kInfo,
          "UDP port-allocation failures are counted by the kernel from the system-call exit "
          "tracepoint (--collector.connect-failures.udp=syscalls: one BPF program run on every "
          "system call of the host, docs/udp.md#cost)");
      break;
    case UdpFailureHook::kNone:
      if (udp_mode == "auto") {
        Log(LogLevel::kInfo,
            "UDP port-allocation failures are not counted: this kernel refuses the fexit "
            "programs (" +
                udp_note +
                "); --collector.connect-failures.udp=syscalls counts them from the system-call "
                "exit tracepoint instead, at the cost of one BPF program run on every system "
                "call of the host (docs/udp.md#cost); exporting " +
                std::string(metric::kConnectFailuresUdpAvailable.name) + " 0");
      }
      break;
  }
  return std::unique_ptr<HostSource>(std::make_unique<ConnectFailuresSource>(
      std::move(*probe), std::make_unique<CgroupResolver>(root)));
}

}  // namespace sockstate
