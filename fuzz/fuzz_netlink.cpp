// Fuzz target for ParseDiagBuffer: the bytes are one recvmsg buffer of a sock_diag dump reply.
// Must never crash, hang or read outside the input. Seeds: fuzz/corpus/fuzz_netlink.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernel/sock_diag.h"
#include "kernel/socket_record.h"

namespace {

// Touches every field so a bad decode shows up under ASan/MSan.
class TouchingSink : public sockstate::RecordSink {
 public:
  void OnSocket(const sockstate::SocketRecord& r) override {
    uint64_t sum = static_cast<uint64_t>(r.family) + r.state + r.timer + r.src_port + r.dst_port +
                   r.expires_ms + r.uid + r.inode;
    for (uint8_t b : r.src_addr) sum += b;
    for (uint8_t b : r.dst_addr) sum += b;
    sum_ = sum_ + sum;
    if (r.state == sockstate::kTcpNewSynRecv) __builtin_trap();  // must have been folded
    if (r.family == sockstate::Family::kIpv4) {
      for (size_t i = 4; i < 16; ++i) {
        if (r.src_addr[i] != 0 || r.dst_addr[i] != 0) __builtin_trap();  // IPv4: rest zero
      }
    }
  }
  volatile uint64_t sum_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  TouchingSink sink;
  const sockstate::NetlinkParseResult r = sockstate::ParseDiagBuffer(data, size, sink);
  if ((r.state == sockstate::NetlinkParseState::kError) != !r.error.empty()) __builtin_trap();
  // Second pass with a reply filter taken from the first header, so the seq/portid check runs
  // on matching and non-matching inputs alike.
  if (size >= 16) {
    sockstate::DiagReplyFilter f;
    std::memcpy(&f.seq, data + 8, 4);
    std::memcpy(&f.portid, data + 12, 4);
    const sockstate::NetlinkParseResult r2 = sockstate::ParseDiagBuffer(data, size, sink, &f);
    if (r2.messages > r.messages) __builtin_trap();  // a filter can only reject more
  }
  return 0;
}
