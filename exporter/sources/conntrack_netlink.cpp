// ctnetlink dumps with libmnl, the pure reply parser, and the record/replay seam.
//
// Dump file format (".ssct"), all integers little-endian:
//   "SSCTRK01"                      8-byte magic
//   repeated, one per recvmsg buffer:
//     u32 length                    bytes that follow
//     u8  bytes[length]             the buffer exactly as recvmsg returned it
// The dump ends with a buffer holding NLMSG_DONE.
//
// Message layout (net/netfilter/nf_conntrack_netlink.c, ctnetlink_fill_info):
//   nlmsghdr, nfgenmsg {family, version, res_id}, then attributes:
//   CTA_TUPLE_ORIG / CTA_TUPLE_REPLY (nested): CTA_TUPLE_IP (nested: CTA_IP_V4_SRC/DST 4 bytes
//   or CTA_IP_V6_SRC/DST 16 bytes), CTA_TUPLE_PROTO (nested: CTA_PROTO_NUM u8,
//   CTA_PROTO_SRC_PORT / CTA_PROTO_DST_PORT be16, CTA_PROTO_ICMP_ID be16, ...);
//   CTA_STATUS be32; CTA_PROTOINFO (nested: CTA_PROTOINFO_TCP (nested:
//   CTA_PROTOINFO_TCP_STATE u8)); CTA_ZONE be16; and others this parser skips.

#include "sources/conntrack_netlink.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdarg>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <vector>

namespace sockstate {
namespace {

constexpr char kMagic[8] = {'S', 'S', 'C', 'T', 'R', 'K', '0', '1'};
constexpr size_t kRecordHeaderSize = 4;  // u32 length
constexpr size_t kDumpBufferSize = 64 * 1024;
constexpr int kRcvBufBytes = 1 << 20;
constexpr int kRecvTimeoutSeconds = 10;
constexpr int kMaxEintrRetries = 1000;
constexpr size_t kNlHdrLen = NLMSG_HDRLEN;      // 16
constexpr size_t kNfGenLen = sizeof(nfgenmsg);  // 4
constexpr size_t kAttrHdrLen = 4;
constexpr uint16_t kCtNewType = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
constexpr uint16_t kCtGetType = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
constexpr uint16_t kAttrTypeMask =
    uint16_t(NLA_TYPE_MASK & 0xffff);  // strips NLA_F_NESTED / NLA_F_NET_BYTEORDER

static_assert(sizeof(nfgenmsg) == 4, "nfgenmsg layout");

std::string ErrnoText(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof(buf));
}

std::string NegatedErrnoText(int32_t err) {
  const int64_t e = -int64_t{err};
  if (e <= 0 || e > 4095) return "bad error code " + std::to_string(err);
  return ErrnoText(static_cast<int>(e));
}

__attribute__((format(printf, 2, 3))) void SetError(std::string* error, const char* fmt, ...) {
  if (error == nullptr) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  *error = buf;
}

uint16_t Be16(const uint8_t* p) { return uint16_t(uint16_t{p[0]} << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint32_t ReadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Walks the attributes in [p, p+len): calls fn(type, payload, payload_len, offset) for each;
// `base` is the start of the buffer (for error offsets). False (with *error set) on a bad
// attribute or when fn returns false. Attributes are 4-byte aligned; a missing pad after the
// last one is accepted.
template <typename Fn>
bool ForEachAttr(const uint8_t* base, const uint8_t* p, size_t len, std::string* error,
                 const char* where, Fn&& fn) {
  size_t off = 0;
  while (off < len) {
    const size_t left = len - off;
    const size_t at = size_t(p + off - base);
    if (left < kAttrHdrLen) {
      SetError(error, "truncated attribute header in %s at offset %zu (%zu bytes left)", where, at,
               left);
      return false;
    }
    uint16_t alen, atype;
    std::memcpy(&alen, p + off, 2);
    std::memcpy(&atype, p + off + 2, 2);
    if (alen < kAttrHdrLen || alen > left) {
      SetError(error, "bad attribute length %u in %s at offset %zu (%zu bytes left)",
               unsigned{alen}, where, at, left);
      return false;
    }
    if (!fn(uint16_t(atype & kAttrTypeMask), p + off + kAttrHdrLen, size_t(alen - kAttrHdrLen),
            at)) {
      return false;
    }
    const size_t step = (size_t(alen) + 3) & ~size_t{3};
    off = step >= left ? len : off + step;
  }
  return true;
}

// Decodes one tuple (CTA_TUPLE_ORIG / CTA_TUPLE_REPLY payload) of a message of `family`.
bool DecodeTuple(const uint8_t* base, const uint8_t* p, size_t len, uint8_t family,
                 const char* which, CtTuple& t, std::string* error) {
  t.src.fill(0);
  t.dst.fill(0);
  t.src_port = 0;
  t.dst_port = 0;
  t.protocol = 0;
  bool has_src = false, has_dst = false, has_proto = false;
  const size_t alen = family == AF_INET ? 4 : 16;
  const uint16_t src_type = family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC;
  const uint16_t dst_type = family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST;
  bool ok = ForEachAttr(
      base, p, len, error, which, [&](uint16_t type, const uint8_t* v, size_t n, size_t at) {
        if (type == CTA_TUPLE_IP) {
          return ForEachAttr(
              base, v, n, error, which, [&](uint16_t it, const uint8_t* iv, size_t in, size_t iat) {
                if (it != src_type && it != dst_type) {
                  if (it >= CTA_IP_V4_SRC && it <= CTA_IP_V6_DST) {
                    SetError(error,
                             "%s address attribute %u at offset %zu does not match family %u",
                             which, unsigned{it}, iat, unsigned{family});
                    return false;
                  }
                  return true;
                }
                if (in != alen) {
                  SetError(error, "%s address attribute at offset %zu has %zu bytes, expected %zu",
                           which, iat, in, alen);
                  return false;
                }
                std::memcpy(it == src_type ? t.src.data() : t.dst.data(), iv, alen);
                (it == src_type ? has_src : has_dst) = true;
                return true;
              });
        }
        if (type == CTA_TUPLE_PROTO) {
          return ForEachAttr(
              base, v, n, error, which, [&](uint16_t pt, const uint8_t* pv, size_t pn, size_t pat) {
                const size_t want = pt == CTA_PROTO_NUM ? 1 : 2;
                const bool known = pt == CTA_PROTO_NUM || pt == CTA_PROTO_SRC_PORT ||
                                   pt == CTA_PROTO_DST_PORT || pt == CTA_PROTO_ICMP_ID ||
                                   pt == CTA_PROTO_ICMPV6_ID;
                if (!known) return true;
                if (pn < want) {
                  SetError(error,
                           "%s protocol attribute %u at offset %zu has %zu bytes, expected %zu",
                           which, unsigned{pt}, pat, pn, want);
                  return false;
                }
                switch (pt) {
                  case CTA_PROTO_NUM:
                    t.protocol = pv[0];
                    has_proto = true;
                    break;
                  case CTA_PROTO_SRC_PORT:
                  case CTA_PROTO_ICMP_ID:
                  case CTA_PROTO_ICMPV6_ID:
                    t.src_port = Be16(pv);
                    break;
                  case CTA_PROTO_DST_PORT:
                    t.dst_port = Be16(pv);
                    break;
                }
                return true;
              });
        }
        (void)at;
        return true;
      });
  if (!ok) return false;
  if (!has_src || !has_dst) {
    SetError(error, "%s has no %s source and destination address", which,
             family == AF_INET ? "IPv4" : "IPv6");
    return false;
  }
  if (!has_proto) {
    SetError(error, "%s has no CTA_PROTO_NUM", which);
    return false;
  }
  return true;
}

// Decodes the attributes of one conntrack message into `r`.
bool DecodeEntry(const uint8_t* base, const uint8_t* attrs, size_t len, uint8_t family,
                 ConntrackRecord& r, std::string* error) {
  r.family = family == AF_INET ? Family::kIpv4 : Family::kIpv6;
  r.status = 0;
  r.tcp_state = kCtTcpNone;
  r.has_tcp_state = false;
  r.zone = 0;
  bool has_orig = false, has_reply = false;
  bool ok = ForEachAttr(
      base, attrs, len, error, "conntrack entry",
      [&](uint16_t type, const uint8_t* v, size_t n, size_t at) {
        switch (type) {
          case CTA_TUPLE_ORIG:
            has_orig = true;
            return DecodeTuple(base, v, n, family, "CTA_TUPLE_ORIG", r.orig, error);
          case CTA_TUPLE_REPLY:
            has_reply = true;
            return DecodeTuple(base, v, n, family, "CTA_TUPLE_REPLY", r.reply, error);
          case CTA_STATUS:
            if (n != 4) {
              SetError(error, "CTA_STATUS at offset %zu has %zu bytes, expected 4", at, n);
              return false;
            }
            r.status = Be32(v);
            return true;
          case CTA_ZONE:
            if (n < 2) {
              SetError(error, "CTA_ZONE at offset %zu has %zu bytes, expected 2", at, n);
              return false;
            }
            r.zone = Be16(v);
            return true;
          case CTA_PROTOINFO:
            return ForEachAttr(
                base, v, n, error, "CTA_PROTOINFO",
                [&](uint16_t pt, const uint8_t* pv, size_t pn, size_t) {
                  if (pt != CTA_PROTOINFO_TCP) return true;
                  return ForEachAttr(
                      base, pv, pn, error, "CTA_PROTOINFO_TCP",
                      [&](uint16_t tt, const uint8_t* tv, size_t tn, size_t tat) {
                        if (tt != CTA_PROTOINFO_TCP_STATE) return true;
                        if (tn < 1) {
                          SetError(error, "CTA_PROTOINFO_TCP_STATE at offset %zu is empty", tat);
                          return false;
                        }
                        r.tcp_state = tv[0];
                        r.has_tcp_state = true;
                        return true;
                      });
                });
          default:
            return true;
        }
      });
  if (!ok) return false;
  if (!has_orig || !has_reply) {
    SetError(error, "conntrack entry without %s", has_orig ? "CTA_TUPLE_REPLY" : "CTA_TUPLE_ORIG");
    return false;
  }
  return true;
}

}  // namespace

CtParseState ParseConntrackBuffer(const void* buf, size_t len, ConntrackSink& sink,
                                  std::string* error, bool* dump_interrupted,
                                  const CtReplyFilter* expect, uint64_t* messages, int* nl_errno) {
  const auto* base = static_cast<const uint8_t*>(buf);
  ConntrackRecord record;  // reused for every entry: no allocation per entry
  size_t off = 0;
  while (off < len) {
    const size_t left = len - off;
    if (left < kNlHdrLen) {
      SetError(error, "truncated netlink header at offset %zu: %zu bytes left, need %zu", off, left,
               kNlHdrLen);
      return CtParseState::kError;
    }
    nlmsghdr h;
    std::memcpy(&h, base + off, sizeof(h));  // the buffer may be unaligned (replay, fuzzing)
    if (h.nlmsg_len < kNlHdrLen) {
      SetError(error, "bad nlmsg_len %u at offset %zu (minimum %zu)", h.nlmsg_len, off, kNlHdrLen);
      return CtParseState::kError;
    }
    if (h.nlmsg_len > left) {
      SetError(error, "nlmsg_len %u at offset %zu runs past the end of the buffer (%zu bytes left)",
               h.nlmsg_len, off, left);
      return CtParseState::kError;
    }
    if (expect != nullptr && (h.nlmsg_seq != expect->seq || h.nlmsg_pid != expect->portid)) {
      SetError(error, "message at offset %zu answers seq %u portid %u, expected seq %u portid %u",
               off, h.nlmsg_seq, h.nlmsg_pid, expect->seq, expect->portid);
      return CtParseState::kError;
    }
    if (h.nlmsg_flags & NLM_F_DUMP_INTR) {
      if (dump_interrupted != nullptr) *dump_interrupted = true;
      SetError(error, "dump interrupted (NLM_F_DUMP_INTR) at offset %zu", off);
      return CtParseState::kError;
    }
    const uint8_t* payload = base + off + kNlHdrLen;
    const size_t payload_len = h.nlmsg_len - kNlHdrLen;
    switch (h.nlmsg_type) {
      case kCtNewType: {
        if (payload_len < kNfGenLen) {
          SetError(error, "conntrack message at offset %zu too short: nlmsg_len %u < %zu", off,
                   h.nlmsg_len, kNlHdrLen + kNfGenLen);
          return CtParseState::kError;
        }
        const uint8_t family = payload[0];
        if (family != AF_INET && family != AF_INET6) {
          SetError(error, "conntrack message at offset %zu has unknown family %u", off,
                   unsigned{family});
          return CtParseState::kError;
        }
        std::string inner;
        if (!DecodeEntry(base, payload + kNfGenLen, payload_len - kNfGenLen, family, record,
                         error != nullptr ? &inner : nullptr)) {
          SetError(error, "conntrack message at offset %zu: %s", off, inner.c_str());
          return CtParseState::kError;
        }
        sink.OnEntry(record);
        if (messages != nullptr) ++*messages;
        break;
      }
      case NLMSG_DONE: {
        int32_t status = 0;
        if (payload_len >= sizeof(status)) std::memcpy(&status, payload, sizeof(status));
        if (status < 0) {
          if (nl_errno != nullptr) *nl_errno = int(-int64_t{status} > 4095 ? 0 : -status);
          SetError(error, "dump failed (NLMSG_DONE at offset %zu): %s", off,
                   NegatedErrnoText(status).c_str());
          return CtParseState::kError;
        }
        return CtParseState::kDone;
      }
      case NLMSG_ERROR: {
        int32_t err = 0;
        if (payload_len < sizeof(err)) {
          SetError(error, "truncated NLMSG_ERROR at offset %zu: nlmsg_len %u", off, h.nlmsg_len);
          return CtParseState::kError;
        }
        std::memcpy(&err, payload, sizeof(err));
        if (err == 0) break;  // an acknowledgement; a dump does not ask for one
        if (nl_errno != nullptr) *nl_errno = (err < 0 && err >= -4095) ? -err : 0;
        SetError(error, "netlink error at offset %zu: %s", off, NegatedErrnoText(err).c_str());
        return CtParseState::kError;
      }
      case NLMSG_NOOP:
        break;
      case NLMSG_OVERRUN:
        SetError(error, "netlink overrun at offset %zu", off);
        return CtParseState::kError;
      default:
        SetError(error, "unexpected netlink message type 0x%x at offset %zu",
                 unsigned{h.nlmsg_type}, off);
        return CtParseState::kError;
    }
    const size_t step = NLMSG_ALIGN(h.nlmsg_len);
    off = step >= left ? len : off + step;
  }
  return CtParseState::kMore;
}

// ---------------------------------------------------------------------------------------------
// Record / replay.

Result<std::unique_ptr<ConntrackRecorder>> ConntrackRecorder::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "wbe");
  if (f == nullptr) {
    return Status::Error("conntrack recorder: open " + path + ": " + ErrnoText(errno));
  }
  if (std::fwrite(kMagic, 1, sizeof(kMagic), f) != sizeof(kMagic) || std::fflush(f) != 0) {
    Status s = Status::Error("conntrack recorder: write " + path + ": " + ErrnoText(errno));
    std::fclose(f);
    return s;
  }
  return std::unique_ptr<ConntrackRecorder>(new ConntrackRecorder(f, path));
}

ConntrackRecorder::~ConntrackRecorder() {
  if (file_ != nullptr) std::fclose(file_);
}

Status ConntrackRecorder::Write(const void* buf, size_t len) {
  if (len > UINT32_MAX) return Status::Error("conntrack recorder: " + path_ + ": buffer too large");
  const uint32_t n = static_cast<uint32_t>(len);
  const uint8_t header[kRecordHeaderSize] = {uint8_t(n), uint8_t(n >> 8), uint8_t(n >> 16),
                                             uint8_t(n >> 24)};
  if (std::fwrite(header, 1, sizeof(header), file_) != sizeof(header) ||
      (len > 0 && std::fwrite(buf, 1, len, file_) != len) || std::fflush(file_) != 0) {
    return Status::Error("conntrack recorder: write " + path_ + ": " + ErrnoText(errno));
  }
  return Status::Ok();
}

Status ReplayConntrackFile(const std::string& path, ConntrackSink& sink) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("replay " + path + ": open: " + ErrnoText(errno));
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad()) return Status::Error("replay " + path + ": read error");
  if (data.size() < sizeof(kMagic) || std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Error("replay " + path + ": bad magic at offset 0 (not an SSCTRK01 dump)");
  }
  char msg[256];
  size_t off = sizeof(kMagic);
  bool done = false;
  while (off < data.size()) {
    const size_t left = data.size() - off;
    if (done) {
      snprintf(msg, sizeof(msg), "data after the end of the dump (NLMSG_DONE) at offset %zu", off);
      return Status::Error("replay " + path + ": " + msg);
    }
    if (left < kRecordHeaderSize) {
      snprintf(msg, sizeof(msg), "truncated record header at offset %zu (%zu bytes left)", off,
               left);
      return Status::Error("replay " + path + ": " + msg);
    }
    const uint32_t n = ReadLe32(&data[off]);
    if (n > left - kRecordHeaderSize) {
      snprintf(msg, sizeof(msg), "truncated record at offset %zu: length %u, %zu bytes left", off,
               n, left - kRecordHeaderSize);
      return Status::Error("replay " + path + ": " + msg);
    }
    std::string error;
    const size_t payload_off = off + kRecordHeaderSize;
    switch (ParseConntrackBuffer(data.data() + payload_off, n, sink, &error)) {
      case CtParseState::kError:
        snprintf(msg, sizeof(msg), "record at offset %zu (%u bytes from file offset %zu)", off, n,
                 payload_off);
        return Status::Error("replay " + path + ": " + msg + ": " + error);
      case CtParseState::kDone:
        done = true;
        break;
      case CtParseState::kMore:
        break;
    }
    off = payload_off + n;
  }
  if (!done) {
    snprintf(msg, sizeof(msg), "file ends at offset %zu inside the dump (no NLMSG_DONE)", off);
    return Status::Error("replay " + path + ": " + msg);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Live socket.

ConntrackSocket::ConntrackSocket(mnl_socket* nl, size_t buf_size)
    : nl_(nl),
      seq_(static_cast<uint32_t>(time(nullptr))),
      buf_(new uint8_t[buf_size]),
      buf_size_(buf_size) {}

ConntrackSocket::~ConntrackSocket() { mnl_socket_close(nl_); }

Result<std::unique_ptr<ConntrackSocket>> ConntrackSocket::Open() {
  mnl_socket* nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (nl == nullptr) return Status::Error("ctnetlink: socket: " + ErrnoText(errno));
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    Status s = Status::Error("ctnetlink: bind: " + ErrnoText(errno));
    mnl_socket_close(nl);
    return s;
  }
  const int fd = mnl_socket_get_fd(nl);
  const int rcvbuf = kRcvBufBytes;
  timeval tv{};
  tv.tv_sec = kRecvTimeoutSeconds;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    Status s = Status::Error("ctnetlink: setsockopt: " + ErrnoText(errno));
    mnl_socket_close(nl);
    return s;
  }
  return std::unique_ptr<ConntrackSocket>(new ConntrackSocket(nl, kDumpBufferSize));
}

void ConntrackSocket::DrainPending() {
  if (!dump_open_) return;
  const int fd = mnl_socket_get_fd(nl_);
  for (int i = 0; i < 1000000; ++i) {
    ssize_t n = recv(fd, buf_.get(), buf_size_, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  dump_open_ = false;
}

Status ConntrackSocket::SendRequest(uint32_t* seq) {
  DrainPending();
  alignas(nlmsghdr) uint8_t request[NLMSG_SPACE(sizeof(nfgenmsg))];
  nlmsghdr* nlh = mnl_nlmsg_put_header(request);
  nlh->nlmsg_type = kCtGetType;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  g->nfgen_family = AF_UNSPEC;  // every layer-3 family in one dump
  g->version = NFNETLINK_V0;
  g->res_id = 0;
  *seq = nlh->nlmsg_seq;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
    return Status::Error("sendto: " + ErrnoText(errno));
  }
  dump_open_ = true;
  return Status::Ok();
}

namespace {

// recvfrom with EINTR retries and errors that say what happened.
Status Receive(mnl_socket* nl, uint8_t* buf, size_t size, ssize_t* got) {
  int eintr = 0;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl, buf, size);
    if (n >= 0) {
      if (n == 0) return Status::Error("recvmsg: empty read before NLMSG_DONE");
      *got = n;
      return Status::Ok();
    }
    const int err = errno;
    if (err == EINTR && ++eintr <= kMaxEintrRetries) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      return Status::Error("recvmsg: no reply within " + std::to_string(kRecvTimeoutSeconds) +
                           " s");
    }
    if (err == ENOSPC) {
      return Status::Error("recvmsg: message truncated (buffer " + std::to_string(size) +
                           " bytes)");
    }
    if (err == ENOBUFS) {
      return Status::Error("recvmsg: receive buffer overrun (ENOBUFS)");
    }
    return Status::Error("recvmsg: " + ErrnoText(err));
  }
}

// The message of a refused or failed dump.
Status DumpError(int nl_errno, const std::string& error, uint64_t buffer) {
  if (nl_errno == EPERM) {
    return Status::Error(
        "ctnetlink dump refused: Operation not permitted (needs CAP_NET_ADMIN in the namespace)");
  }
  if (nl_errno == EOPNOTSUPP || nl_errno == EPROTONOSUPPORT || nl_errno == ENOENT) {
    return Status::Error("ctnetlink dump not supported (conntrack or ctnetlink missing): " + error);
  }
  return Status::Error("reply buffer " + std::to_string(buffer) + ": " + error);
}

}  // namespace

Status ConntrackSocket::DumpOnce(ConntrackSink* sink, ConntrackRecorder* recorder,
                                 CtDumpStats* stats, bool* interrupted) {
  uint32_t seq = 0;
  if (Status s = SendRequest(&seq); !s.ok()) return s;
  const CtReplyFilter expect{seq, mnl_socket_get_portid(nl_)};
  std::string error;
  for (;;) {
    ssize_t n = 0;
    if (Status s = Receive(nl_, buf_.get(), buf_size_, &n); !s.ok()) return s;
    ++stats->buffers;
    stats->bytes += static_cast<uint64_t>(n);
    if (recorder != nullptr) {
      Status s = recorder->Write(buf_.get(), static_cast<size_t>(n));
      if (!s.ok()) return s;
    }
    int nl_errno = 0;
    switch (ParseConntrackBuffer(buf_.get(), static_cast<size_t>(n), *sink, &error, interrupted,
                                 &expect, &stats->entries, &nl_errno)) {
      case CtParseState::kMore:
        break;
      case CtParseState::kDone:
        dump_open_ = false;
        return Status::Ok();
      case CtParseState::kError:
        if (nl_errno != 0) dump_open_ = false;  // an error reply ends the dump
        last_errno_ = nl_errno;
        return DumpError(nl_errno, error, stats->buffers);
    }
  }
}

Status ConntrackSocket::Dump(ConntrackSink& sink, ConntrackRecorder* recorder, CtDumpStats* stats,
                             const std::function<void()>& on_restart) {
  last_errno_ = 0;
  CtDumpStats local;
  CtDumpStats* st = stats != nullptr ? stats : &local;
  *st = CtDumpStats{};
  for (int attempt = 0;; ++attempt) {
    bool interrupted = false;
    Status status = DumpOnce(&sink, recorder, st, &interrupted);
    if (status.ok()) return status;
    if (!interrupted || attempt > 0) return status.WithContext("conntrack dump");
    ++st->retries;
    if (on_restart) on_restart();
  }
}

Status ConntrackSocket::Probe() {
  DrainPending();
  alignas(nlmsghdr) uint8_t request[NLMSG_SPACE(sizeof(nfgenmsg))];
  nlmsghdr* nlh = mnl_nlmsg_put_header(request);
  nlh->nlmsg_type = kCtGetType;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  g->nfgen_family = AF_INET;
  g->version = NFNETLINK_V0;
  g->res_id = 0;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
    return Status::Error("ctnetlink probe: sendto: " + ErrnoText(errno));
  }
  ssize_t n = 0;
  if (Status s = Receive(nl_, buf_.get(), buf_size_, &n); !s.ok()) {
    return s.WithContext("ctnetlink probe");
  }
  nlmsghdr h;
  if (size_t(n) < sizeof(h) + sizeof(int32_t)) return Status::Error("ctnetlink probe: short reply");
  std::memcpy(&h, buf_.get(), sizeof(h));
  if (h.nlmsg_type != NLMSG_ERROR) return Status::Ok();
  int32_t err = 0;
  std::memcpy(&err, buf_.get() + NLMSG_HDRLEN, sizeof(err));
  if (err == -EPERM) return DumpError(EPERM, "", 0);
  if (err == -EOPNOTSUPP || err == -EPROTONOSUPPORT) {
    return Status::Error("ctnetlink not available: " + NegatedErrnoText(err));
  }
  return Status::Ok();  // EINVAL (no tuple) or ENOENT: ctnetlink answered
}

Result<uint64_t> ConntrackSocket::DumpDiscard() {
  uint32_t seq = 0;
  if (Status s = SendRequest(&seq); !s.ok()) return s.WithContext("conntrack dump");
  uint64_t bytes = 0;
  for (;;) {
    ssize_t n = 0;
    if (Status s = Receive(nl_, buf_.get(), buf_size_, &n); !s.ok()) {
      return s.WithContext("conntrack dump");
    }
    bytes += uint64_t(n);
    // Only the message headers are walked, to find the end of the dump.
    size_t off = 0;
    while (off + kNlHdrLen <= size_t(n)) {
      nlmsghdr h;
      std::memcpy(&h, buf_.get() + off, sizeof(h));
      if (h.nlmsg_len < kNlHdrLen) return Status::Error("conntrack dump: bad nlmsg_len");
      if (h.nlmsg_type == NLMSG_DONE) {
        dump_open_ = false;
        return bytes;
      }
      if (h.nlmsg_type == NLMSG_ERROR) {
        dump_open_ = false;
        return Status::Error("conntrack dump: netlink error");
      }
      off += NLMSG_ALIGN(h.nlmsg_len);
    }
  }
}

}  // namespace sockstate
