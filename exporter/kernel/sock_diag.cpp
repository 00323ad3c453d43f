// NETLINK_SOCK_DIAG TCP dumps and the pure reply parser; the socket and the message walk are
// util/netlink_socket.*, the record/replay seam is in sock_diag_file.cpp.

#include "kernel/sock_diag.h"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace sockstate {
namespace {

constexpr size_t kDiagMsgLen = NLMSG_HDRLEN + sizeof(inet_diag_msg);

static_assert(sizeof(inet_diag_msg) == 72, "inet_diag_msg layout");
static_assert(sizeof(inet_diag_req_v2) == 56, "inet_diag_req_v2 layout");

bool IsV4Mapped(const uint8_t* a) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kPrefix, sizeof(kPrefix)) == 0;
}

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

NetlinkParseResult ParseDiagBuffer(const void* buf, size_t len, RecordSink& sink,
                                   const DiagReplyFilter* expect) {
  SocketRecord record;  // reused for every socket: no allocation per socket
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
        if (!DecodeDiagMsg(msg, record)) {
          SetErrorf(error, "inet_diag message at offset %zu has unknown family %u", off,
                    unsigned{msg.idiag_family});
          return false;
        }
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

Status SockDiagSocket::DumpFamily(uint8_t family, uint32_t state_mask, RecordSink& sink,
                                  DumpRecorder* recorder, DumpStats* stats, bool* interrupted) {
  alignas(nlmsghdr) uint8_t request[NLMSG_SPACE(sizeof(inet_diag_req_v2))];
  nlmsghdr* nlh = nl_->StartRequest(request, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP);
  auto* req =
      static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
  req->sdiag_family = family;
  req->sdiag_protocol = IPPROTO_TCP;
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
        NetlinkParseResult r = ParseDiagBuffer(buf, n, sink, &expect);
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

Status SockDiagSocket::DumpTcp(uint32_t state_mask, RecordSink& sink, DumpRecorder* recorder,
                               DumpStats* stats, const std::function<void()>& on_restart) {
  DumpStats local;
  DumpStats* st = stats != nullptr ? stats : &local;
  *st = DumpStats{};
  return RunDumpRestartingOnce(&st->retries, on_restart, [&](bool* interrupted) {
    for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
      Status status = DumpFamily(family, state_mask, sink, recorder, st, interrupted);
      if (!status.ok()) {
        return status.WithContext(std::string("sock_diag ") + AddressFamilyName(family) + " dump");
      }
    }
    return Status::Ok();
  });
}

}  // namespace sockstate
