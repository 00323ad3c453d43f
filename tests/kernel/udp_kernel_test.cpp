// Real-kernel tests of the UDP side (root): UDP sockets built in a throwaway network namespace,
// dumped through NETLINK_SOCK_DIAG (SockDiagSocket::DumpUdp) and compared with the
// construction, and recorded then replayed.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

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

/// A UDP socket of `family` with IPV6_V6ONLY `v6only` (AF_INET6), bound to addr:0.
int BoundSocket(int family, const char* addr, int v6only = -1, const char* device = nullptr) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (v6only >= 0) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  if (device != nullptr) setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, strlen(device));
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &a->sin_addr);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, addr, &a->sin6_addr);
    len = sizeof(*a);
  }
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << addr << ": " << strerror(errno);
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

}  // namespace
}  // namespace sockstate
