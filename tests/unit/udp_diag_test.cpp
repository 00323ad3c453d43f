// ParseUdpDiagBuffer on sock_diag UDP replies built in memory (what udp_diag.c and
// inet_diag_msg_attrs_fill() send), and the SSUDP001 record/replay format.

#include "kernel/udp_diag.h"

#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "alloc_count.h"
#include "diag_builder.h"
#include "kernel/sock_diag.h"
#include "test_util.h"

namespace sockstate {
namespace {

using testing::AppendDone;
using testing::AppendSock;
using testing::Bytes;
using testing::DiagAttr;
using testing::Sock;

constexpr uint8_t kUnconnected = 7, kConnected = 1;  // TCP_CLOSE, TCP_ESTABLISHED

/// The attributes a 6.18 kernel sends with every UDP socket (SHUTDOWN, CGROUP_ID, SOCKOPT),
/// plus SKV6ONLY when `v6only` >= 0.
Bytes KernelAttrs(int v6only = -1) {
  Bytes a = DiagAttr(INET_DIAG_SHUTDOWN, {0});
  if (v6only >= 0) {
    const Bytes v = DiagAttr(INET_DIAG_SKV6ONLY, {uint8_t(v6only)});
    a.insert(a.end(), v.begin(), v.end());
  }
  for (const Bytes& more :
       {DiagAttr(INET_DIAG_CGROUP_ID, Bytes(8, 1)), DiagAttr(INET_DIAG_SOCKOPT, {0x50, 0x00})}) {
    a.insert(a.end(), more.begin(), more.end());
  }
  return a;
}

class CollectingSink : public UdpRecordSink {
 public:
  void OnUdpSocket(const UdpSocketRecord& r) override { records.push_back(r); }
  std::vector<UdpSocketRecord> records;
};

struct Parsed : NetlinkParseResult {
  std::vector<UdpSocketRecord> records;
};

Parsed Parse(const Bytes& b) {
  CollectingSink sink;
  Parsed p;
  static_cast<NetlinkParseResult&>(p) = ParseUdpDiagBuffer(b.data(), b.size(), sink);
  p.records = std::move(sink.records);
  return p;
}

TEST(ParseUdpDiagBuffer, DecodesEveryKindOfUdpSocket) {
  Bytes b;
  // Unconnected IPv4 on the wildcard, bound to device 1; connected IPv4.
  AppendSock(&b,
             Sock{.state = kUnconnected,
                  .src = "0.0.0.0",
                  .sport = 40001,
                  .dst = "0.0.0.0",
                  .dport = 0,
                  .uid = 0,
                  .inode = 7,
                  .ifindex = 1},
             NLM_F_MULTI, KernelAttrs());
  AppendSock(
      &b,
      Sock{
          .state = kConnected, .src = "127.0.0.1", .sport = 40002, .dst = "127.0.0.1", .dport = 53},
      NLM_F_MULTI, KernelAttrs());
  // IPv6: dual-stack and v6-only wildcards (SKV6ONLY sent), a connected one (not sent).
  AppendSock(&b,
             Sock{.family = AF_INET6,
                  .state = kUnconnected,
                  .src = "::",
                  .sport = 40003,
                  .dst = "::",
                  .dport = 0},
             NLM_F_MULTI, KernelAttrs(0));
  AppendSock(&b,
             Sock{.family = AF_INET6,
                  .state = kUnconnected,
                  .src = "::",
                  .sport = 40004,
                  .dst = "::",
                  .dport = 0},
             NLM_F_MULTI, KernelAttrs(1));
  AppendSock(&b,
             Sock{.family = AF_INET6,
                  .state = kConnected,
                  .src = "::1",
                  .sport = 40005,
                  .dst = "::1",
                  .dport = 5353},
             NLM_F_MULTI, KernelAttrs());
  // An AF_INET6 socket connected to an IPv4-mapped address, one bound to a mapped address.
  AppendSock(&b,
             Sock{.family = AF_INET6,
                  .state = kConnected,
                  .src = "::ffff:127.0.0.1",
                  .sport = 40006,
                  .dst = "::ffff:10.0.0.53",
                  .dport = 53},
             NLM_F_MULTI, KernelAttrs());
  AppendSock(&b,
             Sock{.family = AF_INET6,
                  .state = kUnconnected,
                  .src = "::ffff:127.0.0.1",
                  .sport = 40007,
                  .dst = "::",
                  .dport = 0},
             NLM_F_MULTI, KernelAttrs(0));
  AppendDone(&b);
  Parsed p = Parse(b);
  ASSERT_EQ(p.state, NetlinkParseState::kDone) << p.error;
  EXPECT_EQ(p.messages, 7u);
  ASSERT_EQ(p.records.size(), 7u);
  const auto& r = p.records;
  EXPECT_EQ(r[0].family, Family::kIpv4);
  EXPECT_FALSE(r[0].connected);
  EXPECT_EQ(r[0].src_addr, testing::Addr("0.0.0.0"));
  EXPECT_EQ(r[0].src_port, 40001);
  EXPECT_EQ(r[0].dst_port, 0);
  EXPECT_EQ(r[0].ifindex, 1u);
  EXPECT_EQ(r[0].inode, 7u);
  EXPECT_EQ(r[0].v6only, V6Only::kNotApplicable);
  EXPECT_TRUE(r[1].connected);
  EXPECT_EQ(r[1].src_addr, testing::Addr("127.0.0.1"));
  EXPECT_EQ(r[1].dst_addr, testing::Addr("127.0.0.1"));
  EXPECT_EQ(r[1].dst_port, 53);
  EXPECT_EQ(r[2].family, Family::kIpv6);
  EXPECT_EQ(r[2].v6only, V6Only::kNo);
  EXPECT_EQ(r[3].v6only, V6Only::kYes);
  EXPECT_EQ(r[4].v6only, V6Only::kUnknown);
  EXPECT_EQ(r[4].src_addr, testing::Addr("::1"));
  EXPECT_EQ(r[4].dst_port, 5353);
  EXPECT_EQ(r[5].family, Family::kIpv4);
  EXPECT_EQ(r[5].src_addr, testing::Addr("127.0.0.1"));
  EXPECT_EQ(r[5].dst_addr, testing::Addr("10.0.0.53"));
  EXPECT_EQ(r[5].v6only, V6Only::kNotApplicable);
  EXPECT_EQ(r[6].family, Family::kIpv4);
  EXPECT_EQ(r[6].src_addr, testing::Addr("127.0.0.1"));
  EXPECT_EQ(r[6].dst_addr, testing::Addr("0.0.0.0"));
}

TEST(ParseUdpDiagBuffer, MalformedAttributesAreErrorsWithTheOffset) {
  struct Case {
    Bytes attrs;
    std::string error;
  };
  const std::vector<Case> cases = {
      {DiagAttr(INET_DIAG_SHUTDOWN, {0}, 2),
       "inet_diag message at offset 0: attribute at byte 72 has length 2"},
      {DiagAttr(INET_DIAG_SHUTDOWN, {0}, 200),
       "inet_diag message at offset 0: attribute at byte 72 has length 200"},
      {DiagAttr(INET_DIAG_SKV6ONLY, {}),
       "inet_diag message at offset 0: INET_DIAG_SKV6ONLY without a value"},
  };
  for (const Case& c : cases) {
    Bytes b;
    AppendSock(&b, Sock{.family = AF_INET6, .state = kUnconnected, .src = "::", .dst = "::"},
               NLM_F_MULTI, c.attrs);
    AppendDone(&b);
    Parsed p = Parse(b);
    EXPECT_EQ(p.state, NetlinkParseState::kError);
    EXPECT_EQ(p.error, c.error);
    EXPECT_TRUE(p.records.empty());
  }
  // Trailing bytes too short for an attribute header, and unknown attributes, are ignored.
  Bytes b;
  Bytes odd = DiagAttr(200, {1, 2, 3, 4});
  AppendSock(&b, Sock{.state = kUnconnected}, NLM_F_MULTI, odd);
  AppendDone(&b);
  EXPECT_EQ(Parse(b).records.size(), 1u);
}

TEST(ParseUdpDiagBuffer, UnknownFamilyAndShortMessageAreErrors) {
  Bytes b;
  AppendSock(&b, Sock{.state = kUnconnected});
  b[16] = 7;  // idiag_family
  EXPECT_EQ(Parse(b).error, "inet_diag message at offset 0 has unknown family 7");
  Bytes s;
  testing::AppendMsg(&s, SOCK_DIAG_BY_FAMILY, Bytes(20).data(), 20);
  EXPECT_EQ(Parse(s).error, "inet_diag message at offset 0 too short: nlmsg_len 36 < 88");
}

// Counts without allocating, so any heap use measured is the parser's own.
class TallySink : public UdpRecordSink {
 public:
  void OnUdpSocket(const UdpSocketRecord& r) override { ++n[r.connected]; }
  uint64_t n[2] = {};
};

TEST(ParseUdpDiagBuffer, DoesNotAllocatePerSocket) {
  Bytes b;
  for (int i = 0; i < 300; ++i) {
    AppendSock(&b,
               Sock{.family = uint8_t(i % 2 ? AF_INET6 : AF_INET),
                    .state = uint8_t(i % 3 ? kConnected : kUnconnected),
                    .src = i % 2 ? "::1" : "127.0.0.1",
                    .dst = i % 2 ? "::1" : "127.0.0.9"},
               NLM_F_MULTI, KernelAttrs(i % 2 ? 0 : -1));
  }
  AppendDone(&b);
  TallySink sink;
  if (!testing::NewCountWorks()) GTEST_SKIP() << "operator new is replaced elsewhere";
  const uint64_t before = testing::NewCount();
  const NetlinkParseResult r = ParseUdpDiagBuffer(b.data(), b.size(), sink);
  EXPECT_EQ(testing::NewCount() - before, 0u);
  EXPECT_EQ(r.state, NetlinkParseState::kDone);
  EXPECT_EQ(sink.n[0] + sink.n[1], 300u);
}

TEST(ReplayUdp, RoundTripsARecordedDumpAndRefusesATcpOne) {
  const std::string path =
      ::testing::TempDir() + "/udp_diag_test-" + std::to_string(getpid()) + ".ssudp";
  {
    auto rec = DumpRecorder::OpenUdp(path);
    ASSERT_TRUE(rec.ok()) << rec.status().message();
    Bytes v4, v6;
    AppendSock(&v4, Sock{.state = kConnected, .dport = 53}, NLM_F_MULTI, KernelAttrs());
    AppendDone(&v4);
    AppendSock(&v6, Sock{.family = AF_INET6, .state = kUnconnected, .src = "::", .dst = "::"},
               NLM_F_MULTI, KernelAttrs(1));
    AppendDone(&v6);
    ASSERT_TRUE((*rec)->Write(AF_INET, v4.data(), v4.size()).ok());
    ASSERT_TRUE((*rec)->Write(AF_INET6, v6.data(), v6.size()).ok());
  }
  EXPECT_EQ(testing::ReadFile(path).substr(0, 8), "SSUDP001");
  CollectingSink sink;
  Status s = ReplayUdpDumpFile(path, sink);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_TRUE(sink.records[0].connected);
  EXPECT_EQ(sink.records[1].v6only, V6Only::kYes);
  // A TCP recording is not a UDP one, and the other way round.
  class Ignore : public RecordSink {
    void OnSocket(const SocketRecord&) override {}
  } tcp_sink;
  EXPECT_EQ(ReplayDumpFile(path, tcp_sink).message(),
            "replay " + path + ": bad magic at offset 0 (not an SSDIAG01 dump)");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sockstate
