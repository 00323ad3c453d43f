// ParseDiagBuffer on netlink messages built in memory, and the SSDIAG01 record/replay format
// (in-memory recordings and the committed real-kernel fixtures in tests/fixtures/dumps).

#include "kernel/sock_diag.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "alloc_count.h"
#include "diag_builder.h"
#include "kernel/socket_record.h"

using sockstate::testing::NewCount;
using sockstate::testing::NewCountWorks;

namespace sockstate {
namespace {

using testing::Bytes;

// ---- Builders --------------------------------------------------------------------------------

using testing::AppendDone;
using testing::AppendError;
using testing::AppendMsg;
using testing::AppendSock;
using testing::MakeDiag;
using testing::Sock;

std::array<uint8_t, 16> Addr(const char* text) {
  std::array<uint8_t, 16> a{};
  if (inet_pton(AF_INET, text, a.data()) != 1) {
    EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
  }
  return a;
}

// ---- Sinks -----------------------------------------------------------------------------------

class CollectingSink : public RecordSink {
 public:
  void OnSocket(const SocketRecord& r) override { records.push_back(r); }
  std::vector<SocketRecord> records;
};

using FamilyCounts = std::map<std::string, std::map<std::string, int>>;

class CountingSink : public RecordSink {
 public:
  void OnSocket(const SocketRecord& r) override {
    std::string name(TcpStateName(r.state));
    ++counts[r.family == Family::kIpv4 ? "ipv4" : "ipv6"]
            [name.empty() ? "state_" + std::to_string(r.state) : name];
  }
  FamilyCounts counts;
};

struct Parsed : NetlinkParseResult {
  std::vector<SocketRecord> records;
};

Parsed Parse(const Bytes& b, const DiagReplyFilter* expect = nullptr) {
  CollectingSink sink;
  Parsed p;
  static_cast<NetlinkParseResult&>(p) = ParseDiagBuffer(b.data(), b.size(), sink, expect);
  p.records = sink.records;
  return p;
}

// ---- Decoding --------------------------------------------------------------------------------

TEST(ParseDiagBuffer, DecodesEveryFieldOfAnIpv4Socket) {
  Bytes b;
  AppendSock(&b, Sock{.state = kTcpTimeWait,
                      .sport = 0x1234,
                      .dport = 443,
                      .timer = 3,
                      .expires = 59876,
                      .uid = 1001,
                      .inode = 987654});
  Parsed p = Parse(b);
  ASSERT_EQ(p.state, NetlinkParseState::kMore) << p.error;
  ASSERT_EQ(p.records.size(), 1u);
  const SocketRecord& r = p.records[0];
  EXPECT_EQ(r.family, Family::kIpv4);
  EXPECT_EQ(r.state, kTcpTimeWait);
  EXPECT_EQ(r.timer, 3);
  EXPECT_EQ(r.src_port, 0x1234);  // host order
  EXPECT_EQ(r.dst_port, 443);
  EXPECT_EQ(r.src_addr, (std::array<uint8_t, 16>{10, 1, 2, 3}));
  EXPECT_EQ(r.dst_addr, (std::array<uint8_t, 16>{192, 168, 7, 9}));
  EXPECT_EQ(r.expires_ms, 59876u);
  EXPECT_EQ(r.uid, 1001u);
  EXPECT_EQ(r.inode, 987654u);
  EXPECT_TRUE(p.error.empty());
  EXPECT_FALSE(p.dump_interrupted);
}

TEST(ParseDiagBuffer, PortsAreConvertedFromNetworkOrder) {
  Bytes b;
  AppendSock(&b, Sock{.sport = 1, .dport = 0xff00});
  AppendSock(&b, Sock{.sport = 65535, .dport = 256});
  Parsed p = Parse(b);
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0].src_port, 1);
  EXPECT_EQ(p.records[0].dst_port, 0xff00);
  EXPECT_EQ(p.records[1].src_port, 65535);
  EXPECT_EQ(p.records[1].dst_port, 256);
}

TEST(ParseDiagBuffer, DecodesIpv6Addresses) {
  Bytes b;
  AppendSock(&b, Sock{.family = AF_INET6,
                      .state = kTcpSynSent,
                      .src = "2001:db8::1",
                      .sport = 50000,
                      .dst = "fd00:1:2:3::abcd",
                      .dport = 8443});
  Parsed p = Parse(b);
  ASSERT_EQ(p.records.size(), 1u) << p.error;
  const SocketRecord& r = p.records[0];
  EXPECT_EQ(r.family, Family::kIpv6);
  EXPECT_EQ(r.state, kTcpSynSent);
  EXPECT_EQ(r.src_addr, Addr("2001:db8::1"));
  EXPECT_EQ(r.dst_addr, Addr("fd00:1:2:3::abcd"));
  EXPECT_EQ(r.src_port, 50000);
  EXPECT_EQ(r.dst_port, 8443);
}

TEST(ParseDiagBuffer, Ipv4MappedIpv6IsNormalisedToIpv4) {
  Bytes b;
  AppendSock(&b, Sock{.family = AF_INET6,
                      .src = "::ffff:127.0.0.1",
                      .sport = 41000,
                      .dst = "::ffff:10.20.30.40",
                      .dport = 80});
  Parsed p = Parse(b);
  ASSERT_EQ(p.records.size(), 1u) << p.error;
  const SocketRecord& r = p.records[0];
  EXPECT_EQ(r.family, Family::kIpv4);
  EXPECT_EQ(r.src_addr, (std::array<uint8_t, 16>{127, 0, 0, 1}));  // rest zero
  EXPECT_EQ(r.dst_addr, (std::array<uint8_t, 16>{10, 20, 30, 40}));
  EXPECT_EQ(r.src_port, 41000);
  EXPECT_EQ(r.dst_port, 80);
}

TEST(ParseDiagBuffer, OnlyFullyMappedSocketsAreNormalised) {
  Bytes b;
  // A dual-stack listener ("::") and a listener bound to a mapped address with no peer stay
  // IPv6: only sockets whose both ends are ::ffff:a.b.c.d are IPv4 traffic.
  AppendSock(&b, Sock{.family = AF_INET6, .state = kTcpListen, .src = "::", .dst = "::"});
  AppendSock(&b,
             Sock{.family = AF_INET6, .state = kTcpListen, .src = "::ffff:127.0.0.1", .dst = "::"});
  AppendSock(&b, Sock{.family = AF_INET6, .src = "::ffff:127.0.0.1", .dst = "::1"});
  Parsed p = Parse(b);
  ASSERT_EQ(p.records.size(), 3u) << p.error;
  for (const auto& r : p.records) EXPECT_EQ(r.family, Family::kIpv6);
  EXPECT_EQ(p.records[1].src_addr, Addr("::ffff:127.0.0.1"));
}

TEST(ParseDiagBuffer, EveryStatePassesThroughAndNewSynRecvFoldsIntoSynRecv) {
  Bytes b;
  for (uint8_t s = 1; s <= 13; ++s) AppendSock(&b, Sock{.state = s, .sport = s});
  AppendDone(&b);
  Parsed p = Parse(b);
  ASSERT_EQ(p.state, NetlinkParseState::kDone) << p.error;
  ASSERT_EQ(p.records.size(), 13u);
  for (uint8_t s = 1; s <= 13; ++s) {
    const SocketRecord& r = p.records[s - 1];
    EXPECT_EQ(r.src_port, s);
    EXPECT_EQ(r.state, s == kTcpNewSynRecv ? uint8_t{kTcpSynRecv} : s) << int(s);
  }
}

TEST(ParseDiagBuffer, ManyMessagesInOneBufferThenDone) {
  Bytes b;
  for (int i = 0; i < 300; ++i) {
    AppendSock(&b, Sock{.family = uint8_t(i % 3 == 0 ? AF_INET6 : AF_INET),
                        .state = kTcpTimeWait,
                        .src = i % 3 == 0 ? "::1" : "127.0.0.1",
                        .sport = uint16_t(30000 + i),
                        .dst = i % 3 == 0 ? "::1" : "127.0.0.1"});
  }
  AppendDone(&b);
  CountingSink sink;
  const NetlinkParseResult r = ParseDiagBuffer(b.data(), b.size(), sink);
  EXPECT_EQ(r.state, NetlinkParseState::kDone);
  EXPECT_EQ(r.messages, 300u);
  EXPECT_EQ(sink.counts,
            (FamilyCounts{{"ipv4", {{"time_wait", 200}}}, {"ipv6", {{"time_wait", 100}}}}));
}

// A sink that counts without allocating, so any heap use measured is the parser's own.
class TallySink : public RecordSink {
 public:
  void OnSocket(const SocketRecord& r) override { ++by_state[r.state & 15]; }
  uint64_t by_state[16] = {};
};

TEST(ParseDiagBuffer, DoesNotAllocate) {
  Bytes b;
  for (int i = 0; i < 300; ++i) {
    AppendSock(&b, Sock{.family = uint8_t(i % 2 ? AF_INET6 : AF_INET),
                        .state = uint8_t(1 + i % 13),
                        .src = i % 2 ? "::ffff:127.0.0.1" : "127.0.0.1",
                        .dst = i % 2 ? "::ffff:127.0.0.9" : "127.0.0.9"});
  }
  AppendDone(&b);
  TallySink sink;
  if (!NewCountWorks()) GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
  const uint64_t before = NewCount();
  const NetlinkParseResult r = ParseDiagBuffer(b.data(), b.size(), sink);
  const uint64_t after = NewCount();
  EXPECT_EQ(r.state, NetlinkParseState::kDone);
  EXPECT_EQ(r.messages, 300u);
  EXPECT_EQ(after - before, 0u) << "operator new calls while parsing 300 sockets";
  // The counter does see the parser's allocations on the error path.
  Bytes bad;
  AppendSock(&bad, Sock{});
  bad.resize(bad.size() + 3);
  const uint64_t before_error = NewCount();
  EXPECT_EQ(ParseDiagBuffer(bad.data(), bad.size(), sink).state, NetlinkParseState::kError);
  EXPECT_GT(NewCount(), before_error);
}

TEST(ParseDiagBuffer, BufferWithoutDoneIsMore) {
  Bytes b;
  AppendSock(&b, Sock{});
  EXPECT_EQ(Parse(b).state, NetlinkParseState::kMore);
  EXPECT_EQ(Parse(Bytes{}).state, NetlinkParseState::kMore);  // empty buffer: nothing to do
}

TEST(ParseDiagBuffer, DoneStopsParsing) {
  Bytes b;
  AppendDone(&b);
  AppendSock(&b, Sock{});
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kDone);
  EXPECT_TRUE(p.records.empty());
}

TEST(ParseDiagBuffer, DoneCarryingANegativeErrnoIsAnError) {
  Bytes b;
  AppendDone(&b, -ENOMEM);
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_EQ(p.error, "dump failed (NLMSG_DONE at offset 0): Cannot allocate memory");
}

TEST(ParseDiagBuffer, NlmsgErrorCarriesErrnoText) {
  Bytes b;
  AppendSock(&b, Sock{});
  AppendError(&b, -ENOENT);
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_EQ(p.records.size(), 1u);  // records before the error were delivered
  EXPECT_EQ(p.error, "netlink error at offset 88: No such file or directory");
}

TEST(ParseDiagBuffer, NlmsgErrorWithAbsurdCodes) {
  // Found by fuzzing: negating INT_MIN is undefined behaviour.
  for (int32_t code : {INT32_MIN, -100000, 5}) {
    Bytes b;
    AppendError(&b, code);
    Parsed p = Parse(b);
    EXPECT_EQ(p.state, NetlinkParseState::kError);
    EXPECT_EQ(p.error, "netlink error at offset 0: bad error code " + std::to_string(code));
  }
  Bytes d;
  AppendDone(&d, INT32_MIN);
  EXPECT_EQ(Parse(d).error, "dump failed (NLMSG_DONE at offset 0): bad error code -2147483648");
}

TEST(ParseDiagBuffer, NlmsgErrorZeroIsAnAckAndSkipped) {
  Bytes b;
  AppendError(&b, 0);
  AppendSock(&b, Sock{});
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kMore) << p.error;
  EXPECT_EQ(p.records.size(), 1u);
}

TEST(ParseDiagBuffer, TruncatedNlmsgError) {
  Bytes b;
  AppendMsg(&b, NLMSG_ERROR, nullptr, 0);
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_EQ(p.error, "truncated NLMSG_ERROR at offset 0: nlmsg_len 16");
}

TEST(ParseDiagBuffer, TruncatedHeaderIsAnErrorWithOffset) {
  Bytes b;
  AppendSock(&b, Sock{});
  b.resize(b.size() + 10, 0);  // 10 stray bytes: not even a header
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.error, "truncated netlink header at offset 88: 10 bytes left, need 16");
}

TEST(ParseDiagBuffer, LengthPastTheEndOfTheBuffer) {
  Bytes b;
  AppendSock(&b, Sock{});
  b.resize(b.size() - 8);  // the message claims 88 bytes, 80 are there
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_TRUE(p.records.empty());
  EXPECT_EQ(p.error, "nlmsg_len 88 at offset 0 runs past the end of the buffer (80 bytes left)");
}

TEST(ParseDiagBuffer, PayloadShorterThanInetDiagMsg) {
  Bytes b;
  inet_diag_msg m = MakeDiag(Sock{});
  AppendMsg(&b, SOCK_DIAG_BY_FAMILY, &m, 40);  // nlmsg_len 56 < 88
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_TRUE(p.records.empty());
  EXPECT_EQ(p.error, "inet_diag message at offset 0 too short: nlmsg_len 56 < 88");
}

TEST(ParseDiagBuffer, ZeroLengthMessageIsAnErrorNotAnEndlessLoop) {
  Bytes b;
  AppendSock(&b, Sock{});
  AppendMsg(&b, SOCK_DIAG_BY_FAMILY, nullptr, 0, NLM_F_MULTI, 7, 4242, /*len_override=*/0);
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.error, "bad nlmsg_len 0 at offset 88 (minimum 16)");
}

TEST(ParseDiagBuffer, LengthBelowHeaderSizeIsAnError) {
  Bytes b;
  AppendMsg(&b, NLMSG_NOOP, nullptr, 0, 0, 0, 0, /*len_override=*/12);
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_EQ(p.error, "bad nlmsg_len 12 at offset 0 (minimum 16)");
}

TEST(ParseDiagBuffer, LastMessageWithoutPaddingIsAccepted) {
  Bytes b;
  inet_diag_msg m = MakeDiag(Sock{});
  uint8_t payload[sizeof(m) + 2] = {};
  std::memcpy(payload, &m, sizeof(m));
  AppendMsg(&b, SOCK_DIAG_BY_FAMILY, payload, sizeof(payload));  // nlmsg_len 90
  b.resize(90);                                                  // padding cut off
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kMore) << p.error;
  EXPECT_EQ(p.records.size(), 1u);
}

TEST(ParseDiagBuffer, UnalignedBufferIsParsed) {
  Bytes b;
  AppendSock(&b, Sock{.sport = 777});
  AppendDone(&b);
  Bytes shifted(b.size() + 1);
  std::memcpy(shifted.data() + 1, b.data(), b.size());
  CollectingSink sink;
  EXPECT_EQ(ParseDiagBuffer(shifted.data() + 1, b.size(), sink).state, NetlinkParseState::kDone);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].src_port, 777);
}

TEST(ParseDiagBuffer, UnexpectedTypeAndFamilyAreErrors) {
  Bytes b;
  const int32_t zero = 0;
  AppendMsg(&b, 99, &zero, sizeof(zero));
  EXPECT_EQ(Parse(b).error, "unexpected netlink message type 99 at offset 0");
  Bytes c;
  inet_diag_msg m = MakeDiag(Sock{});
  m.idiag_family = AF_UNIX;
  AppendMsg(&c, SOCK_DIAG_BY_FAMILY, &m, sizeof(m));
  EXPECT_EQ(Parse(c).error, "inet_diag message at offset 0 has unknown family 1");
  Bytes d;
  AppendMsg(&d, NLMSG_OVERRUN, nullptr, 0);
  EXPECT_EQ(Parse(d).error, "netlink overrun at offset 0");
}

TEST(ParseDiagBuffer, NoopIsSkipped) {
  Bytes b;
  AppendMsg(&b, NLMSG_NOOP, nullptr, 0);
  AppendSock(&b, Sock{});
  EXPECT_EQ(Parse(b).records.size(), 1u);
}

TEST(ParseDiagBuffer, DumpInterruptedSetsTheFlag) {
  Bytes b;
  AppendSock(&b, Sock{});
  AppendSock(&b, Sock{}, NLM_F_MULTI | NLM_F_DUMP_INTR);
  Parsed p = Parse(b);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_TRUE(p.dump_interrupted);
  EXPECT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.error, "dump interrupted (NLM_F_DUMP_INTR) at offset 88");
}

TEST(ParseDiagBuffer, ReplyFilterRejectsForeignSeqOrPortid) {
  Bytes b;
  AppendSock(&b, Sock{});  // seq 7, pid 4242
  AppendDone(&b);
  const DiagReplyFilter ok{7, 4242}, bad_seq{8, 4242}, bad_pid{7, 1};
  EXPECT_EQ(Parse(b, &ok).state, NetlinkParseState::kDone);
  Parsed p = Parse(b, &bad_seq);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_EQ(p.error, "message at offset 0 answers seq 7 portid 4242, expected seq 8 portid 4242");
  EXPECT_EQ(Parse(b, &bad_pid).state, NetlinkParseState::kError);
}

TEST(ParseDiagBuffer, GarbageIsRejectedWithoutCrashing) {
  Bytes ones(64, 0xff);
  Parsed p = Parse(ones);
  EXPECT_EQ(p.state, NetlinkParseState::kError);
  EXPECT_EQ(p.error,
            "nlmsg_len 4294967295 at offset 0 runs past the end of the buffer (64 bytes left)");
  Bytes zeros(64, 0);
  EXPECT_EQ(Parse(zeros).error, "bad nlmsg_len 0 at offset 0 (minimum 16)");
  // Pseudo-random buffers: whatever they hold, parsing ends and reports consistently.
  uint32_t x = 12345;
  for (int round = 0; round < 2000; ++round) {
    Bytes r(static_cast<size_t>(round % 300));
    for (auto& byte : r) {
      x = x * 1103515245 + 12345;
      byte = static_cast<uint8_t>(x >> 16);
    }
    if (r.size() >= 4 && round % 2 == 0) {  // plausible lengths, to get past the first check
      uint32_t len = static_cast<uint32_t>(16 + (x % (r.size() + 8)));
      std::memcpy(r.data(), &len, 4);
    }
    Parsed q = Parse(r);
    EXPECT_EQ(q.state == NetlinkParseState::kError, !q.error.empty()) << round;
  }
}

// ---- Record / replay ------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    path_ = ::testing::TempDir() + "/sock_diag_test-" + std::to_string(getpid()) + "-" +
            std::to_string(counter_++);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

void WriteFile(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

Bytes ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Records a small two-family dump: 2 IPv4 sockets in two buffers, then 1 IPv6 (+ 1 mapped).
std::string RecordSample(const TempDir& dir) {
  const std::string path = dir.File("sample.ssdiag");
  auto rec = DumpRecorder::Open(path);
  EXPECT_TRUE(rec.ok()) << rec.status().message();
  Bytes v4a, v4b, v6;
  AppendSock(&v4a, Sock{.state = kTcpListen, .sport = 80, .dst = "0.0.0.0", .dport = 0});
  AppendSock(&v4b, Sock{.state = kTcpTimeWait});
  AppendDone(&v4b);
  AppendSock(&v6, Sock{.family = AF_INET6, .src = "::1", .dst = "::1"});
  AppendSock(&v6, Sock{.family = AF_INET6,
                       .state = kTcpCloseWait,
                       .src = "::ffff:127.0.0.1",
                       .dst = "::ffff:127.0.0.1"});
  AppendDone(&v6);
  EXPECT_TRUE(rec.value()->Write(AF_INET, v4a.data(), v4a.size()).ok());
  EXPECT_TRUE(rec.value()->Write(AF_INET, v4b.data(), v4b.size()).ok());
  EXPECT_TRUE(rec.value()->Write(AF_INET6, v6.data(), v6.size()).ok());
  return path;
}

TEST(Replay, RoundTripsRecordedBuffers) {
  TempDir dir;
  const std::string path = RecordSample(dir);
  const Bytes file = ReadBytes(path);
  ASSERT_EQ(file.size(), 8u + 3 * 5 + 88 + (88 + 20) + (88 + 88 + 20));
  EXPECT_EQ(std::string(file.begin(), file.begin() + 8), "SSDIAG01");
  EXPECT_EQ(file[8], AF_INET);
  EXPECT_EQ(file[9], 88);  // little-endian length
  EXPECT_EQ(file[10], 0);
  CollectingSink sink;
  Status s = ReplayDumpFile(path, sink);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(sink.records.size(), 4u);
  EXPECT_EQ(sink.records[0].state, kTcpListen);
  EXPECT_EQ(sink.records[0].src_port, 80);
  EXPECT_EQ(sink.records[1].state, kTcpTimeWait);
  EXPECT_EQ(sink.records[2].family, Family::kIpv6);
  EXPECT_EQ(sink.records[3].family, Family::kIpv4);
  EXPECT_EQ(sink.records[3].state, kTcpCloseWait);
}

TEST(Replay, BadMagic) {
  TempDir dir;
  const std::string path = dir.File("bad.ssdiag");
  WriteFile(path, Bytes{'S', 'S', 'D', 'I', 'A', 'G', '0', '2'});
  CollectingSink sink;
  EXPECT_EQ(ReplayDumpFile(path, sink).message(),
            "replay " + path + ": bad magic at offset 0 (not an SSDIAG01 dump)");
  WriteFile(path, Bytes{'S', 'S'});
  EXPECT_EQ(ReplayDumpFile(path, sink).message(),
            "replay " + path + ": bad magic at offset 0 (not an SSDIAG01 dump)");
}

TEST(Replay, MissingFile) {
  CollectingSink sink;
  EXPECT_EQ(ReplayDumpFile("/nonexistent/x.ssdiag", sink).message(),
            "replay /nonexistent/x.ssdiag: open: No such file or directory");
}

TEST(Replay, FileEndingMidRecordIsAnError) {
  TempDir dir;
  const std::string path = RecordSample(dir);
  Bytes file = ReadBytes(path);
  file.resize(file.size() - 3);
  WriteFile(path, file);
  CollectingSink sink;
  // The last record starts at 8 + 5+88 + 5+108 = 214 and holds 196 bytes.
  EXPECT_EQ(ReplayDumpFile(path, sink).message(),
            "replay " + path + ": truncated record at offset 214: length 196, 193 bytes left");
}

TEST(Replay, FileEndingInsideARecordHeaderIsAnError) {
  TempDir dir;
  const std::string path = RecordSample(dir);
  Bytes file = ReadBytes(path);
  file.resize(214 + 3);
  WriteFile(path, file);
  CollectingSink sink;
  EXPECT_EQ(ReplayDumpFile(path, sink).message(),
            "replay " + path + ": truncated record header at offset 214 (3 bytes left)");
}

TEST(Replay, FileEndingBeforeDoneIsAnError) {
  TempDir dir;
  const std::string path = RecordSample(dir);
  Bytes file = ReadBytes(path);
  file.resize(214);  // the IPv4 dump is complete, the IPv6 one is missing entirely: fine
  WriteFile(path, file);
  CollectingSink sink;
  EXPECT_TRUE(ReplayDumpFile(path, sink).ok());
  file.resize(8 + 5 + 88);  // only the first IPv4 buffer, no NLMSG_DONE
  WriteFile(path, file);
  EXPECT_EQ(ReplayDumpFile(path, sink).message(),
            "replay " + path + ": file ends at offset 101 inside the AF_INET dump (no NLMSG_DONE)");
}

TEST(Replay, ParseErrorsNameFileAndOffsets) {
  TempDir dir;
  const std::string path = dir.File("err.ssdiag");
  {
    auto rec = DumpRecorder::Open(path);
    ASSERT_TRUE(rec.ok());
    Bytes b;
    AppendSock(&b, Sock{});
    AppendError(&b, -EPERM);
    ASSERT_TRUE(rec.value()->Write(AF_INET6, b.data(), b.size()).ok());
  }
  CollectingSink sink;
  EXPECT_EQ(ReplayDumpFile(path, sink).message(),
            "replay " + path +
                ": record at offset 8 (AF_INET6, 124 bytes from file offset 13): netlink error "
                "at offset 88: Operation not permitted");
  EXPECT_EQ(sink.records.size(), 1u);
}

TEST(Replay, BadFamilyByteIsAnError) {
  TempDir dir;
  const std::string path = dir.File("fam.ssdiag");
  WriteFile(path, Bytes{'S', 'S', 'D', 'I', 'A', 'G', '0', '1', 7, 0, 0, 0, 0});
  CollectingSink sink;
  EXPECT_EQ(ReplayDumpFile(path, sink).message(),
            "replay " + path + ": record at offset 8: bad family 7");
}

TEST(Replay, EmptyDumpIsValid) {
  TempDir dir;
  const std::string path = dir.File("empty.ssdiag");
  { ASSERT_TRUE(DumpRecorder::Open(path).ok()); }
  CollectingSink sink;
  EXPECT_TRUE(ReplayDumpFile(path, sink).ok());
  EXPECT_TRUE(sink.records.empty());
}

TEST(DumpRecorder, OpenFailsWithContext) {
  auto r = DumpRecorder::Open("/nonexistent/dir/x.ssdiag");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "dump recorder: open /nonexistent/dir/x.ssdiag: No such file or directory");
}

// ---- Committed real-kernel fixtures (see tests/fixtures/dumps/README.md) ---------------------

std::string Fixture(const std::string& name) {
  return std::string(SOCKSTATE_TEST_DATA_DIR) + "/dumps/" + name;
}

TEST(ReplayFixture, MixedPopulation) {
  CountingSink sink;
  Status s = ReplayDumpFile(Fixture("mixed.ssdiag"), sink);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(sink.counts,
            (FamilyCounts{{"ipv4",
                           {{"listen", 4},
                            {"established", 56},
                            {"time_wait", 15},
                            {"close_wait", 3},
                            {"fin_wait2", 3}}},
                          {"ipv6", {{"listen", 3}, {"established", 24}, {"time_wait", 10}}}}));
}

TEST(ReplayFixture, TimeWaitOnlySpanningSeveralBuffers) {
  CountingSink sink;
  Status s = ReplayDumpFile(Fixture("timewait.ssdiag"), sink);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(sink.counts,
            (FamilyCounts{{"ipv4", {{"time_wait", 400}}}, {"ipv6", {{"time_wait", 20}}}}));
}

TEST(ReplayFixture, TruncatedCopyIsAnError) {
  CountingSink sink;
  const std::string path = Fixture("mixed-truncated.ssdiag");
  Status s = ReplayDumpFile(path, sink);
  EXPECT_EQ(s.message(),
            "replay " + path + ": truncated record at offset 13920: length 20, 13 bytes left");
  // Every socket before the cut was delivered (the cut is inside the final NLMSG_DONE).
  EXPECT_EQ(sink.counts["ipv4"]["established"], 56);
  EXPECT_EQ(sink.counts["ipv6"]["time_wait"], 10);
}

}  // namespace
}  // namespace sockstate
