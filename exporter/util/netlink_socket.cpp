#include "util/netlink_socket.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <ctime>

#include "util/file_util.h"

namespace sockstate {
namespace {

// The kernel caps one dump skb at ~32 KiB (MNL_SOCKET_DUMP_SIZE in newer libmnl); a larger
// buffer costs nothing and can never truncate a message.
constexpr size_t kReceiveBufferSize = 64 * 1024;
constexpr int kRcvBufBytes = 1 << 20;
constexpr int kRecvTimeoutSeconds = 10;
constexpr int kMaxEintrRetries = 1000;
constexpr int kMaxDrainReads = 1000000;
constexpr size_t kNlHdrLen = NLMSG_HDRLEN;  // 16

// -err for a negative errno the kernel can send (-4095..-1), else 0.
int ErrnoOf(int32_t err) { return (err < 0 && err >= -4095) ? -err : 0; }

}  // namespace

std::string NegatedErrnoText(int32_t err) {
  const int64_t e = -int64_t{err};
  if (e <= 0 || e > 4095) return "bad error code " + std::to_string(err);
  return ErrnoText(static_cast<int>(e));
}

namespace netlink_internal {

bool BadHeader(const uint8_t* base, size_t len, size_t off, const NetlinkReplyFilter* expect,
               NetlinkParseResult* result) {
  std::string* error = &result->error;
  const size_t left = len - off;
  nlmsghdr hdr;
  nlmsghdr* h = &hdr;
  if (left < kNlHdrLen) {
    SetErrorf(error, "truncated netlink header at offset %zu: %zu bytes left, need %zu", off, left,
              kNlHdrLen);
    return false;
  }
  std::memcpy(h, base + off, sizeof(*h));
  if (h->nlmsg_len < kNlHdrLen) {
    SetErrorf(error, "bad nlmsg_len %u at offset %zu (minimum %zu)", h->nlmsg_len, off, kNlHdrLen);
    return false;
  }
  if (h->nlmsg_len > left) {
    SetErrorf(error, "nlmsg_len %u at offset %zu runs past the end of the buffer (%zu bytes left)",
              h->nlmsg_len, off, left);
    return false;
  }
  if (expect != nullptr && (h->nlmsg_seq != expect->seq || h->nlmsg_pid != expect->portid)) {
    SetErrorf(error, "message at offset %zu answers seq %u portid %u, expected seq %u portid %u",
              off, h->nlmsg_seq, h->nlmsg_pid, expect->seq, expect->portid);
    return false;
  }
  if (h->nlmsg_flags & NLM_F_DUMP_INTR) {
    result->dump_interrupted = true;
    SetErrorf(error, "dump interrupted (NLM_F_DUMP_INTR) at offset %zu", off);
  }
  return false;
}

NetlinkParseState ControlMessage(const nlmsghdr& h, const uint8_t* payload, size_t off,
                                 NetlinkParseResult* result) {
  std::string* error = &result->error;
  const size_t payload_len = h.nlmsg_len - kNlHdrLen;
  switch (h.nlmsg_type) {
    case NLMSG_DONE: {
      int32_t status = 0;
      if (payload_len >= sizeof(status)) std::memcpy(&status, payload, sizeof(status));
      if (status < 0) {
        result->nl_errno = ErrnoOf(status);
        SetErrorf(error, "dump failed (NLMSG_DONE at offset %zu): %s", off,
                  NegatedErrnoText(status).c_str());
        return NetlinkParseState::kError;
      }
      return NetlinkParseState::kDone;
    }
    case NLMSG_ERROR: {
      int32_t err = 0;
      if (payload_len < sizeof(err)) {
        SetErrorf(error, "truncated NLMSG_ERROR at offset %zu: nlmsg_len %u", off, h.nlmsg_len);
        return NetlinkParseState::kError;
      }
      std::memcpy(&err, payload, sizeof(err));
      if (err == 0) return NetlinkParseState::kMore;  // an acknowledgement; dumps ask for none
      result->nl_errno = ErrnoOf(err);
      SetErrorf(error, "netlink error at offset %zu: %s", off, NegatedErrnoText(err).c_str());
      return NetlinkParseState::kError;
    }
    case NLMSG_NOOP:
      return NetlinkParseState::kMore;
    case NLMSG_OVERRUN:
      SetErrorf(error, "netlink overrun at offset %zu", off);
      return NetlinkParseState::kError;
    default:
      SetErrorf(error, "unexpected netlink message type %u at offset %zu", unsigned{h.nlmsg_type},
                off);
      return NetlinkParseState::kError;
  }
}

}  // namespace netlink_internal

NetlinkSocket::NetlinkSocket(mnl_socket* nl, size_t buf_size)
    : nl_(nl),
      seq_(static_cast<uint32_t>(time(nullptr))),
      buf_(new uint8_t[buf_size]),
      buf_size_(buf_size) {}

NetlinkSocket::~NetlinkSocket() { mnl_socket_close(nl_); }

Result<std::unique_ptr<NetlinkSocket>> NetlinkSocket::Open(int protocol, const char* name) {
  const std::string prefix = std::string(name) + ": ";
  mnl_socket* nl = mnl_socket_open2(protocol, SOCK_CLOEXEC);
  if (nl == nullptr) return Status::Error(prefix + "socket: " + ErrnoText(errno));
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    Status s = Status::Error(prefix + "bind: " + ErrnoText(errno));
    mnl_socket_close(nl);
    return s;
  }
  const int fd = mnl_socket_get_fd(nl);
  const int rcvbuf = kRcvBufBytes;
  timeval tv{};
  tv.tv_sec = kRecvTimeoutSeconds;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    Status s = Status::Error(prefix + "setsockopt: " + ErrnoText(errno));
    mnl_socket_close(nl);
    return s;
  }
  return std::unique_ptr<NetlinkSocket>(new NetlinkSocket(nl, kReceiveBufferSize));
}

nlmsghdr* NetlinkSocket::StartRequest(void* request, uint16_t type, uint16_t flags) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(request);  // zeroes the header
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = ++seq_;
  return nlh;
}

void NetlinkSocket::DrainPending() {
  if (!dump_open_) return;
  // Each read makes the kernel queue the next part of the unfinished dump, so this ends once
  // its NLMSG_DONE was read. Bounded in case the kernel keeps producing.
  const int fd = mnl_socket_get_fd(nl_);
  for (int i = 0; i < kMaxDrainReads; ++i) {
    ssize_t n = recv(fd, buf_.get(), buf_size_, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  dump_open_ = false;
}

Status NetlinkSocket::Send(const nlmsghdr* nlh) {
  DrainPending();
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
    return Status::Error("sendto: " + ErrnoText(errno));
  }
  if (nlh->nlmsg_flags & NLM_F_DUMP) dump_open_ = true;
  return Status::Ok();
}

NetlinkReplyFilter NetlinkSocket::ReplyFilter(const nlmsghdr* nlh) const {
  return NetlinkReplyFilter{nlh->nlmsg_seq, mnl_socket_get_portid(nl_)};
}

Status NetlinkSocket::Receive(size_t* got) {
  int eintr = 0;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl_, buf_.get(), buf_size_);
    if (n > 0) {
      *got = static_cast<size_t>(n);
      return Status::Ok();
    }
    if (n == 0) return Status::Error("recvmsg: empty read before NLMSG_DONE");
    const int err = errno;
    if (err == EINTR && ++eintr <= kMaxEintrRetries) continue;  // no data lost: read again
    if (err == EAGAIN || err == EWOULDBLOCK) {
      return Status::Error("recvmsg: no reply within " + std::to_string(kRecvTimeoutSeconds) +
                           " s");
    }
    if (err == ENOSPC) {
      return Status::Error("recvmsg: message truncated (buffer " + std::to_string(buf_size_) +
                           " bytes)");
    }
    if (err == ENOBUFS) return Status::Error("recvmsg: receive buffer overrun (ENOBUFS)");
    return Status::Error("recvmsg: " + ErrnoText(err));
  }
}

}  // namespace sockstate
