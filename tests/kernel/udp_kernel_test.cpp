// Real-kernel tests of the UDP side (root): UDP sockets built in a throwaway network namespace,
// dumped through NETLINK_SOCK_DIAG (SockDiagSocket::DumpUdp) and compared with the
// construction, and recorded then replayed.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "exporter_process.h"
#include "kernel/sock_diag.h"
#include "kernel/udp_socket_record.h"
#include "netns_fixture.h"
#include "requirements.h"
#include "test_util.h"
#include "udp_sockets.h"

namespace sockstate {
namespace {

using testing::Missing;
using testing::Need;
using testing::TestNetns;
using testing::UdpBind;

class UdpKernel : public ::testing::Test {
 protected:
  void SetUp() override { SOCKSTATE_REQUIRE(Missing({Need::kRoot})); }
};

/// Every record of a dump, as text: "ipv4 127.0.0.1:40000 -> 127.0.0.1:53 connected", with
/// " v6only=yes|no|unknown" for IPv6 and " if=N" when bound to a device.
class TextSink : public UdpRecordSink {
 public:
  void OnUdpSocket(const UdpSocketRecord& r) override {
    const int af = r.family == Family::kIpv4 ? AF_INET : AF_INET6;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    inet_ntop(af, r.src_addr.data(), src, sizeof(src));
    inet_ntop(af, r.dst_addr.data(), dst, sizeof(dst));
    std::string line = std::string(af == AF_INET ? "ipv4 " : "ipv6 ") + src + " -> " + dst + ":" +
                       std::to_string(r.dst_port) + (r.connected ? " connected" : " unconnected");
    if (r.family == Family::kIpv6) {
      line += r.v6only == V6Only::kYes  ? " v6only=yes"
              : r.v6only == V6Only::kNo ? " v6only=no"
                                        : " v6only=unknown";
    }
    if (r.ifindex != 0) line += " if=" + std::to_string(r.ifindex);
    lines.push_back(line);
    ports.push_back(r.src_port);
  }
  std::vector<std::string> lines;
  std::vector<uint16_t> ports;
};

/// addr:port as a sockaddr of the address's family; returns its length.
socklen_t SockAddr(const char* addr, uint16_t port, sockaddr_storage* ss) {
  *ss = {};
  if (strchr(addr, ':') == nullptr) {
    auto* a = reinterpret_cast<sockaddr_in*>(ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    EXPECT_EQ(inet_pton(AF_INET, addr, &a->sin_addr), 1) << addr;
    return sizeof(*a);
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, addr, &a->sin6_addr), 1) << addr;
  return sizeof(*a);
}

/// A UDP socket of `family` with IPV6_V6ONLY `v6only` (AF_INET6, when >= 0), bound to
/// addr:port (SO_REUSEADDR first with `reuse`, to `device` with SO_BINDTODEVICE), then
/// connected to `dst`:dport when `dst` is set.
int BoundSocket(int family, const char* addr, int v6only = -1, const char* device = nullptr,
                uint16_t port = 0, bool reuse = false, const char* dst = nullptr,
                uint16_t dport = 0) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (v6only >= 0) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  if (device != nullptr) setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, strlen(device));
  if (reuse) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage ss;
  socklen_t len = SockAddr(addr, port, &ss);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << addr << ": " << strerror(errno);
  if (dst != nullptr) {
    len = SockAddr(dst, dport, &ss);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0)
        << dst << ": " << strerror(errno);
  }
  return fd;
}

TEST_F(UdpKernel, DumpShowsEverySocketAsBuiltAndReplaysTheSame) {
  TestNetns ns;
  testing::FdOwner held;
  TextSink dumped;
  const std::string path =
      ::testing::TempDir() + "/udp_kernel_test-" + std::to_string(getpid()) + ".ssudp";
  ns.Run([&] {
    held.Own(BoundSocket(AF_INET, "0.0.0.0"));
    held.Own(BoundSocket(AF_INET, "127.0.0.1"));
    held.Own(BoundSocket(AF_INET, "0.0.0.0", -1, "lo"));
    held.Own(testing::UdpSocket(UdpBind::kConnect, "127.0.0.1", 53));
    held.Own(testing::UdpSocket(UdpBind::kSendto, "127.0.0.1", 9));
    held.Own(BoundSocket(AF_INET6, "::", 0));
    held.Own(BoundSocket(AF_INET6, "::", 1));
    held.Own(BoundSocket(AF_INET6, "::1"));
    held.Own(testing::UdpSocket(UdpBind::kConnect, "::1", 5353));
    held.Own(testing::UdpSocket(UdpBind::kConnect, "::ffff:127.0.0.1", 53));
    held.Own(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));  // no port: not in the dump
    auto sock = SockDiagSocket::Open();
    ASSERT_TRUE(sock.ok()) << sock.status().message();
    auto rec = DumpRecorder::OpenUdp(path);
    ASSERT_TRUE(rec.ok()) << rec.status().message();
    DumpStats stats;
    Status s = (*sock)->DumpUdp(dumped, rec->get(), &stats);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(stats.messages, 10u);
  });
  std::vector<std::string> got = dumped.lines;
  std::sort(got.begin(), got.end());
  const std::vector<std::string> want = {
      "ipv4 0.0.0.0 -> 0.0.0.0:0 unconnected",         "ipv4 0.0.0.0 -> 0.0.0.0:0 unconnected",
      "ipv4 0.0.0.0 -> 0.0.0.0:0 unconnected if=1",    "ipv4 127.0.0.1 -> 0.0.0.0:0 unconnected",
      "ipv4 127.0.0.1 -> 127.0.0.1:53 connected",
      "ipv4 127.0.0.1 -> 127.0.0.1:53 connected",  // the IPv4-mapped AF_INET6 one
      "ipv6 :: -> :::0 unconnected v6only=no",         "ipv6 :: -> :::0 unconnected v6only=yes",
      "ipv6 ::1 -> ::1:5353 connected v6only=unknown",
      "ipv6 ::1 -> :::0 unconnected v6only=yes",  // a specific IPv6 address implies v6-only
  };
  EXPECT_EQ(got, want);
  // Every socket has a port from the namespace's default range.
  for (uint16_t p : dumped.ports) {
    EXPECT_GE(p, 32768);
    EXPECT_LE(p, 60999);
  }
  TextSink replayed;
  Status s = ReplayUdpDumpFile(path, replayed);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(replayed.lines, dumped.lines);
  EXPECT_EQ(replayed.ports, dumped.ports);
  std::remove(path.c_str());
}

/// The population of tests/fixtures/dumps/udp.ssudp, with explicit ports so that every figure
/// is known by hand (the same list as FixturePopulation() in tests/unit/udp_aggregator_test.cpp,
/// which works them out).
void BuildFixturePopulation(testing::FdOwner& held) {
  held.Own(BoundSocket(AF_INET, "0.0.0.0", -1, nullptr, 45000));
  held.Own(BoundSocket(AF_INET, "127.0.0.1", -1, nullptr, 45001));
  held.Own(BoundSocket(AF_INET, "127.0.0.2", -1, nullptr, 45001));
  held.Own(BoundSocket(AF_INET, "0.0.0.0", -1, nullptr, 45002, /*reuse=*/true));
  held.Own(BoundSocket(AF_INET, "0.0.0.0", -1, nullptr, 45002, /*reuse=*/true));
  held.Own(BoundSocket(AF_INET6, "::", 0, nullptr, 45003));
  held.Own(BoundSocket(AF_INET6, "::", 1, nullptr, 45004));
  held.Own(BoundSocket(AF_INET6, "::1", -1, nullptr, 45005));
  held.Own(BoundSocket(AF_INET, "127.0.0.1", -1, nullptr, 46000, false, "127.0.0.53", 53));
  held.Own(BoundSocket(AF_INET, "127.0.0.1", -1, nullptr, 46001, false, "127.0.0.53", 53));
  held.Own(BoundSocket(AF_INET, "127.0.0.1", -1, nullptr, 46002, false, "127.0.0.54", 53));
  held.Own(BoundSocket(AF_INET6, "::1", -1, nullptr, 46003, false, "::1", 5353));
  held.Own(
      BoundSocket(AF_INET6, "::ffff:127.0.0.1", 0, nullptr, 46004, false, "::ffff:127.0.0.53", 53));
  held.Own(BoundSocket(AF_INET, "127.0.0.1", -1, nullptr, 40005));  // a reserved port
  held.Own(BoundSocket(AF_INET, "0.0.0.0", -1, nullptr, 5353));     // outside the range
}

TEST_F(UdpKernel, FixturePopulationScrapesToTheFiguresWorkedOutByHand) {
  TestNetns ns;
  ns.SetSysctl("net.ipv4.ip_local_reserved_ports", "40000-40009,50000");
  testing::FdOwner held;
  ns.Run([&] {
    BuildFixturePopulation(held);
    // SOCKSTATE_RECORD_FIXTURES=<dir>: also write the committed fixture <dir>/udp.ssudp.
    if (const char* dir = getenv("SOCKSTATE_RECORD_FIXTURES")) {
      auto sock = SockDiagSocket::Open();
      ASSERT_TRUE(sock.ok());
      auto rec = DumpRecorder::OpenUdp(std::string(dir) + "/udp.ssudp");
      ASSERT_TRUE(rec.ok()) << rec.status().message();
      TextSink ignored;
      ASSERT_TRUE((*sock)->DumpUdp(ignored, rec->get()).ok());
    }
  });
  ASSERT_EQ(held.size(), 15u);
  testing::ExporterProcess exporter("namespaces:\n  mode: list\n  names: [" + ns.name() +
                                    "]\n  detail_threshold: 0\n");
  const testing::Series s = exporter.Scrape();
  const std::string n = ns.name();
  auto get = [&](const std::string& name, std::vector<std::pair<std::string, std::string>> l = {}) {
    l.push_back({"netns", n});
    return testing::Get(s, name, l);
  };
  EXPECT_EQ(get("sockstate_scrape_source_success", {{"source", "udp"}}), 1);
  EXPECT_EQ(get("sockstate_udp_sockets", {{"family", "ipv4"}, {"state", "unconnected"}}), 7);
  EXPECT_EQ(get("sockstate_udp_sockets", {{"family", "ipv4"}, {"state", "connected"}}), 4);
  EXPECT_EQ(get("sockstate_udp_sockets", {{"family", "ipv6"}, {"state", "unconnected"}}), 3);
  EXPECT_EQ(get("sockstate_udp_sockets", {{"family", "ipv6"}, {"state", "connected"}}), 1);
  EXPECT_EQ(get("sockstate_udp_ephemeral_ports_used"), 11);
  EXPECT_EQ(get("sockstate_udp_ephemeral_port_usable_ports"), 28221);
  EXPECT_DOUBLE_EQ(get("sockstate_udp_occupancy_ratio"), 11.0 / 28221);
  EXPECT_EQ(get("sockstate_udp_sockets_sharing_ports"), 2);
  EXPECT_EQ(
      get("sockstate_udp_local_address_ephemeral_ports_used", {{"local_address", "127.0.0.1"}}), 8);
  EXPECT_EQ(
      get("sockstate_udp_local_address_ephemeral_ports_used", {{"local_address", "127.0.0.2"}}), 4);
  EXPECT_EQ(get("sockstate_udp_local_address_ephemeral_ports_used", {{"local_address", "::1"}}), 4);
  EXPECT_EQ(get("sockstate_udp_destination_sockets", {{"destination", "127.0.0.53:53"}}), 3);
  EXPECT_EQ(get("sockstate_udp_destination_sockets", {{"destination", "127.0.0.54:53"}}), 1);
  EXPECT_EQ(get("sockstate_udp_destination_sockets", {{"destination", "[::1]:5353"}}), 1);
  EXPECT_EQ(get("sockstate_udp_destination_sockets", {{"destination", "other"}}), 0);
  // TCP is untouched: no socket, every destination series absent, the states 0.
  EXPECT_EQ(get("sockstate_tcp_sockets", {{"family", "ipv4"}, {"state", "established"}}), 0);
  EXPECT_EQ(get("sockstate_netlink_dump_sockets"), 0);
}

/// The config of an exporter that reads exactly `ns` (dumped whatever its bound).
std::string ListConfig(const TestNetns& ns) {
  return "namespaces:\n  mode: list\n  names: [" + ns.name() + "]\n  detail_threshold: 0\n";
}

TEST_F(UdpKernel, TwentyPortRangeFullIsOccupancyOneAndEveryFurtherAttemptFailsAndIsCounted) {
  SOCKSTATE_REQUIRE(Missing({Need::kKernelBtf}));
  TestNetns ns;
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40019");
  testing::ExporterProcess exporter(ListConfig(ns), {"--collector.connect-failures=on",
                                                     "--collector.connect-failures.udp=syscalls"});
  const std::string n = ns.name();
  auto get = [&](const testing::Series& s, const std::string& name,
                 std::vector<std::pair<std::string, std::string>> l = {}) {
    l.push_back({"netns", n});
    return testing::Get(s, name, l);
  };
  auto udp_failures = [&](const testing::Series& s) {
    return get(s, "sockstate_connect_failures_total",
               {{"protocol", "udp"}, {"reason", "no_local_port"}});
  };
  testing::Series before = exporter.Scrape();
  EXPECT_EQ(get(before, "sockstate_udp_occupancy_ratio"), 0);
  EXPECT_EQ(udp_failures(before), 0);
  testing::FdOwner held;
  ns.Run([&] { testing::HoldTwentyPortsEveryWay(held); });
  ASSERT_EQ(held.size(), 20u);
  testing::Series full = exporter.Scrape();
  EXPECT_EQ(get(full, "sockstate_udp_ephemeral_port_usable_ports"), 20);
  EXPECT_EQ(get(full, "sockstate_udp_ephemeral_ports_used"), 20);
  EXPECT_EQ(get(full, "sockstate_udp_occupancy_ratio"), 1.0);
  EXPECT_EQ(get(full, "sockstate_udp_sockets_sharing_ports"), 0);
  const std::vector<std::string> destinations = {"127.0.0.1", "::1"};
  std::vector<std::string> outcomes;
  ns.Run([&] { outcomes = testing::TryEveryKind(destinations); });  // the 21st of each kind
  EXPECT_EQ(outcomes, testing::NoPortLeftOutcomes(destinations));
  testing::Series after = exporter.Scrape();
  EXPECT_EQ(udp_failures(after), 8);
  EXPECT_EQ(get(after, "sockstate_connect_failures_total",
                {{"destination", "other"}, {"protocol", "tcp"}, {"reason", "no_local_port"}}),
            0);
  EXPECT_EQ(get(after, "sockstate_udp_occupancy_ratio"), 1.0);
}

TEST_F(UdpKernel, ConnectedSocketsToTwoDestinationsCountedApartAndTcpUntouched) {
  TestNetns ns;
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40099");
  // TCP: 5 connections to 127.0.0.9:8080, so that its occupancy is 5/100.
  const int listener = ns.Listen("127.0.0.9", 8080);
  for (int i = 0; i < 5; ++i) ns.Connect(listener, "127.0.0.9", 8080);
  testing::FdOwner held;
  ns.Run([&] {
    for (int i = 0; i < 7; ++i) held.Own(testing::UdpSocket(UdpBind::kConnect, "127.0.0.53", 53));
    for (int i = 0; i < 3; ++i) held.Own(testing::UdpSocket(UdpBind::kConnect, "127.0.0.54", 8125));
    held.Own(testing::UdpSocket(UdpBind::kBind0, "127.0.0.1"));  // unconnected: no destination
  });
  testing::ExporterProcess exporter(ListConfig(ns));
  const testing::Series s = exporter.Scrape();
  const std::string n = ns.name();
  auto get = [&](const std::string& name, std::vector<std::pair<std::string, std::string>> l) {
    l.push_back({"netns", n});
    return testing::Get(s, name, l);
  };
  EXPECT_EQ(get("sockstate_udp_destination_sockets", {{"destination", "127.0.0.53:53"}}), 7);
  EXPECT_EQ(get("sockstate_udp_destination_sockets", {{"destination", "127.0.0.54:8125"}}), 3);
  EXPECT_EQ(
      get("sockstate_udp_destination_ephemeral_ports_used", {{"destination", "127.0.0.53:53"}}), 7);
  EXPECT_EQ(get("sockstate_udp_destination_sockets", {{"destination", "other"}}), 0);
  EXPECT_EQ(get("sockstate_udp_ephemeral_ports_used", {}), 11);
  // TCP sees its own destination only, with its own occupancy, untouched by 11 UDP ports
  // (UDP's ports are not TCP's: separate tables).
  EXPECT_EQ(
      get("sockstate_destination_ephemeral_ports_used_max", {{"destination", "127.0.0.9:8080"}}),
      5);
  EXPECT_EQ(get("sockstate_destination_occupancy_ratio", {{"destination", "127.0.0.9:8080"}}),
            5.0 / 100);
  EXPECT_TRUE(
      std::isnan(get("sockstate_destination_occupancy_ratio", {{"destination", "127.0.0.53:53"}})));
  // The TCP budget is the whole range (the listener's 8080 is outside it); UDP holds none of it.
  EXPECT_EQ(get("sockstate_ephemeral_port_usable_ports", {}), 100);
}

}  // namespace
}  // namespace sockstate
