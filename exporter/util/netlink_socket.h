#pragma once
// What every netlink dump shares, for kernel/sock_diag.* (NETLINK_SOCK_DIAG) and
// kernel/conntrack_netlink.* (NETLINK_NETFILTER): the socket (libmnl: open, bind, receive
// buffer and timeout, request sequence numbers, draining an unfinished dump, the receive loop
// with its errors) and the walk over the messages of one reply buffer (header checks,
// NLMSG_DONE / NLMSG_ERROR / NLMSG_NOOP / NLMSG_OVERRUN, NLM_F_DUMP_INTR, seq/portid
// filter), which hands each data message to the source's own decoder.

#include <linux/netlink.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "util/status.h"
#include "util/text_util.h"

struct mnl_socket;

namespace sockstate {

/// Outcome of parsing one recvmsg buffer of a dump reply.
enum class NetlinkParseState { kMore, kDone, kError };

/// Identity every reply message must carry: the request's sequence number and the netlink
/// port id of our socket. Plain value; thread-safe.
struct NetlinkReplyFilter {
  uint32_t seq = 0;
  uint32_t portid = 0;
};

/// What parsing one reply buffer of a dump found. Only an error allocates (its text). Value
/// type.
struct NetlinkParseResult {
  NetlinkParseState state = NetlinkParseState::kMore;
  std::string error;              // kError: what went wrong, at which byte offset of the buffer
  bool dump_interrupted = false;  // kError because of NLM_F_DUMP_INTR: the dump may be retried
  int nl_errno = 0;               // kError from NLMSG_ERROR or a failed NLMSG_DONE: its errno
  uint64_t messages = 0;          // data messages decoded (records handed to the sink)
};

/// Text for a negative errno carried in a netlink message (-ENOENT -> "No such file or
/// directory"); "bad error code <n>" outside -4095..-1. Thread-safe.
std::string NegatedErrnoText(int32_t err);

namespace netlink_internal {

// Sets result->error (and dump_interrupted) for the message at `off` whose header ReadHeader
// rejected; returns false. The cold path of ReadHeader.
bool BadHeader(const uint8_t* base, size_t len, size_t off, const NetlinkReplyFilter* expect,
               NetlinkParseResult* result);

// The header of the message at `off` into *h, checked: room for a header, nlmsg_len within
// [16, bytes left], seq/portid as `expect`, no NLM_F_DUMP_INTR. False with result->error set if
// not. Inline: it runs once per socket/entry.
inline bool ReadHeader(const uint8_t* base, size_t len, size_t off,
                       const NetlinkReplyFilter* expect, NetlinkParseResult* result, nlmsghdr* h) {
  const size_t left = len - off;
  if (left >= NLMSG_HDRLEN) {
    std::memcpy(h, base + off, sizeof(*h));  // the buffer may be unaligned (replay, fuzzing)
    if (h->nlmsg_len >= NLMSG_HDRLEN && h->nlmsg_len <= left &&
        (expect == nullptr || (h->nlmsg_seq == expect->seq && h->nlmsg_pid == expect->portid)) &&
        (h->nlmsg_flags & NLM_F_DUMP_INTR) == 0) {
      return true;
    }
  }
  return BadHeader(base, len, off, expect, result);
}

// A message that is not the dump's data type: kMore for NLMSG_NOOP and an acknowledgement
// (NLMSG_ERROR 0), kDone for NLMSG_DONE with a status >= 0, else kError with result->error
// (and the errno of NLMSG_ERROR / a failed NLMSG_DONE in result->nl_errno).
NetlinkParseState ControlMessage(const nlmsghdr& h, const uint8_t* payload, size_t off,
                                 NetlinkParseResult* result);

}  // namespace netlink_internal

/// Walks the netlink messages of one dump reply buffer [buf, buf+len): each message of
/// `data_type` goes to on_data(header, payload, offset, &error), which decodes it and returns
/// false (with the error text set) on bad data; each decoded one counts in `messages`.
/// NLMSG_DONE ends the dump (kDone); NLMSG_ERROR (its errno in `nl_errno`), a truncated header,
/// a bad nlmsg_len, a length running past the buffer, NLM_F_DUMP_INTR (`dump_interrupted`),
/// NLMSG_OVERRUN and any other type are kError with `error` saying what and at which byte
/// offset. When `expect` is set a message with another seq/portid is an error. Steps by the
/// aligned length (missing padding after the last message ends the buffer). Never reads
/// outside the buffer; allocates only to build the error. Thread-safe (no shared state).
template <typename OnData>
inline NetlinkParseResult WalkNetlinkMessages(const void* buf, size_t len, uint16_t data_type,
                                              const NetlinkReplyFilter* expect, OnData&& on_data) {
  NetlinkParseResult result;
  const auto* base = static_cast<const uint8_t*>(buf);
  size_t off = 0;
  while (off < len) {
    nlmsghdr h;
    if (!netlink_internal::ReadHeader(base, len, off, expect, &result, &h)) {
      result.state = NetlinkParseState::kError;
      return result;
    }
    const uint8_t* payload = base + off + NLMSG_HDRLEN;
    if (h.nlmsg_type == data_type) {
      if (!on_data(h, payload, off, &result.error)) {
        result.state = NetlinkParseState::kError;
        return result;
      }
      ++result.messages;
    } else if (NetlinkParseState s = netlink_internal::ControlMessage(h, payload, off, &result);
               s != NetlinkParseState::kMore) {
      result.state = s;
      return result;
    }
    const size_t step = NLMSG_ALIGN(h.nlmsg_len);
    off = step >= len - off ? len : off + step;
  }
  return result;
}

/// What one dump read, whatever its messages. Plain value; not synchronized.
struct NetlinkDumpStats {
  uint64_t buffers = 0;  // recvmsg calls that returned data
  uint64_t bytes = 0;
  uint32_t retries = 0;  // dumps restarted after NLM_F_DUMP_INTR
};

/// A bound netlink socket with a receive buffer allocated once (64 KiB: above the kernel's
/// ~32 KiB dump skb, the MNL_SOCKET_DUMP_SIZE of newer libmnl) and reused across dumps. It
/// lives in the network namespace of the thread that called Open() and can then be used from
/// any thread, one at a time (not thread-safe).
class NetlinkSocket {
 public:
  /// Opens and binds a socket of `protocol` (NETLINK_SOCK_DIAG, NETLINK_NETFILTER) in the
  /// calling thread's network namespace: SO_RCVBUF 1 MiB, receive timeout 10 s so a dump can
  /// never block forever. Errors read "<name>: socket|bind|setsockopt: <strerror>".
  static Result<std::unique_ptr<NetlinkSocket>> Open(int protocol, const char* name);
  ~NetlinkSocket();
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  /// Puts a request header into `request` (zeroed, aligned for nlmsghdr) with `type`, `flags`
  /// and the next sequence number; the caller adds its extra header and sends it.
  nlmsghdr* StartRequest(void* request, uint16_t type, uint16_t flags);

  /// Sends a request, first discarding what is left of an earlier dump that ended early
  /// (error, interrupt). A request with NLM_F_DUMP opens a dump until its NLMSG_DONE was
  /// read (see DumpEnded()). Error: "sendto: <strerror>".
  Status Send(const nlmsghdr* nlh);

  /// The filter that replies to `nlh` (just sent) must pass.
  NetlinkReplyFilter ReplyFilter(const nlmsghdr* nlh) const;

  /// Receives one buffer into buffer() (*got bytes), repeating a recvmsg interrupted by a
  /// signal (no data is lost). Errors: "recvmsg: no reply within 10 s", "recvmsg: message
  /// truncated (buffer 65536 bytes)", "recvmsg: receive buffer overrun (ENOBUFS)", "recvmsg:
  /// empty read before NLMSG_DONE", "recvmsg: <strerror>".
  Status Receive(size_t* got);

  /// The receive buffer (valid until the next Receive()).
  const uint8_t* buffer() const { return buf_.get(); }

  /// Marks the open dump as finished (its NLMSG_DONE, or an error reply that ends it, was read).
  void DumpEnded() { dump_open_ = false; }

  /// Reads the replies of the dump just sent until parse(buf, len) returns kDone (then Ok) or
  /// kError (then on_error()'s Status). Each buffer is counted in stats->buffers and
  /// stats->bytes, then handed to record(buf, len) (a Status: the --debug record file) before
  /// it is parsed. No allocation unless there is an error.
  template <typename Record, typename Parse, typename OnError>
  Status ReadDump(NetlinkDumpStats* stats, Record&& record, Parse&& parse, OnError&& on_error) {
    for (;;) {
      size_t n = 0;
      if (Status s = Receive(&n); !s.ok()) return s;
      ++stats->buffers;
      stats->bytes += uint64_t{n};
      if (Status s = record(buffer(), n); !s.ok()) return s;
      switch (parse(buffer(), n)) {
        case NetlinkParseState::kMore:
          break;
        case NetlinkParseState::kDone:
          DumpEnded();
          return Status::Ok();
        case NetlinkParseState::kError:
          return on_error();
      }
    }
  }

 private:
  NetlinkSocket(mnl_socket* nl, size_t buf_size);
  void DrainPending();
  mnl_socket* nl_;
  uint32_t seq_ = 0;
  bool dump_open_ = false;  // a dump request was sent and its NLMSG_DONE not yet read
  std::unique_ptr<uint8_t[]> buf_;
  size_t buf_size_;
};

/// Runs dump(&interrupted) and, when it fails after setting `interrupted` (NLM_F_DUMP_INTR:
/// the kernel's table changed under the dump), once more after counting it in *retries and
/// calling on_restart (if set; the sink has seen part of the dump and must reset). No
/// allocation.
template <typename Dump>
Status RunDumpRestartingOnce(uint32_t* retries, const std::function<void()>& on_restart,
                             Dump&& dump) {
  for (int attempt = 0;; ++attempt) {
    bool interrupted = false;
    Status status = dump(&interrupted);
    if (status.ok() || !interrupted || attempt > 0) return status;
    ++*retries;
    if (on_restart) on_restart();
  }
}

}  // namespace sockstate
