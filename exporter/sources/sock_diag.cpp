// NETLINK_SOCK_DIAG TCP dumps with libmnl and the pure reply parser. The record/replay seam is
// in sock_diag_file.cpp.

#include "sources/sock_diag.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdarg>
#include <cstring>
#include <ctime>
#include <vector>

#include "util/file_util.h"

namespace sockstate {
namespace {

// The kernel caps one dump skb at ~32 KiB (MNL_SOCKET_DUMP_SIZE in newer libmnl); a larger
// buffer costs nothing and can never truncate a message.
constexpr size_t kDumpBufferSize = 64 * 1024;
constexpr int kRcvBufBytes = 1 << 20;
constexpr int kRecvTimeoutSeconds = 10;
constexpr int kMaxEintrRetries = 1000;
constexpr size_t kNlHdrLen = NLMSG_HDRLEN;  // 16
constexpr size_t kDiagMsgLen = NLMSG_HDRLEN + sizeof(inet_diag_msg);

static_assert(sizeof(inet_diag_msg) == 72, "inet_diag_msg layout");
static_assert(sizeof(inet_diag_req_v2) == 56, "inet_diag_req_v2 layout");

// Text for a negative errno carried in a netlink message (-ENOENT -> "No such file or
// directory"); safe for any value, INT_MIN included.
std::string NegatedErrnoText(int32_t err) {
  const int64_t e = -int64_t{err};
  if (e <= 0 || e > 4095) return "bad error code " + std::to_string(err);
  return ErrnoText(static_cast<int>(e));
}

// Sets *error to a printf-formatted message. Only runs on errors, so it may allocate.
__attribute__((format(printf, 2, 3))) void SetError(std::string* error, const char* fmt, ...) {
  if (error == nullptr) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  *error = buf;
}

bool IsV4Mapped(const uint8_t* a) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kPrefix, sizeof(kPrefix)) == 0;
}

// Decodes one inet_diag_msg into `r` (every field overwritten). False for an unknown family.
bool DecodeDiagMsg(const inet_diag_msg& m, SocketRecord& r) {
  static_assert(sizeof(m.id.idiag_src) == 16 && sizeof(m.id.idiag_dst) == 16);
  const auto* src = reinterpret_cast<const uint8_t*>(m.id.idiag_src);
  const auto* dst = reinterpret_cast<const uint8_t*>(m.id.idiag_dst);
  r.src_addr.fill(0);
  r.dst_addr.fill(0);
  if (m.idiag_family == AF_INET) {
    r.family = Family::kIpv4;
    std::memcpy(r.src_addr.data(), src, 4);
    std::memcpy(r.dst_addr.data(), dst, 4);
  } else if (m.idiag_family == AF_INET6) {
    if (IsV4Mapped(src) && IsV4Mapped(dst)) {
      r.family = Family::kIpv4;
      std::memcpy(r.src_addr.data(), src + 12, 4);
      std::memcpy(r.dst_addr.data(), dst + 12, 4);
    } else {
      r.family = Family::kIpv6;
      std::memcpy(r.src_addr.data(), src, 16);
      std::memcpy(r.dst_addr.data(), dst, 16);
    }
  } else {
    return false;
  }
  r.state = m.idiag_state == kTcpNewSynRecv ? uint8_t{kTcpSynRecv} : m.idiag_state;
  r.timer = m.idiag_timer;
  r.src_port = ntohs(m.id.idiag_sport);
  r.dst_port = ntohs(m.id.idiag_dport);
  r.expires_ms = m.idiag_expires;
  r.uid = m.idiag_uid;
  r.inode = m.idiag_inode;
  return true;
}

}  // namespace

const char* AddressFamilyName(uint8_t family) {
  switch (family) {
    case AF_INET:
      return "AF_INET";
    case AF_INET6:
      return "AF_INET6";
    default:
      return "AF_?";
  }
}

ParseState ParseDiagBuffer(const void* buf, size_t len, RecordSink& sink, std::string* error,
                           bool* dump_interrupted, const DiagReplyFilter* expect,
                           uint64_t* messages) {
  const auto* base = static_cast<const uint8_t*>(buf);
  SocketRecord record;  // reused for every socket: no allocation per socket
  inet_diag_msg msg;
  size_t off = 0;
  while (off < len) {
    const size_t left = len - off;
    if (left < kNlHdrLen) {
      SetError(error, "truncated netlink header at offset %zu: %zu bytes left, need %zu", off, left,
               kNlHdrLen);
      return ParseState::kError;
    }
    nlmsghdr h;
    std::memcpy(&h, base + off, sizeof(h));  // the buffer may be unaligned (replay, fuzzing)
    if (h.nlmsg_len < kNlHdrLen) {
      SetError(error, "bad nlmsg_len %u at offset %zu (minimum %zu)", h.nlmsg_len, off, kNlHdrLen);
      return ParseState::kError;
    }
    if (h.nlmsg_len > left) {
      SetError(error, "nlmsg_len %u at offset %zu runs past the end of the buffer (%zu bytes left)",
               h.nlmsg_len, off, left);
      return ParseState::kError;
    }
    if (expect != nullptr && (h.nlmsg_seq != expect->seq || h.nlmsg_pid != expect->portid)) {
      SetError(error, "message at offset %zu answers seq %u portid %u, expected seq %u portid %u",
               off, h.nlmsg_seq, h.nlmsg_pid, expect->seq, expect->portid);
      return ParseState::kError;
    }
    if (h.nlmsg_flags & NLM_F_DUMP_INTR) {
      if (dump_interrupted != nullptr) *dump_interrupted = true;
      SetError(error, "dump interrupted (NLM_F_DUMP_INTR) at offset %zu", off);
      return ParseState::kError;
    }
    const uint8_t* payload = base + off + kNlHdrLen;
    const size_t payload_len = h.nlmsg_len - kNlHdrLen;
    switch (h.nlmsg_type) {
      case SOCK_DIAG_BY_FAMILY: {
        if (h.nlmsg_len < kDiagMsgLen) {
          SetError(error, "inet_diag message at offset %zu too short: nlmsg_len %u < %zu", off,
                   h.nlmsg_len, kDiagMsgLen);
          return ParseState::kError;
        }
        std::memcpy(&msg, payload, sizeof(msg));
        if (!DecodeDiagMsg(msg, record)) {
          SetError(error, "inet_diag message at offset %zu has unknown family %u", off,
                   unsigned{msg.idiag_family});
          return ParseState::kError;
        }
        sink.OnSocket(record);
        if (messages != nullptr) ++*messages;
        break;
      }
      case NLMSG_DONE: {
        int32_t status = 0;
        if (payload_len >= sizeof(status)) std::memcpy(&status, payload, sizeof(status));
        if (status < 0) {
          SetError(error, "dump failed (NLMSG_DONE at offset %zu): %s", off,
                   NegatedErrnoText(status).c_str());
          return ParseState::kError;
        }
        return ParseState::kDone;
      }
      case NLMSG_ERROR: {
        int32_t err = 0;
        if (payload_len < sizeof(err)) {
          SetError(error, "truncated NLMSG_ERROR at offset %zu: nlmsg_len %u", off, h.nlmsg_len);
          return ParseState::kError;
        }
        std::memcpy(&err, payload, sizeof(err));
        if (err == 0) break;  // an acknowledgement; a dump does not ask for one
        SetError(error, "netlink error at offset %zu: %s", off, NegatedErrnoText(err).c_str());
        return ParseState::kError;
      }
      case NLMSG_NOOP:
        break;
      case NLMSG_OVERRUN:
        SetError(error, "netlink overrun at offset %zu", off);
        return ParseState::kError;
      default:
        SetError(error, "unexpected netlink message type %u at offset %zu", unsigned{h.nlmsg_type},
                 off);
        return ParseState::kError;
    }
    // mnl_nlmsg_next: step by the aligned length; missing padding after the last message ends
    // the buffer.
    const size_t step = NLMSG_ALIGN(h.nlmsg_len);
    off = step >= left ? len : off + step;
  }
  return ParseState::kMore;
}

// ---------------------------------------------------------------------------------------------
// Live socket.

SockDiagSocket::SockDiagSocket(mnl_socket* nl, size_t buf_size)
    : nl_(nl),
      seq_(static_cast<uint32_t>(time(nullptr))),
      buf_(new uint8_t[buf_size]),
      buf_size_(buf_size) {}

SockDiagSocket::~SockDiagSocket() { mnl_socket_close(nl_); }

Result<std::unique_ptr<SockDiagSocket>> SockDiagSocket::Open() {
  mnl_socket* nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
  if (nl == nullptr) return Status::Error("sock_diag: socket: " + ErrnoText(errno));
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    Status s = Status::Error("sock_diag: bind: " + ErrnoText(errno));
    mnl_socket_close(nl);
    return s;
  }
  const int fd = mnl_socket_get_fd(nl);
  const int rcvbuf = kRcvBufBytes;
  timeval tv{};
  tv.tv_sec = kRecvTimeoutSeconds;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    Status s = Status::Error("sock_diag: setsockopt: " + ErrnoText(errno));
    mnl_socket_close(nl);
    return s;
  }
  return std::unique_ptr<SockDiagSocket>(new SockDiagSocket(nl, kDumpBufferSize));
}

void SockDiagSocket::DrainPending() {
  if (!dump_open_) return;
  // Each read makes the kernel queue the next part of the unfinished dump, so this ends once
  // its NLMSG_DONE was read. Bounded in case the kernel keeps producing.
  const int fd = mnl_socket_get_fd(nl_);
  for (int i = 0; i < 100000; ++i) {
    ssize_t n = recv(fd, buf_.get(), buf_size_, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  dump_open_ = false;
}

Status SockDiagSocket::DumpFamily(uint8_t family, uint32_t state_mask, RecordSink& sink,
                                  DumpRecorder* recorder, DumpStats* stats, bool* interrupted) {
  DrainPending();
  alignas(nlmsghdr) uint8_t request[NLMSG_SPACE(sizeof(inet_diag_req_v2))];
  nlmsghdr* nlh = mnl_nlmsg_put_header(request);  // zeroes the header
  nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  auto* req =
      static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
  req->sdiag_family = family;
  req->sdiag_protocol = IPPROTO_TCP;
  req->idiag_ext = 0;
  req->idiag_states = state_mask;
  const DiagReplyFilter expect{nlh->nlmsg_seq, mnl_socket_get_portid(nl_)};

  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
    return Status::Error("sendto: " + ErrnoText(errno));
  }
  dump_open_ = true;
  int eintr = 0;
  std::string error;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl_, buf_.get(), buf_size_);
    if (n < 0) {
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
      return Status::Error("recvmsg: " + ErrnoText(err));
    }
    if (n == 0) return Status::Error("recvmsg: empty read before NLMSG_DONE");
    ++stats->buffers;
    stats->bytes += static_cast<uint64_t>(n);
    if (recorder != nullptr) {
      Status s = recorder->Write(family, buf_.get(), static_cast<size_t>(n));
      if (!s.ok()) return s;
    }
    switch (ParseDiagBuffer(buf_.get(), static_cast<size_t>(n), sink, &error, interrupted, &expect,
                            &stats->messages)) {
      case ParseState::kMore:
        break;
      case ParseState::kDone:
        dump_open_ = false;
        return Status::Ok();
      case ParseState::kError:
        return Status::Error("reply buffer " + std::to_string(stats->buffers) + ": " + error);
    }
  }
}

Status SockDiagSocket::DumpTcp(uint32_t state_mask, RecordSink& sink, DumpRecorder* recorder,
                               DumpStats* stats, const std::function<void()>& on_restart) {
  DumpStats local;
  DumpStats* st = stats != nullptr ? stats : &local;
  *st = DumpStats{};
  for (int attempt = 0;; ++attempt) {
    bool interrupted = false;
    Status status;
    for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
      status = DumpFamily(family, state_mask, sink, recorder, st, &interrupted);
      if (!status.ok()) {
        status =
            status.WithContext(std::string("sock_diag ") + AddressFamilyName(family) + " dump");
        break;
      }
    }
    if (status.ok() || !interrupted || attempt > 0) return status;
    ++st->retries;
    if (on_restart) on_restart();
  }
}

}  // namespace sockstate
