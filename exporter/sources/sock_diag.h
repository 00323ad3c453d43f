#pragma once
// NETLINK_SOCK_DIAG dumps of TCP sockets with libmnl, streamed to a RecordSink, plus the
// record/replay seam: raw recvmsg buffers written to a file and read back through the same
// parser (like iproute2's `ss -D` / TCPDIAG_FILE).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "sources/socket_record.h"
#include "util/status.h"

struct mnl_socket;

namespace sockstate {

/// "AF_INET", "AF_INET6" or "AF_?", for messages. Thread-safe.
const char* AddressFamilyName(uint8_t family);

/// Outcome of parsing one recvmsg buffer.
enum class ParseState { kMore, kDone, kError };

/// Identity every reply message must carry: the request's sequence number and the netlink
/// port id of our socket (mnl_socket_get_portid). Plain value; thread-safe.
struct DiagReplyFilter {
  uint32_t seq = 0;
  uint32_t portid = 0;
};

/// Parses one buffer of netlink messages from a sock_diag dump reply: every
/// SOCK_DIAG_BY_FAMILY message becomes a SocketRecord handed to `sink` (IPv4-mapped IPv6
/// normalised to IPv4, NEW_SYN_RECV folded into SYN_RECV); NLMSG_DONE ends the dump;
/// NLMSG_ERROR, a truncated header, a message shorter than struct inet_diag_msg, a length
/// running past the buffer or NLM_F_DUMP_INTR are kError with a message saying what and at
/// which byte offset. Pure apart from calling the sink; never reads outside [buf, buf+len).
/// `dump_interrupted` is set when NLM_F_DUMP_INTR was seen (the caller retries the dump).
/// When `expect` is set, a message whose nlmsg_seq/nlmsg_pid differ is an error. When
/// `messages` is set, it is incremented once per socket handed to the sink. A zero-length or
/// short message is an error (never an endless loop). Allocates only to build `*error`.
/// Thread-safe (no shared state).
ParseState ParseDiagBuffer(const void* buf, size_t len, RecordSink& sink, std::string* error,
                           bool* dump_interrupted = nullptr,
                           const DiagReplyFilter* expect = nullptr, uint64_t* messages = nullptr);

/// Writes raw dump buffers to a file (format in sock_diag_file.cpp: magic "SSDIAG01", then
/// per buffer: u8 family, u32 little-endian length, bytes). A dump restarted after
/// NLM_F_DUMP_INTR keeps its interrupted part in the file (replay then stops there with an
/// error). Not thread-safe.
class DumpRecorder {
 public:
  /// Creates (truncates) `path` and writes the magic.
  static Result<std::unique_ptr<DumpRecorder>> Open(const std::string& path);
  ~DumpRecorder();
  DumpRecorder(const DumpRecorder&) = delete;
  DumpRecorder& operator=(const DumpRecorder&) = delete;
  /// Appends one record (family AF_INET or AF_INET6, len < 4 GiB) and flushes it.
  Status Write(uint8_t family, const void* buf, size_t len);

 private:
  DumpRecorder(FILE* f, std::string path) : file_(f), path_(std::move(path)) {}
  FILE* file_;
  std::string path_;
};

/// Replays a recorded dump file through ParseDiagBuffer into `sink`. Errors (bad magic,
/// truncated file, a family's dump without NLMSG_DONE, parse error) name the file and offset;
/// records before the error have reached the sink. Thread-safe.
Status ReplayDumpFile(const std::string& path, RecordSink& sink);

/// Statistics of one dump, for logs and self-metrics. Plain value; not synchronized.
struct DumpStats {
  uint64_t messages = 0;  // inet_diag messages parsed
  uint64_t buffers = 0;   // recvmsg calls that returned data
  uint64_t bytes = 0;
  uint32_t retries = 0;  // dumps restarted after NLM_F_DUMP_INTR
};

/// A NETLINK_SOCK_DIAG socket. It lives in the network namespace of the thread that called
/// Open() and can then be used from any thread (one at a time: not thread-safe). The receive
/// buffer is allocated once (64 KiB: above the kernel's ~32 KiB dump skb, the
/// MNL_SOCKET_DUMP_SIZE of newer libmnl) and reused across dumps.
class SockDiagSocket {
 public:
  /// Opens and binds a NETLINK_SOCK_DIAG socket in the calling thread's network namespace
  /// (SO_RCVBUF 1 MiB, receive timeout 10 s so a dump can never block forever).
  static Result<std::unique_ptr<SockDiagSocket>> Open();
  ~SockDiagSocket();
  SockDiagSocket(const SockDiagSocket&) = delete;
  SockDiagSocket& operator=(const SockDiagSocket&) = delete;

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

 private:
  SockDiagSocket(mnl_socket* nl, size_t buf_size);
  Status DumpFamily(uint8_t family, uint32_t state_mask, RecordSink& sink, DumpRecorder* recorder,
                    DumpStats* stats, bool* interrupted);
  // Discards replies left over from an earlier dump that ended early (error, interrupt).
  void DrainPending();
  mnl_socket* nl_;
  uint32_t seq_ = 0;
  bool dump_open_ = false;  // a request was sent and its NLMSG_DONE not yet read
  std::unique_ptr<uint8_t[]> buf_;
  size_t buf_size_;
};

}  // namespace sockstate
