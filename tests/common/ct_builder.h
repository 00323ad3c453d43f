#pragma once
// Builds ctnetlink dump replies in memory (the messages ctnetlink_fill_info() writes), for the
// conntrack parser, model and source tests and the fuzz seeds.

#include <cstdint>
#include <string>
#include <vector>

namespace sockstate::testing {

using CtBytes = std::vector<uint8_t>;

/// One conntrack entry to encode. Addresses as text of `family`. Plain value.
struct CtSpec {
  int family = 2;        // AF_INET
  uint8_t protocol = 6;  // IPPROTO_TCP
  std::string orig_src = "198.18.1.2", orig_dst = "198.18.2.2";
  uint16_t orig_sport = 40000, orig_dport = 8080;
  std::string reply_src = "198.18.2.2", reply_dst = "198.18.2.1";
  uint16_t reply_sport = 8080, reply_dport = 61000;
  uint32_t status = 0x1be;  // SEEN_REPLY|ASSURED|CONFIRMED|SRC_NAT|SRC_NAT_DONE|DST_NAT_DONE
  int tcp_state = 3;        // ESTABLISHED; -1 = no CTA_PROTOINFO
  int zone = -1;            // -1 = no CTA_ZONE
};

/// One netlink attribute (header + payload, padded to 4 bytes).
CtBytes CtAttr(uint16_t type, const CtBytes& payload);
/// A nested attribute (NLA_F_NESTED set) holding the concatenation of `children`.
CtBytes CtNest(uint16_t type, const std::vector<CtBytes>& children);
/// The attributes of one entry (what follows nfgenmsg).
CtBytes CtEntryAttrs(const CtSpec& s);
/// A whole IPCTNL_MSG_CT_NEW message with `attrs` after nfgenmsg{family}.
CtBytes CtMessage(int family, const CtBytes& attrs, uint16_t flags = 2 /*NLM_F_MULTI*/,
                  uint32_t seq = 7, uint32_t pid = 4242);
/// CtMessage(s.family, CtEntryAttrs(s)).
CtBytes CtEntry(const CtSpec& s, uint32_t seq = 7, uint32_t pid = 4242);
/// NLMSG_DONE with status 0.
CtBytes CtDone(uint32_t seq = 7, uint32_t pid = 4242, int32_t status = 0);
/// NLMSG_ERROR carrying -err.
CtBytes CtError(int err, uint32_t seq = 7, uint32_t pid = 4242);
/// a + b.
CtBytes CtCat(const std::vector<CtBytes>& parts);
/// A recorded dump file (SSCTRK01) holding `buffers`.
CtBytes CtDumpFile(const std::vector<CtBytes>& buffers);

/// The `nat.groups` of the tests and of the committed recording
/// (tests/fixtures/dumps/nat-tcp-udp.ssct): "backend" = 198.18.2.2:8080/tcp with a 10-port
/// usable range. YAML lines to go under `nat:`.
inline constexpr const char* kBackendNatGroups = R"(  groups:
    - name: backend
      cidrs: [198.18.2.2/32]
      ports: [8080]
      protocol: tcp
      usable_ports: "61000-61009"
)";

}  // namespace sockstate::testing
