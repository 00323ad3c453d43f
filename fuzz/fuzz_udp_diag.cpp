// Fuzz target for ParseUdpDiagBuffer: the bytes are one recvmsg buffer of a sock_diag UDP dump
// reply. Must never crash, hang or read outside the input. Seeds: fuzz/corpus/fuzz_udp_diag.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernel/udp_diag.h"
#include "kernel/udp_socket_record.h"

namespace {

// Touches every field so a bad decode shows up under ASan/MSan, and checks what the parser
// promises about normalised records.
class TouchingSink : public sockstate::UdpRecordSink {
 public:
  void OnUdpSocket(const sockstate::UdpSocketRecord& r) override {
    uint64_t sum = static_cast<uint64_t>(r.family) + r.connected + static_cast<uint8_t>(r.v6only) +
                   r.src_port + r.dst_port + r.ifindex + r.uid + r.inode;
    for (uint8_t b : r.src_addr) sum += b;
    for (uint8_t b : r.dst_addr) sum += b;
    sum_ = sum_ + sum;
    if (r.family == sockstate::Family::kIpv4) {
      if (r.v6only != sockstate::V6Only::kNotApplicable) __builtin_trap();
      for (size_t i = 4; i < 16; ++i) {
        if (r.src_addr[i] != 0 || r.dst_addr[i] != 0) __builtin_trap();  // IPv4: rest zero
      }
    } else if (r.v6only == sockstate::V6Only::kNotApplicable) {
      __builtin_trap();  // an IPv6 socket says yes, no or unknown
    }
  }
  volatile uint64_t sum_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  TouchingSink sink;
  const sockstate::NetlinkParseResult r = sockstate::ParseUdpDiagBuffer(data, size, sink);
  if ((r.state == sockstate::NetlinkParseState::kError) != !r.error.empty()) __builtin_trap();
  if (size >= 16) {  // again with a reply filter taken from the first header
    sockstate::NetlinkReplyFilter f;
    std::memcpy(&f.seq, data + 8, 4);
    std::memcpy(&f.portid, data + 12, 4);
    const sockstate::NetlinkParseResult r2 = sockstate::ParseUdpDiagBuffer(data, size, sink, &f);
    if (r2.messages > r.messages) __builtin_trap();  // a filter can only reject more
  }
  return 0;
}
