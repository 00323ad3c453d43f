// Real-kernel tests of SockDiagSocket (root): exact socket populations built in a throwaway
// network namespace, dumped through NETLINK_SOCK_DIAG and compared with the construction, with
// ss, and with a record/replay round trip.
//
// With SOCKSTATE_RECORD_FIXTURES=<dir> set, the dumps are also written to <dir> as the
// committed fixtures (mixed.ssdiag, mixed-truncated.ssdiag, timewait.ssdiag) that the unit
// tests replay. See tests/fixtures/dumps/README.md.

#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "alloc_count.h"
#include "kernel/sock_diag.h"
#include "kernel/socket_record.h"
#include "netns_fixture.h"
#include "requirements.h"

using sockstate::testing::NewCount;
using sockstate::testing::NewCountWorks;

namespace sockstate {
namespace {

using testing::Count;
using testing::StateCounts;
using testing::TestNetns;
using FamilyCounts = std::map<std::string, StateCounts>;  // "ipv4"/"ipv6" -> state -> n

// Counts records per family and state; no allocation in OnSocket.
class CountingSink : public RecordSink {
 public:
  void OnSocket(const SocketRecord& r) override {
    ++counts_[static_cast<int>(r.family)][r.state & 15];
    ++total_;
  }
  FamilyCounts ByName() const {
    FamilyCounts out{{"ipv4", {}}, {"ipv6", {}}};
    for (int f = 0; f < 2; ++f) {
      for (int s = 0; s < 16; ++s) {
        if (counts_[f][s] == 0) continue;
        std::string name(TcpStateName(static_cast<uint8_t>(s)));
        out[f == 0 ? "ipv4" : "ipv6"][name.empty() ? "state_" + std::to_string(s) : name] =
            static_cast<int>(counts_[f][s]);
      }
    }
    return out;
  }
  uint64_t total() const { return total_; }

 private:
  uint64_t counts_[2][16] = {};
  uint64_t total_ = 0;
};

// Keeps every record (test code: allocation is fine here).
class CollectingSink : public RecordSink {
 public:
  void OnSocket(const SocketRecord& r) override { records.push_back(r); }
  std::vector<SocketRecord> records;
};

std::unique_ptr<SockDiagSocket> OpenIn(TestNetns& ns) {
  std::unique_ptr<SockDiagSocket> sock;
  std::string error;
  ns.Run([&] {
    auto r = SockDiagSocket::Open();
    if (r.ok()) {
      sock = std::move(r.value());
    } else {
      error = r.status().message();
    }
  });
  EXPECT_TRUE(sock != nullptr) << error;
  return sock;
}

FamilyCounts Dump(SockDiagSocket& sock, uint32_t mask, DumpStats* stats = nullptr,
                  DumpRecorder* recorder = nullptr) {
  CountingSink sink;
  Status s = sock.DumpTcp(mask, sink, recorder, stats);
  EXPECT_TRUE(s.ok()) << s.message();
  return sink.ByName();
}

FamilyCounts Replay(const std::string& path) {
  CountingSink sink;
  Status s = ReplayDumpFile(path, sink);
  EXPECT_TRUE(s.ok()) << s.message();
  return sink.ByName();
}

// Where to write a dump: the fixture directory when recording, else a temp file.
std::string DumpPath(const std::string& file) {
  const char* dir = std::getenv("SOCKSTATE_RECORD_FIXTURES");
  if (dir != nullptr && *dir != '\0') {
    std::filesystem::create_directories(dir);
    return std::string(dir) + "/" + file;
  }
  return ::testing::TempDir() + "/kernel-" + std::to_string(getpid()) + "-" + file;
}

bool Recording() {
  const char* dir = std::getenv("SOCKSTATE_RECORD_FIXTURES");
  return dir != nullptr && *dir != '\0';
}

// The mixed population:
//   7 LISTEN: 127.0.0.1 x2, 127.0.0.2, 127.0.0.3 (IPv4); ::1 x2, "::" dual-stack (IPv6)
//   40 ESTABLISHED pairs: 16 IPv4, 12 IPv6, 12 IPv4-mapped (IPv6 client to ::ffff:127.0.0.1
//      on the dual-stack listener; both ends are normalised to IPv4)
//   25 TIME_WAIT (client side): 15 IPv4, 10 IPv6
//   3 CLOSE_WAIT (client) / FIN_WAIT2 (server, orphaned) pairs, IPv4 127.0.0.2
struct MixedPopulation {
  static constexpr int kV4Est = 16, kV6Est = 12, kMappedEst = 12;
  int dual_listener = -1;
  uint16_t dual_port = 0;

  explicit MixedPopulation(TestNetns& ns) {
    int l4_est = ns.Listen("127.0.0.1", 0);
    int l4_tw = ns.Listen("127.0.0.1", 0);
    int l4_cw = ns.Listen("127.0.0.2", 0);
    ns.Listen("127.0.0.3", 0);
    int l6_est = ns.Listen("::1", 0);
    int l6_tw = ns.Listen("::1", 0);
    dual_listener = ns.Listen("::", 0, 4096, /*v6only=*/false);
    dual_port = ns.LocalPort(dual_listener);
    for (int i = 0; i < kV4Est; ++i) ns.Connect(l4_est, "127.0.0.1", 0);
    for (int i = 0; i < kV6Est; ++i) ns.Connect(l6_est, "::1", 0);
    for (int i = 0; i < kMappedEst; ++i) ns.Connect(dual_listener, "::ffff:127.0.0.1", 0);
    ns.MakeTimeWait(l4_tw, "127.0.0.1", ns.LocalPort(l4_tw), 15);
    ns.MakeTimeWait(l6_tw, "::1", ns.LocalPort(l6_tw), 10);
    ns.MakeCloseWait(l4_cw, "127.0.0.2", ns.LocalPort(l4_cw), 3);
  }

  // What the exporter must see (mapped sockets counted as IPv4).
  static FamilyCounts Expected() {
    return {{"ipv4",
             {{"listen", 4},
              {"established", 2 * (kV4Est + kMappedEst)},
              {"time_wait", 15},
              {"close_wait", 3},
              {"fin_wait2", 3}}},
            {"ipv6", {{"listen", 3}, {"established", 2 * kV6Est}, {"time_wait", 10}}}};
  }
  // What `ss -4` / `ss -6` see: ss keeps IPv4-mapped sockets under IPv6.
  static FamilyCounts ExpectedSs() {
    FamilyCounts e = Expected();
    e["ipv4"]["established"] -= 2 * kMappedEst;
    e["ipv6"]["established"] += 2 * kMappedEst;
    return e;
  }
};

StateCounts Total(const FamilyCounts& fc) {
  StateCounts out;
  for (const auto& [family, counts] : fc) {
    for (const auto& [state, n] : counts) out[state] += n;
  }
  return out;
}

class SockDiagKernel : public testing::RootTest {};    // root: network namespaces
class TestNetnsFixture : public testing::RootTest {};  // root: network namespaces

TEST_F(SockDiagKernel, MixedPopulationExactCountsMatchConstructionAndSs) {
  TestNetns ns("sstdiag");
  MixedPopulation pop(ns);
  auto sock = OpenIn(ns);
  ASSERT_TRUE(sock);

  // Dumped from the main thread, which is still in the host namespace: the socket keeps the
  // namespace of the thread that opened it.
  DumpStats stats;
  EXPECT_EQ(Dump(*sock, kAllStatesMask, &stats), MixedPopulation::Expected());
  EXPECT_EQ(stats.messages, 118u);
  EXPECT_GE(stats.buffers, 2u);  // at least one per family
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_GT(stats.bytes, 118u * (16 + sizeof(inet_diag_msg)));

  EXPECT_EQ(ns.SsCounts(), Total(MixedPopulation::Expected()));
  EXPECT_EQ(ns.SsCountsByFamily(), MixedPopulation::ExpectedSs());
  EXPECT_EQ(ns.ProcCounts(), Total(MixedPopulation::Expected()));

  // The socket is reusable: a second dump, from yet another thread, gives the same counts.
  FamilyCounts from_thread;
  std::thread t([&] { from_thread = Dump(*sock, kAllStatesMask); });
  t.join();
  EXPECT_EQ(from_thread, MixedPopulation::Expected());
}

TEST_F(SockDiagKernel, RecordedDumpReplaysToIdenticalCounts) {
  TestNetns ns("sstdiag");
  MixedPopulation pop(ns);
  auto sock = OpenIn(ns);
  ASSERT_TRUE(sock);
  const std::string path = DumpPath("mixed.ssdiag");
  DumpStats stats;
  FamilyCounts live;
  {
    auto rec = DumpRecorder::Open(path);
    ASSERT_TRUE(rec.ok()) << rec.status().message();
    live = Dump(*sock, kAllStatesMask, &stats, rec.value().get());
  }
  EXPECT_EQ(live, MixedPopulation::Expected());
  EXPECT_EQ(Replay(path), live);
  // File = magic + one 5-byte header per buffer + the bytes received.
  EXPECT_EQ(std::filesystem::file_size(path), 8 + 5 * stats.buffers + stats.bytes);
  if (Recording()) {  // a copy cut 7 bytes short: ends in the middle of the last record
    const std::string cut = DumpPath("mixed-truncated.ssdiag");
    std::filesystem::copy_file(path, cut, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, std::filesystem::file_size(path) - 7);
  } else {
    std::filesystem::remove(path);
  }
}

TEST_F(SockDiagKernel, IpV4MappedSocketsAreNormalisedToIpv4) {
  TestNetns ns("sstdiag");
  MixedPopulation pop(ns);
  auto sock = OpenIn(ns);
  ASSERT_TRUE(sock);
  CollectingSink sink;
  ASSERT_TRUE(sock->DumpTcp(1u << kTcpEstablished, sink).ok());
  const std::array<uint8_t, 16> loopback4 = {127, 0, 0, 1};
  int clients = 0, servers = 0;
  for (const SocketRecord& r : sink.records) {
    if (r.dst_port == pop.dual_port) ++clients;
    if (r.src_port == pop.dual_port) ++servers;
    if (r.dst_port != pop.dual_port && r.src_port != pop.dual_port) continue;
    EXPECT_EQ(r.family, Family::kIpv4);
    EXPECT_EQ(r.src_addr, loopback4);
    EXPECT_EQ(r.dst_addr, loopback4);
    EXPECT_EQ(r.state, kTcpEstablished);
    EXPECT_NE(r.inode, 0u);
    EXPECT_EQ(r.uid, getuid());
  }
  EXPECT_EQ(clients, MixedPopulation::kMappedEst);
  EXPECT_EQ(servers, MixedPopulation::kMappedEst);
}

TEST_F(SockDiagKernel, StateMaskFilters) {
  TestNetns ns("sstdiag");
  MixedPopulation pop(ns);
  auto sock = OpenIn(ns);
  ASSERT_TRUE(sock);
  EXPECT_EQ(Dump(*sock, 1u << kTcpTimeWait),
            (FamilyCounts{{"ipv4", {{"time_wait", 15}}}, {"ipv6", {{"time_wait", 10}}}}));
  EXPECT_EQ(Dump(*sock, 1u << kTcpListen),
            (FamilyCounts{{"ipv4", {{"listen", 4}}}, {"ipv6", {{"listen", 3}}}}));
  EXPECT_EQ(Dump(*sock, (1u << kTcpCloseWait) | (1u << kTcpFinWait2)),
            (FamilyCounts{{"ipv4", {{"close_wait", 3}, {"fin_wait2", 3}}}, {"ipv6", {}}}));
  EXPECT_EQ(Dump(*sock, 0), (FamilyCounts{{"ipv4", {}}, {"ipv6", {}}}));
}

TEST_F(SockDiagKernel, DumpSeesOnlyTheOpenersNamespace) {
  TestNetns a("sstdiag"), b("sstdiag");
  a.Listen("127.0.0.1", 0);
  b.Listen("::1", 0);
  b.Listen("::1", 0);
  auto sa = OpenIn(a);
  auto sb = OpenIn(b);
  ASSERT_TRUE(sa && sb);
  EXPECT_EQ(Dump(*sa, kAllStatesMask), (FamilyCounts{{"ipv4", {{"listen", 1}}}, {"ipv6", {}}}));
  EXPECT_EQ(Dump(*sb, kAllStatesMask), (FamilyCounts{{"ipv4", {}}, {"ipv6", {{"listen", 2}}}}));
}

// 400 IPv4 + 20 IPv6 TIME_WAIT: the IPv4 dump spans more than one ~32 KiB buffer.
TEST_F(SockDiagKernel, TimeWaitDumpSpanningSeveralBuffers) {
  TestNetns ns("sstdiag");
  int l4 = ns.Listen("127.0.0.1", 0);
  int l6 = ns.Listen("::1", 0);
  ns.MakeTimeWait(l4, "127.0.0.1", ns.LocalPort(l4), 400);
  ns.MakeTimeWait(l6, "::1", ns.LocalPort(l6), 20);
  auto sock = OpenIn(ns);
  ASSERT_TRUE(sock);
  const FamilyCounts expected = {{"ipv4", {{"time_wait", 400}}}, {"ipv6", {{"time_wait", 20}}}};
  const std::string path = DumpPath("timewait.ssdiag");
  DumpStats stats;
  {
    auto rec = DumpRecorder::Open(path);
    ASSERT_TRUE(rec.ok()) << rec.status().message();
    EXPECT_EQ(Dump(*sock, 1u << kTcpTimeWait, &stats, rec.value().get()), expected);
  }
  EXPECT_EQ(stats.messages, 420u);
  EXPECT_GE(stats.buffers, 3u);  // >= 2 for IPv4, >= 1 for IPv6
  EXPECT_EQ(Replay(path), expected);
  if (!Recording()) std::filesystem::remove(path);

  CollectingSink sink;
  ASSERT_TRUE(sock->DumpTcp(1u << kTcpTimeWait, sink).ok());
  ASSERT_EQ(sink.records.size(), 420u);
  for (const SocketRecord& r : sink.records) {
    EXPECT_EQ(r.state, kTcpTimeWait);
    EXPECT_EQ(r.timer, 3);  // TIME_WAIT minisocket timer
    EXPECT_GT(r.expires_ms, 0u);
    EXPECT_LE(r.expires_ms, 60000u);
    EXPECT_EQ(r.uid, 0u);
    EXPECT_EQ(r.inode, 0u);
    EXPECT_TRUE(r.dst_port == ns.LocalPort(l4) || r.dst_port == ns.LocalPort(l6));
  }
}

TEST_F(SockDiagKernel, SocketIsReusableAcrossManyDumps) {
  TestNetns ns("sstdiag");
  int l = ns.Listen("127.0.0.1", 0);
  for (int i = 0; i < 5; ++i) ns.Connect(l, "127.0.0.1", 0);
  auto sock = OpenIn(ns);
  ASSERT_TRUE(sock);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(Dump(*sock, kAllStatesMask),
              (FamilyCounts{{"ipv4", {{"listen", 1}, {"established", 10}}}, {"ipv6", {}}}))
        << "dump " << i;
  }
  // The stats count every message.
  DumpStats stats;
  Dump(*sock, kAllStatesMask, &stats);
  EXPECT_EQ(stats.messages, 11u);
}

TEST_F(SockDiagKernel, DumpAllocatesNothingOnceWarm) {
  if (!NewCountWorks()) {
    GTEST_SKIP() << "the counting operator new is not the one in use in this binary (another "
                    "replacement, e.g. a sanitizer, wins): allocations cannot be counted";
  }
  TestNetns ns("sstdiag");
  int l = ns.Listen("127.0.0.1", 0);
  for (int i = 0; i < 5; ++i) ns.Connect(l, "127.0.0.1", 0);
  auto sock = OpenIn(ns);
  ASSERT_TRUE(sock);
  // The dump path allocates nothing once warmed up (a counting sink does not either), with or
  // without a restart callback capturing one pointer (what the sock_diag source passes).
  CountingSink tally;
  ASSERT_TRUE(sock->DumpTcp(kAllStatesMask, tally).ok());
  int restarts = 0;
  int* restarts_ptr = &restarts;
  const uint64_t before = NewCount();
  Status s = sock->DumpTcp(kAllStatesMask, tally);
  Status s2 =
      sock->DumpTcp(kAllStatesMask, tally, nullptr, nullptr, [restarts_ptr] { ++*restarts_ptr; });
  const uint64_t after = NewCount();
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(s2.ok()) << s2.message();
  EXPECT_EQ(after - before, 0u) << "operator new calls during two dumps of 11 sockets";
  EXPECT_EQ(tally.total(), 33u);
  EXPECT_EQ(restarts, 0);
}

// ---- The TestNetns fixture itself (other kernel tests build on it) ---------------------------

TEST_F(TestNetnsFixture, CreatesAndDeletesTheNamespace) {
  std::string path;
  {
    TestNetns ns("sstfix");
    path = ns.path();
    EXPECT_EQ(path, "/var/run/netns/" + ns.name());
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(ns.name().rfind("sstfix-" + std::to_string(getpid()) + "-", 0), 0u);
    EXPECT_TRUE(ns.SsCounts().empty());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(TestNetnsFixture, BadNameThrowsWithCommandOutput) {
  try {
    TestNetns ns("bad/name");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("ip netns add bad/name-"), std::string::npos) << e.what();
  }
}

TEST_F(TestNetnsFixture, SysctlsArePerNamespace) {
  TestNetns a("sstfix"), b("sstfix");
  a.SetSysctl("net.ipv4.ip_local_port_range", "40000 40009");
  EXPECT_EQ(a.GetSysctl("net.ipv4.ip_local_port_range"), "40000\t40009");
  EXPECT_EQ(b.GetSysctl("net.ipv4.ip_local_port_range"), "32768\t60999");  // kernel default
  EXPECT_THROW(a.SetSysctl("net.ipv4.no_such_knob", "1"), std::runtime_error);
  EXPECT_THROW(a.GetSysctl("../etc/passwd"), std::invalid_argument);
}

TEST_F(TestNetnsFixture, RunExecutesInsideAndRethrows) {
  TestNetns ns("sstfix");
  ns.Listen("127.0.0.1", 0);
  int listeners_seen = -1;
  ns.Run([&] {
    std::ifstream in("/proc/thread-self/net/tcp");
    std::string line;
    listeners_seen = -1;  // header
    while (std::getline(in, line)) ++listeners_seen;
  });
  EXPECT_EQ(listeners_seen, 1);
  EXPECT_THROW(ns.Run([] { throw std::runtime_error("boom"); }), std::runtime_error);
}

TEST_F(TestNetnsFixture, TryConnectReportsEaddrnotavailWhenThePortRangeIsExhausted) {
  TestNetns ns("sstfix");
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40003");
  int l = ns.Listen("127.0.0.1", 5000);
  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) {
    int fd = ns.TryConnect("127.0.0.1", 5000);
    ASSERT_GE(fd, 0) << "connect " << i << ": " << std::strerror(-fd);
    clients.push_back(fd);
  }
  EXPECT_EQ(ns.TryConnect("127.0.0.1", 5000), -EADDRNOTAVAIL);
  // The limit is per destination: another source address still has all 4 ports.
  int other = ns.TryConnect("127.0.0.1", 5000, "127.0.0.2");
  EXPECT_GE(other, 0);
  EXPECT_EQ(ns.TryConnect("127.0.0.9", 5000), -ECONNREFUSED);
  // The pending connections can be accepted afterwards.
  for (int i = 0; i < 5; ++i) EXPECT_GE(ns.Accept(l), 0);
  EXPECT_EQ(Count(ns.SsCounts(), "established"), 10);
}

TEST_F(TestNetnsFixture, ConnectBindsTheSourceAddressAndPairsTheRightPeer) {
  TestNetns ns("sstfix");
  int l = ns.Listen("127.0.0.1", 0);
  int stray = ns.TryConnect("127.0.0.1", ns.LocalPort(l));  // queued before ours
  ASSERT_GE(stray, 0);
  auto p = ns.Connect(l, "127.0.0.1", 0, "127.0.0.5");
  sockaddr_in local{}, peer{};
  socklen_t len = sizeof(local);
  ASSERT_EQ(getsockname(p.client, reinterpret_cast<sockaddr*>(&local), &len), 0);
  len = sizeof(peer);
  ASSERT_EQ(getpeername(p.server, reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(ntohl(local.sin_addr.s_addr), 0x7f000005u);
  EXPECT_EQ(peer.sin_addr.s_addr, local.sin_addr.s_addr);
  EXPECT_EQ(peer.sin_port, local.sin_port);
  EXPECT_GE(ns.Accept(l), 0);  // the stray one was kept for Accept()
  ns.Close(p.client);
  EXPECT_THROW(ns.Close(p.client), std::logic_error);
}

TEST_F(TestNetnsFixture, TimeWaitOnEitherSideAndCloseWaitVariants) {
  TestNetns ns("sstfix");
  int l = ns.Listen("::1", 0);
  const uint16_t port = ns.LocalPort(l);
  ns.MakeTimeWait(l, "::1", port, 3, /*client_closes_first=*/false);
  auto sock = OpenIn(ns);
  ASSERT_TRUE(sock);
  CollectingSink tw;
  ASSERT_TRUE(sock->DumpTcp(1u << kTcpTimeWait, tw).ok());
  ASSERT_EQ(tw.records.size(), 3u);
  for (const auto& r : tw.records) EXPECT_EQ(r.src_port, port);  // server side holds them

  auto orphaned = ns.MakeCloseWait(l, "::1", port, 2);
  auto kept = ns.MakeCloseWait(l, "::1", port, 1, /*server_keeps_fd=*/true);
  ASSERT_EQ(orphaned.size(), 2u);
  EXPECT_EQ(orphaned[0].server, -1);
  EXPECT_GE(kept[0].server, 0);
  CollectingSink fw2;
  ASSERT_TRUE(sock->DumpTcp(1u << kTcpFinWait2, fw2).ok());
  ASSERT_EQ(fw2.records.size(), 3u);
  int minisockets = 0;
  for (const auto& r : fw2.records) minisockets += r.inode == 0 ? 1 : 0;
  EXPECT_EQ(minisockets, 2);  // orphaned FIN_WAIT2 are timewait minisockets without inode
  EXPECT_EQ(ns.SsCounts(),
            (StateCounts{{"listen", 1}, {"time_wait", 3}, {"close_wait", 3}, {"fin_wait2", 3}}));
  // Closing the CLOSE_WAIT side of a kept pair ends it: LAST_ACK -> closed, and the server
  // (which already sent its FIN) goes to TIME_WAIT.
  ns.Close(kept[0].client);
  ns.Close(kept[0].server);
}

}  // namespace
}  // namespace sockstate
