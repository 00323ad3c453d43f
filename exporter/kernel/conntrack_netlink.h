#pragma once
// ctnetlink (NETLINK_NETFILTER, IPCTNL_MSG_CT_GET with NLM_F_DUMP) dumps of the conntrack table
// with libmnl, streamed to a ConntrackSink, plus the record/replay seam: raw recvmsg buffers
// written to a file and read back through the same pure parser (as kernel/sock_diag.h does
// for sock_diag).

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "kernel/socket_record.h"
#include "util/netlink_socket.h"
#include "util/record_file.h"
#include "util/status.h"

namespace sockstate {

/// TCP conntrack states (include/uapi/linux/netfilter/nf_conntrack_tcp.h).
enum CtTcpState : uint8_t {
  kCtTcpNone = 0,
  kCtTcpSynSent = 1,
  kCtTcpSynRecv = 2,
  kCtTcpEstablished = 3,
  kCtTcpFinWait = 4,
  kCtTcpCloseWait = 5,
  kCtTcpLastAck = 6,
  kCtTcpTimeWait = 7,
  kCtTcpClose = 8,
  kCtTcpSynSent2 = 9,  // TCP_CONNTRACK_LISTEN, reused for simultaneous open
  kCtTcpStates = 10,   // TCP_CONNTRACK_MAX: one past the last
};

/// Conntrack status bits (include/uapi/linux/netfilter/nf_conntrack_common.h).
inline constexpr uint32_t kIpsSrcNat = 1u << 4;
inline constexpr uint32_t kIpsDstNat = 1u << 5;
inline constexpr uint32_t kIpsDying = 1u << 9;
inline constexpr uint32_t kIpsFixedTimeout = 1u << 10;
inline constexpr uint32_t kIpsOffload = 1u << 14;
inline constexpr uint32_t kIpsHwOffload = 1u << 15;

/// One direction of a conntrack entry. Addresses in network byte order, IPv4 in addr[0..3]
/// (rest zero); ports in host order, 0 for protocols without ports (ICMP: `src_port` holds the
/// ICMP id). Plain value.
struct CtTuple {
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t protocol = 0;  // IPPROTO_*
};

/// One conntrack entry as a dump reports it, decoded into host order. The parser fills one of
/// these per message and hands it to a ConntrackSink by reference: no allocation per entry.
/// For a source-NATed entry (`status & kIpsSrcNat`) the NAT address and port are the reply
/// tuple's destination. Plain value.
struct ConntrackRecord {
  Family family = Family::kIpv4;  // nfgen_family: AF_INET or AF_INET6
  CtTuple orig;
  CtTuple reply;
  uint32_t status = 0;             // IPS_* bits
  uint8_t tcp_state = kCtTcpNone;  // CtTcpState, only when has_tcp_state
  bool has_tcp_state = false;
  uint16_t zone = 0;  // CTA_ZONE, 0 when absent
};

/// Receives conntrack entries from a dump or a replay. OnEntry runs once per entry on the
/// dump's thread, in O(1), and must not allocate.
class ConntrackSink {
 public:
  virtual ~ConntrackSink() = default;
  virtual void OnEntry(const ConntrackRecord& record) = 0;
};

/// What every reply message must carry (util/netlink_socket.h).
using CtReplyFilter = NetlinkReplyFilter;

/// Parses one buffer of netlink messages from a ctnetlink dump reply: every
/// (NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW) message becomes a ConntrackRecord handed to
/// `sink` and counts in `messages`; NLMSG_DONE ends the dump (kDone). Errors (kError, `error`
/// says what and at which byte offset of the buffer): NLMSG_ERROR (its errno in `nl_errno`), a
/// truncated header, a message shorter than nlmsghdr + nfgenmsg, a length running past the
/// buffer, an attribute whose length is below 4 or runs past its message or parent, a family
/// other than AF_INET/AF_INET6, an entry without CTA_TUPLE_ORIG or CTA_TUPLE_REPLY, a tuple
/// without addresses of the message's family or without CTA_PROTO_NUM, an attribute of the
/// wrong size, NLM_F_DUMP_INTR (`dump_interrupted`), an unexpected message type. Unknown
/// attributes are skipped. When `expect` is set, a message whose nlmsg_seq/nlmsg_pid differ is
/// an error. Pure apart from calling the sink; never reads outside [buf, buf+len); allocates
/// only to build the error. Thread-safe (no shared state).
NetlinkParseResult ParseConntrackBuffer(const void* buf, size_t len, ConntrackSink& sink,
                                        const CtReplyFilter* expect = nullptr);

/// Writes raw ctnetlink dump buffers to a file (util/record_file.h: magic "SSCTRK01", then
/// per buffer a u32 little-endian length and the bytes). Not thread-safe.
class ConntrackRecorder : public RecordFileWriter {
 public:
  /// Creates (truncates) `path` and writes the magic. Errors: "conntrack recorder: open ...".
  static Result<std::unique_ptr<ConntrackRecorder>> Open(const std::string& path);
  /// Appends one buffer (len < 4 GiB) and flushes it.
  Status Write(const void* buf, size_t len) { return WriteRecord(nullptr, 0, buf, len); }

 private:
  friend class RecordFileWriter;  // constructs it in CreateAs()
  using RecordFileWriter::RecordFileWriter;
};

/// Replays a recorded conntrack dump file through ParseConntrackBuffer into `sink`. Errors
/// (bad magic, truncated record, a dump without NLMSG_DONE, data after it, a parse error) name
/// the file and the offset; entries before the error have reached the sink. Thread-safe.
Status ReplayConntrackFile(const std::string& path, ConntrackSink& sink);

/// Statistics of one dump. Plain value; not synchronized.
struct CtDumpStats : NetlinkDumpStats {
  uint64_t entries = 0;  // entries handed to the sink
};

/// A NETLINK_NETFILTER socket for ctnetlink dumps (a NetlinkSocket, util/netlink_socket.h). It
/// lives in the network namespace of the thread that called Open() and may then be used from
/// any thread, one at a time (not thread-safe).
class ConntrackSocket {
 public:
  /// Opens and binds a NETLINK_NETFILTER socket in the calling thread's network namespace
  /// (SO_RCVBUF 1 MiB, receive timeout 10 s so a dump can never block forever).
  static Result<std::unique_ptr<ConntrackSocket>> Open();

  /// Dumps the namespace's whole conntrack table (nfgen_family AF_UNSPEC: IPv4 and IPv6 in one
  /// dump), streaming every entry to `sink`. On NLM_F_DUMP_INTR the dump is restarted once,
  /// after calling `on_restart` (the sink must reset). EINTR is retried. If
  /// `recorder` is set every raw buffer is also written to it. `stats` (optional) is reset,
  /// then filled. No allocation unless there is an error. Errors carry context; a refused dump
  /// (no CAP_NET_ADMIN) reads "ctnetlink dump refused: Operation not permitted (needs
  /// CAP_NET_ADMIN in the namespace)".
  Status Dump(ConntrackSink& sink, ConntrackRecorder* recorder = nullptr,
              CtDumpStats* stats = nullptr, const std::function<void()>& on_restart = {});

  /// The netlink errno of the last Dump() that the kernel answered with an error (EPERM when
  /// it was refused for lack of CAP_NET_ADMIN), 0 after a successful one.
  int last_errno() const { return last_errno_; }

  /// Checks that ctnetlink answers and allows dumps, without dumping: sends an
  /// IPCTNL_MSG_CT_GET without a tuple (the kernel answers EINVAL once past its permission
  /// check). Errors: "ctnetlink dump refused: ... (needs CAP_NET_ADMIN in the namespace)",
  /// "ctnetlink not available: ...".
  Status Probe();

  /// Reads the whole dump and throws the bytes away (no parsing): the floor a parsed dump is
  /// compared with in the benchmark. Returns the bytes received.
  Result<uint64_t> DumpDiscard();

 private:
  explicit ConntrackSocket(std::unique_ptr<NetlinkSocket> nl) : nl_(std::move(nl)) {}
  Status DumpOnce(ConntrackSink* sink, ConntrackRecorder* recorder, CtDumpStats* stats,
                  bool* interrupted);
  // Sends the dump request; *expect is what its replies must carry.
  Status SendRequest(CtReplyFilter* expect);
  std::unique_ptr<NetlinkSocket> nl_;
  int last_errno_ = 0;
};

}  // namespace sockstate
