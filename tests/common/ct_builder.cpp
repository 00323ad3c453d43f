#include "ct_builder.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include <cstring>
#include <stdexcept>

namespace sockstate::testing {
namespace {

CtBytes Addr(int family, const std::string& text) {
  CtBytes b(family == AF_INET6 ? 16 : 4);
  if (inet_pton(family, text.c_str(), b.data()) != 1) {
    throw std::runtime_error("bad address " + text);
  }
  return b;
}
CtBytes U8(uint8_t v) { return {v}; }
CtBytes Be16(uint16_t v) { return {uint8_t(v >> 8), uint8_t(v)}; }
CtBytes Be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}

CtBytes Tuple(uint16_t type, int family, uint8_t proto, const std::string& src,
              const std::string& dst, uint16_t sport, uint16_t dport) {
  const bool v4 = family == AF_INET;
  CtBytes ip =
      CtNest(CTA_TUPLE_IP, {CtAttr(v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, Addr(family, src)),
                            CtAttr(v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, Addr(family, dst))});
  std::vector<CtBytes> p = {CtAttr(CTA_PROTO_NUM, U8(proto))};
  if (proto == 1 || proto == 58) {
    p.push_back(CtAttr(proto == 1 ? CTA_PROTO_ICMP_ID : CTA_PROTO_ICMPV6_ID, Be16(sport)));
    p.push_back(CtAttr(proto == 1 ? CTA_PROTO_ICMP_TYPE : CTA_PROTO_ICMPV6_TYPE, U8(8)));
    p.push_back(CtAttr(proto == 1 ? CTA_PROTO_ICMP_CODE : CTA_PROTO_ICMPV6_CODE, U8(0)));
  } else {
    p.push_back(CtAttr(CTA_PROTO_SRC_PORT, Be16(sport)));
    p.push_back(CtAttr(CTA_PROTO_DST_PORT, Be16(dport)));
  }
  return CtNest(type, {ip, CtNest(CTA_TUPLE_PROTO, p)});
}

}  // namespace

CtBytes CtAttr(uint16_t type, const CtBytes& payload) {
  CtBytes out(4);
  const uint16_t len = uint16_t(4 + payload.size());
  std::memcpy(out.data(), &len, 2);
  std::memcpy(out.data() + 2, &type, 2);
  out.insert(out.end(), payload.begin(), payload.end());
  while (out.size() % 4) out.push_back(0);
  return out;
}

CtBytes CtNest(uint16_t type, const std::vector<CtBytes>& children) {
  return CtAttr(uint16_t(type | NLA_F_NESTED), CtCat(children));
}

CtBytes CtEntryAttrs(const CtSpec& s) {
  std::vector<CtBytes> a = {
      Tuple(CTA_TUPLE_ORIG, s.family, s.protocol, s.orig_src, s.orig_dst, s.orig_sport,
            s.orig_dport),
      Tuple(CTA_TUPLE_REPLY, s.family, s.protocol, s.reply_src, s.reply_dst, s.reply_sport,
            s.reply_dport),
      CtAttr(CTA_STATUS, Be32(s.status)),
      CtAttr(CTA_TIMEOUT, Be32(431999)),
      CtAttr(CTA_MARK, Be32(0)),
  };
  if (s.tcp_state >= 0) {
    a.push_back(CtNest(
        CTA_PROTOINFO,
        {CtNest(CTA_PROTOINFO_TCP, {CtAttr(CTA_PROTOINFO_TCP_STATE, U8(uint8_t(s.tcp_state))),
                                    CtAttr(CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, U8(7)),
                                    CtAttr(CTA_PROTOINFO_TCP_WSCALE_REPLY, U8(7))})}));
  }
  if (s.zone >= 0) a.push_back(CtAttr(CTA_ZONE, Be16(uint16_t(s.zone))));
  a.push_back(CtAttr(CTA_USE, Be32(1)));
  a.push_back(CtAttr(CTA_ID, Be32(0x12345678)));
  return CtCat(a);
}

CtBytes CtMessage(int family, const CtBytes& attrs, uint16_t flags, uint32_t seq, uint32_t pid) {
  nlmsghdr h{};
  h.nlmsg_len = uint32_t(NLMSG_HDRLEN + sizeof(nfgenmsg) + attrs.size());
  h.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = pid;
  CtBytes out(sizeof(h));
  std::memcpy(out.data(), &h, sizeof(h));
  out.push_back(uint8_t(family));
  out.push_back(NFNETLINK_V0);
  out.push_back(0);
  out.push_back(0);
  out.insert(out.end(), attrs.begin(), attrs.end());
  while (out.size() % 4) out.push_back(0);
  return out;
}

CtBytes CtEntry(const CtSpec& s, uint32_t seq, uint32_t pid) {
  return CtMessage(s.family, CtEntryAttrs(s), NLM_F_MULTI, seq, pid);
}

CtBytes CtDone(uint32_t seq, uint32_t pid, int32_t status) {
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_HDRLEN + 4;
  h.nlmsg_type = NLMSG_DONE;
  h.nlmsg_flags = NLM_F_MULTI;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = pid;
  CtBytes out(NLMSG_HDRLEN + 4);
  std::memcpy(out.data(), &h, sizeof(h));
  std::memcpy(out.data() + NLMSG_HDRLEN, &status, 4);
  return out;
}

CtBytes CtError(int err, uint32_t seq, uint32_t pid) {
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_HDRLEN + sizeof(nlmsgerr);
  h.nlmsg_type = NLMSG_ERROR;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = pid;
  CtBytes out(h.nlmsg_len, 0);
  std::memcpy(out.data(), &h, sizeof(h));
  const int32_t e = -err;
  std::memcpy(out.data() + NLMSG_HDRLEN, &e, 4);
  return out;
}

CtBytes CtCat(const std::vector<CtBytes>& parts) {
  CtBytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

CtBytes CtDumpFile(const std::vector<CtBytes>& buffers) {
  CtBytes out = {'S', 'S', 'C', 'T', 'R', 'K', '0', '1'};
  for (const auto& b : buffers) {
    const uint32_t n = uint32_t(b.size());
    out.push_back(uint8_t(n));
    out.push_back(uint8_t(n >> 8));
    out.push_back(uint8_t(n >> 16));
    out.push_back(uint8_t(n >> 24));
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

}  // namespace sockstate::testing
