#pragma once
// The walk shared by the sock_diag reply parsers (TCP: kernel/sock_diag.cpp, UDP:
// kernel/udp_diag.cpp): every SOCK_DIAG_BY_FAMILY message must hold a struct inet_diag_msg,
// which is copied out (the buffer may be unaligned) and handed to the protocol's decoder.

#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "util/netlink_socket.h"
#include "util/text_util.h"

namespace sockstate {

static_assert(sizeof(inet_diag_msg) == 72, "inet_diag_msg layout");

/// Whether a 16-byte address is IPv4-mapped (::ffff:a.b.c.d). Pure.
inline bool IsV4MappedAddress(const uint8_t* a) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kPrefix, sizeof(kPrefix)) == 0;
}

/// Sets the error of an inet_diag message (at buffer offset `off`) of a family the parsers do
/// not know. Returns false, for `return UnknownDiagFamily(...)`.
inline bool UnknownDiagFamily(size_t off, uint8_t family, std::string* error) {
  SetErrorf(error, "inet_diag message at offset %zu has unknown family %u", off, unsigned{family});
  return false;
}

/// The INET_DIAG_CGROUP_ID attribute (the socket's cgroup v2 id, sent with every full socket
/// whatever idiag_ext asks) among the attributes after the inet_diag_msg of a message's
/// `payload` (`payload_len` bytes; struct nlattr, 4-byte aligned), or 0. A malformed attribute
/// ends the search: never reads outside [payload, payload + payload_len). Pure.
inline uint64_t InetDiagCgroupId(const uint8_t* payload, size_t payload_len) {
  size_t off = sizeof(inet_diag_msg);
  while (off + NLA_HDRLEN <= payload_len) {
    nlattr a;
    std::memcpy(&a, payload + off, sizeof(a));
    if (a.nla_len < NLA_HDRLEN || a.nla_len > payload_len - off) return 0;
    if ((a.nla_type & NLA_TYPE_MASK) == INET_DIAG_CGROUP_ID && a.nla_len >= NLA_HDRLEN + 8) {
      uint64_t id;
      std::memcpy(&id, payload + off + NLA_HDRLEN, sizeof(id));
      return id;
    }
    off += NLA_ALIGN(a.nla_len);
  }
  return 0;
}

/// WalkNetlinkMessages over SOCK_DIAG_BY_FAMILY messages: a message shorter than an
/// inet_diag_msg is an error; otherwise decode(msg, payload, payload_len, off, error) -> bool
/// decides (false = error, which it writes). `payload` is the message after its header,
/// `payload_len` bytes (inet_diag_msg, then attributes). Never reads outside the buffer.
template <typename Decode>
NetlinkParseResult WalkInetDiagMessages(const void* buf, size_t len,
                                        const NetlinkReplyFilter* expect, Decode&& decode) {
  constexpr size_t kDiagMsgLen = NLMSG_HDRLEN + sizeof(inet_diag_msg);
  inet_diag_msg msg;
  return WalkNetlinkMessages(
      buf, len, SOCK_DIAG_BY_FAMILY, expect,
      [&](const nlmsghdr& h, const uint8_t* payload, size_t off, std::string* error) {
        if (h.nlmsg_len < kDiagMsgLen) {
          SetErrorf(error, "inet_diag message at offset %zu too short: nlmsg_len %u < %zu", off,
                    h.nlmsg_len, kDiagMsgLen);
          return false;
        }
        std::memcpy(&msg, payload, sizeof(msg));
        return decode(msg, payload, size_t(h.nlmsg_len - NLMSG_HDRLEN), off, error);
      });
}

}  // namespace sockstate
