#include "udp_sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sockstate::testing {

const char* UdpBindName(UdpBind how) {
  switch (how) {
    case UdpBind::kBind0:
      return "bind(0)";
    case UdpBind::kSendto:
      return "sendto";
    case UdpBind::kSendmsg:
      return "sendmsg";
    case UdpBind::kConnect:
      return "connect";
  }
  return "?";
}

int UdpSocket(UdpBind how, const std::string& dst, uint16_t dport, const std::string& local) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const int family = dst.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(dport);
    if (inet_pton(AF_INET, dst.c_str(), &a->sin_addr) != 1) throw std::invalid_argument(dst);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(dport);
    if (inet_pton(AF_INET6, dst.c_str(), &a->sin6_addr) != 1) throw std::invalid_argument(dst);
    len = sizeof(*a);
  }
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + strerror(errno));
  int rc = 0;
  if (!local.empty()) {
    int one = 1;
    sockaddr_in l{};
    l.sin_family = AF_INET;
    if (family != AF_INET || inet_pton(AF_INET, local.c_str(), &l.sin_addr) != 1 ||
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) != 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&l), sizeof(l)) != 0) {
      close(fd);
      throw std::runtime_error("binding " + local + ": " + strerror(errno));
    }
  }
  char byte = 'x';
  switch (how) {
    case UdpBind::kBind0: {
      sockaddr_storage any{};
      any.ss_family = sa_family_t(family);  // wildcard address, port 0
      rc = bind(fd, reinterpret_cast<sockaddr*>(&any), len);
      break;
    }
    case UdpBind::kSendto:
      rc = sendto(fd, &byte, 1, 0, reinterpret_cast<sockaddr*>(&ss), len) == 1 ? 0 : -1;
      break;
    case UdpBind::kSendmsg: {
      iovec iov{&byte, 1};
      msghdr msg{};
      msg.msg_name = &ss;
      msg.msg_namelen = len;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      rc = sendmsg(fd, &msg, 0) == 1 ? 0 : -1;
      break;
    }
    case UdpBind::kConnect:
      rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
      break;
  }
  if (rc != 0) {
    const int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

void HoldTwentyPortsEveryWay(FdOwner& held) {
  for (int i = 0; i < 4; ++i) held.Own(UdpSocket(UdpBind::kBind0, "127.0.0.1"));
  for (int i = 0; i < 4; ++i) held.Own(UdpSocket(UdpBind::kSendto, "127.0.0.1"));
  for (int i = 0; i < 3; ++i) held.Own(UdpSocket(UdpBind::kSendmsg, "::1"));
  for (int i = 0; i < 4; ++i) held.Own(UdpSocket(UdpBind::kConnect, "127.0.0.1"));
  for (int i = 0; i < 3; ++i) held.Own(UdpSocket(UdpBind::kConnect, "::1", 5353));
  for (int i = 0; i < 2; ++i) held.Own(UdpSocket(UdpBind::kBind0, "::1"));
}

namespace {
constexpr UdpBind kEveryKind[] = {UdpBind::kBind0, UdpBind::kSendto, UdpBind::kSendmsg,
                                  UdpBind::kConnect};
}  // namespace

std::vector<std::string> TryEveryKind(const std::vector<std::string>& destinations) {
  std::vector<std::string> outcomes;
  for (const std::string& dst : destinations) {
    for (UdpBind how : kEveryKind) {
      const int r = UdpSocket(how, dst, 9);
      outcomes.push_back(std::string(UdpBindName(how)) + " " + dst + " " +
                         (r >= 0 ? "ok" : strerror(-r)));
      if (r >= 0) close(r);
    }
  }
  return outcomes;
}

std::vector<std::string> NoPortLeftOutcomes(const std::vector<std::string>& destinations) {
  std::vector<std::string> want;
  for (const std::string& dst : destinations) {
    for (UdpBind how : kEveryKind) {
      want.push_back(std::string(UdpBindName(how)) + " " + dst + " " +
                     strerror(how == UdpBind::kBind0 ? EADDRINUSE : EAGAIN));
    }
  }
  return want;
}

FdOwner::~FdOwner() {
  for (int fd : fds_) close(fd);
}

int FdOwner::Own(int fd) {
  if (fd < 0) throw std::logic_error("FdOwner::Own of a failed socket");
  fds_.push_back(fd);
  return fd;
}

}  // namespace sockstate::testing
