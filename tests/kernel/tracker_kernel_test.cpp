// Real-kernel tests of the state tracker (docs/architecture.md, "Counts kept from kernel
// events"): the counts kept from kernel events, aggregated exactly as the exporter does, must
// equal what a sock_diag dump of the same namespace gives, aggregated the same way, after a
// seed, after any churn (connects, closes from either end, RST, refused and no-port connects,
// tcp_tw_reuse takeovers, listeners coming and going, bound sockets) in several namespaces at
// once, when the tracker starts in the middle of that churn, after TIME_WAIT expiry, and a
// reconcile of a quiet namespace finds no drift.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aggregate/aggregator.h"
#include "aggregate/tracked.h"
#include "exporter_process.h"
#include "kernel/bpf_object.h"
#include "kernel/procfs.h"
#include "kernel/sock_diag.h"
#include "kernel/tracker_probe.h"
#include "kernel/workload.h"
#include "netns_fixture.h"
#include "requirements.h"
#include "sources/tracker_source.h"
#include "test_util.h"
#include "util/file_util.h"

namespace sockstate {
namespace {

using testing::Need;
using testing::TestNetns;
using Clock = std::chrono::steady_clock;

/// The tracker's programs loaded into this test process (as the exporter loads them).
struct Loaded {
  std::shared_ptr<BpfObject> object;
  std::unique_ptr<TrackerProbe> probe;
};

Result<Loaded> LoadTracker() {
  std::string mountinfo;
  if (ReadSmallFile("/proc/self/mountinfo", &mountinfo) != 0) {
    return Status::Error("cannot read /proc/self/mountinfo");
  }
  const std::string root = FindCgroup2Mount(mountinfo);
  BpfAttachOptions attach;
  attach.cgroup_fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  auto object = BpfObject::Load(TrackerPrograms(), TrackerMapSizes(TrackerConfig{}), attach);
  if (attach.cgroup_fd >= 0) close(attach.cgroup_fd);
  if (!object.ok()) return object.status();
  auto probe = TrackerProbe::Open(*object);
  if (!probe.ok()) return probe.status();
  Status st = (*probe)->Start();
  if (!st.ok()) return st;
  return Loaded{*object, std::move(*probe)};
}

/// Sets the sysctls a namespace's churn depends on, like a test host would.
void TuneNamespace(TestNetns& ns, const std::string& range) {
  if (!range.empty()) ns.SetSysctl("net.ipv4.ip_local_port_range", range);
  ns.SetSysctl("net.ipv4.tcp_tw_reuse", "1");
  // 6.14+: how long a TIME_WAIT socket waits before tcp_tw_reuse may take it over.
  if (testing::RunCommand({"ip", "netns", "exec", ns.name(), "test", "-e",
                           "/proc/sys/net/ipv4/tcp_tw_reuse_delay"})
          .exit_code == 0) {
    ns.SetSysctl("net.ipv4.tcp_tw_reuse_delay", "1");
  }
}

/// The namespace's port range and reserved ports, read inside it.
NetSysctls SysctlsOf(TestNetns& ns) {
  NetSysctls s;
  ns.Run([&] {
    auto r = ReadNetSysctls(ProcPaths::ForThreadNetns("/proc"));
    if (!r.ok()) throw std::runtime_error(r.status().message());
    s = *r;
  });
  return s;
}

uint64_t CookieOf(TestNetns& ns) {
  uint64_t cookie = 0;
  ns.Run([&] { cookie = TrackerProbe::ThisNamespaceCookie(); });
  return cookie;
}

/// What a dump of the namespace gives, aggregated as the exporter's dump path does.
AggregateResult DumpAggregate(TestNetns& ns, const Config& config) {
  const NetSysctls s = SysctlsOf(ns);
  AggregateResult out;
  ns.Run([&] {
    auto sock = SockDiagSocket::Open();
    if (!sock.ok()) throw std::runtime_error(sock.status().message());
    Aggregator a;
    a.Reset(config, &*s.port_range, s.reserved_ports ? &*s.reserved_ports : nullptr);
    Status st = (*sock)->DumpTcp(kAllStatesMask & ~(1u << kTcpBoundInactive), a);
    if (!st.ok()) throw std::runtime_error(st.message());
    BoundInactiveSink bi;
    st = (*sock)->DumpTcp(1u << kTcpBoundInactive, bi);
    if (!st.ok()) throw std::runtime_error(st.message());
    a.AddBoundInactive(bi.snapshot);
    a.Finish(&out);
  });
  return out;
}

/// What the tracker counts for the namespace, aggregated as the exporter's tracker path does.
/// Fails the test (returns nullopt) when the namespace is not tracked.
std::optional<AggregateResult> TrackerAggregate(TrackerProbe& probe, TestNetns& ns,
                                                const Config& config, TrackedNamespace* raw = nullptr) {
  const NetSysctls s = SysctlsOf(ns);
  TrackerSnapshot snap;
  Status st = probe.Read(&snap);
  if (!st.ok()) {
    ADD_FAILURE() << st.message();
    return std::nullopt;
  }
  const TrackedNamespace* t = snap.Find(CookieOf(ns));
  if (t == nullptr || t->cur == 0) {
    ADD_FAILURE() << "namespace " << ns.name() << " is not tracked";
    return std::nullopt;
  }
  if (raw != nullptr) *raw = *t;
  Aggregator a;
  a.Reset(config, &*s.port_range, s.reserved_ports ? &*s.reserved_ports : nullptr);
  AggregateTracked(*t, snap.jiffies, snap.hz, a);
  AggregateResult out;
  a.Finish(&out);
  return out;
}

std::string StatesText(const std::array<uint64_t, kNumStates>& st) {
  std::string s;
  for (int i = 0; i < kNumStates; ++i) {
    if (st[i]) s += std::string(TcpStateName(kExportedStates[i])) + "=" + std::to_string(st[i]) + " ";
  }
  return s.empty() ? "none" : s;
}

/// Every difference between two aggregations that the exporter would publish ("" if none).
/// The TIME_WAIT histograms are compared by their counts (the tracker's buckets come from a
/// one-second expiry ring, docs/architecture.md).
std::string Differences(const AggregateResult& tracked, const AggregateResult& dumped) {
  std::ostringstream d;
  for (int f = 0; f < 2; ++f) {
    for (int i = 0; i < kNumStates; ++i) {
      if (tracked.states[f][i] != dumped.states[f][i]) {
        d << "states[" << (f ? "ipv6" : "ipv4") << "][" << TcpStateName(kExportedStates[i])
          << "]: tracker " << tracked.states[f][i] << ", dump " << dumped.states[f][i] << "\n";
      }
    }
  }
  const PortBudget &a = tracked.budget, &b = dumped.budget;
  if (a.range != b.range || a.reserved != b.reserved || a.bind_held != b.bind_held ||
      a.usable != b.usable) {
    d << "budget: tracker bind_held " << a.bind_held << " usable " << a.usable << ", dump bind_held "
      << b.bind_held << " usable " << b.usable << "\n";
  }
  auto compare = [&](const char* what, const std::vector<DestinationStats>& x,
                     const std::vector<DestinationStats>& y, bool ports) {
    std::map<std::string, const DestinationStats*> mx, my;
    for (const auto& s : x) mx[s.label] = &s;
    for (const auto& s : y) my[s.label] = &s;
    for (const auto& [label, s] : mx) {
      auto it = my.find(label);
      const bool empty = s->Total() == 0 && s->ports_used == 0;
      if (it == my.end()) {
        if (!empty) d << what << " " << label << ": only the tracker has it: " << StatesText(s->sockets) << "\n";
        continue;
      }
      const DestinationStats& o = *it->second;
      if (s->sockets != o.sockets) {
        d << what << " " << label << ": tracker " << StatesText(s->sockets) << "| dump "
          << StatesText(o.sockets) << "\n";
      }
      if (ports && (s->ports_used != o.ports_used || s->ports_used_max != o.ports_used_max ||
                    s->tw_count != o.tw_count)) {
        d << what << " " << label << ": ports used " << s->ports_used << "/" << o.ports_used
          << ", max " << s->ports_used_max << "/" << o.ports_used_max << ", time_wait histogram "
          << s->tw_count << "/" << o.tw_count << "\n";
      }
    }
    for (const auto& [label, s] : my) {
      if (!mx.count(label) && (s->Total() != 0 || s->ports_used != 0)) {
        d << what << " " << label << ": only the dump has it: " << StatesText(s->sockets) << "\n";
      }
    }
  };
  compare("destination", tracked.destinations, dumped.destinations, true);
  compare("inbound", tracked.inbound, dumped.inbound, false);
  if (tracked.occupancy_buckets != dumped.occupancy_buckets) d << "tuple occupancy histogram differs\n";
  return d.str();
}

class TrackerKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SOCKSTATE_REQUIRE(testing::Missing({Need::kRoot, Need::kKernelBtf, Need::kCgroup2}));
    if (!loaded_) {
      auto l = LoadTracker();
      ASSERT_TRUE(l.ok()) << l.status().message();
      loaded_ = new Loaded(std::move(*l));
    }
  }
  TrackerProbe& probe() { return *loaded_->probe; }

  /// Seeds (or reconciles) the namespace from a thread inside it.
  SeedOutcome Seed(TestNetns& ns, TrackerProbe* p = nullptr) {
    Result<SeedOutcome> o = Status::Error("not run");
    ns.Run([&] { o = (p ? *p : probe()).SeedThisNamespace(); });
    if (!o.ok()) throw std::runtime_error(o.status().message());
    EXPECT_TRUE(o->exact) << "the walk of " << ns.name() << " was not exact";
    return *o;
  }

  /// The tracker's aggregation equals the dump's.
  void ExpectExact(TestNetns& ns, const std::string& when, TrackerProbe* p = nullptr) {
    const Config config = DefaultConfig();
    // A moment for the last packets of closes (FIN, ACK on loopback) to land.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::optional<AggregateResult> t = TrackerAggregate(p ? *p : probe(), ns, config);
    ASSERT_TRUE(t.has_value());
    const AggregateResult d = DumpAggregate(ns, config);
    EXPECT_EQ(Differences(*t, d), "") << when << " (" << ns.name() << ")";
    EXPECT_EQ(t->sockets, d.sockets) << when;
  }

  static Loaded* loaded_;
};

Loaded* TrackerKernelTest::loaded_ = nullptr;

/// Sockets of every kind the tracker follows, made in `ns` (listener port `port` and +1).
struct Population {
  int v4 = -1, v6 = -1, dual = -1;
};
Population Populate(TestNetns& ns, uint16_t port) {
  Population p;
  p.v4 = ns.Listen("127.0.0.1", port);
  p.v6 = ns.Listen("::1", port);
  p.dual = ns.Listen("::", uint16_t(port + 1), 4096, /*v6only=*/false);
  for (int i = 0; i < 6; ++i) ns.Connect(p.v4, "127.0.0.1", 0);
  for (int i = 0; i < 3; ++i) ns.Connect(p.v6, "::1", 0);
  for (int i = 0; i < 2; ++i) ns.Connect(p.dual, "::ffff:127.0.0.1", 0);  // IPv4-mapped
  ns.MakeTimeWait(p.v4, "127.0.0.1", 0, 7, /*client_closes_first=*/true);
  ns.MakeTimeWait(p.v4, "127.0.0.1", 0, 3, /*client_closes_first=*/false);
  ns.MakeTimeWait(p.v6, "::1", 0, 2, true);
  ns.MakeCloseWait(p.v4, "127.0.0.1", 0, 4);           // server: FIN_WAIT2 minisockets
  ns.MakeCloseWait(p.v6, "::1", 0, 2, /*keep=*/true);   // server: full FIN_WAIT2
  ns.Run([&] {  // bound-inactive sockets: one on an explicit port, one on a picked one
    for (uint16_t want : {uint16_t(port + 10), uint16_t(0)}) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(want);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) throw std::runtime_error("bind");
      // Leaked on purpose into the namespace's lifetime: closed when the test process ends.
      (void)fd;
    }
  });
  return p;
}

TEST_F(TrackerKernelTest, SeededNamespaceEqualsDumpThenFollowsEvents) {
  TestNetns ns("trk");
  TuneNamespace(ns, "");
  Populate(ns, 8080);
  const SeedOutcome o = Seed(ns);
  EXPECT_EQ(o.previous_gen, 0);
  EXPECT_GT(o.walked, 30u);
  ExpectExact(ns, "after the seed");
  // Events: more of everything, then closes from either end and RSTs.
  Population q = Populate(ns, 9080);
  ExpectExact(ns, "after events");
  std::vector<TestNetns::Pair> pairs;
  for (int i = 0; i < 5; ++i) pairs.push_back(ns.Connect(q.v4, "127.0.0.1", 0));
  for (int i = 0; i < 5; ++i) {
    if (i % 2) {
      const linger l{1, 0};  // RST
      setsockopt(pairs[i].client, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    ns.Close(i < 3 ? pairs[i].client : pairs[i].server);
  }
  ExpectExact(ns, "after closes and RSTs");
  // A listener comes and goes after its connections closed client first (no inbound socket
  // of its port is left: the dump's "local port is listening" and the tracker's "local port
  // has references" agree; ListenerClosedWithLiveConnections covers the other case).
  const int passing = ns.Listen("127.0.0.1", 7070);
  ns.MakeTimeWait(passing, "127.0.0.1", 0, 4, /*client_closes_first=*/true);
  ns.Close(passing);
  ExpectExact(ns, "after a listener came and went");
  // A reconcile of a quiet namespace finds no drift.
  const SeedOutcome r = Seed(ns);
  EXPECT_EQ(r.previous_gen, o.gen);
  EXPECT_EQ(r.drift, 0u) << (r.differences.empty() ? "" : r.differences.front());
  ExpectExact(ns, "after the reconcile");
}

}  // namespace
}  // namespace sockstate
