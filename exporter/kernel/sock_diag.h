#pragma once
// NETLINK_SOCK_DIAG dumps of TCP sockets (streamed to a RecordSink) and of UDP sockets (to a
// UdpRecordSink, parser in kernel/udp_diag.h) with libmnl, plus the record/replay seam: raw
// recvmsg buffers written to a file and read back through the same parser (like iproute2's
// `ss -D` / TCPDIAG_FILE).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "kernel/socket_record.h"
#include "kernel/udp_socket_record.h"
#include "util/netlink_socket.h"
#include "util/record_file.h"
#include "util/status.h"

namespace sockstate {

/// "AF_INET", "AF_INET6" or "AF_?", for messages. Thread-safe.
const char* AddressFamilyName(uint8_t family);

/// Identity every reply message must carry (util/netlink_socket.h).
using DiagReplyFilter = NetlinkReplyFilter;

/// Parses one buffer of netlink messages from a sock_diag dump reply: every
/// SOCK_DIAG_BY_FAMILY message becomes a SocketRecord handed to `sink` (IPv4-mapped IPv6
/// normalised to IPv4, NEW_SYN_RECV folded into SYN_RECV) and counts in `messages`;
/// NLMSG_DONE ends the dump (kDone). NLMSG_ERROR, a truncated header, a message shorter than
/// struct inet_diag_msg, a length running past the buffer, an unknown family or
/// NLM_F_DUMP_INTR (`dump_interrupted`: the caller retries the dump) are kError with `error`
/// saying what and at which byte offset; a zero-length or short message is an error (never an
/// endless loop). When `expect` is set, a message whose nlmsg_seq/nlmsg_pid differ is an
/// error. Pure apart from calling the sink; never reads outside [buf, buf+len); allocates only
/// to build the error. Thread-safe (no shared state).
NetlinkParseResult ParseDiagBuffer(const void* buf, size_t len, RecordSink& sink,
                                   const DiagReplyFilter* expect = nullptr);

/// Writes raw dump buffers to a file (util/record_file.h: magic "SSDIAG01" for TCP dumps,
/// "SSUDP001" for UDP ones, then per buffer: u8 family, u32 little-endian length, bytes). A dump
/// restarted after NLM_F_DUMP_INTR keeps its interrupted part in the file (replay then stops
/// there with an error). Not thread-safe.
class DumpRecorder : public RecordFileWriter {
 public:
  /// Creates (truncates) `path` and writes the TCP magic. Errors: "dump recorder: open
  /// <path>: ...".
  static Result<std::unique_ptr<DumpRecorder>> Open(const std::string& path);
  /// The same for UDP dumps (magic "SSUDP001"; errors name the "udp dump recorder").
  static Result<std::unique_ptr<DumpRecorder>> OpenUdp(const std::string& path);
  /// Appends one record (family AF_INET or AF_INET6, len < 4 GiB) and flushes it.
  Status Write(uint8_t family, const void* buf, size_t len) {
    return WriteRecord(&family, 1, buf, len);
  }

 private:
  friend class RecordFileWriter;  // constructs it in CreateAs()
  using RecordFileWriter::RecordFileWriter;
};

/// Replays a recorded dump file through ParseDiagBuffer into `sink`. Errors (bad magic,
/// truncated file, a family's dump without NLMSG_DONE, parse error) name the file and offset;
/// records before the error have reached the sink. Thread-safe.
Status ReplayDumpFile(const std::string& path, RecordSink& sink);
/// The same for a recorded UDP dump (DumpRecorder::OpenUdp) through ParseUdpDiagBuffer.
Status ReplayUdpDumpFile(const std::string& path, UdpRecordSink& sink);

/// Statistics of one dump, for logs and self-metrics. Plain value; not synchronized.
struct DumpStats : NetlinkDumpStats {
  uint64_t messages = 0;  // inet_diag messages parsed
};

/// A NETLINK_SOCK_DIAG socket (a NetlinkSocket, util/netlink_socket.h). It lives in the network
/// namespace of the thread that called Open() and can then be used from any thread (one at a
/// time: not thread-safe).
class SockDiagSocket {
 public:
  /// Opens and binds a NETLINK_SOCK_DIAG socket in the calling thread's network namespace
  /// (SO_RCVBUF 1 MiB, receive timeout 10 s so a dump can never block forever).
  static Result<std::unique_ptr<SockDiagSocket>> Open();

  /// Dumps TCP sockets of AF_INET then AF_INET6 whose state is in `state_mask`
  /// (bit 1<<TCP_x), no extensions, streaming every record to `sink`. On NLM_F_DUMP_INTR the
  /// whole dump (both families) is restarted once, after calling `on_restart` (if set):
  /// the sink has then seen part of the dump and must reset its state. A recvmsg interrupted
  /// by a signal (EINTR) loses no data and is simply repeated. If `recorder` is set every raw
  /// buffer is also written to it. `stats` (optional) is reset, then filled. Replies are
  /// checked against the request's seq and our port id. No allocation unless there is an
  /// error (a lambda capturing one pointer fits in std::function without allocating). Errors
  /// carry context ("sock_diag AF_INET6 dump: recvmsg: ...").
  Status DumpTcp(uint32_t state_mask, RecordSink& sink, DumpRecorder* recorder = nullptr,
                 DumpStats* stats = nullptr, const std::function<void()>& on_restart = {});

  /// Dumps every UDP socket (both states) of AF_INET then AF_INET6 to `sink`, exactly as
  /// DumpTcp does (restart, recorder, stats, errors: "sock_diag udp AF_INET dump: ...").
  Status DumpUdp(UdpRecordSink& sink, DumpRecorder* recorder = nullptr, DumpStats* stats = nullptr,
                 const std::function<void()>& on_restart = {});

 private:
  explicit SockDiagSocket(std::unique_ptr<NetlinkSocket> nl) : nl_(std::move(nl)) {}
  /// One family's dump of `protocol`, each reply buffer handed to `parse` (a
  /// NetlinkParseResult(const uint8_t*, size_t, const DiagReplyFilter*) callable).
  template <typename Parse>
  Status DumpFamily(uint8_t family, uint8_t protocol, uint32_t state_mask, Parse&& parse,
                    DumpRecorder* recorder, DumpStats* stats, bool* interrupted);
  /// Both families through DumpFamily, restarted once on NLM_F_DUMP_INTR.
  template <typename Parse>
  Status DumpBoth(uint8_t protocol, uint32_t state_mask, Parse&& parse, DumpRecorder* recorder,
                  DumpStats* stats, const std::function<void()>& on_restart);
  std::unique_ptr<NetlinkSocket> nl_;
};

/// What a live dump needs: opens `*socket` unless it is open; then, when `record_path` is set,
/// a recorder of that file (UDP magic when `udp`) into `*recorder`; one that cannot be opened
/// is logged and the dump goes on without it. Errors: the socket's. Not thread-safe.
Status PrepareLiveDump(std::unique_ptr<SockDiagSocket>* socket, const std::string& record_path,
                       bool udp, std::unique_ptr<DumpRecorder>* recorder);

}  // namespace sockstate
