#pragma once
// One TCP socket as reported by a sock_diag dump, decoded into host order. The dump parser
// fills one of these per inet_diag_msg and hands it to a RecordSink by reference: no
// allocation per socket.

#include <array>
#include <cstdint>
#include <string_view>

#include "util/family.h"

namespace sockstate {

/// TCP states as numbered by the kernel (include/net/tcp_states.h).
enum TcpState : uint8_t {
  kTcpEstablished = 1,
  kTcpSynSent = 2,
  kTcpSynRecv = 3,
  kTcpFinWait1 = 4,
  kTcpFinWait2 = 5,
  kTcpTimeWait = 6,
  kTcpClose = 7,
  kTcpCloseWait = 8,
  kTcpLastAck = 9,
  kTcpListen = 10,
  kTcpClosing = 11,
  kTcpNewSynRecv = 12,     // request sockets; the kernel reports them as SYN_RECV
  kTcpBoundInactive = 13,  // 6.8+: bound, not listening, not connected
  kTcpMaxState = 14,       // one past the last
};

/// All states, as an inet_diag idiag_states mask.
inline constexpr uint32_t kAllStatesMask = (1u << kTcpMaxState) - 1;

/// Exported state label for a kernel state number ("time_wait"), or "" for states that are
/// never exported (0, NEW_SYN_RECV, out of range).
std::string_view TcpStateName(uint8_t state);

/// The states exported as label values, in kernel order (12 entries, NEW_SYN_RECV excluded).
inline constexpr std::array<uint8_t, 12> kExportedStates = {
    kTcpEstablished, kTcpSynSent,   kTcpSynRecv, kTcpFinWait1, kTcpFinWait2, kTcpTimeWait,
    kTcpClose,       kTcpCloseWait, kTcpLastAck, kTcpListen,   kTcpClosing,  kTcpBoundInactive};

/// One socket. Addresses are in network byte order; an IPv4 address occupies addr[0..3] and
/// the rest is zero. IPv4-mapped IPv6 sockets (::ffff:a.b.c.d) are normalised to kIpv4.
struct SocketRecord {
  Family family = Family::kIpv4;
  uint8_t state = 0;      // TcpState; NEW_SYN_RECV is already folded into SYN_RECV
  uint8_t timer = 0;      // idiag_timer
  uint16_t src_port = 0;  // host order
  uint16_t dst_port = 0;  // host order
  std::array<uint8_t, 16> src_addr{};
  std::array<uint8_t, 16> dst_addr{};
  uint32_t expires_ms = 0;  // idiag_expires: ms until the socket's timer fires
  uint32_t uid = 0;
  uint32_t inode = 0;
  /// cgroup v2 id of the socket (its creator's cgroup): INET_DIAG_CGROUP_ID, which the kernel
  /// sends with every full socket. 0 for TIME_WAIT and request sockets (they have none) and
  /// when the attribute is absent (kernels before 5.9, no cgroup v2).
  uint64_t cgroup_id = 0;
  uint64_t cookie = 0;  // idiag_cookie: the socket cookie (what BPF's bpf_get_socket_cookie gives)
};

/// Receives socket records from a dump or a replay. OnSocket runs once per socket on the
/// dump's thread, in O(1), and must not allocate.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void OnSocket(const SocketRecord& record) = 0;
};

}  // namespace sockstate
