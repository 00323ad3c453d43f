// NETLINK_SOCK_DIAG TCP and UDP dumps and the pure TCP reply parser (UDP's: kernel/udp_diag.cpp);
// the socket and the message walk are util/netlink_socket.*, the record/replay seam is in
// sock_diag_file.cpp.

#include "kernel/sock_diag.h"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "kernel/inet_diag_walk.h"
#include "kernel/udp_diag.h"

namespace sockstate {
namespace {

static_assert(sizeof(inet_diag_req_v2) == 56, "inet_diag_req_v2 layout");

// Decodes one inet_diag_msg into `r` (every field overwritten). False for an unknown family.
bool DecodeDiagMsg(const inet_diag_msg& m, SocketRecord& r) {
  static_assert(sizeof(m.id.idiag_src) == 16 && sizeof(m.id.idiag_dst) == 16);
  const auto* src = reinterpret_cast<const uint8_t*>(m.id.idiag_src);
  const auto* dst = reinterpret_cast<const uint8_t*>(m.id.idiag_dst);
  r.src_addr = {};
  r.dst_addr = {};
  if (m.idiag_family == AF_INET) {
    r.family = Family::kIpv4;
    std::memcpy(r.src_addr.data(), src, 4);
    std::memcpy(r.dst_addr.data(), dst, 4);
  } else if (m.idiag_family == AF_INET6) {
    if (IsV4MappedAddress(src) && IsV4MappedAddress(dst)) {
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
  r.cookie = uint64_t(m.id.idiag_cookie[0]) | uint64_t(m.id.idiag_cookie[1]) << 32;
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

NetlinkParseResult ParseDiagBuffer(const void* buf, size_t len, RecordSink& sink,
                                   const DiagReplyFilter* expect) {
  SocketRecord record;  // reused for every socket: no allocation per socket
  return WalkInetDiagMessages(
      buf, len, expect,
      [&](const inet_diag_msg& msg, const uint8_t* payload, size_t payload_len, size_t off,
          std::string* error) {
        if (!DecodeDiagMsg(msg, record)) return UnknownDiagFamily(off, msg.idiag_family, error);
        record.cgroup_id = InetDiagCgroupId(payload, payload_len);
        sink.OnSocket(record);
        return true;
      });
}

// ---------------------------------------------------------------------------------------------
// Live socket.

Result<std::unique_ptr<SockDiagSocket>> SockDiagSocket::Open() {
  Result<std::unique_ptr<NetlinkSocket>> nl = NetlinkSocket::Open(NETLINK_SOCK_DIAG, "sock_diag");
  if (!nl.ok()) return nl.status();
  return std::unique_ptr<SockDiagSocket>(new SockDiagSocket(std::move(*nl)));
}

template <typename Parse>
Status SockDiagSocket::DumpFamily(uint8_t family, uint8_t protocol, uint32_t state_mask,
                                  Parse&& parse, DumpRecorder* recorder, DumpStats* stats,
                                  bool* interrupted) {
  alignas(nlmsghdr) uint8_t request[NLMSG_SPACE(sizeof(inet_diag_req_v2))];
  nlmsghdr* nlh = nl_->StartRequest(request, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP);
  auto* req =
      static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
  req->sdiag_family = family;
  req->sdiag_protocol = protocol;
  req->idiag_ext = 0;
  req->idiag_states = state_mask;
  const DiagReplyFilter expect = nl_->ReplyFilter(nlh);
  if (Status s = nl_->Send(nlh); !s.ok()) return s;
  std::string error;
  return nl_->ReadDump(
      stats,
      [&](const uint8_t* buf, size_t n) {
        return recorder != nullptr ? recorder->Write(family, buf, n) : Status::Ok();
      },
      [&](const uint8_t* buf, size_t n) {
        NetlinkParseResult r = parse(buf, n, &expect);
        stats->messages += r.messages;
        if (r.state == NetlinkParseState::kError) {
          error = std::move(r.error);
          *interrupted = r.dump_interrupted;
        }
        return r.state;
      },
      [&] {
        return Status::Error("reply buffer " + std::to_string(stats->buffers) + ": " + error);
      });
}

template <typename Parse>
Status SockDiagSocket::DumpBoth(uint8_t protocol, uint32_t state_mask, Parse&& parse,
                                DumpRecorder* recorder, DumpStats* stats,
                                const std::function<void()>& on_restart) {
  DumpStats local;
  DumpStats* st = stats != nullptr ? stats : &local;
  *st = DumpStats{};
  const char* what = protocol == IPPROTO_UDP ? "sock_diag udp " : "sock_diag ";
  return RunDumpRestartingOnce(&st->retries, on_restart, [&](bool* interrupted) {
    for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
      Status status = DumpFamily(family, protocol, state_mask, parse, recorder, st, interrupted);
      if (!status.ok()) {
        return status.WithContext(std::string(what) + AddressFamilyName(family) + " dump");
      }
    }
    return Status::Ok();
  });
}

Status SockDiagSocket::DumpTcp(uint32_t state_mask, RecordSink& sink, DumpRecorder* recorder,
                               DumpStats* stats, const std::function<void()>& on_restart) {
  return DumpBoth(
      IPPROTO_TCP, state_mask,
      [&](const uint8_t* buf, size_t n, const DiagReplyFilter* expect) {
        return ParseDiagBuffer(buf, n, sink, expect);
      },
      recorder, stats, on_restart);
}

Status SockDiagSocket::DumpUdp(UdpRecordSink& sink, DumpRecorder* recorder, DumpStats* stats,
                               const std::function<void()>& on_restart) {
  // UDP sockets are TCP_CLOSE (unconnected) or TCP_ESTABLISHED (connected); all bits asked.
  return DumpBoth(
      IPPROTO_UDP, ~0u,
      [&](const uint8_t* buf, size_t n, const DiagReplyFilter* expect) {
        return ParseUdpDiagBuffer(buf, n, sink, expect);
      },
      recorder, stats, on_restart);
}

}  // namespace sockstate
