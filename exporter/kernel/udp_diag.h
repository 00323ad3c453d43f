#pragma once
// The pure parser of sock_diag UDP dump replies (docs/udp.md#what-a-sock_diag-dump-shows-of-it):
// every message becomes a UdpSocketRecord. The socket side (the request, the dump loop, record
// and replay) is SockDiagSocket::DumpUdp and ReplayUdpDumpFile in kernel/sock_diag.h.

#include <cstddef>

#include "kernel/udp_socket_record.h"
#include "util/netlink_socket.h"

namespace sockstate {

/// Parses one buffer of a sock_diag dump reply for IPPROTO_UDP: every SOCK_DIAG_BY_FAMILY
/// message becomes a UdpSocketRecord handed to `sink` (idiag_state 1 connected, else
/// unconnected; an AF_INET6 socket whose local address is IPv4-mapped becomes kIpv4 with its
/// remote address mapped back too; INET_DIAG_SKV6ONLY read for the other AF_INET6 sockets,
/// kUnknown when the kernel did not send it) and counts in `messages`; NLMSG_DONE ends the dump
/// (kDone). kError, with `error` saying what and at which byte offset: NLMSG_ERROR, a truncated
/// header, a message shorter than struct inet_diag_msg, an unknown family, an attribute whose
/// length is below its header or runs past the message, an INET_DIAG_SKV6ONLY without its
/// byte, NLM_F_DUMP_INTR (`dump_interrupted`), a message whose seq/port id differ from
/// `expect` (when set). Pure apart from calling the sink; never reads outside [buf, buf+len);
/// allocates only to build the error. Thread-safe (no shared state).
NetlinkParseResult ParseUdpDiagBuffer(const void* buf, size_t len, UdpRecordSink& sink,
                                      const NetlinkReplyFilter* expect = nullptr);

}  // namespace sockstate
