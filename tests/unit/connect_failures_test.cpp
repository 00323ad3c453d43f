// The connect_failures source without BPF: a fake probe feeds drained map entries, and the
// exported counters are checked exactly (monotonic totals, sticky top-K, groups, namespaces,
// workloads resolved through a directory tree standing in for cgroupfs).
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "sources/connect_failures_source.h"
#include "test_util.h"

namespace sockstate {
namespace {

using testing::Get;
using testing::Series;

/// Returns queued drains one per Drain() call (then nothing), with the kernel's overflow total.
class FakeProbe : public ConnectFailureProbe {
 public:
  struct Step {
    std::vector<FailureRecord> records;
    uint64_t overflow = 0;
  };
  explicit FakeProbe(std::deque<Step>* steps, UdpFailureHook udp = UdpFailureHook::kNone)
      : steps_(steps), udp_(udp) {}
  UdpFailureHook udp_hook() const override { return udp_; }
  Status Drain(std::vector<FailureRecord>* out, uint64_t* overflow_total) override {
    if (steps_->empty()) {
      *overflow_total = last_overflow_;
      return Status::Ok();
    }
    Step s = std::move(steps_->front());
    steps_->pop_front();
    out->insert(out->end(), s.records.begin(), s.records.end());
    *overflow_total = last_overflow_ = s.overflow;
    return Status::Ok();
  }

 private:
  std::deque<Step>* steps_;
  UdpFailureHook udp_;
  uint64_t last_overflow_ = 0;
};

FailureRecord V4(uint8_t last, uint16_t port, ConnectFailureReason reason, uint64_t count,
                 uint64_t netns = 100, uint64_t cgroup = 1) {
  FailureRecord r;
  r.family = Family::kIpv4;
  r.daddr = {10, 0, 0, last};
  r.dport = port;
  r.reason = uint8_t(reason);
  r.count = count;
  r.netns_inode = netns;
  r.cgroup_id = cgroup;
  return r;
}

constexpr auto kNoPort = ConnectFailureReason::kNoLocalPort;
constexpr auto kRefused = ConnectFailureReason::kRefused;

struct Harness {
  std::deque<FakeProbe::Step> steps;
  Config config = DefaultConfig();
  std::vector<NamespaceInfo> namespaces = {{"", 100, true}};
  bool label_netns = false;
  std::unique_ptr<ConnectFailuresSource> source;

  explicit Harness(std::unique_ptr<CgroupResolver> resolver = nullptr,
                   UdpFailureHook udp = UdpFailureHook::kNone) {
    source = std::make_unique<ConnectFailuresSource>(std::make_unique<FakeProbe>(&steps, udp),
                                                     std::move(resolver));
  }
  Series Scrape(std::vector<FailureRecord> records = {}, uint64_t overflow = 0) {
    steps.push_back({std::move(records), overflow});
    SourceEnv env;
    HostReadContext ctx{config, env, label_netns, namespaces};
    EXPECT_TRUE(source->Read(ctx).ok());
    FamilySet fs;
    source->AddFamilies(fs, ExportContext{config, label_netns});
    return testing::ParseExposition(prometheus::TextSerializer().Serialize(fs.Take()));
  }
};

double Dest(const Series& s, const std::string& d, const std::string& reason,
            const std::string& netns = "") {
  std::vector<std::pair<std::string, std::string>> l = {{"destination", d}};
  if (!netns.empty()) l.push_back({"netns", netns});
  l.push_back({"protocol", "tcp"});
  l.push_back({"reason", reason});
  return Get(s, "sockstate_connect_failures_total", l);
}

size_t CountSeries(const Series& s, const std::string& prefix) {
  size_t n = 0;
  for (const auto& [k, v] : s) n += k.rfind(prefix, 0) == 0;
  return n;
}

TEST(ConnectFailures, TotalsAccumulateAcrossDrainsAndNeverGoBackwards) {
  Harness h;
  Series s1 = h.Scrape({V4(1, 80, kNoPort, 3), V4(1, 80, kRefused, 1)});
  EXPECT_EQ(Get(s1, "sockstate_connect_failures_available"), 1);
  EXPECT_EQ(Dest(s1, "10.0.0.1:80", "no_local_port"), 3);
  EXPECT_EQ(Dest(s1, "10.0.0.1:80", "refused"), 1);
  EXPECT_EQ(Dest(s1, "other", "no_local_port"), 0);
  // Nothing new: the same totals (a drained entry is never counted twice).
  Series s2 = h.Scrape();
  EXPECT_EQ(Dest(s2, "10.0.0.1:80", "no_local_port"), 3);
  // The kernel map starts over (entries deleted, program reloaded): totals only grow.
  Series s3 = h.Scrape({V4(1, 80, kNoPort, 2)});
  EXPECT_EQ(Dest(s3, "10.0.0.1:80", "no_local_port"), 5);
  EXPECT_EQ(Dest(s3, "10.0.0.1:80", "refused"), 1);
}

TEST(ConnectFailures, EveryReasonHasItsOwnSeries) {
  Harness h;
  Series s = h.Scrape({V4(1, 80, kNoPort, 1), V4(1, 80, kRefused, 2),
                       V4(1, 80, ConnectFailureReason::kTimedOut, 3),
                       V4(1, 80, ConnectFailureReason::kUnreachable, 4),
                       V4(1, 80, ConnectFailureReason::kAbandoned, 5)});
  EXPECT_EQ(Dest(s, "10.0.0.1:80", "no_local_port"), 1);
  EXPECT_EQ(Dest(s, "10.0.0.1:80", "refused"), 2);
  EXPECT_EQ(Dest(s, "10.0.0.1:80", "timed_out"), 3);
  EXPECT_EQ(Dest(s, "10.0.0.1:80", "unreachable"), 4);
  EXPECT_EQ(Dest(s, "10.0.0.1:80", "abandoned"), 5);
  // A reason the program does not know (a newer program) is not counted anywhere.
  Series s2 = h.Scrape({V4(1, 80, ConnectFailureReason(kNumConnectFailureReasons), 9)});
  EXPECT_EQ(Dest(s2, "10.0.0.1:80", "abandoned"), 5);
  EXPECT_EQ(CountSeries(s2, "sockstate_connect_failures_total{"), 10u);  // 1 + other, x 5
}

/// A UDP port-allocation failure as the UDP program counts it: no destination.
FailureRecord Udp(uint64_t count, uint64_t netns = 100, Family family = Family::kIpv4) {
  FailureRecord r;
  r.protocol = 17;
  r.family = family;
  r.reason = uint8_t(kNoPort);
  r.count = count;
  r.netns_inode = netns;
  r.cgroup_id = 1;
  return r;
}

TEST(ConnectFailures, UdpFailuresArePerNamespaceWithoutADestination) {
  Harness h(nullptr, UdpFailureHook::kSyscalls);
  h.namespaces = {{"a", 100, true}, {"b", 101, false}};
  h.label_netns = true;
  auto udp = [](const Series& s, const std::string& netns) {
    return Get(s, "sockstate_connect_failures_total",
               {{"netns", netns}, {"protocol", "udp"}, {"reason", "no_local_port"}});
  };
  Series s0 = h.Scrape();
  EXPECT_EQ(Get(s0, "sockstate_connect_failures_udp_available"), 1);
  EXPECT_EQ(udp(s0, "a"), 0);  // from the first scrape, for increase()
  EXPECT_EQ(udp(s0, "b"), 0);
  // Both families add up; a namespace the exporter does not read (200) is not counted; a TCP
  // failure keeps its destination.
  Series s1 = h.Scrape(
      {Udp(3), Udp(2, 100, Family::kIpv6), Udp(7, 101), Udp(9, 200), V4(1, 80, kNoPort, 1)});
  EXPECT_EQ(udp(s1, "a"), 5);
  EXPECT_EQ(udp(s1, "b"), 7);
  EXPECT_EQ(Dest(s1, "10.0.0.1:80", "no_local_port", "a"), 1);
  EXPECT_EQ(Dest(s1, "other", "no_local_port", "a"), 0);
  // One UDP series per namespace, no other reason, never a destination label.
  EXPECT_EQ(CountSeries(s1, "sockstate_connect_failures_total{netns=\"a\",protocol=\"udp\""), 1u);
  for (const auto& [k, v] : s1) {
    if (k.find("protocol=\"udp\"") != std::string::npos) {
      EXPECT_EQ(k.find("destination="), std::string::npos) << k;
    }
  }
  // Workloads: the TCP reasons and the UDP one (unknown: no resolver).
  auto wl = [&](const char* protocol) {
    return Get(s1, "sockstate_workload_connect_failures_total",
               {{"protocol", protocol},
                {"reason", "no_local_port"},
                {"workload", "unknown"},
                {"workload_kind", "unknown"}});
  };
  EXPECT_EQ(wl("udp"), 12);
  EXPECT_EQ(wl("tcp"), 1);
  EXPECT_EQ(CountSeries(s1, "sockstate_workload_connect_failures_total{"), 6u);  // 5 + 1
  // Totals only grow.
  EXPECT_EQ(udp(h.Scrape({Udp(1)}), "a"), 6);
}

TEST(ConnectFailures, WithoutAUdpHookThereAreNoUdpSeries) {
  Harness h;
  Series s = h.Scrape({V4(1, 80, kNoPort, 1)});
  EXPECT_EQ(Get(s, "sockstate_connect_failures_udp_available"), 0);
  EXPECT_TRUE(std::isnan(Get(s, "sockstate_connect_failures_total",
                             {{"protocol", "udp"}, {"reason", "no_local_port"}})));
  EXPECT_EQ(CountSeries(s, "sockstate_workload_connect_failures_total{"), 5u);
}

TEST(ConnectFailures, OverflowCounterSurvivesAKernelCounterRestart) {
  Harness h;
  EXPECT_EQ(Get(h.Scrape({}, 5), "sockstate_connect_failures_map_overflow_total"), 5);
  EXPECT_EQ(Get(h.Scrape({}, 7), "sockstate_connect_failures_map_overflow_total"), 7);
  // A reloaded program's array starts at 0: 2 more, not a drop to 2.
  EXPECT_EQ(Get(h.Scrape({}, 2), "sockstate_connect_failures_map_overflow_total"), 9);
}

TEST(ConnectFailures, TopKIsStickyAndOtherNeverLosesCounts) {
  Harness h;
  h.config.destinations.top_k = 2;
  // In one drain, the two that failed most get the slots.
  Series s1 = h.Scrape({V4(1, 80, kNoPort, 1), V4(2, 80, kNoPort, 9), V4(3, 80, kNoPort, 5)});
  EXPECT_EQ(Dest(s1, "10.0.0.2:80", "no_local_port"), 9);
  EXPECT_EQ(Dest(s1, "10.0.0.3:80", "no_local_port"), 5);
  EXPECT_TRUE(std::isnan(Dest(s1, "10.0.0.1:80", "no_local_port")));
  EXPECT_EQ(Dest(s1, "other", "no_local_port"), 1);
  // 10.0.0.1 now fails most, but stays in "other" for good: promoting it would make "other"
  // go backwards.
  Series s2 = h.Scrape({V4(1, 80, kNoPort, 100)});
  EXPECT_TRUE(std::isnan(Dest(s2, "10.0.0.1:80", "no_local_port")));
  EXPECT_EQ(Dest(s2, "other", "no_local_port"), 101);
  EXPECT_EQ(Dest(s2, "10.0.0.2:80", "no_local_port"), 9);
  // 2 individuals + other, 5 reasons each.
  EXPECT_EQ(CountSeries(s2, "sockstate_connect_failures_total{"), 15u);
}

TEST(ConnectFailures, GroupsLabelLikeOccupancyAndStartAtZero) {
  Harness h;
  auto cfg = ParseConfig(
      "destinations:\n  groups:\n    - name: db\n      cidrs: [10.0.0.0/24]\n      ports: [5432]\n",
      "test");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  h.config = *cfg;
  Series s0 = h.Scrape();
  EXPECT_EQ(Dest(s0, "db", "no_local_port"), 0);
  EXPECT_EQ(Dest(s0, "db", "refused"), 0);
  Series s1 = h.Scrape({V4(7, 5432, kNoPort, 4), V4(8, 5432, kNoPort, 2), V4(7, 80, kNoPort, 1)});
  EXPECT_EQ(Dest(s1, "db", "no_local_port"), 6);
  EXPECT_EQ(Dest(s1, "10.0.0.7:80", "no_local_port"), 1);
  EXPECT_EQ(Dest(s1, "other", "no_local_port"), 0);
  // A reload without the group keeps the group's total (counters do not reset).
  h.config = DefaultConfig();
  Series s2 = h.Scrape({V4(7, 5432, kNoPort, 1)});
  EXPECT_EQ(Dest(s2, "db", "no_local_port"), 6);
  EXPECT_EQ(Dest(s2, "10.0.0.7:5432", "no_local_port"), 1);
}

TEST(ConnectFailures, Ipv6AndMappedLabels) {
  Harness h;
  FailureRecord r = V4(0, 443, kNoPort, 2);
  r.family = Family::kIpv6;
  r.daddr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  Series s = h.Scrape({r});
  EXPECT_EQ(Dest(s, "[fd00::2]:443", "no_local_port"), 2);
}

TEST(ConnectFailures, OnlyNamespacesTheExporterReadsAreCounted) {
  Harness h;
  h.label_netns = true;
  h.namespaces = {{"a", 100, true}, {"b", 200, false}};
  Series s1 = h.Scrape(
      {V4(1, 80, kNoPort, 3, 100), V4(1, 80, kNoPort, 4, 200), V4(1, 80, kNoPort, 50, 300)});
  EXPECT_EQ(Dest(s1, "10.0.0.1:80", "no_local_port", "a"), 3);
  EXPECT_EQ(Dest(s1, "10.0.0.1:80", "no_local_port", "b"), 4);
  EXPECT_EQ(Dest(s1, "other", "no_local_port", "a"), 0);
  EXPECT_EQ(CountSeries(s1, "sockstate_connect_failures_total{"), 20u);  // 2 ns x 2 labels x 5
  // b missing from a few scrapes (a failed read): no series for it meanwhile, but its totals
  // stay and it still counts, so it comes back without a reset.
  h.namespaces = {{"a", 100, true}};
  for (int i = 0; i < ConnectFailuresSource::kForgetAfterScrapes - 2; ++i) h.Scrape();
  Series s2 = h.Scrape({V4(1, 80, kNoPort, 1, 200)});
  EXPECT_TRUE(std::isnan(Dest(s2, "10.0.0.1:80", "no_local_port", "b")));
  EXPECT_TRUE(std::isnan(Dest(s2, "other", "no_local_port", "b")));
  h.namespaces = {{"a", 100, true}, {"b", 200, false}};
  EXPECT_EQ(Dest(h.Scrape(), "10.0.0.1:80", "no_local_port", "b"), 5);
  // Gone for kForgetAfterScrapes scrapes in a row: forgotten (memory follows namespaces); a
  // namespace with that inode later starts from 0.
  h.namespaces = {{"a", 100, true}};
  for (int i = 0; i < ConnectFailuresSource::kForgetAfterScrapes; ++i) h.Scrape();
  h.namespaces = {{"a", 100, true}, {"b", 200, false}};
  Series s3 = h.Scrape();
  EXPECT_TRUE(std::isnan(Dest(s3, "10.0.0.1:80", "no_local_port", "b")));
  EXPECT_EQ(Dest(s3, "other", "no_local_port", "b"), 0);
  EXPECT_EQ(Dest(s3, "10.0.0.1:80", "no_local_port", "a"), 3);
}

TEST(ConnectFailures, UnavailableExportsOnlyTheGauge) {
  ConnectFailuresSource source(nullptr, nullptr);
  Config config = DefaultConfig();
  SourceEnv env;
  std::vector<NamespaceInfo> nss = {{"", 1, true}};
  ASSERT_TRUE(source.Read(HostReadContext{config, env, false, nss}).ok());
  FamilySet fs;
  source.AddFamilies(fs, ExportContext{config, false});
  Series s = testing::ParseExposition(prometheus::TextSerializer().Serialize(fs.Take()));
  EXPECT_EQ(s, (Series{{"sockstate_connect_failures_available", 0}}));
}

TEST(ConnectFailuresWorkload, FromCgroupPath) {
  EXPECT_EQ(WorkloadFromCgroupPath("/system.slice/nginx.service"),
            (Workload{"systemd_unit", "nginx.service"}));
  EXPECT_EQ(WorkloadFromCgroupPath("/user.slice/user-1000.slice/user@1000.service/app.slice/"
                                   "foo.service"),
            (Workload{"systemd_unit", "foo.service"}));
  EXPECT_EQ(WorkloadFromCgroupPath("/user.slice/user-1000.slice/session-3.scope"),
            (Workload{"systemd_unit", "session-3.scope"}));
  const std::string id = "3f4c6b0e9a5d1e2f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";
  EXPECT_EQ(WorkloadFromCgroupPath("/system.slice/docker-" + id + ".scope"),
            (Workload{"container", id}));
  EXPECT_EQ(
      WorkloadFromCgroupPath("/kubepods.slice/kubepods-burstable.slice/"
                             "kubepods-burstable-pod7d3e6f1a_2b4c_4d5e_8f9a_0b1c2d3e4f5a.slice/"
                             "cri-containerd-" +
                             id + ".scope"),
      (Workload{"pod", "7d3e6f1a-2b4c-4d5e-8f9a-0b1c2d3e4f5a"}));
  EXPECT_EQ(WorkloadFromCgroupPath("/sst-test"), (Workload{"cgroup", "/sst-test"}));
  EXPECT_EQ(WorkloadFromCgroupPath("/"), (Workload{"cgroup", "/"}));
}

TEST(ConnectFailuresWorkload, FindCgroup2Mount) {
  // Hybrid layout (v1 controllers + unified) and a pure v2 host; escapes decoded.
  EXPECT_EQ(FindCgroup2Mount(
                "25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
                "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw\n"
                "27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"),
            "/sys/fs/cgroup/unified");
  EXPECT_EQ(FindCgroup2Mount("30 1 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw\n"),
            "/sys/fs/cgroup");
  EXPECT_EQ(FindCgroup2Mount("30 1 0:26 / /mnt/my\\040cg rw - cgroup2 none rw\n"), "/mnt/my cg");
  EXPECT_EQ(FindCgroup2Mount("27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw\n"), "");
  EXPECT_EQ(FindCgroup2Mount("garbage - cgroup2\n - cgroup2 x\n"), "");
  EXPECT_EQ(FindCgroup2Mount(""), "");
}

uint64_t Inode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

TEST(ConnectFailuresWorkload, ResolvedThroughATreeAndTopKWithOther) {
  // A directory tree stands in for cgroupfs: a cgroup's id is its directory's inode.
  const std::string root = ::testing::TempDir() + "/cf-cgroup-" + std::to_string(getpid());
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/system.slice/nginx.service");
  std::vector<std::string> units;
  for (int i = 0; i < 25; ++i) {
    units.push_back("u" + std::to_string(i) + ".service");
    std::filesystem::create_directories(root + "/system.slice/" + units.back());
  }
  Harness h(std::make_unique<CgroupResolver>(root));
  const uint64_t nginx = Inode(root + "/system.slice/nginx.service");
  Series s1 = h.Scrape({V4(1, 80, kNoPort, 7, 100, nginx), V4(1, 80, kRefused, 2, 100, nginx),
                        V4(1, 80, kNoPort, 1, 100, 999999999)});
  auto wl = [](const Series& s, const std::string& kind, const std::string& name,
               const std::string& reason) {
    return Get(
        s, "sockstate_workload_connect_failures_total",
        {{"protocol", "tcp"}, {"reason", reason}, {"workload", name}, {"workload_kind", kind}});
  };
  EXPECT_EQ(wl(s1, "systemd_unit", "nginx.service", "no_local_port"), 7);
  EXPECT_EQ(wl(s1, "systemd_unit", "nginx.service", "refused"), 2);
  EXPECT_EQ(wl(s1, "unknown", "unknown", "no_local_port"), 1);
  // 25 more units fail once each: 19 more get a series (20 in all), 6 go to "other".
  std::vector<FailureRecord> more;
  for (const std::string& u : units) {
    more.push_back(V4(2, 80, kNoPort, 1, 100, Inode(root + "/system.slice/" + u)));
  }
  Series s2 = h.Scrape(more);
  EXPECT_EQ(wl(s2, "other", "other", "no_local_port"), 6);
  EXPECT_EQ(wl(s2, "systemd_unit", "nginx.service", "no_local_port"), 7);
  // 20 named + unknown + other, 5 reasons each.
  EXPECT_EQ(CountSeries(s2, "sockstate_workload_connect_failures_total{"), 110u);
  std::filesystem::remove_all(root);
}

TEST(ConnectFailuresWorkload, TopKComesFromTheConfigAndAReloadKeepsNamedSeries) {
  const std::string root = ::testing::TempDir() + "/cf-cgroup-k-" + std::to_string(getpid());
  std::filesystem::remove_all(root);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 6; ++i) {
    std::filesystem::create_directories(root + "/w" + std::to_string(i));
    ids.push_back(Inode(root + "/w" + std::to_string(i)));
  }
  Harness h(std::make_unique<CgroupResolver>(root));
  h.config.connect_failures.workloads_top_k = 2;
  auto wl = [](const Series& s, const std::string& kind, const std::string& name,
               const std::string& reason) {
    return Get(
        s, "sockstate_workload_connect_failures_total",
        {{"protocol", "tcp"}, {"reason", reason}, {"workload", name}, {"workload_kind", kind}});
  };
  // K = 2: w0 (5) and w1 (4) are named (the heaviest of the drain first), w2 (3) is "other".
  Series s1 = h.Scrape({V4(1, 80, kNoPort, 3, 100, ids[2]), V4(1, 80, kNoPort, 5, 100, ids[0]),
                        V4(1, 80, kNoPort, 4, 100, ids[1])});
  EXPECT_EQ(wl(s1, "cgroup", "/w0", "no_local_port"), 5);
  EXPECT_EQ(wl(s1, "cgroup", "/w1", "no_local_port"), 4);
  EXPECT_TRUE(std::isnan(wl(s1, "cgroup", "/w2", "no_local_port")));
  EXPECT_EQ(wl(s1, "other", "other", "no_local_port"), 3);
  EXPECT_EQ(CountSeries(s1, "sockstate_workload_connect_failures_total{"), 15u);  // (2 + other) x 5
  // A reload lowers K to 1: w0 and w1 keep their series (counters never go backwards), and a
  // new workload goes to "other".
  h.config.connect_failures.workloads_top_k = 1;
  Series s2 = h.Scrape({V4(1, 80, kRefused, 1, 100, ids[1]), V4(1, 80, kNoPort, 2, 100, ids[3])});
  EXPECT_EQ(wl(s2, "cgroup", "/w1", "refused"), 1);
  EXPECT_EQ(wl(s2, "cgroup", "/w1", "no_local_port"), 4);
  EXPECT_EQ(wl(s2, "other", "other", "no_local_port"), 5);
  // Raised to 4: the next two new workloads are named, the one after is "other".
  h.config.connect_failures.workloads_top_k = 4;
  Series s3 = h.Scrape({V4(1, 80, kNoPort, 9, 100, ids[4]), V4(1, 80, kNoPort, 8, 100, ids[5]),
                        V4(1, 80, kNoPort, 7, 100, ids[3])});
  EXPECT_EQ(wl(s3, "cgroup", "/w4", "no_local_port"), 9);
  EXPECT_EQ(wl(s3, "cgroup", "/w5", "no_local_port"), 8);
  EXPECT_TRUE(std::isnan(wl(s3, "cgroup", "/w3", "no_local_port")));
  EXPECT_EQ(wl(s3, "other", "other", "no_local_port"), 12);
  // K = 0 from the start: everything known goes to "other".
  Harness z(std::make_unique<CgroupResolver>(root));
  z.config.connect_failures.workloads_top_k = 0;
  Series s4 = z.Scrape({V4(1, 80, kNoPort, 2, 100, ids[0]), V4(1, 80, kNoPort, 1, 100, 999999999)});
  EXPECT_EQ(wl(s4, "other", "other", "no_local_port"), 2);
  EXPECT_EQ(wl(s4, "unknown", "unknown", "no_local_port"), 1);
  EXPECT_EQ(CountSeries(s4, "sockstate_workload_connect_failures_total{"), 10u);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace sockstate
