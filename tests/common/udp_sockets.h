#pragma once
// UDP sockets for real-kernel tests: one socket that gets its local port in one of the ways
// the kernel gives one (an explicit bind to port 0, or the automatic bind of sendto(),
// sendmsg(), connect()), and an owner that closes them. Call from a thread inside the test's
// namespace (TestNetns::Run); nothing is sent anywhere but loopback addresses the caller names.

#include <cstdint>
#include <string>
#include <vector>

namespace sockstate::testing {

/// How a UDP socket gets its local port.
enum class UdpBind {
  kBind0,    // bind(wildcard, 0)
  kSendto,   // sendto() of one byte to the destination
  kSendmsg,  // sendmsg() of one byte to the destination
  kConnect,  // connect() to the destination
};
/// "bind(0)", "sendto", "sendmsg", "connect" (for messages). Thread-safe.
const char* UdpBindName(UdpBind how);

/// A UDP socket of the destination's family ("127.0.0.1": AF_INET; "::1": AF_INET6,
/// dual-stack) that gets its local port `how`. Returns the fd, or -errno of the failing call
/// (the socket is then closed): bind(0) EADDRINUSE, the others EAGAIN when no port is free.
/// `local` (optional) is bound first with IP_BIND_ADDRESS_NO_PORT (AF_INET only).
int UdpSocket(UdpBind how, const std::string& dst, uint16_t dport = 53,
              const std::string& local = "");

class FdOwner;

/// Takes 20 local ports of the namespace in every way a UDP socket gets one, both families
/// (an AF_INET6 socket is dual-stack: it competes for the same range): bind(0) x 4 and x 2
/// (IPv6), sendto x 4, sendmsg x 3 (IPv6), connect x 4 and x 3 (IPv6). Throws if one fails.
void HoldTwentyPortsEveryWay(FdOwner& held);

/// One more socket of every kind (bind(0), sendto, sendmsg, connect) towards each of
/// `destinations` (port 9); each closed again. Returns "<kind> <destination> <strerror or ok>"
/// per attempt, in that order.
std::vector<std::string> TryEveryKind(const std::vector<std::string>& destinations);

/// What TryEveryKind says when no port is left: EADDRINUSE for bind(0), EAGAIN for the others.
std::vector<std::string> NoPortLeftOutcomes(const std::vector<std::string>& destinations);

/// Owns fds and closes them when destroyed. Not thread-safe.
class FdOwner {
 public:
  FdOwner() = default;
  FdOwner(const FdOwner&) = delete;
  FdOwner& operator=(const FdOwner&) = delete;
  ~FdOwner();
  /// Takes `fd` (>= 0) and returns it.
  int Own(int fd);
  size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
};

}  // namespace sockstate::testing
