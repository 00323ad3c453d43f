// The pure parser of sock_diag UDP replies (kernel/udp_diag.h).

#include "kernel/udp_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "kernel/inet_diag_walk.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

bool IsZero(const uint8_t* a) {
  static constexpr uint8_t kZero[16] = {};
  return std::memcmp(a, kZero, sizeof(kZero)) == 0;
}

// Decodes the fixed part of one message into `r` (every field overwritten; v6only kUnknown for
// a native AF_INET6 socket until its attributes say). False for an unknown family.
bool DecodeUdpMsg(const inet_diag_msg& m, UdpSocketRecord& r) {
  const auto* src = reinterpret_cast<const uint8_t*>(m.id.idiag_src);
  const auto* dst = reinterpret_cast<const uint8_t*>(m.id.idiag_dst);
  r.src_addr = {};
  r.dst_addr = {};
  r.v6only = V6Only::kNotApplicable;
  if (m.idiag_family == AF_INET) {
    r.family = Family::kIpv4;
    std::memcpy(r.src_addr.data(), src, 4);
    std::memcpy(r.dst_addr.data(), dst, 4);
  } else if (m.idiag_family == AF_INET6) {
    if (IsV4MappedAddress(src) && (IsV4MappedAddress(dst) || IsZero(dst))) {
      // Bound to (or connected from) an IPv4-mapped address: an IPv4 socket in all but name.
      r.family = Family::kIpv4;
      std::memcpy(r.src_addr.data(), src + 12, 4);
      if (!IsZero(dst)) std::memcpy(r.dst_addr.data(), dst + 12, 4);
    } else {
      r.family = Family::kIpv6;
      r.v6only = V6Only::kUnknown;
      std::memcpy(r.src_addr.data(), src, 16);
      std::memcpy(r.dst_addr.data(), dst, 16);
    }
  } else {
    return false;
  }
  r.connected = m.idiag_state == 1;  // TCP_ESTABLISHED; unconnected sockets are TCP_CLOSE
  r.src_port = ntohs(m.id.idiag_sport);
  r.dst_port = ntohs(m.id.idiag_dport);
  r.ifindex = m.id.idiag_if;
  r.uid = m.idiag_uid;
  r.inode = m.idiag_inode;
  return true;
}

// Walks the attributes after the inet_diag_msg (bytes [begin, end) of the message at buffer
// offset `off`): INET_DIAG_SKV6ONLY sets r.v6only. False (with `error`) on a malformed one.
bool DecodeAttributes(const uint8_t* msg, size_t begin, size_t end, size_t off, UdpSocketRecord& r,
                      std::string* error) {
  size_t a = begin;
  while (end - a >= sizeof(nlattr)) {
    nlattr attr;
    std::memcpy(&attr, msg + a, sizeof(attr));
    if (attr.nla_len < sizeof(nlattr) || attr.nla_len > end - a) {
      SetErrorf(error, "inet_diag message at offset %zu: attribute at byte %zu has length %u", off,
                a, unsigned{attr.nla_len});
      return false;
    }
    if ((attr.nla_type & NLA_TYPE_MASK) == INET_DIAG_SKV6ONLY) {
      if (attr.nla_len < sizeof(nlattr) + 1) {
        SetErrorf(error, "inet_diag message at offset %zu: INET_DIAG_SKV6ONLY without a value",
                  off);
        return false;
      }
      if (r.family == Family::kIpv6)
        r.v6only = msg[a + sizeof(nlattr)] ? V6Only::kYes : V6Only::kNo;
    }
    a += NLA_ALIGN(attr.nla_len);
    if (a > end) break;  // the last attribute's padding may be cut off by the message end
  }
  return true;
}

}  // namespace

NetlinkParseResult ParseUdpDiagBuffer(const void* buf, size_t len, UdpRecordSink& sink,
                                      const NetlinkReplyFilter* expect) {
  UdpSocketRecord record;  // reused for every socket: no allocation per socket
  return WalkInetDiagMessages(
      buf, len, expect,
      [&](const inet_diag_msg& msg, const uint8_t* payload, size_t payload_len, size_t off,
          std::string* error) {
        if (!DecodeUdpMsg(msg, record)) {
          return UnknownDiagFamily(off, msg.idiag_family, error);
        }
        if (!DecodeAttributes(payload, NLMSG_ALIGN(sizeof(msg)), payload_len, off, record, error)) {
          return false;
        }
        sink.OnUdpSocket(record);
        return true;
      });
}

}  // namespace sockstate
