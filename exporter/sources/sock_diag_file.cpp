// The record/replay seam of sock_diag dumps (like iproute2's `ss -D` / TCPDIAG_FILE).
//
// Dump file format (".ssdiag"), all integers little-endian:
//   "SSDIAG01"                      8-byte magic
//   repeated, one per recvmsg buffer:
//     u8  family                    AF_INET (2) or AF_INET6 (10): the request it answers
//     u32 length                    bytes that follow
//     u8  bytes[length]             the buffer exactly as recvmsg returned it
// Each family's dump ends with a buffer holding NLMSG_DONE.

#include <errno.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "sources/sock_diag.h"
#include "util/file_util.h"

namespace sockstate {
namespace {

constexpr char kMagic[8] = {'S', 'S', 'D', 'I', 'A', 'G', '0', '1'};
constexpr size_t kRecordHeaderSize = 5;  // u8 family + u32 length

uint32_t ReadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

Result<std::unique_ptr<DumpRecorder>> DumpRecorder::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "wbe");
  if (f == nullptr) return Status::Error("dump recorder: open " + path + ": " + ErrnoText(errno));
  if (std::fwrite(kMagic, 1, sizeof(kMagic), f) != sizeof(kMagic) || std::fflush(f) != 0) {
    Status s = Status::Error("dump recorder: write " + path + ": " + ErrnoText(errno));
    std::fclose(f);
    return s;
  }
  return std::unique_ptr<DumpRecorder>(new DumpRecorder(f, path));
}

DumpRecorder::~DumpRecorder() {
  if (file_ != nullptr) std::fclose(file_);
}

Status DumpRecorder::Write(uint8_t family, const void* buf, size_t len) {
  if (len > UINT32_MAX) return Status::Error("dump recorder: " + path_ + ": buffer too large");
  const uint32_t n = static_cast<uint32_t>(len);
  const uint8_t header[kRecordHeaderSize] = {family, uint8_t(n), uint8_t(n >> 8), uint8_t(n >> 16),
                                             uint8_t(n >> 24)};
  if (std::fwrite(header, 1, sizeof(header), file_) != sizeof(header) ||
      (len > 0 && std::fwrite(buf, 1, len, file_) != len) || std::fflush(file_) != 0) {
    return Status::Error("dump recorder: write " + path_ + ": " + ErrnoText(errno));
  }
  return Status::Ok();
}

Status ReplayDumpFile(const std::string& path, RecordSink& sink) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("replay " + path + ": open: " + ErrnoText(errno));
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad()) return Status::Error("replay " + path + ": read error");
  if (data.size() < sizeof(kMagic) || std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Error("replay " + path + ": bad magic at offset 0 (not an SSDIAG01 dump)");
  }
  char msg[256];
  size_t off = sizeof(kMagic);
  int open_family = 0;  // family whose dump has not seen NLMSG_DONE yet, 0 if none
  while (off < data.size()) {
    const size_t left = data.size() - off;
    if (left < kRecordHeaderSize) {
      snprintf(msg, sizeof(msg), "truncated record header at offset %zu (%zu bytes left)", off,
               left);
      return Status::Error("replay " + path + ": " + msg);
    }
    const uint8_t family = data[off];
    const uint32_t n = ReadLe32(&data[off + 1]);
    if (family != AF_INET && family != AF_INET6) {
      snprintf(msg, sizeof(msg), "record at offset %zu: bad family %u", off, unsigned{family});
      return Status::Error("replay " + path + ": " + msg);
    }
    if (n > left - kRecordHeaderSize) {
      snprintf(msg, sizeof(msg), "truncated record at offset %zu: length %u, %zu bytes left", off,
               n, left - kRecordHeaderSize);
      return Status::Error("replay " + path + ": " + msg);
    }
    if (open_family != 0 && open_family != family) {
      snprintf(msg, sizeof(msg), "record at offset %zu: %s dump ended without NLMSG_DONE", off,
               AddressFamilyName(open_family));
      return Status::Error("replay " + path + ": " + msg);
    }
    std::string error;
    const size_t payload_off = off + kRecordHeaderSize;
    switch (ParseDiagBuffer(data.data() + payload_off, n, sink, &error)) {
      case ParseState::kError:
        snprintf(msg, sizeof(msg), "record at offset %zu (%s, %u bytes from file offset %zu)", off,
                 AddressFamilyName(family), n, payload_off);
        return Status::Error("replay " + path + ": " + msg + ": " + error);
      case ParseState::kDone:
        open_family = 0;
        break;
      case ParseState::kMore:
        open_family = family;
        break;
    }
    off = payload_off + n;
  }
  if (open_family != 0) {
    snprintf(msg, sizeof(msg), "file ends at offset %zu inside the %s dump (no NLMSG_DONE)", off,
             AddressFamilyName(open_family));
    return Status::Error("replay " + path + ": " + msg);
  }
  return Status::Ok();
}

}  // namespace sockstate
