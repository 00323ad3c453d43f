// The record/replay seam of sock_diag dumps (like iproute2's `ss -D` / TCPDIAG_FILE).
//
// Dump file format (".ssdiag", util/record_file.h), all integers little-endian:
//   "SSDIAG01" (TCP) or "SSUDP001" (UDP)   8-byte magic
//   repeated, one per recvmsg buffer:
//     u8  family                    AF_INET (2) or AF_INET6 (10): the request it answers
//     u32 length                    bytes that follow
//     u8  bytes[length]             the buffer exactly as recvmsg returned it
// Each family's dump ends with a buffer holding NLMSG_DONE.

#include <sys/socket.h>

#include <string_view>

#include "kernel/sock_diag.h"
#include "kernel/udp_diag.h"
#include "util/log.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

constexpr std::string_view kMagic = "SSDIAG01";
constexpr std::string_view kUdpMagic = "SSUDP001";
constexpr size_t kFamilyTagSize = 1;

/// Replays a file of `magic`, each buffer through parse(const uint8_t*, size_t) ->
/// NetlinkParseResult.
template <typename Parse>
Status ReplayFile(const std::string& path, std::string_view magic, Parse&& parse) {
  Result<RecordFileReader> file = RecordFileReader::Open(path, magic, kFamilyTagSize);
  if (!file.ok()) return file.status();
  RecordFileReader& in = *file;
  int open_family = 0;  // family whose dump has not seen NLMSG_DONE yet, 0 if none
  while (!in.AtEnd()) {
    const size_t off = in.offset();
    uint8_t family = 0;
    uint32_t n = 0;
    if (Status s = in.ReadHeader(&family, &n); !s.ok()) return s;
    if (family != AF_INET && family != AF_INET6) {
      return in.Error(StrFormat("record at offset %zu: bad family %u", off, unsigned{family}));
    }
    const uint8_t* data = nullptr;
    size_t payload_off = 0;
    if (Status s = in.ReadPayload(&data, &payload_off); !s.ok()) return s;
    if (open_family != 0 && open_family != family) {
      return in.Error(StrFormat("record at offset %zu: %s dump ended without NLMSG_DONE", off,
                                AddressFamilyName(open_family)));
    }
    NetlinkParseResult r = parse(data, n);
    switch (r.state) {
      case NetlinkParseState::kError:
        return in.Error(StrFormat("record at offset %zu (%s, %u bytes from file offset %zu)", off,
                                  AddressFamilyName(family), n, payload_off) +
                        ": " + r.error);
      case NetlinkParseState::kDone:
        open_family = 0;
        break;
      case NetlinkParseState::kMore:
        open_family = family;
        break;
    }
  }
  if (open_family != 0) {
    return in.Error(StrFormat("file ends at offset %zu inside the %s dump (no NLMSG_DONE)",
                              in.offset(), AddressFamilyName(open_family)));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<DumpRecorder>> DumpRecorder::Open(const std::string& path) {
  return CreateAs<DumpRecorder>(path, kMagic, "dump recorder");
}

Result<std::unique_ptr<DumpRecorder>> DumpRecorder::OpenUdp(const std::string& path) {
  return CreateAs<DumpRecorder>(path, kUdpMagic, "udp dump recorder");
}

Status PrepareLiveDump(std::unique_ptr<SockDiagSocket>* socket, const std::string& record_path,
                       bool udp, std::unique_ptr<DumpRecorder>* recorder) {
  if (!*socket) {
    auto sock = SockDiagSocket::Open();
    if (!sock.ok()) return sock.status();
    *socket = std::move(*sock);
  }
  if (record_path.empty()) return Status::Ok();
  auto rec = udp ? DumpRecorder::OpenUdp(record_path) : DumpRecorder::Open(record_path);
  if (rec.ok()) {
    *recorder = std::move(*rec);
  } else {
    Log(LogLevel::kWarn, rec.status().message());
  }
  return Status::Ok();
}

Status ReplayDumpFile(const std::string& path, RecordSink& sink) {
  return ReplayFile(path, kMagic,
                    [&](const uint8_t* data, size_t n) { return ParseDiagBuffer(data, n, sink); });
}

Status ReplayUdpDumpFile(const std::string& path, UdpRecordSink& sink) {
  return ReplayFile(path, kUdpMagic, [&](const uint8_t* data, size_t n) {
    return ParseUdpDiagBuffer(data, n, sink);
  });
}

}  // namespace sockstate
