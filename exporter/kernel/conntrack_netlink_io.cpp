// The I/O of ctnetlink dumps: the NETLINK_NETFILTER socket (a NetlinkSocket) and the
// record/replay seam. The parser is in conntrack_netlink.cpp.
//
// Dump file format (".ssct", util/record_file.h), all integers little-endian:
//   "SSCTRK01"                      8-byte magic
//   repeated, one per recvmsg buffer:
//     u32 length                    bytes that follow
//     u8  bytes[length]             the buffer exactly as recvmsg returned it
// The dump ends with a buffer holding NLMSG_DONE.

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cstring>
#include <string_view>

#include "kernel/conntrack_netlink.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

constexpr std::string_view kMagic = "SSCTRK01";
constexpr uint16_t kCtGetType = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;

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

// A ctnetlink request of `flags` for `family` (AF_UNSPEC: every layer-3 family) in `request`.
nlmsghdr* PutCtGet(NetlinkSocket& nl, void* request, uint16_t flags, uint8_t family) {
  nlmsghdr* nlh = nl.StartRequest(request, kCtGetType, flags);
  auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  g->nfgen_family = family;
  g->version = NFNETLINK_V0;
  g->res_id = 0;
  return nlh;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Record / replay.

Result<std::unique_ptr<ConntrackRecorder>> ConntrackRecorder::Open(const std::string& path) {
  return CreateAs<ConntrackRecorder>(path, kMagic, "conntrack recorder");
}

Status ReplayConntrackFile(const std::string& path, ConntrackSink& sink) {
  Result<RecordFileReader> file = RecordFileReader::Open(path, kMagic, /*tag_size=*/0);
  if (!file.ok()) return file.status();
  RecordFileReader& in = *file;
  bool done = false;
  while (!in.AtEnd()) {
    const size_t off = in.offset();
    if (done) {
      return in.Error(StrFormat("data after the end of the dump (NLMSG_DONE) at offset %zu", off));
    }
    uint8_t tag = 0;
    uint32_t n = 0;
    if (Status s = in.ReadHeader(&tag, &n); !s.ok()) return s;
    const uint8_t* data = nullptr;
    size_t payload_off = 0;
    if (Status s = in.ReadPayload(&data, &payload_off); !s.ok()) return s;
    NetlinkParseResult r = ParseConntrackBuffer(data, n, sink);
    switch (r.state) {
      case NetlinkParseState::kError:
        return in.Error(
            StrFormat("record at offset %zu (%u bytes from file offset %zu)", off, n, payload_off) +
            ": " + r.error);
      case NetlinkParseState::kDone:
        done = true;
        break;
      case NetlinkParseState::kMore:
        break;
    }
  }
  if (!done) {
    return in.Error(
        StrFormat("file ends at offset %zu inside the dump (no NLMSG_DONE)", in.offset()));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Live socket.

Result<std::unique_ptr<ConntrackSocket>> ConntrackSocket::Open() {
  Result<std::unique_ptr<NetlinkSocket>> nl = NetlinkSocket::Open(NETLINK_NETFILTER, "ctnetlink");
  if (!nl.ok()) return nl.status();
  return std::unique_ptr<ConntrackSocket>(new ConntrackSocket(std::move(*nl)));
}

Status ConntrackSocket::SendRequest(CtReplyFilter* expect) {
  alignas(nlmsghdr) uint8_t request[NLMSG_SPACE(sizeof(nfgenmsg))];
  const nlmsghdr* nlh = PutCtGet(*nl_, request, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC);
  *expect = nl_->ReplyFilter(nlh);
  return nl_->Send(nlh);
}

Status ConntrackSocket::DumpOnce(ConntrackSink* sink, ConntrackRecorder* recorder,
                                 CtDumpStats* stats, bool* interrupted) {
  CtReplyFilter expect;
  if (Status s = SendRequest(&expect); !s.ok()) return s;
  std::string error;
  int nl_errno = 0;
  return nl_->ReadDump(
      stats,
      [&](const uint8_t* buf, size_t n) {
        return recorder != nullptr ? recorder->Write(buf, n) : Status::Ok();
      },
      [&](const uint8_t* buf, size_t n) {
        NetlinkParseResult r = ParseConntrackBuffer(buf, n, *sink, &expect);
        stats->entries += r.messages;
        if (r.state == NetlinkParseState::kError) {
          error = std::move(r.error);
          *interrupted = r.dump_interrupted;
          nl_errno = r.nl_errno;
        }
        return r.state;
      },
      [&] {
        if (nl_errno != 0) nl_->DumpEnded();  // an error reply ends the dump
        last_errno_ = nl_errno;
        return DumpError(nl_errno, error, stats->buffers);
      });
}

Status ConntrackSocket::Dump(ConntrackSink& sink, ConntrackRecorder* recorder, CtDumpStats* stats,
                             const std::function<void()>& on_restart) {
  last_errno_ = 0;
  CtDumpStats local;
  CtDumpStats* st = stats != nullptr ? stats : &local;
  *st = CtDumpStats{};
  return RunDumpRestartingOnce(&st->retries, on_restart, [&](bool* interrupted) {
    return DumpOnce(&sink, recorder, st, interrupted).WithContext("conntrack dump");
  });
}

Status ConntrackSocket::Probe() {
  alignas(nlmsghdr) uint8_t request[NLMSG_SPACE(sizeof(nfgenmsg))];
  const nlmsghdr* nlh = PutCtGet(*nl_, request, NLM_F_REQUEST | NLM_F_ACK, AF_INET);
  size_t n = 0;
  if (Status s = nl_->Send(nlh); !s.ok()) return s.WithContext("ctnetlink probe");
  if (Status s = nl_->Receive(&n); !s.ok()) return s.WithContext("ctnetlink probe");
  nlmsghdr h;
  if (n < sizeof(h) + sizeof(int32_t)) return Status::Error("ctnetlink probe: short reply");
  std::memcpy(&h, nl_->buffer(), sizeof(h));
  if (h.nlmsg_type != NLMSG_ERROR) return Status::Ok();
  int32_t err = 0;
  std::memcpy(&err, nl_->buffer() + NLMSG_HDRLEN, sizeof(err));
  if (err == -EPERM) return DumpError(EPERM, "", 0);
  if (err == -EOPNOTSUPP || err == -EPROTONOSUPPORT) {
    return Status::Error("ctnetlink not available: " + NegatedErrnoText(err));
  }
  return Status::Ok();  // EINVAL (no tuple) or ENOENT: ctnetlink answered
}

Result<uint64_t> ConntrackSocket::DumpDiscard() {
  CtReplyFilter expect;
  if (Status s = SendRequest(&expect); !s.ok()) return s.WithContext("conntrack dump");
  uint64_t bytes = 0;
  for (;;) {
    size_t n = 0;
    if (Status s = nl_->Receive(&n); !s.ok()) return s.WithContext("conntrack dump");
    bytes += uint64_t{n};
    // Only the message headers are walked, to find the end of the dump.
    size_t off = 0;
    while (off + NLMSG_HDRLEN <= n) {
      nlmsghdr h;
      std::memcpy(&h, nl_->buffer() + off, sizeof(h));
      if (h.nlmsg_len < NLMSG_HDRLEN) return Status::Error("conntrack dump: bad nlmsg_len");
      if (h.nlmsg_type == NLMSG_DONE) {
        nl_->DumpEnded();
        return bytes;
      }
      if (h.nlmsg_type == NLMSG_ERROR) {
        nl_->DumpEnded();
        return Status::Error("conntrack dump: netlink error");
      }
      off += NLMSG_ALIGN(h.nlmsg_len);
    }
  }
}

}  // namespace sockstate
