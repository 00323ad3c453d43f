#include "diag_builder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

namespace sockstate::testing {

inet_diag_msg MakeDiag(const Sock& s) {
  inet_diag_msg m;
  std::memset(&m, 0, sizeof(m));
  m.idiag_family = s.family;
  m.idiag_state = s.state;
  m.idiag_timer = s.timer;
  m.idiag_retrans = 0;
  m.id.idiag_sport = htons(s.sport);
  m.id.idiag_dport = htons(s.dport);
  m.id.idiag_if = s.ifindex;
  int af = s.family == AF_INET6 ? AF_INET6 : AF_INET;
  EXPECT_EQ(inet_pton(af, s.src, m.id.idiag_src), 1) << s.src;
  EXPECT_EQ(inet_pton(af, s.dst, m.id.idiag_dst), 1) << s.dst;
  m.id.idiag_cookie[0] = 0xdeadbeef;
  m.idiag_expires = s.expires;
  m.idiag_rqueue = 1;
  m.idiag_wqueue = 2;
  m.idiag_uid = s.uid;
  m.idiag_inode = s.inode;
  return m;
}

void AppendMsg(Bytes* out, uint16_t type, const void* payload, size_t payload_len, uint16_t flags,
               uint32_t seq, uint32_t pid, int64_t len_override) {
  nlmsghdr h{};
  h.nlmsg_len = len_override >= 0 ? static_cast<uint32_t>(len_override)
                                  : static_cast<uint32_t>(NLMSG_HDRLEN + payload_len);
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = pid;
  const size_t start = out->size();
  out->resize(start + NLMSG_ALIGN(NLMSG_HDRLEN + payload_len));
  std::memcpy(out->data() + start, &h, sizeof(h));
  if (payload_len > 0) std::memcpy(out->data() + start + NLMSG_HDRLEN, payload, payload_len);
}

void AppendSock(Bytes* out, const Sock& s, uint16_t flags, const Bytes& attrs) {
  inet_diag_msg m = MakeDiag(s);
  Bytes payload(sizeof(m));
  std::memcpy(payload.data(), &m, sizeof(m));
  payload.insert(payload.end(), attrs.begin(), attrs.end());
  AppendMsg(out, SOCK_DIAG_BY_FAMILY, payload.data(), payload.size(), flags);
}

Bytes DiagAttr(uint16_t type, const Bytes& payload, int len_override) {
  nlattr a{};
  a.nla_len = len_override >= 0 ? uint16_t(len_override) : uint16_t(sizeof(a) + payload.size());
  a.nla_type = type;
  Bytes out(NLA_ALIGN(sizeof(a) + payload.size()));
  std::memcpy(out.data(), &a, sizeof(a));
  if (!payload.empty()) std::memcpy(out.data() + sizeof(a), payload.data(), payload.size());
  return out;
}

void AppendDone(Bytes* out, int32_t status) { AppendMsg(out, NLMSG_DONE, &status, sizeof(status)); }

void AppendError(Bytes* out, int32_t err) {
  nlmsgerr e{};
  e.error = err;
  AppendMsg(out, NLMSG_ERROR, &e, sizeof(e));
}

}  // namespace sockstate::testing
