// The conntrack source on a real kernel, in namespaces the test creates: client -> router
// (nft masquerade to a 10-port range) -> server over veth pairs with 198.18.0.0/15 addresses
// only. Every number is compared with what the test created or with the kernel's own files.
//
// Topology (one per test, deleted with the namespaces):
//   client  c0 198.18.1.2/24  --veth--  r0 198.18.1.1/24  router  r1 198.18.2.1/24  --veth--
//   s0 198.18.2.2/24  server
// The router masquerades TCP to :61000-61009 and UDP to :62000-62009 on its way out of r1.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aggregate/nat_model.h"
#include "config/config.h"
#include "ct_builder.h"
#include "metrics/family_set.h"
#include "netns_fixture.h"
#include "requirements.h"
#include "routed_netns.h"
#include "sources/conntrack_source.h"
#include "test_util.h"

namespace sockstate {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::TestNetns;
using Clock = std::chrono::steady_clock;

using testing::MustRun;

constexpr const char* kServer = "198.18.2.2";

// Root, conntrack in the kernel and nft (the NAT between the namespaces).
class ConntrackKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    SOCKSTATE_REQUIRE(
        testing::Missing({testing::Need::kRoot, testing::Need::kConntrack, testing::Need::kNft}));
  }
};

// The three namespaces (routed_netns.h) and the NAT between them.
class NatTopology {
 public:
  NatTopology() : net_("sstct") {
    testing::RoutedNetns::Nft(router(),
                              "table ip sstnat {\n"
                              "  chain post {\n"
                              "    type nat hook postrouting priority 100;\n"
                              "    oifname \"r1\" meta l4proto tcp masquerade to :61000-61009\n"
                              "    oifname \"r1\" meta l4proto udp masquerade to :62000-62009\n"
                              "  }\n"
                              "}\n");
  }

  TestNetns& client() { return net_.client(); }
  TestNetns& router() { return net_.router(); }
  TestNetns& server() { return net_.server(); }

  // Sum over CPUs of one column of the router's /proc/net/stat/nf_conntrack, parsed here
  // independently of the exporter's parser.
  uint64_t RouterStat(const std::string& column) {
    CommandResult r =
        RunCommand({"ip", "netns", "exec", router().name(), "cat", "/proc/net/stat/nf_conntrack"});
    if (r.exit_code != 0) throw std::runtime_error("cat nf_conntrack: " + r.output);
    std::istringstream in(r.output);
    std::string line, name;
    std::getline(in, line);
    std::istringstream header(line);
    int index = -1;
    for (int i = 0; header >> name; ++i) {
      if (name == column) index = i;
    }
    if (index < 0) throw std::runtime_error("no column " + column);
    uint64_t sum = 0;
    while (std::getline(in, line)) {
      std::istringstream row(line);
      std::string v;
      for (int i = 0; i <= index && row >> v; ++i) {
      }
      sum += std::stoull(v, nullptr, 16);
    }
    return sum;
  }

  // `conntrack -L` lines in the router namespace.
  std::string ConntrackList() {
    return RunCommand({"ip", "netns", "exec", router().name(), "conntrack", "-L"}).output;
  }

 private:
  testing::RoutedNetns net_;
};

// The series of one scrape of a source, keyed like "name{a="x",b="y"}" (labels in order).
using Scrape = std::map<std::string, double>;

std::string Key(const std::string& name, const Labels& labels) {
  std::string k = name;
  if (!labels.empty()) {
    k += "{";
    for (size_t i = 0; i < labels.size(); ++i) {
      k += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
    }
    k += "}";
  }
  return k;
}

struct ReadResult {
  Status status;
  Scrape series;
};

// Drops CAP_NET_ADMIN (effective and permitted) from the calling thread: ctnetlink then
// refuses its dumps with EPERM.
void DropNetAdmin() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) throw std::runtime_error("capget");
  data[0].effective &= ~(1u << CAP_NET_ADMIN);
  data[0].permitted &= ~(1u << CAP_NET_ADMIN);
  if (syscall(SYS_capset, &hdr, data) != 0) throw std::runtime_error("capset");
}

// Reads `source` inside `ns` (on a thread that entered it) and collects its series.
ReadResult ReadIn(TestNetns& ns, ConntrackSource& source, const Config& config,
                  bool drop_net_admin = false) {
  ReadResult out;
  ns.Run([&] {
    if (drop_net_admin) DropNetAdmin();
    SourceEnv env;
    const ProcPaths paths = ProcPaths::ForThreadNetns("/proc");
    const std::vector<const NetnsSource*> earlier;
    const std::string netns = ns.name();
    NetnsReadContext ctx{config, env, env, paths, false, netns, earlier};
    out.status = source.Read(ctx);
  });
  if (!out.status.ok()) return out;
  FamilySet fs;
  ExportContext ectx{config, false, 4096};
  source.AddFamilies(fs, {}, ectx);
  for (const auto& f : fs.Take()) {
    for (const auto& m : f.metric) {
      Labels l;
      for (const auto& lp : m.label) l.emplace_back(lp.name, lp.value);
      double v = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      out.series[Key(f.name, l)] = v;
    }
  }
  return out;
}

double Get(const Scrape& s, const std::string& key) {
  auto it = s.find(key);
  return it == s.end() ? NAN : it->second;
}

std::string Ports(const std::string& dest, const std::string& proto, const std::string& kind,
                  const std::string& state) {
  return Key("sockstate_nat_ports_used",
             {{"destination", dest}, {"protocol", proto}, {"kind", kind}, {"state", state}});
}
std::string PerDest(const std::string& name, const std::string& dest, const std::string& proto) {
  return Key(name, {{"destination", dest}, {"protocol", proto}});
}

Config BackendConfig() {
  Result<Config> c =
      ParseConfig(std::string("nat:\n  enabled: on\n") + testing::kBackendNatGroups, "test.yml");
  if (!c.ok()) throw std::runtime_error(c.status().message());
  return *c;
}

TEST_F(ConntrackKernel, TenEstablishedFillTheNatThenTheEleventhIsDropped) {
  NatTopology t;
  const Config config = BackendConfig();
  ConntrackSource source;
  const int listener = t.server().Listen(kServer, 8080);
  std::vector<int> clients, servers;
  for (int i = 0; i < 10; ++i) {
    const int c = t.client().TryConnect(kServer, 8080);
    ASSERT_GE(c, 0) << "connect " << i << ": " << strerror(-c);
    clients.push_back(c);
    servers.push_back(t.server().Accept(listener));
  }
  ReadResult r = ReadIn(t.router(), source, config);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(Get(r.series, PerDest("sockstate_nat_occupancy_ratio", "backend", "tcp")), 1.0);
  EXPECT_EQ(Get(r.series, Ports("backend", "tcp", "snat", "blocking")), 10);
  EXPECT_EQ(Get(r.series, Ports("backend", "tcp", "snat", "reclaimable")), 0);
  EXPECT_EQ(Get(r.series, Ports("backend", "tcp", "direct", "blocking")), 0);
  EXPECT_EQ(Get(r.series, PerDest("sockstate_nat_ports_blocking_max", "backend", "tcp")), 10);
  EXPECT_EQ(Get(r.series, PerDest("sockstate_nat_usable_ports", "backend", "tcp")), 10);
  EXPECT_EQ(Get(r.series, PerDest("sockstate_nat_tuples", "backend", "tcp")), 1);
  EXPECT_EQ(Get(r.series, Key("sockstate_conntrack_tcp_entries", {{"state", "established"}})), 10);
  EXPECT_EQ(Get(r.series, "sockstate_conntrack_entries"), 10);
  EXPECT_EQ(Get(r.series, "sockstate_nat_time_wait_takeover"), 1);

  // The 11th connect finds no free NAT port: its SYNs are dropped at the router.
  const uint64_t failed_before = t.RouterStat("insert_failed");
  const uint64_t drop_before = t.RouterStat("drop");
  EXPECT_EQ(Get(r.series, "sockstate_conntrack_insert_failed_total"), double(failed_before));
  EXPECT_EQ(Get(r.series, "sockstate_conntrack_drop_total"), double(drop_before));
  const int eleventh = t.client().TryConnect(kServer, 8080);
  EXPECT_EQ(eleventh, -ETIMEDOUT);
  ReadResult after = ReadIn(t.router(), source, config);
  ASSERT_TRUE(after.status.ok()) << after.status.message();
  const uint64_t failed_after = t.RouterStat("insert_failed");
  const uint64_t drop_after = t.RouterStat("drop");
  EXPECT_GT(failed_after, failed_before);  // at least the SYN and its retransmissions
  EXPECT_EQ(Get(after.series, "sockstate_conntrack_insert_failed_total") -
                Get(r.series, "sockstate_conntrack_insert_failed_total"),
            double(failed_after - failed_before));
  EXPECT_EQ(Get(after.series, "sockstate_conntrack_drop_total") -
                Get(r.series, "sockstate_conntrack_drop_total"),
            double(drop_after - drop_before));
  EXPECT_EQ(Get(after.series, Ports("backend", "tcp", "snat", "blocking")), 10);

  // Client-side close: the router's entries go to TIME_WAIT, which SNAT may take over (6.5+).
  for (int fd : clients) t.client().Close(fd);
  for (int fd : servers) t.server().Close(fd);
  ReadResult tw;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    tw = ReadIn(t.router(), source, config);
    ASSERT_TRUE(tw.status.ok()) << tw.status.message();
  } while (Get(tw.series, Key("sockstate_conntrack_tcp_entries", {{"state", "time_wait"}})) != 10 &&
           Clock::now() < deadline);
  ASSERT_EQ(Get(tw.series, Key("sockstate_conntrack_tcp_entries", {{"state", "time_wait"}})), 10)
      << t.ConntrackList();
  EXPECT_EQ(Get(tw.series, Ports("backend", "tcp", "snat", "blocking")), 0);
  EXPECT_EQ(Get(tw.series, Ports("backend", "tcp", "snat", "reclaimable")), 10);
  EXPECT_EQ(Get(tw.series, PerDest("sockstate_nat_occupancy_ratio", "backend", "tcp")), 0.0);

  // The kernel agrees: a new connection gets a port of a TIME_WAIT entry. The takeover also
  // needs the new SYN's sequence number ahead of the old connection's, so a connect may be
  // dropped; each retry uses a new client port and so a new initial sequence number.
  int fresh = -1;
  for (int attempt = 0; attempt < 6 && fresh < 0; ++attempt) {
    fresh = t.client().TryConnect(kServer, 8080);
  }
  ASSERT_GE(fresh, 0) << "no connect got a TIME_WAIT port in 6 tries: " << strerror(-fresh);
  ReadResult taken = ReadIn(t.router(), source, config);
  ASSERT_TRUE(taken.status.ok()) << taken.status.message();
  EXPECT_EQ(Get(taken.series, Ports("backend", "tcp", "snat", "blocking")), 1);
  EXPECT_EQ(Get(taken.series, Ports("backend", "tcp", "snat", "reclaimable")), 9);
  EXPECT_DOUBLE_EQ(Get(taken.series, PerDest("sockstate_nat_occupancy_ratio", "backend", "tcp")),
                   0.1);
  EXPECT_EQ(Get(taken.series, "sockstate_conntrack_entries"), 10);

  // With the pre-6.5 behaviour (nat.time_wait_takeover: off) the same table is full.
  Config old_kernel = config;
  old_kernel.nat.time_wait_takeover = NatToggle::kOff;
  ReadResult off = ReadIn(t.router(), source, old_kernel);
  ASSERT_TRUE(off.status.ok()) << off.status.message();
  EXPECT_EQ(Get(off.series, PerDest("sockstate_nat_occupancy_ratio", "backend", "tcp")), 1.0);
  EXPECT_EQ(Get(off.series, "sockstate_nat_time_wait_takeover"), 0);
}

TEST_F(ConntrackKernel, SecondDestinationAndUdpAreCountedApart) {
  NatTopology t;
  const Config config = BackendConfig();
  ConntrackSource source;
  const int l8080 = t.server().Listen(kServer, 8080);
  const int l9090 = t.server().Listen(kServer, 9090);
  for (int i = 0; i < 3; ++i) {
    ASSERT_GE(t.client().TryConnect(kServer, 8080), 0);
    t.server().Accept(l8080);
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_GE(t.client().TryConnect(kServer, 9090), 0);
    t.server().Accept(l9090);
  }
  // Four UDP flows (four client sockets, one datagram each) to 5353: unanswered, still tracked.
  t.client().Run([] {
    sockaddr_storage dst;
    socklen_t dst_len;
    if (!testing::MakeSockaddr(kServer, 5353, &dst, &dst_len)) {
      throw std::runtime_error("bad address");
    }
    for (int i = 0; i < 4; ++i) {
      const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) throw std::runtime_error("socket");
      const char b = 'q';
      if (sendto(fd, &b, 1, 0, reinterpret_cast<sockaddr*>(&dst), dst_len) != 1) {
        close(fd);
        throw std::runtime_error("sendto");
      }
      close(fd);
    }
  });
  // The datagrams cross the router asynchronously: wait until all four are tracked.
  ReadResult r;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  do {
    r = ReadIn(t.router(), source, config);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
  } while (Get(r.series, Key("sockstate_conntrack_dump_entries", {{"protocol", "udp"}})) != 4 &&
           Clock::now() < deadline);
  EXPECT_EQ(Get(r.series, Key("sockstate_conntrack_dump_entries", {{"protocol", "tcp"}})), 5);
  EXPECT_EQ(Get(r.series, Key("sockstate_conntrack_dump_entries", {{"protocol", "udp"}})), 4);
  EXPECT_EQ(Get(r.series, Ports("backend", "tcp", "snat", "blocking")), 3);
  EXPECT_DOUBLE_EQ(Get(r.series, PerDest("sockstate_nat_occupancy_ratio", "backend", "tcp")), 0.3);
  EXPECT_EQ(Get(r.series, Ports("198.18.2.2:9090", "tcp", "snat", "blocking")), 2);
  EXPECT_EQ(Get(r.series, PerDest("sockstate_nat_usable_ports", "198.18.2.2:9090", "tcp")), 64512);
  EXPECT_EQ(Get(r.series, Ports("198.18.2.2:5353", "udp", "snat", "blocking")), 4);
  EXPECT_EQ(Get(r.series, Ports("198.18.2.2:5353", "udp", "snat", "reclaimable")), 0);
  EXPECT_EQ(Get(r.series, PerDest("sockstate_nat_tuples", "198.18.2.2:5353", "udp")), 1);
  EXPECT_EQ(Get(r.series, Ports("other", "tcp", "snat", "blocking")), 0);
  EXPECT_EQ(Get(r.series, Ports("other", "udp", "snat", "blocking")), 0);
  // The UDP flows did not land in a TCP series and vice versa.
  EXPECT_TRUE(std::isnan(Get(r.series, Ports("198.18.2.2:5353", "tcp", "snat", "blocking"))));
  EXPECT_TRUE(std::isnan(Get(r.series, Ports("backend", "udp", "snat", "blocking"))));

  // Record this table and replay the file: the same series. SOCKSTATE_CT_FIXTURE (a path)
  // keeps the recording (that is how tests/fixtures/dumps/nat-tcp-udp.ssct was made).
  const char* keep = std::getenv("SOCKSTATE_CT_FIXTURE");
  const std::string path = keep != nullptr ? keep : "/tmp/sstct-" + t.router().name() + ".ssct";
  ConntrackSourceOptions rec_opts;
  rec_opts.record_dump = path;
  ConntrackSource recorder(rec_opts);
  ReadResult recorded = ReadIn(t.router(), recorder, config);
  ASSERT_TRUE(recorded.status.ok()) << recorded.status.message();
  ConntrackSourceOptions replay_opts;
  replay_opts.replay_dump = path;
  ConntrackSource replayer(replay_opts);
  ReadResult replayed = ReadIn(t.router(), replayer, config);
  ASSERT_TRUE(replayed.status.ok()) << replayed.status.message();
  for (const auto& [key, value] : recorded.series) {
    if (key.rfind("sockstate_nat_", 0) != 0 && key.rfind("sockstate_conntrack_dump", 0) != 0) {
      continue;  // /proc counters are read live, not replayed
    }
    EXPECT_EQ(Get(replayed.series, key), value) << key;
  }
  EXPECT_EQ(Get(replayed.series, Ports("198.18.2.2:5353", "udp", "snat", "blocking")), 4);
  if (keep == nullptr) std::remove(path.c_str());
}

// A namespace with an empty table (a pod's: nothing loads conntrack there) is success and
// exports only the host-wide values (once per scrape, from the namespace that carries them):
// nf_conntrack_max, the hash size, the TIME_WAIT takeover assumption (docs/fleet.md).
TEST_F(ConntrackKernel, EmptyTableIsSuccessWithOnlyTheHostWideValues) {
  TestNetns ns("sstct-e");  // no NAT or ct rule: nothing is tracked
  Config config = DefaultConfig();
  ConntrackSource source;
  ReadResult r = ReadIn(ns, source, config);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_GT(Get(r.series, "sockstate_conntrack_entries_limit"), 0);
  EXPECT_GT(Get(r.series, "sockstate_conntrack_buckets"), 0);
  EXPECT_FALSE(std::isnan(Get(r.series, "sockstate_nat_time_wait_takeover")));
  EXPECT_EQ(r.series.size(), 3u);
}

// While nf_conntrack_count is 0 the dump (a walk of the host-wide conntrack hash) is skipped
// after a first one succeeded: the series stay those of an empty table, and the first read
// after entries appear dumps again and counts them exactly.
TEST_F(ConntrackKernel, EmptyTableSkipsTheDumpAndTheNextEntriesAreCountedExactly) {
  NatTopology t;
  const Config config = BackendConfig();
  ConntrackSource source;
  ReadResult first = ReadIn(t.router(), source, config);  // dumps: count 0, nothing tracked yet
  ASSERT_TRUE(first.status.ok()) << first.status.message();
  ReadResult skipped = ReadIn(t.router(), source, config);  // count 0 again: no dump
  ASSERT_TRUE(skipped.status.ok()) << skipped.status.message();
  ASSERT_TRUE(std::isnan(Get(first.series, "sockstate_conntrack_entries")))
      << "an empty table exports no series of its own";
  for (const auto& [key, value] : first.series) {
    if (key.rfind("sockstate_conntrack_entries", 0) == 0 || key.rfind("sockstate_nat_", 0) == 0 ||
        key.rfind("sockstate_conntrack_dump", 0) == 0) {
      EXPECT_EQ(Get(skipped.series, key), value) << key;
    }
  }
  EXPECT_EQ(skipped.series.size(), first.series.size());
  const int l8080 = t.server().Listen(kServer, 8080);
  for (int i = 0; i < 3; ++i) {
    ASSERT_GE(t.client().TryConnect(kServer, 8080), 0);
    t.server().Accept(l8080);
  }
  ReadResult r = ReadIn(t.router(), source, config);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(Get(r.series, "sockstate_conntrack_entries"), 3);
  EXPECT_EQ(Get(r.series, Key("sockstate_conntrack_dump_entries", {{"protocol", "tcp"}})), 3);
  EXPECT_EQ(Get(r.series, Ports("backend", "tcp", "snat", "blocking")), 3);
  EXPECT_DOUBLE_EQ(Get(r.series, PerDest("sockstate_nat_occupancy_ratio", "backend", "tcp")), 0.3);
}

TEST_F(ConntrackKernel, RefusedDumpFailsClearlyWhenOnIsQuietWhenAutoAndTheNextReadWorks) {
  NatTopology t;
  const Config config = BackendConfig();  // nat.enabled: on
  ConntrackSource source;
  const int listener = t.server().Listen(kServer, 8080);
  ASSERT_GE(t.client().TryConnect(kServer, 8080), 0);
  t.server().Accept(listener);
  ReadResult refused = ReadIn(t.router(), source, config, /*drop_net_admin=*/true);
  EXPECT_EQ(refused.status.message(),
            "conntrack dump: ctnetlink dump refused: Operation not permitted (needs CAP_NET_ADMIN "
            "in the namespace)");
  // nat.enabled: auto (the default): a refused dump is success with the table fill and no
  // per-destination series, and sockstate_conntrack_dump_permitted says why.
  Config auto_config = config;
  auto_config.nat.enabled = NatToggle::kAuto;
  ConntrackSource auto_source;
  ReadResult quiet = ReadIn(t.router(), auto_source, auto_config, /*drop_net_admin=*/true);
  ASSERT_TRUE(quiet.status.ok()) << quiet.status.message();
  EXPECT_EQ(Get(quiet.series, "sockstate_conntrack_dump_permitted"), 0);
  EXPECT_GE(Get(quiet.series, "sockstate_conntrack_entries"), 1);
  EXPECT_GT(Get(quiet.series, "sockstate_conntrack_entries_limit"), 0);
  for (const auto& [key, value] : quiet.series) {
    EXPECT_EQ(key.find("destination="), std::string::npos) << key;
    EXPECT_EQ(key.find("sockstate_conntrack_dump_entries"), std::string::npos) << key;
  }
  // The start-up check of nat.enabled: on says the same, without dumping.
  Status probe_refused, probe_ok;
  t.router().Run([&] {
    probe_ok = ProbeConntrack("/proc");
    DropNetAdmin();
    probe_refused = ProbeConntrack("/proc");
  });
  EXPECT_TRUE(probe_ok.ok()) << probe_ok.message();
  EXPECT_EQ(probe_refused.message(),
            "ctnetlink dump refused: Operation not permitted (needs CAP_NET_ADMIN in the "
            "namespace)");
  EXPECT_EQ(ProbeConntrack("/nonexistent").message(),
            "there is no /nonexistent/sys/net/netfilter/nf_conntrack_count (no conntrack in this "
            "kernel)");
  // A new instance (the refused one keeps its socket opened without the capability) reads fine.
  ConntrackSource again;
  ReadResult ok = ReadIn(t.router(), again, config);
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(Get(ok.series, Ports("backend", "tcp", "snat", "blocking")), 1);
  EXPECT_EQ(Get(ok.series, "sockstate_conntrack_dump_permitted"), 1);
}

}  // namespace
}  // namespace sockstate
