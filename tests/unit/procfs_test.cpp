#include "kernel/procfs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "test_util.h"

namespace sockstate {
namespace {

namespace fs = std::filesystem;

const std::string kData = SOCKSTATE_TEST_DATA_DIR;
const std::string kFiles = kData + "/procfiles";

std::string Fixture(const std::string& rel) { return testing::ReadFile(kFiles + "/" + rel); }

#define EXPECT_ERROR_HAS(result, substring)                                     \
  do {                                                                          \
    const auto& r_ = (result);                                                  \
    ASSERT_FALSE(r_.ok()) << "expected an error containing: " << (substring);   \
    EXPECT_NE(r_.status().message().find(substring), std::string::npos)         \
        << "message: " << r_.status().message() << "\nwanted: " << (substring); \
  } while (0)

// A scratch directory removed at the end of the test.
class TempTree {
 public:
  TempTree() {
    std::string tmpl = ::testing::TempDir() + "/procfs_test_XXXXXX";
    root_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  const std::string& root() const { return root_; }
  std::string Write(const std::string& rel, const std::string& text) {
    fs::path p = fs::path(root_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::string root_;
};

// ---- ProcPaths ------------------------------------------------------------------------------

TEST(ProcPaths, ForRoot) {
  ProcPaths p = ProcPaths::ForRoot("/proc");
  EXPECT_EQ(p.root, "/proc");
  EXPECT_EQ(p.net_dir, "/proc/net");
  p = ProcPaths::ForRoot("tests/fixtures/proc//");
  EXPECT_EQ(p.root, "tests/fixtures/proc");
  EXPECT_EQ(p.net_dir, "tests/fixtures/proc/net");
  p = ProcPaths::ForRoot("/");
  EXPECT_EQ(p.root, "/");
  EXPECT_EQ(p.net_dir, "/net");
}

TEST(ProcPaths, ForThreadNetns) {
  ProcPaths p = ProcPaths::ForThreadNetns("/proc/");
  EXPECT_EQ(p.root, "/proc");
  EXPECT_EQ(p.net_dir, "/proc/thread-self/net");
}

TEST(ProcPaths, DefaultIsRealProc) {
  ProcPaths p;
  EXPECT_EQ(p.root, "/proc");
  EXPECT_EQ(p.net_dir, "/proc/net");
}

// ---- ReadProcFile ---------------------------------------------------------------------------

TEST(ReadProcFile, ReadsWholeFile) {
  FileRead r = ReadProcFile(kData + "/proc/sys/net/ipv4/ip_local_port_range");
  EXPECT_EQ(r.outcome, ReadOutcome::kOk);
  EXPECT_EQ(r.text, "32768\t60999\n");
  EXPECT_EQ(r.error, "");
}

TEST(ReadProcFile, ReadsEmptyFile) {
  FileRead r = ReadProcFile(kFiles + "/malformed/empty");
  EXPECT_EQ(r.outcome, ReadOutcome::kOk);
  EXPECT_EQ(r.text, "");
}

TEST(ReadProcFile, MissingFileIsNotFound) {
  std::string path = kData + "/proc/net/no_such_file";
  FileRead r = ReadProcFile(path);
  EXPECT_EQ(r.outcome, ReadOutcome::kNotFound);
  EXPECT_EQ(r.error, path + ": No such file or directory");
}

TEST(ReadProcFile, PathThroughAFileIsNotFound) {
  std::string path = kData + "/proc/net/sockstat/child";
  FileRead r = ReadProcFile(path);
  EXPECT_EQ(r.outcome, ReadOutcome::kNotFound);
  EXPECT_EQ(r.error, path + ": Not a directory");
}

TEST(ReadProcFile, DirectoryIsAnError) {
  std::string path = kData + "/proc/net";
  FileRead r = ReadProcFile(path);
  EXPECT_EQ(r.outcome, ReadOutcome::kError);
  EXPECT_EQ(r.error, path + ": read: Is a directory");
}

TEST(ReadProcFile, CapsAtOneMebibyte) {
  TempTree t;
  ASSERT_FALSE(t.root().empty());
  std::string exact = t.Write("exact", std::string(1 << 20, 'x'));
  FileRead r = ReadProcFile(exact);
  EXPECT_EQ(r.outcome, ReadOutcome::kOk);
  EXPECT_EQ(r.text.size(), size_t{1} << 20);
  std::string big = t.Write("big", std::string((1 << 20) + 1, 'x'));
  r = ReadProcFile(big);
  EXPECT_EQ(r.outcome, ReadOutcome::kError);
  EXPECT_EQ(r.error, big + ": larger than 1 MiB");
  EXPECT_EQ(r.text, "");
}

TEST(ReadProcFile, ReadsRealProcFile) {
  FileRead r = ReadProcFile("/proc/net/sockstat");
  ASSERT_EQ(r.outcome, ReadOutcome::kOk) << r.error;
  EXPECT_NE(r.text.find("TCP: inuse "), std::string::npos);
}

// ---- ParsePortRange -------------------------------------------------------------------------

TEST(ParsePortRange, KernelFormat) {
  Result<PortRange> r = ParsePortRange("32768\t60999\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->low, 32768);
  EXPECT_EQ(r->high, 60999);
  EXPECT_EQ(r->size(), 28232u);
}

TEST(ParsePortRange, SpacesAndExtremes) {
  Result<PortRange> r = ParsePortRange("  1   65535 ");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->low, 1);
  EXPECT_EQ(r->high, 65535);
  EXPECT_EQ(r->size(), 65535u);
  r = ParsePortRange("5000 5000");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 1u);
}

TEST(ParsePortRange, Errors) {
  EXPECT_ERROR_HAS(ParsePortRange(""), "port range: expected 'low high', got ''");
  EXPECT_ERROR_HAS(ParsePortRange("garbage\n"), "expected 'low high', got 'garbage\\x0a'");
  EXPECT_ERROR_HAS(ParsePortRange("32768"), "expected 'low high'");
  EXPECT_ERROR_HAS(ParsePortRange("a 60999"), "port range: not a number: 'a'");
  EXPECT_ERROR_HAS(ParsePortRange("1 2 3"), "not a number: '2 3'");
  EXPECT_ERROR_HAS(ParsePortRange("-1 5"), "not a number: '-1'");
  EXPECT_ERROR_HAS(ParsePortRange("0 100"), "ports must be 1..65535, got '0 100'");
  EXPECT_ERROR_HAS(ParsePortRange("1 65536"), "ports must be 1..65535");
  EXPECT_ERROR_HAS(ParsePortRange("1 99999999999999999999999"), "number out of range");
  EXPECT_ERROR_HAS(ParsePortRange("60999 32768"), "low > high in '60999 32768'");
}

// ---- ParseSysctlInt -------------------------------------------------------------------------

TEST(ParseSysctlInt, Values) {
  struct Case {
    const char* text;
    int64_t want;
  };
  for (const Case& c : {Case{"2\n", 2}, Case{"0\n", 0}, Case{"131072\n", 131072},
                        Case{" 60 \n", 60}, Case{"9223372036854775807", INT64_MAX}}) {
    Result<int64_t> r = ParseSysctlInt(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().message();
    EXPECT_EQ(*r, c.want) << c.text;
  }
}

TEST(ParseSysctlInt, Errors) {
  EXPECT_ERROR_HAS(ParseSysctlInt(""), "sysctl: empty value");
  EXPECT_ERROR_HAS(ParseSysctlInt("\n"), "sysctl: empty value");
  EXPECT_ERROR_HAS(ParseSysctlInt("-1\n"), "sysctl: negative value '-1'");
  EXPECT_ERROR_HAS(ParseSysctlInt("1 2\n"), "sysctl: not a number: '1 2'");
  EXPECT_ERROR_HAS(ParseSysctlInt("2x"), "not a number: '2x'");
  EXPECT_ERROR_HAS(ParseSysctlInt("abc"), "not a number: 'abc'");
  EXPECT_ERROR_HAS(ParseSysctlInt("9223372036854775808"),
                   "sysctl: number out of range: '9223372036854775808'");
}

// 6.1/ is a real capture (Debian 12 kernel 6.1.0-56-amd64 under qemu, capture-qemu.sh): the
// sysctl files are the kernel's defaults, read before the script touched anything.
TEST(ParsePortRange, Kernel61Capture) {
  std::string text = Fixture("6.1/sys/net/ipv4/ip_local_port_range");
  EXPECT_EQ(text, "32768\t60999\n");
  Result<PortRange> r = ParsePortRange(text);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->low, 32768);
  EXPECT_EQ(r->high, 60999);
  EXPECT_EQ(r->size(), 28232u);
}

TEST(ParseSysctlInt, Kernel61Capture) {
  struct Case {
    const char* file;
    int64_t want;
  } cases[] = {
      {"tcp_tw_reuse", 2},
      {"tcp_max_tw_buckets", 2048},  // 512 MiB guest: the default scales with memory
      {"tcp_fin_timeout", 60},
      {"tcp_timestamps", 1},
  };
  for (const Case& c : cases) {
    Result<int64_t> r = ParseSysctlInt(Fixture(std::string("6.1/sys/net/ipv4/") + c.file));
    ASSERT_TRUE(r.ok()) << c.file << ": " << r.status().message();
    EXPECT_EQ(*r, c.want) << c.file;
  }
}

// ---- ParseSnmp6 ------------------------------------------------------------------------------

TEST(ParseSnmp6, Kernel618) {
  // Captured from a namespace after the UDP experiments of docs/udp.md: 4 IPv6 datagrams sent
  // to ports nobody listened on.
  Result<Snmp6Table> r = ParseSnmp6(Fixture("6.18/snmp6"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->size(), 88u);
  EXPECT_EQ(r->at("Udp6OutDatagrams"), 4);
  EXPECT_EQ(r->at("Udp6NoPorts"), 4);
  EXPECT_EQ(r->at("Udp6MemErrors"), 0);
  EXPECT_EQ(r->at("Ip6InReceives"), 8);
}

TEST(ParseSnmp6, Errors) {
  EXPECT_EQ(ParseSnmp6("").status().message(), "empty file");
  EXPECT_EQ(ParseSnmp6("\n\n").status().message(), "no data lines");
  EXPECT_EQ(ParseSnmp6("Udp6NoPorts 4").status().message(),
            "line 1 truncated (no newline at end of file): 'Udp6NoPorts 4'");
  EXPECT_EQ(ParseSnmp6("Udp6NoPorts 4 5\n").status().message(), "line 1: expected 'Name value'");
  EXPECT_EQ(ParseSnmp6("Udp6NoPorts\n").status().message(), "line 1: expected 'Name value'");
  EXPECT_EQ(ParseSnmp6("Udp6NoPorts x\n").status().message(),
            "line 1: Udp6NoPorts: not a number: 'x'");
  EXPECT_EQ(ParseSnmp6("Udp6NoPorts 99999999999999999999\n").status().message(),
            "line 1: Udp6NoPorts: number out of range: '99999999999999999999'");
  EXPECT_EQ(ParseSnmp6("A 1\nA 2\n").status().message(), "line 2: duplicate name 'A'");
  Result<Snmp6Table> ok = ParseSnmp6("  \nUdp6NoPorts \t 7\n\nX 0\n");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(*ok, (Snmp6Table{{"Udp6NoPorts", 7}, {"X", 0}}));
}

// ---- ParseSockstat --------------------------------------------------------------------------

TEST(ParseSockstat, Kernel618) {
  Result<SockstatTable> r = ParseSockstat(Fixture("6.18/sockstat"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const SockstatTable& t = *r;
  EXPECT_EQ(t.size(), 6u);
  EXPECT_EQ(t.at("sockets").at("used"), 15u);
  const auto& tcp = t.at("TCP");
  EXPECT_EQ(tcp.size(), 5u);
  EXPECT_EQ(tcp.at("inuse"), 1u);
  EXPECT_EQ(tcp.at("orphan"), 0u);
  EXPECT_EQ(tcp.at("tw"), 4u);
  EXPECT_EQ(tcp.at("alloc"), 1u);
  EXPECT_EQ(tcp.at("mem"), 256u);
  EXPECT_EQ(t.at("FRAG").at("memory"), 0u);
  EXPECT_EQ(t.at("UDPLITE").size(), 1u);
}

TEST(ParseSockstat, Kernel618Sockstat6HasNoTw) {
  Result<SockstatTable> r = ParseSockstat(Fixture("6.18/sockstat6"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->size(), 5u);
  EXPECT_EQ(r->at("TCP6").size(), 1u);
  EXPECT_EQ(r->at("TCP6").at("inuse"), 0u);
  EXPECT_EQ(r->at("FRAG6").at("memory"), 0u);
}

TEST(ParseSockstat, OlderKernels) {
  Result<SockstatTable> r = ParseSockstat(Fixture("5.10/sockstat"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at("TCP").at("inuse"), 13u);
  EXPECT_EQ(r->at("TCP").at("tw"), 5u);
  r = ParseSockstat(Fixture("5.10/sockstat6"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at("TCP6").at("inuse"), 2u);
  r = ParseSockstat(Fixture("4.19/sockstat"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at("sockets").at("used"), 1893u);
  EXPECT_EQ(r->at("TCP").at("inuse"), 250u);
  EXPECT_EQ(r->at("TCP").at("orphan"), 1u);
  EXPECT_EQ(r->at("TCP").at("tw"), 14210u);
  EXPECT_EQ(r->at("TCP").at("alloc"), 270u);
  EXPECT_EQ(r->at("TCP").at("mem"), 96u);
}

TEST(ParseSockstat, Kernel61Capture) {
  Result<SockstatTable> r = ParseSockstat(Fixture("6.1/sockstat"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const SockstatTable& t = *r;
  EXPECT_EQ(t.size(), 6u);
  EXPECT_EQ(t.at("sockets").at("used"), 0u);
  const auto& tcp = t.at("TCP");
  EXPECT_EQ(tcp.size(), 5u);
  EXPECT_EQ(tcp.at("inuse"), 0u);
  EXPECT_EQ(tcp.at("orphan"), 0u);
  EXPECT_EQ(tcp.at("tw"), 8u);
  EXPECT_EQ(tcp.at("alloc"), 0u);
  EXPECT_EQ(tcp.at("mem"), 0u);
  EXPECT_EQ(t.at("FRAG").at("memory"), 0u);

  r = ParseSockstat(Fixture("6.1/sockstat6"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->size(), 5u);
  EXPECT_EQ(r->at("TCP6").size(), 1u);
  EXPECT_EQ(r->at("TCP6").at("inuse"), 0u);
  EXPECT_EQ(r->at("FRAG6").at("memory"), 0u);
}

TEST(ParseSockstat, UnknownFieldsAndFullRange) {
  Result<SockstatTable> r =
      ParseSockstat("TCP: inuse 3 newfield 7\tmem 18446744073709551615\n\nNEWPROTO: x 1\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at("TCP").at("inuse"), 3u);
  EXPECT_EQ(r->at("TCP").at("newfield"), 7u);
  EXPECT_EQ(r->at("TCP").at("mem"), UINT64_MAX);
  EXPECT_EQ(r->at("NEWPROTO").at("x"), 1u);
}

TEST(ParseSockstat, MalformedFiles) {
  EXPECT_ERROR_HAS(ParseSockstat(Fixture("malformed/empty")), "empty file");
  EXPECT_ERROR_HAS(ParseSockstat(Fixture("malformed/garbage.bin")),
                   "line 1: expected 'Prefix: ...'");
  EXPECT_ERROR_HAS(ParseSockstat(Fixture("malformed/sockstat_truncated")),
                   "line 2 truncated (no newline at end of file): 'TCP: inuse 1 orphan 0 tw 0 al'");
  EXPECT_ERROR_HAS(ParseSockstat(Fixture("malformed/sockstat_odd_tokens")),
                   "TCP (line 2): key 'tw' has no value");
  EXPECT_ERROR_HAS(ParseSockstat(Fixture("malformed/sockstat_negative")),
                   "TCP (line 2): inuse: not a number: '-1'");
  EXPECT_ERROR_HAS(ParseSockstat(Fixture("malformed/sockstat_huge")),
                   "TCP (line 2): tw: number out of range: '99999999999999999999999'");
}

TEST(ParseSockstat, InlineErrors) {
  EXPECT_ERROR_HAS(ParseSockstat("\n\n"), "no data lines");
  EXPECT_ERROR_HAS(ParseSockstat("TCP inuse 1\n"),
                   "line 1: expected 'Prefix: ...', got 'TCP inuse 1'");
  EXPECT_ERROR_HAS(ParseSockstat(": inuse 1\n"), "line 1: expected 'Prefix: ...'");
  EXPECT_ERROR_HAS(ParseSockstat("TCP: inuse 1\nTCP: inuse 2\n"), "TCP (line 2): duplicate line");
  EXPECT_ERROR_HAS(ParseSockstat("TCP: inuse 1 inuse 2\n"), "TCP (line 1): duplicate key 'inuse'");
  EXPECT_ERROR_HAS(ParseSockstat("TCP: inuse 0x10\n"), "inuse: not a number: '0x10'");
  EXPECT_ERROR_HAS(ParseSockstat(std::string("TCP: in\x01use 1\n")), "bad key 'in\\x01use'");
}

// ---- ParseNetstat ---------------------------------------------------------------------------

TEST(ParseNetstat, Kernel618Netstat) {
  Result<NetstatTable> r = ParseNetstat(Fixture("6.18/netstat"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const NetstatTable& t = *r;
  EXPECT_EQ(t.size(), 3u);
  const auto& ext = t.at("TcpExt");
  EXPECT_EQ(ext.size(), 135u);
  EXPECT_EQ(ext.at("TW"), 17);
  EXPECT_EQ(ext.at("TWRecycled"), 0);
  EXPECT_EQ(ext.at("TCPTimeWaitOverflow"), 0);
  EXPECT_EQ(ext.at("TCPBacklogCoalesce"), 23);
  EXPECT_EQ(ext.count("TCPAODroppedIcmps"), 1u);
  EXPECT_EQ(ext.count("TCPMigrateReqSuccess"), 1u);
  EXPECT_EQ(t.at("IpExt").size(), 18u);
  EXPECT_EQ(t.at("IpExt").at("InOctets"), 89847624);
  EXPECT_EQ(t.at("MPTcpExt").size(), 76u);
}

TEST(ParseNetstat, Kernel618Snmp) {
  Result<NetstatTable> r = ParseNetstat(Fixture("6.18/snmp"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const NetstatTable& t = *r;
  EXPECT_EQ(t.size(), 6u);
  const auto& tcp = t.at("Tcp");
  EXPECT_EQ(tcp.size(), 15u);
  EXPECT_EQ(tcp.at("MaxConn"), -1);
  EXPECT_EQ(tcp.at("RtoMax"), 120000);
  EXPECT_EQ(tcp.at("ActiveOpens"), 19);
  EXPECT_EQ(tcp.at("PassiveOpens"), 2);
  EXPECT_EQ(tcp.at("AttemptFails"), 0);
  EXPECT_EQ(tcp.at("CurrEstab"), 0);
  EXPECT_EQ(tcp.at("InSegs"), 1816);
  EXPECT_EQ(tcp.at("OutSegs"), 1140);
  EXPECT_EQ(tcp.at("OutRsts"), 2);
  EXPECT_EQ(t.at("IcmpMsg").at("InType3"), 1);
  EXPECT_EQ(t.at("Ip").size(), 20u);
}

TEST(ParseNetstat, Kernel510) {
  Result<NetstatTable> r = ParseNetstat(Fixture("5.10/netstat"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& ext = r->at("TcpExt");
  EXPECT_EQ(r->size(), 2u);  // no MPTcpExt
  EXPECT_EQ(ext.size(), 123u);
  EXPECT_EQ(ext.at("TW"), 5120);
  EXPECT_EQ(ext.at("TWRecycled"), 8);
  EXPECT_EQ(ext.at("ListenOverflows"), 1);
  EXPECT_EQ(ext.at("TCPAbortOnClose"), 64);
  EXPECT_EQ(ext.count("TCPMigrateReqSuccess"), 0u);
  EXPECT_EQ(ext.count("TCPPLBRehash"), 0u);
  EXPECT_EQ(r->at("IpExt").at("InOctets"), 4400112233);
  r = ParseNetstat(Fixture("5.10/snmp"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at("Tcp").at("CurrEstab"), 13);
  EXPECT_EQ(r->at("Tcp").at("MaxConn"), -1);
  EXPECT_EQ(r->at("Ip").count("OutTransmits"), 0u);
}

TEST(ParseNetstat, Kernel419) {
  Result<NetstatTable> r = ParseNetstat(Fixture("4.19/netstat"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& ext = r->at("TcpExt");
  EXPECT_EQ(ext.size(), 113u);
  EXPECT_EQ(ext.at("TW"), 771003);
  EXPECT_EQ(ext.at("TWKilled"), 0);
  EXPECT_EQ(ext.at("TCPTimeWaitOverflow"), 2093);
  EXPECT_EQ(ext.at("ListenDrops"), 12);
  EXPECT_EQ(ext.at("TCPAbortOnClose"), 5402);
  EXPECT_EQ(ext.count("TCPBacklogCoalesce"), 0u);
  EXPECT_EQ(r->at("IpExt").size(), 17u);
  r = ParseNetstat(Fixture("4.19/snmp"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at("Tcp").at("CurrEstab"), 250);
  EXPECT_EQ(r->at("Tcp").at("ActiveOpens"), 10001);
  EXPECT_EQ(r->at("Udp").size(), 8u);
}

TEST(ParseNetstat, Kernel61Netstat) {
  Result<NetstatTable> r = ParseNetstat(Fixture("6.1/netstat"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const NetstatTable& t = *r;
  EXPECT_EQ(t.size(), 3u);
  const auto& ext = t.at("TcpExt");
  EXPECT_EQ(ext.size(), 125u);
  // On 6.1 TW counts sockets put into TIME_WAIT (at schedule time), not expired ones.
  EXPECT_EQ(ext.at("TW"), 12);
  EXPECT_EQ(ext.at("TWRecycled"), 2);  // tcp_tw_reuse=2 on loopback, 2-port range
  EXPECT_EQ(ext.at("TWKilled"), 0);
  EXPECT_EQ(ext.at("TCPTimeWaitOverflow"), 3);  // tcp_max_tw_buckets=1 for 3 connections
  EXPECT_EQ(ext.at("ListenOverflows"), 12);     // SIGSTOPped listener, backlog 2, 6 clients
  EXPECT_EQ(ext.at("ListenDrops"), 12);
  EXPECT_EQ(ext.at("TCPSynRetrans"), 8);
  EXPECT_EQ(ext.at("TCPPureAcks"), 56);
  EXPECT_EQ(ext.at("TCPMigrateReqFailure"), 0);  // the last TcpExt field on 6.1
  EXPECT_EQ(t.at("IpExt").size(), 18u);
  EXPECT_EQ(t.at("IpExt").at("InOctets"), 7952);
  EXPECT_EQ(t.at("IpExt").at("InNoECTPkts"), 144);
  EXPECT_EQ(t.at("MPTcpExt").size(), 56u);
}

TEST(ParseNetstat, Kernel61Snmp) {
  Result<NetstatTable> r = ParseNetstat(Fixture("6.1/snmp"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const NetstatTable& t = *r;
  EXPECT_EQ(t.size(), 5u);  // no IcmpMsg block: the kernel prints it only once ICMP was seen
  EXPECT_EQ(t.count("IcmpMsg"), 0u);
  const auto& tcp = t.at("Tcp");
  EXPECT_EQ(tcp.size(), 15u);
  EXPECT_EQ(tcp.at("RtoMax"), 120000);
  EXPECT_EQ(tcp.at("MaxConn"), -1);
  EXPECT_EQ(tcp.at("ActiveOpens"), 19);
  EXPECT_EQ(tcp.at("PassiveOpens"), 15);
  EXPECT_EQ(tcp.at("AttemptFails"), 0);
  EXPECT_EQ(tcp.at("EstabResets"), 2);
  EXPECT_EQ(tcp.at("CurrEstab"), 0);
  EXPECT_EQ(tcp.at("InSegs"), 154);
  EXPECT_EQ(tcp.at("OutSegs"), 146);
  EXPECT_EQ(tcp.at("RetransSegs"), 8);
  EXPECT_EQ(tcp.at("OutRsts"), 2);
  EXPECT_EQ(t.at("Ip").size(), 19u);
  EXPECT_EQ(t.at("Ip").count("OutTransmits"), 0u);  // 6.18 has it
  // This 6.1.192 build already has the ICMP rate-limit counters (stable backport).
  EXPECT_EQ(t.at("Icmp").size(), 29u);
  EXPECT_EQ(t.at("Icmp").count("OutRateLimitGlobal"), 1u);
  EXPECT_EQ(t.at("Udp").size(), 9u);
}

// Two real captures with different field lists: both parse, and the lists differ by name in
// both directions.
TEST(ParseNetstat, Kernel61VersusKernel618FieldLists) {
  Result<NetstatTable> old_k = ParseNetstat(Fixture("6.1/netstat"));
  Result<NetstatTable> new_k = ParseNetstat(Fixture("6.18/netstat"));
  ASSERT_TRUE(old_k.ok()) << old_k.status().message();
  ASSERT_TRUE(new_k.ok()) << new_k.status().message();
  const auto& ext61 = old_k->at("TcpExt");
  const auto& ext618 = new_k->at("TcpExt");
  EXPECT_NE(ext61.size(), ext618.size());
  // In 6.18's TcpExt but not 6.1's.
  for (const char* name : {"BeyondWindow", "TSEcrRejected", "PAWSOldAck", "PAWSTimewait",
                           "TCPPLBRehash", "TCPAOGood", "TCPAODroppedIcmps"}) {
    EXPECT_EQ(ext61.count(name), 0u) << name;
    EXPECT_EQ(ext618.count(name), 1u) << name;
  }
  // 6.1's TcpExt is a subset of 6.18's: every 6.1 name is there.
  for (const auto& [name, value] : ext61) EXPECT_EQ(ext618.count(name), 1u) << name;
  // MPTcpExt RcvPruned is in 6.1 but no longer in 6.18.
  EXPECT_EQ(old_k->at("MPTcpExt").count("RcvPruned"), 1u);
  EXPECT_EQ(new_k->at("MPTcpExt").count("RcvPruned"), 0u);
  EXPECT_EQ(new_k->at("MPTcpExt").count("MPCurrEstab"), 1u);
  EXPECT_EQ(old_k->at("MPTcpExt").count("MPCurrEstab"), 0u);
  // The fields both have are read by name whatever their position.
  EXPECT_EQ(ext61.at("TW"), 12);
  EXPECT_EQ(ext618.at("TW"), 17);
}

TEST(ParseNetstat, ByNameNotPosition) {
  Result<NetstatTable> a = ParseNetstat("TcpExt: TW TWRecycled New\nTcpExt: 5 6 7\n");
  Result<NetstatTable> b = ParseNetstat("TcpExt: New TWRecycled TW\nTcpExt: 7 6 5\n");
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->at("TcpExt").at("TW"), 5);
  EXPECT_EQ(a->at("TcpExt").at("New"), 7);
}

TEST(ParseNetstat, Int64Bounds) {
  Result<NetstatTable> r = ParseNetstat(
      "TcpExt: Max Min\nTcpExt: 9223372036854775807 -9223372036854775808\nIcmpMsg:\nIcmpMsg:\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->at("TcpExt").at("Max"), INT64_MAX);
  EXPECT_EQ(r->at("TcpExt").at("Min"), INT64_MIN);
  EXPECT_TRUE(r->at("IcmpMsg").empty());
  EXPECT_ERROR_HAS(ParseNetstat("TcpExt: Big\nTcpExt: 9223372036854775808\n"),
                   "TcpExt (line 1): Big: number out of range: '9223372036854775808'");
}

TEST(ParseNetstat, MalformedFiles) {
  EXPECT_ERROR_HAS(ParseNetstat(Fixture("malformed/empty")), "empty file");
  EXPECT_ERROR_HAS(ParseNetstat(Fixture("malformed/garbage.bin")),
                   "line 1: expected 'Prefix: ...'");
  EXPECT_ERROR_HAS(ParseNetstat(Fixture("malformed/netstat_truncated")),
                   "line 4 truncated (no newline at end of file): 'IpExt: 0 0 0 0 0 0 8'");
  EXPECT_ERROR_HAS(ParseNetstat(Fixture("malformed/netstat_mismatch")),
                   "TcpExt (line 1): 135 names but 134 values");
  EXPECT_ERROR_HAS(ParseNetstat(Fixture("malformed/netstat_missing_values")),
                   "IpExt (line 3): header without value line");
  EXPECT_ERROR_HAS(ParseNetstat(Fixture("malformed/netstat_huge")),
                   "TcpExt (line 1): TW: number out of range: '99999999999999999999999'");
  EXPECT_ERROR_HAS(ParseNetstat(Fixture("malformed/netstat_u64max")),
                   "TcpExt (line 1): TW: number out of range: '18446744073709551615'");
  EXPECT_ERROR_HAS(ParseNetstat(Fixture("malformed/netstat_nonnumeric")),
                   "TcpExt (line 1): TW: not a number: '12x'");
}

TEST(ParseNetstat, InlineErrors) {
  EXPECT_ERROR_HAS(ParseNetstat("Tcp: A B\nUdp: 1 2\n"),
                   "Tcp (line 1): header followed by 'Udp' line, not its values");
  EXPECT_ERROR_HAS(ParseNetstat("Tcp: A\nTcp: 1\nTcp: A\nTcp: 2\n"),
                   "Tcp (line 3): duplicate block");
  EXPECT_ERROR_HAS(ParseNetstat("Tcp: A A\nTcp: 1 2\n"), "Tcp (line 1): duplicate field 'A'");
  EXPECT_ERROR_HAS(ParseNetstat("Tcp: A B\nTcp: 1 2 3\n"), "Tcp (line 1): 2 names but 3 values");
  EXPECT_ERROR_HAS(ParseNetstat("Tcp: A\nTcp: +1\n"), "A: not a number: '+1'");
  EXPECT_ERROR_HAS(ParseNetstat("Tcp: A\nTcp: -\n"), "A: not a number: '-'");
  EXPECT_ERROR_HAS(ParseNetstat("Tcp: A\n"), "Tcp (line 1): header without value line");
}

// ---- Readers --------------------------------------------------------------------------------

TEST(ReadNetSysctls, FullFixtureTree) {
  Result<NetSysctls> r = ReadNetSysctls(ProcPaths::ForRoot(kData + "/proc"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->port_range.has_value());
  EXPECT_EQ(r->port_range->low, 32768);
  EXPECT_EQ(r->port_range->high, 60999);
  ASSERT_TRUE(r->reserved_ports.has_value());
  EXPECT_EQ(r->reserved_ports->count(), 11u);
  EXPECT_EQ(CountInRange(*r->reserved_ports, 32768, 60999), 11u);
  EXPECT_EQ(r->tcp_tw_reuse, 2);
  EXPECT_EQ(r->tcp_tw_reuse_delay_ms, 1000);
  EXPECT_EQ(r->tcp_max_tw_buckets, 131072);
  EXPECT_EQ(r->tcp_fin_timeout_s, 60);
  EXPECT_EQ(r->tcp_timestamps, 1);
}

TEST(ReadNetSysctls, Kernel61Capture) {
  // The capture dir mirrors /proc: sys/net/ipv4/<name>. tcp_tw_reuse_delay (6.14+) is absent,
  // as it was on the 6.1 kernel.
  Result<NetSysctls> r = ReadNetSysctls(ProcPaths::ForRoot(kFiles + "/6.1"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->port_range.has_value());
  EXPECT_EQ(r->port_range->low, 32768);
  EXPECT_EQ(r->port_range->high, 60999);
  ASSERT_TRUE(r->reserved_ports.has_value());  // the file is a lone "\n"
  EXPECT_EQ(r->reserved_ports->count(), 0u);
  EXPECT_EQ(r->tcp_tw_reuse, 2);
  EXPECT_FALSE(r->tcp_tw_reuse_delay_ms.has_value());
  EXPECT_EQ(r->tcp_max_tw_buckets, 2048);
  EXPECT_EQ(r->tcp_fin_timeout_s, 60);
  EXPECT_EQ(r->tcp_timestamps, 1);
}

TEST(ReadNetSysctls, MissingFilesAreNoData) {
  Result<NetSysctls> r = ReadNetSysctls(ProcPaths::ForRoot(kData + "/proc-minimal"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->port_range.has_value());
  EXPECT_EQ(r->port_range->size(), 28232u);
  EXPECT_FALSE(r->reserved_ports.has_value());
  EXPECT_FALSE(r->tcp_tw_reuse.has_value());
  EXPECT_FALSE(r->tcp_tw_reuse_delay_ms.has_value());
  EXPECT_FALSE(r->tcp_max_tw_buckets.has_value());
  EXPECT_FALSE(r->tcp_fin_timeout_s.has_value());
  EXPECT_FALSE(r->tcp_timestamps.has_value());
}

TEST(ReadNetSysctls, Errors) {
  std::string broken = kData + "/proc-broken/sys/net/ipv4/ip_local_port_range";
  EXPECT_ERROR_HAS(ReadNetSysctls(ProcPaths::ForRoot(kData + "/proc-broken")),
                   broken + ": port range: expected 'low high', got 'garbage\\x0a'");
  std::string none = kData + "/no-such-root";
  EXPECT_ERROR_HAS(ReadNetSysctls(ProcPaths::ForRoot(none)),
                   none + "/sys/net/ipv4/ip_local_port_range: not found");

  TempTree t;
  ASSERT_FALSE(t.root().empty());
  t.Write("sys/net/ipv4/ip_local_port_range", "1024 65000\n");
  std::string reuse = t.Write("sys/net/ipv4/tcp_tw_reuse", "on\n");
  EXPECT_ERROR_HAS(ReadNetSysctls(ProcPaths::ForRoot(t.root())),
                   reuse + ": sysctl: not a number: 'on'");
  t.Write("sys/net/ipv4/tcp_tw_reuse", "1\n");
  std::string reserved = t.Write("sys/net/ipv4/ip_local_reserved_ports", "5-1\n");
  EXPECT_ERROR_HAS(ReadNetSysctls(ProcPaths::ForRoot(t.root())),
                   reserved + ": port list: reversed range '5-1'");
  t.Write("sys/net/ipv4/ip_local_reserved_ports", "\n");
  Result<NetSysctls> ok = ReadNetSysctls(ProcPaths::ForRoot(t.root()));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->port_range->size(), 63977u);
  EXPECT_EQ(ok->reserved_ports->count(), 0u);
  EXPECT_EQ(ok->tcp_tw_reuse, 1);
  EXPECT_FALSE(ok->tcp_timestamps.has_value());
}

TEST(ReadSockstat, FixtureTree) {
  ProcPaths paths = ProcPaths::ForRoot(kData + "/proc");
  auto r = ReadSockstat(paths, "sockstat");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->has_value());
  const SockstatTable& t = **r;
  EXPECT_EQ(t.at("sockets").at("used"), 412u);
  EXPECT_EQ(t.at("TCP").at("inuse"), 37u);
  EXPECT_EQ(t.at("TCP").at("orphan"), 2u);
  EXPECT_EQ(t.at("TCP").at("tw"), 153u);
  EXPECT_EQ(t.at("TCP").at("alloc"), 45u);
  EXPECT_EQ(t.at("TCP").at("mem"), 11u);
  auto r6 = ReadSockstat(paths, "sockstat6");
  ASSERT_TRUE(r6.ok()) << r6.status().message();
  ASSERT_TRUE(r6->has_value());
  EXPECT_EQ((**r6).at("TCP6").at("inuse"), 9u);
}

TEST(ReadSockstat, MissingFileIsNoData) {
  auto r = ReadSockstat(ProcPaths::ForRoot(kData + "/proc-minimal"), "sockstat6");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->has_value());
}

TEST(ReadSockstat, RealProc) {
  auto r = ReadSockstat(ProcPaths::ForRoot("/proc"), "sockstat");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((**r).at("TCP").count("inuse"), 1u);
}

TEST(ReadNetstat, FixtureTree) {
  ProcPaths paths = ProcPaths::ForRoot(kData + "/proc");
  auto r = ReadNetstat(paths, "netstat");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->has_value());
  const auto& ext = (**r).at("TcpExt");
  EXPECT_EQ(ext.at("TW"), 98211);
  EXPECT_EQ(ext.at("TWRecycled"), 42);
  EXPECT_EQ(ext.at("TWKilled"), 3);
  EXPECT_EQ(ext.at("TCPTimeWaitOverflow"), 17);
  EXPECT_EQ(ext.at("TCPAbortOnClose"), 311);
  EXPECT_EQ(ext.at("ListenOverflows"), 5);
  EXPECT_EQ(ext.at("ListenDrops"), 7);
  auto s = ReadNetstat(paths, "snmp");
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_TRUE(s->has_value());
  const auto& tcp = (**s).at("Tcp");
  EXPECT_EQ(tcp.at("ActiveOpens"), 52340);
  EXPECT_EQ(tcp.at("PassiveOpens"), 8120);
  EXPECT_EQ(tcp.at("AttemptFails"), 311);
  EXPECT_EQ(tcp.at("EstabResets"), 97);
  EXPECT_EQ(tcp.at("CurrEstab"), 24);
  EXPECT_EQ(tcp.at("RetransSegs"), 1450);
  EXPECT_EQ(tcp.at("OutRsts"), 1022);
  EXPECT_EQ(tcp.at("MaxConn"), -1);
}

TEST(ReadNetstat, Kernel61CaptureDir) {
  ProcPaths paths = ProcPaths::ForRoot(kFiles + "/6.1");
  paths.net_dir = paths.root;  // the capture keeps the /proc/net files at the top
  auto r = ReadNetstat(paths, "netstat");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((**r).at("TcpExt").at("ListenDrops"), 12);
  auto s = ReadNetstat(paths, "snmp");
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((**s).at("Tcp").at("MaxConn"), -1);
  auto t = ReadSockstat(paths, "sockstat");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((**t).at("TCP").at("tw"), 8u);
}

TEST(ReadNetstat, MissingAndBroken) {
  auto r = ReadNetstat(ProcPaths::ForRoot(kData + "/proc-minimal"), "netstat");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->has_value());
  std::string path = kData + "/proc-broken/net/netstat";
  EXPECT_ERROR_HAS(ReadNetstat(ProcPaths::ForRoot(kData + "/proc-broken"), "netstat"),
                   path + ": TcpExt (line 1): 135 names but 134 values");
}

TEST(ReadNetstat, ThreadNetnsPath) {
  // thread-self/net exists on the real /proc and is this thread's namespace.
  auto r = ReadNetstat(ProcPaths::ForThreadNetns("/proc"), "snmp");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((**r).at("Tcp").at("MaxConn"), -1);
}

}  // namespace
}  // namespace sockstate
