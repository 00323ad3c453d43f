// The conntrack source end to end without a kernel: a fake /proc tree and the recorded dump
// (tests/fixtures/dumps/nat-tcp-udp.ssct) replayed, its series, and the destination cap across
// namespaces (FinishAcrossNamespaces).

#include "sources/conntrack_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "ct_builder.h"

namespace sockstate {
namespace {

class FakeProc {
 public:
  explicit FakeProc(int count = 9) {
    char tmpl[] = "/tmp/ssct-src-XXXXXX";
    root = mkdtemp(tmpl);
    std::filesystem::create_directories(root + "/sys/net/netfilter");
    std::filesystem::create_directories(root + "/net/stat");
    std::ofstream(root + "/sys/net/netfilter/nf_conntrack_count") << count << "\n";
    std::ofstream(root + "/sys/net/netfilter/nf_conntrack_max") << "262144\n";
    std::ofstream(root + "/sys/net/netfilter/nf_conntrack_buckets") << "262144\n";
    std::ofstream(root + "/net/stat/nf_conntrack")
        << "entries  clashres found new invalid ignore delete chainlength insert insert_failed "
           "drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
           "00000009  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 "
           "00000004 00000004 00000000 00000000  00000000 00000000 00000000 00000000\n"
           "00000009  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 "
           "00000003 00000002 00000000 00000000  00000000 00000000 00000000 00000000\n";
  }
  ~FakeProc() { std::filesystem::remove_all(root); }
  std::string root;
};

using Series = std::map<std::string, double>;

Series Collect(const ConntrackSource& s, const Config& config, const Labels& base,
               bool host_wide = true) {
  FamilySet fs;
  s.AddFamilies(fs, base, ExportContext{config, !base.empty(), 4096, true, host_wide});
  Series out;
  for (const auto& f : fs.Take()) {
    for (const auto& m : f.metric) {
      std::string k = f.name + "{";
      for (const auto& l : m.label) k += l.name + "=" + l.value + ",";
      k += "}";
      out[k] = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return out;
}

Status ReadWith(ConntrackSource& s, const Config& config, const std::string& root,
                const std::string& netns) {
  SourceEnv env;
  const ProcPaths paths = ProcPaths::ForRoot(root);
  const std::vector<const NetnsSource*> earlier;
  NetnsReadContext ctx{config, env, env, paths, netns.empty(), netns, earlier};
  return s.Read(ctx);
}

Config FixtureConfig(int top_k, int max_series) {
  Result<Config> c = ParseConfig("nat:\n  top_k: " + std::to_string(top_k) + "\n  max_series: " +
                                     std::to_string(max_series) + "\n" + testing::kBackendNatGroups,
                                 "t.yml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return *c;
}

ConntrackSourceOptions Replay() {
  ConntrackSourceOptions o;
  o.replay_dump = std::string(SOCKSTATE_TEST_DATA_DIR) + "/dumps/nat-tcp-udp.ssct";
  o.kernel_release = "6.1.0-56-amd64";  // before 6.5: no takeover assumed
  return o;
}

TEST(ConntrackSource, ReplayedDumpAndProcFilesGiveExactSeries) {
  FakeProc proc;
  const Config config = FixtureConfig(20, 100);
  ConntrackSource s(Replay());
  Status st = ReadWith(s, config, proc.root, "");
  ASSERT_TRUE(st.ok()) << st.message();
  const Series m = Collect(s, config, {});
  EXPECT_EQ(m.at("sockstate_conntrack_entries{}"), 9);
  EXPECT_EQ(m.at("sockstate_conntrack_entries_limit{}"), 262144);
  EXPECT_EQ(m.at("sockstate_conntrack_insert_failed_total{}"), 7);
  EXPECT_EQ(m.at("sockstate_conntrack_drop_total{}"), 6);
  EXPECT_EQ(m.at("sockstate_nat_time_wait_takeover{}"), 0);
  EXPECT_EQ(m.at("sockstate_conntrack_dump_entries{protocol=tcp,}"), 5);
  EXPECT_EQ(m.at("sockstate_conntrack_dump_entries{protocol=udp,}"), 4);
  EXPECT_EQ(
      m.at("sockstate_nat_ports_used{destination=backend,protocol=tcp,kind=snat,state=blocking,}"),
      3);
  EXPECT_DOUBLE_EQ(m.at("sockstate_nat_occupancy_ratio{destination=backend,protocol=tcp,}"), 0.3);
  EXPECT_EQ(m.at("sockstate_nat_usable_ports{destination=198.18.2.2:9090,protocol=tcp,}"), 64512);
  EXPECT_EQ(m.at("sockstate_nat_ports_used{destination=198.18.2.2:5353,protocol=udp,kind=snat,"
                 "state=blocking,}"),
            4);
  EXPECT_EQ(m.count("sockstate_nat_occupancy_ratio{destination=backend,protocol=udp,}"), 0u);
  // 3 TCP slots + 2 UDP slots.
  size_t occupancy_series = 0;
  for (const auto& [k, v] : m)
    occupancy_series += k.rfind("sockstate_nat_occupancy_ratio{", 0) == 0;
  EXPECT_EQ(occupancy_series, 5u);
}

TEST(ConntrackSource, SeriesCapHoldsAcrossNamespaces) {
  FakeProc proc;
  const Config config = FixtureConfig(1, 3);
  ConntrackSource a(Replay()), b(Replay());
  ASSERT_TRUE(ReadWith(a, config, proc.root, "ns-a").ok());
  ASSERT_TRUE(ReadWith(b, config, proc.root, "ns-b").ok());
  std::vector<NetnsSource*> all = {&a, &b};
  a.FinishAcrossNamespaces(all, config);
  // Per namespace: tcp backend, 9090, other; udp 5353, other = 10 label values in all, cap 3:
  // the four individual ones fold into their namespace's "other" (groups and other stay).
  for (ConntrackSource* s : {&a, &b}) {
    const std::string ns = s == &a ? "ns-a" : "ns-b";
    const Series m = Collect(*s, config, {{"netns", ns}});
    size_t occupancy_series = 0;
    for (const auto& [k, v] : m) {
      occupancy_series += k.rfind("sockstate_nat_occupancy_ratio{", 0) == 0;
    }
    EXPECT_EQ(occupancy_series, 3u) << ns;  // backend/tcp, other/tcp, other/udp
    EXPECT_EQ(m.at("sockstate_nat_ports_used{netns=" + ns +
                   ",destination=other,protocol=tcp,kind=snat,state=blocking,}"),
              2);
    EXPECT_EQ(m.at("sockstate_nat_ports_used{netns=" + ns +
                   ",destination=other,protocol=udp,kind=snat,state=blocking,}"),
              4);
    EXPECT_EQ(m.at("sockstate_nat_destinations_folded{netns=" + ns + ",protocol=tcp,}"), 1);
    EXPECT_EQ(m.at("sockstate_nat_destinations_folded{netns=" + ns + ",protocol=udp,}"), 1);
  }
}

// A namespace whose table is empty (most pods': nothing loads conntrack there) exports nothing
// of its own; the host-wide values come once, without netns, from the namespace that carries
// them. The own namespace with nat.enabled: on keeps its series at 0.
TEST(ConntrackSource, EmptyTableHasNoSeriesHostWideValuesOnce) {
  FakeProc proc(/*count=*/0);
  Config config = FixtureConfig(20, 100);
  ConntrackSource pod(Replay());
  ASSERT_TRUE(ReadWith(pod, config, proc.root, "pod-a").ok());
  EXPECT_EQ(Collect(pod, config, {{"netns", "pod-a"}}, /*host_wide=*/false), Series{});
  EXPECT_EQ(Collect(pod, config, {{"netns", "pod-a"}}, /*host_wide=*/true),
            (Series{{"sockstate_conntrack_entries_limit{}", 262144},
                    {"sockstate_conntrack_buckets{}", 262144},
                    {"sockstate_nat_time_wait_takeover{}", 0}}));
  ConntrackSource own(Replay());
  ASSERT_TRUE(ReadWith(own, config, proc.root, "").ok());
  EXPECT_EQ(Collect(own, config, {}, /*host_wide=*/false), Series{}) << "auto: nothing asked for";
  config.nat.enabled = NatToggle::kOn;
  ASSERT_TRUE(ReadWith(own, config, proc.root, "").ok());
  const Series on = Collect(own, config, {}, /*host_wide=*/false);
  EXPECT_EQ(on.at("sockstate_conntrack_entries{}"), 0);
  EXPECT_EQ(on.at("sockstate_conntrack_dump_permitted{}"), 1);
  EXPECT_EQ(on.count("sockstate_conntrack_entries_limit{}"), 0u);
}

TEST(ConntrackSource, NoConntrackIsSuccessInAutoAndAnErrorWhenOn) {
  char tmpl[] = "/tmp/ssct-none-XXXXXX";
  const std::string root = mkdtemp(tmpl);
  Config config = DefaultConfig();
  ConntrackSource s(Replay());
  ASSERT_TRUE(ReadWith(s, config, root, "").ok());
  EXPECT_FALSE(s.available());
  EXPECT_TRUE(Collect(s, config, {}).empty());
  config.nat.enabled = NatToggle::kOn;
  EXPECT_EQ(ReadWith(s, config, root, "").message(),
            "conntrack: nat.enabled is on but there is no " + root +
                "/sys/net/netfilter/nf_conntrack_count (no conntrack in this kernel)");
  config.nat.enabled = NatToggle::kOff;
  EXPECT_FALSE(s.Enabled(config));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace sockstate
