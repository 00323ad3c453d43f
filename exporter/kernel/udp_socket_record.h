#pragma once
// One UDP socket as a sock_diag UDP dump reports it, decoded into host order, and the sink
// that receives them. The parser (kernel/udp_diag.h) fills one record per message and hands
// it to a UdpRecordSink by reference: no allocation per socket.

#include <array>
#include <cstdint>

#include "util/family.h"

namespace sockstate {

/// Whether an IPv6 socket accepts IPv4 too. Known only for unconnected IPv6 sockets (the
/// kernel sends INET_DIAG_SKV6ONLY for them only); kNotApplicable for IPv4 sockets.
enum class V6Only : uint8_t { kNotApplicable = 0, kNo = 1, kYes = 2, kUnknown = 3 };

/// One UDP socket with a local port. Addresses in network byte order; an IPv4 address
/// occupies addr[0..3] (rest zero). An AF_INET6 socket whose local address is IPv4-mapped
/// (::ffff:a.b.c.d, ::ffff:0.0.0.0) is normalised to kIpv4 (local and remote). Value type.
struct UdpSocketRecord {
  Family family = Family::kIpv4;
  bool connected = false;  // idiag_state TCP_ESTABLISHED (1); else TCP_CLOSE (7)
  V6Only v6only = V6Only::kNotApplicable;
  uint16_t src_port = 0;  // host order
  uint16_t dst_port = 0;  // host order, 0 when unconnected
  std::array<uint8_t, 16> src_addr{};
  std::array<uint8_t, 16> dst_addr{};
  uint32_t ifindex = 0;  // SO_BINDTODEVICE, 0 = none
  uint32_t uid = 0;
  uint32_t inode = 0;
};

/// Receives UDP socket records from a dump or a replay. OnUdpSocket runs once per socket on
/// the dump's thread, in O(1), and must not allocate.
class UdpRecordSink {
 public:
  virtual ~UdpRecordSink() = default;
  virtual void OnUdpSocket(const UdpSocketRecord& record) = 0;
};

}  // namespace sockstate
