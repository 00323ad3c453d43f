// The pure parser of ctnetlink dump replies. The socket and the record/replay seam are in
// conntrack_netlink_io.cpp; the message walk is util/netlink_socket.h's.
//
// Message layout (net/netfilter/nf_conntrack_netlink.c, ctnetlink_fill_info):
//   nlmsghdr, nfgenmsg {family, version, res_id}, then attributes:
//   CTA_TUPLE_ORIG / CTA_TUPLE_REPLY (nested): CTA_TUPLE_IP (nested: CTA_IP_V4_SRC/DST 4 bytes
//   or CTA_IP_V6_SRC/DST 16 bytes), CTA_TUPLE_PROTO (nested: CTA_PROTO_NUM u8,
//   CTA_PROTO_SRC_PORT / CTA_PROTO_DST_PORT be16, CTA_PROTO_ICMP_ID be16, ...);
//   CTA_STATUS be32; CTA_PROTOINFO (nested: CTA_PROTOINFO_TCP (nested:
//   CTA_PROTOINFO_TCP_STATE u8)); CTA_ZONE be16; and others this parser skips.

#include "kernel/conntrack_netlink.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "util/text_util.h"

namespace sockstate {
namespace {

constexpr size_t kNlHdrLen = NLMSG_HDRLEN;      // 16
constexpr size_t kNfGenLen = sizeof(nfgenmsg);  // 4
constexpr size_t kAttrHdrLen = 4;
constexpr uint16_t kCtNewType = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
constexpr uint16_t kAttrTypeMask =
    uint16_t(NLA_TYPE_MASK & 0xffff);  // strips NLA_F_NESTED / NLA_F_NET_BYTEORDER

static_assert(sizeof(nfgenmsg) == 4, "nfgenmsg layout");

uint16_t Be16(const uint8_t* p) { return uint16_t(uint16_t{p[0]} << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
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
      SetErrorf(error, "truncated attribute header in %s at offset %zu (%zu bytes left)", where, at,
                left);
      return false;
    }
    uint16_t alen, atype;
    std::memcpy(&alen, p + off, 2);
    std::memcpy(&atype, p + off + 2, 2);
    if (alen < kAttrHdrLen || alen > left) {
      SetErrorf(error, "bad attribute length %u in %s at offset %zu (%zu bytes left)",
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
                    SetErrorf(error,
                              "%s address attribute %u at offset %zu does not match family %u",
                              which, unsigned{it}, iat, unsigned{family});
                    return false;
                  }
                  return true;
                }
                if (in != alen) {
                  SetErrorf(error, "%s address attribute at offset %zu has %zu bytes, expected %zu",
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
                  SetErrorf(error,
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
    SetErrorf(error, "%s has no %s source and destination address", which,
              family == AF_INET ? "IPv4" : "IPv6");
    return false;
  }
  if (!has_proto) {
    SetErrorf(error, "%s has no CTA_PROTO_NUM", which);
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
              SetErrorf(error, "CTA_STATUS at offset %zu has %zu bytes, expected 4", at, n);
              return false;
            }
            r.status = Be32(v);
            return true;
          case CTA_ZONE:
            if (n < 2) {
              SetErrorf(error, "CTA_ZONE at offset %zu has %zu bytes, expected 2", at, n);
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
                          SetErrorf(error, "CTA_PROTOINFO_TCP_STATE at offset %zu is empty", tat);
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
    SetErrorf(error, "conntrack entry without %s", has_orig ? "CTA_TUPLE_REPLY" : "CTA_TUPLE_ORIG");
    return false;
  }
  return true;
}

}  // namespace

NetlinkParseResult ParseConntrackBuffer(const void* buf, size_t len, ConntrackSink& sink,
                                        const CtReplyFilter* expect) {
  const auto* base = static_cast<const uint8_t*>(buf);
  ConntrackRecord record;  // reused for every entry: no allocation per entry
  return WalkNetlinkMessages(
      buf, len, kCtNewType, expect,
      [&](const nlmsghdr& h, const uint8_t* payload, size_t off, std::string* error) {
        const size_t payload_len = h.nlmsg_len - NLMSG_HDRLEN;
        if (payload_len < kNfGenLen) {
          SetErrorf(error, "conntrack message at offset %zu too short: nlmsg_len %u < %zu", off,
                    h.nlmsg_len, kNlHdrLen + kNfGenLen);
          return false;
        }
        const uint8_t family = payload[0];
        if (family != AF_INET && family != AF_INET6) {
          SetErrorf(error, "conntrack message at offset %zu has unknown family %u", off,
                    unsigned{family});
          return false;
        }
        std::string inner;
        if (!DecodeEntry(base, payload + kNfGenLen, payload_len - kNfGenLen, family, record,
                         &inner)) {
          SetErrorf(error, "conntrack message at offset %zu: %s", off, inner.c_str());
          return false;
        }
        sink.OnEntry(record);
        return true;
      });
}

}  // namespace sockstate
