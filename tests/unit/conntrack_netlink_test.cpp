// ParseConntrackBuffer on ctnetlink messages built in memory, and the SSCTRK01 record/replay
// format (in-memory recordings and the committed real-kernel fixtures in tests/fixtures/dumps).

#include "kernel/conntrack_netlink.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "alloc_count.h"
#include "ct_builder.h"

using sockstate::testing::CtAttr;
using sockstate::testing::CtBytes;
using sockstate::testing::CtCat;
using sockstate::testing::CtDone;
using sockstate::testing::CtDumpFile;
using sockstate::testing::CtEntry;
using sockstate::testing::CtEntryAttrs;
using sockstate::testing::CtError;
using sockstate::testing::CtMessage;
using sockstate::testing::CtNest;
using sockstate::testing::CtSpec;
using sockstate::testing::NewCount;
using sockstate::testing::NewCountWorks;

namespace sockstate {
namespace {

class Collect : public ConntrackSink {
 public:
  void OnEntry(const ConntrackRecord& r) override { records.push_back(r); }
  std::vector<ConntrackRecord> records;
};

class CountOnly : public ConntrackSink {
 public:
  void OnEntry(const ConntrackRecord& r) override {
    ++n;
    ports += r.reply.dst_port;
  }
  uint64_t n = 0, ports = 0;
};

std::array<uint8_t, 16> V4(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1);
  return a;
}
std::array<uint8_t, 16> V6(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1);
  return a;
}

// The parse of `b` into `sink`: its state, with the error text (and errno, interrupt flag)
// copied out for the assertions.
NetlinkParseState Parse(const CtBytes& b, ConntrackSink& sink, std::string* error,
                        int* nl_errno = nullptr, bool* intr = nullptr,
                        const CtReplyFilter* f = nullptr) {
  const NetlinkParseResult r = ParseConntrackBuffer(b.data(), b.size(), sink, f);
  *error = r.error;
  if (nl_errno != nullptr) *nl_errno = r.nl_errno;
  if (intr != nullptr) *intr = r.dump_interrupted;
  return r.state;
}

TEST(ConntrackParse, SnatTcpEntryEveryField) {
  CtSpec s;
  s.zone = 3;
  Collect c;
  std::string error;
  ASSERT_EQ(Parse(CtCat({CtEntry(s), CtDone()}), c, &error), NetlinkParseState::kDone) << error;
  ASSERT_EQ(c.records.size(), 1u);
  const ConntrackRecord& r = c.records[0];
  EXPECT_EQ(r.family, Family::kIpv4);
  EXPECT_EQ(r.orig.src, V4("198.18.1.2"));
  EXPECT_EQ(r.orig.dst, V4("198.18.2.2"));
  EXPECT_EQ(r.orig.src_port, 40000);
  EXPECT_EQ(r.orig.dst_port, 8080);
  EXPECT_EQ(r.orig.protocol, 6);
  EXPECT_EQ(r.reply.src, V4("198.18.2.2"));
  EXPECT_EQ(r.reply.dst, V4("198.18.2.1"));
  EXPECT_EQ(r.reply.src_port, 8080);
  EXPECT_EQ(r.reply.dst_port, 61000);
  EXPECT_EQ(r.status, 0x1beu);
  EXPECT_TRUE(r.status & kIpsSrcNat);
  EXPECT_TRUE(r.has_tcp_state);
  EXPECT_EQ(r.tcp_state, kCtTcpEstablished);
  EXPECT_EQ(r.zone, 3);
}

TEST(ConntrackParse, Ipv6UdpAndIcmpEntries) {
  CtSpec u;
  u.family = AF_INET6;
  u.protocol = 17;
  u.orig_src = "fd00::2";
  u.orig_dst = "fd01::53";
  u.reply_src = "fd01::53";
  u.reply_dst = "fd01::1";
  u.reply_sport = 53;
  u.reply_dport = 1024;
  u.tcp_state = -1;
  u.status = 0x18e;
  CtSpec i;
  i.protocol = 1;
  i.orig_sport = 777;
  i.reply_sport = 777;
  i.tcp_state = -1;
  Collect c;
  const CtBytes b = CtCat({CtEntry(u), CtEntry(i)});
  const NetlinkParseResult r = ParseConntrackBuffer(b.data(), b.size(), c);
  ASSERT_EQ(r.state, NetlinkParseState::kMore) << r.error;
  EXPECT_EQ(r.messages, 2u);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].family, Family::kIpv6);
  EXPECT_EQ(c.records[0].reply.src, V6("fd01::53"));
  EXPECT_EQ(c.records[0].reply.dst, V6("fd01::1"));
  EXPECT_EQ(c.records[0].reply.src_port, 53);
  EXPECT_EQ(c.records[0].reply.dst_port, 1024);
  EXPECT_EQ(c.records[0].reply.protocol, 17);
  EXPECT_FALSE(c.records[0].has_tcp_state);
  EXPECT_EQ(c.records[0].zone, 0);
  EXPECT_EQ(c.records[1].reply.protocol, 1);
  EXPECT_EQ(c.records[1].reply.src_port, 777);  // the ICMP id
  EXPECT_EQ(c.records[1].reply.dst_port, 0);
}

TEST(ConntrackParse, UnknownAttributesAreSkipped) {
  CtSpec s;
  const CtBytes attrs =
      CtCat({CtAttr(200, {1, 2, 3}), CtEntryAttrs(s), CtNest(201, {CtAttr(1, {9, 9})})});
  Collect c;
  std::string error;
  ASSERT_EQ(Parse(CtMessage(AF_INET, attrs), c, &error), NetlinkParseState::kMore) << error;
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].reply.dst_port, 61000);
}

TEST(ConntrackParse, RefusedDumpGivesTheErrno) {
  Collect c;
  std::string error;
  int nl_errno = 0;
  EXPECT_EQ(Parse(CtError(EPERM), c, &error, &nl_errno), NetlinkParseState::kError);
  EXPECT_EQ(nl_errno, EPERM);
  EXPECT_EQ(error, "netlink error at offset 0: Operation not permitted");
  EXPECT_TRUE(c.records.empty());
}

TEST(ConntrackParse, DoneWithNegativeStatusIsAnError) {
  Collect c;
  std::string error;
  int nl_errno = 0;
  EXPECT_EQ(Parse(CtDone(7, 4242, -ENOBUFS), c, &error, &nl_errno), NetlinkParseState::kError);
  EXPECT_EQ(nl_errno, ENOBUFS);
  EXPECT_NE(error.find("NLMSG_DONE at offset 0"), std::string::npos) << error;
}

TEST(ConntrackParse, MissingReplyTupleNamesTheMessage) {
  CtSpec s;
  CtBytes attrs = CtEntryAttrs(s);
  // Drop the reply tuple: rebuild from the original tuple and the status only.
  CtBytes orig(attrs.begin(), attrs.begin() + (attrs[0] | attrs[1] << 8));
  const CtBytes msg = CtMessage(AF_INET, CtCat({orig, CtAttr(CTA_STATUS, {0, 0, 1, 0x8e})}));
  Collect c;
  std::string error;
  const CtBytes buf = CtCat({CtEntry(s), msg});
  EXPECT_EQ(Parse(buf, c, &error), NetlinkParseState::kError);
  EXPECT_EQ(c.records.size(), 1u);  // the first entry reached the sink
  EXPECT_EQ(error, "conntrack message at offset " + std::to_string(CtEntry(s).size()) +
                       ": conntrack entry without CTA_TUPLE_REPLY");
}

TEST(ConntrackParse, AttributeRunningPastItsMessageIsAnError) {
  CtSpec s;
  CtBytes msg = CtEntry(s);
  // First attribute (CTA_TUPLE_ORIG) at offset 20: claim 4000 bytes.
  const uint16_t bad = 4000;
  std::memcpy(msg.data() + 20, &bad, 2);
  Collect c;
  std::string error;
  EXPECT_EQ(Parse(msg, c, &error), NetlinkParseState::kError);
  EXPECT_NE(error.find("bad attribute length 4000 in conntrack entry at offset 20"),
            std::string::npos)
      << error;
}

TEST(ConntrackParse, AddressOfTheOtherFamilyIsAnError) {
  CtSpec s;
  s.family = AF_INET6;
  s.orig_src = s.orig_dst = s.reply_src = s.reply_dst = "fd00::1";
  CtBytes attrs = CtEntryAttrs(s);
  Collect c;
  std::string error;
  EXPECT_EQ(Parse(CtMessage(AF_INET, attrs), c, &error), NetlinkParseState::kError);
  EXPECT_NE(error.find("does not match family 2"), std::string::npos) << error;
}

TEST(ConntrackParse, BadFamilyShortMessageAndTruncatedHeader) {
  Collect c;
  std::string error;
  CtSpec s;
  EXPECT_EQ(Parse(CtMessage(7, CtEntryAttrs(s)), c, &error), NetlinkParseState::kError);
  EXPECT_EQ(error, "conntrack message at offset 0 has unknown family 7");
  CtBytes shortmsg = CtMessage(AF_INET, {});
  shortmsg.resize(18);
  const uint32_t len = 18;
  std::memcpy(shortmsg.data(), &len, 4);
  EXPECT_EQ(Parse(shortmsg, c, &error), NetlinkParseState::kError);
  EXPECT_EQ(error, "conntrack message at offset 0 too short: nlmsg_len 18 < 20");
  CtBytes trunc = CtEntry(s);
  trunc.resize(10);
  EXPECT_EQ(Parse(trunc, c, &error), NetlinkParseState::kError);
  EXPECT_EQ(error, "truncated netlink header at offset 0: 10 bytes left, need 16");
  CtBytes past = CtEntry(s);
  past.resize(past.size() - 8);
  EXPECT_EQ(Parse(past, c, &error), NetlinkParseState::kError);
  EXPECT_NE(error.find("runs past the end of the buffer"), std::string::npos) << error;
  EXPECT_TRUE(c.records.empty());
}

TEST(ConntrackParse, DumpInterruptedAndReplyFilter) {
  CtSpec s;
  Collect c;
  std::string error;
  bool intr = false;
  CtBytes m = CtMessage(AF_INET, CtEntryAttrs(s), NLM_F_MULTI | NLM_F_DUMP_INTR);
  EXPECT_EQ(Parse(m, c, &error, nullptr, &intr), NetlinkParseState::kError);
  EXPECT_TRUE(intr);
  CtReplyFilter f{8, 4242};
  EXPECT_EQ(Parse(CtEntry(s), c, &error, nullptr, nullptr, &f), NetlinkParseState::kError);
  EXPECT_EQ(error, "message at offset 0 answers seq 7 portid 4242, expected seq 8 portid 4242");
  f.seq = 7;
  EXPECT_EQ(Parse(CtEntry(s), c, &error, nullptr, nullptr, &f), NetlinkParseState::kMore);
  EXPECT_EQ(c.records.size(), 1u);
}

TEST(ConntrackParse, NoAllocationPerEntry) {
  if (!NewCountWorks()) GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
  std::vector<CtBytes> parts;
  for (int i = 0; i < 300; ++i) {
    CtSpec s;
    s.reply_dport = uint16_t(61000 + i);
    parts.push_back(CtEntry(s));
  }
  const CtBytes buf = CtCat(parts);
  CountOnly sink;
  const uint64_t before = NewCount();
  const NetlinkParseResult r = ParseConntrackBuffer(buf.data(), buf.size(), sink);
  const uint64_t after = NewCount();
  EXPECT_EQ(r.state, NetlinkParseState::kMore);
  EXPECT_EQ(sink.n, 300u);
  EXPECT_EQ(after - before, 0u);
}

// ---- Record / replay ----------------------------------------------------------------------

class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/ssct-XXXXXX";
    const int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    close(fd);
    path = tmpl;
  }
  ~TempFile() { std::filesystem::remove(path); }
  void Write(const CtBytes& b) const {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  }
  std::string path;
};

TEST(ConntrackReplay, RecorderOutputReplaysExactly) {
  TempFile f;
  CtSpec a, b;
  b.reply_dport = 61001;
  {
    auto rec = ConntrackRecorder::Open(f.path);
    ASSERT_TRUE(rec.ok()) << rec.status().message();
    const CtBytes one = CtEntry(a), two = CtCat({CtEntry(b), CtDone()});
    ASSERT_TRUE((*rec)->Write(one.data(), one.size()).ok());
    ASSERT_TRUE((*rec)->Write(two.data(), two.size()).ok());
  }
  Collect c;
  Status s = ReplayConntrackFile(f.path, c);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].reply.dst_port, 61000);
  EXPECT_EQ(c.records[1].reply.dst_port, 61001);
}

TEST(ConntrackReplay, ErrorsNameFileAndOffset) {
  TempFile f;
  Collect c;
  f.Write({'S', 'S', 'D', 'I', 'A', 'G', '0', '1'});
  EXPECT_EQ(ReplayConntrackFile(f.path, c).message(),
            "replay " + f.path + ": bad magic at offset 0 (not an SSCTRK01 dump)");
  CtSpec s;
  f.Write(CtDumpFile({CtEntry(s)}));
  EXPECT_EQ(ReplayConntrackFile(f.path, c).message(),
            "replay " + f.path + ": file ends at offset " +
                std::to_string(8 + 4 + CtEntry(s).size()) + " inside the dump (no NLMSG_DONE)");
  CtBytes file = CtDumpFile({CtEntry(s), CtDone()});
  file.resize(file.size() - 3);
  f.Write(file);
  EXPECT_NE(ReplayConntrackFile(f.path, c).message().find("truncated record at offset"),
            std::string::npos);
  f.Write(CtDumpFile({CtDone(), CtEntry(s)}));
  EXPECT_EQ(ReplayConntrackFile(f.path, c).message(),
            "replay " + f.path + ": data after the end of the dump (NLMSG_DONE) at offset 32");
  f.Write(CtDumpFile({CtError(EPERM)}));
  EXPECT_EQ(ReplayConntrackFile(f.path, c).message(),
            "replay " + f.path +
                ": record at offset 8 (36 bytes from file offset 12): netlink error at offset 0: "
                "Operation not permitted");
  EXPECT_NE(ReplayConntrackFile("/nonexistent/x.ssct", c).message().find("open: No such file"),
            std::string::npos);
}

}  // namespace
}  // namespace sockstate
