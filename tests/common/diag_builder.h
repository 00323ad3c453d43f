#pragma once
// Builds sock_diag (inet_diag) dump replies in memory: the messages inet_sk_diag_fill() writes,
// for the TCP and UDP parser tests (and their fuzz seeds).

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sockstate::testing {

using Bytes = std::vector<uint8_t>;

/// One socket to encode. Addresses as text of `family`. Plain value.
struct Sock {
  uint8_t family = AF_INET;
  uint8_t state = 1;  // TCP_ESTABLISHED
  const char* src = "10.1.2.3";
  uint16_t sport = 40000;
  const char* dst = "192.168.7.9";
  uint16_t dport = 5432;
  uint8_t timer = 0;
  uint32_t expires = 0;
  uint32_t uid = 1000;
  uint32_t inode = 123456;
  uint32_t ifindex = 0;
};

/// The inet_diag_msg of `s` (queues 1 and 2, a cookie; EXPECTs the addresses parse).
inet_diag_msg MakeDiag(const Sock& s);

/// Appends one netlink message (header + payload, padded to 4 bytes); `len_override` >= 0
/// writes that nlmsg_len instead of the real one.
void AppendMsg(Bytes* out, uint16_t type, const void* payload, size_t payload_len,
               uint16_t flags = NLM_F_MULTI, uint32_t seq = 7, uint32_t pid = 4242,
               int64_t len_override = -1);

/// Appends a SOCK_DIAG_BY_FAMILY message for `s`, its inet_diag_msg followed by `attrs`
/// (attributes as DiagAttr builds them).
void AppendSock(Bytes* out, const Sock& s, uint16_t flags = NLM_F_MULTI, const Bytes& attrs = {});

/// One netlink attribute: header (nla_len = 4 + payload, or `len_override` >= 0), payload,
/// padding to 4 bytes.
Bytes DiagAttr(uint16_t type, const Bytes& payload, int len_override = -1);

/// NLMSG_DONE with `status`.
void AppendDone(Bytes* out, int32_t status = 0);

/// NLMSG_ERROR carrying `err` (negative errno).
void AppendError(Bytes* out, int32_t err);

}  // namespace sockstate::testing
