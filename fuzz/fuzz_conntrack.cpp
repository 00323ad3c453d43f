// Fuzz target for ParseConntrackBuffer and the NAT model behind it: the bytes are one recvmsg
// buffer of a ctnetlink dump reply. Must never crash, hang or read outside the input.
// Seeds: fuzz/corpus/fuzz_conntrack (real-kernel buffers and hand-made edge cases).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "config/config.h"
#include "aggregate/nat_model.h"
#include "kernel/conntrack_netlink.h"

namespace {

// Touches every field so a bad decode shows up under ASan/MSan, then feeds the model.
class TouchingSink : public sockstate::ConntrackSink {
 public:
  explicit TouchingSink(sockstate::NatModel* model) : model_(model) {}
  void OnEntry(const sockstate::ConntrackRecord& r) override {
    uint64_t sum =
        static_cast<uint64_t>(r.family) + r.status + r.tcp_state + r.has_tcp_state + r.zone;
    for (const auto* t : {&r.orig, &r.reply}) {
      sum += t->src_port + t->dst_port + t->protocol;
      for (uint8_t b : t->src) sum += b;
      for (uint8_t b : t->dst) sum += b;
      if (r.family == sockstate::Family::kIpv4) {
        for (size_t i = 4; i < 16; ++i) {
          if (t->src[i] != 0 || t->dst[i] != 0) __builtin_trap();  // IPv4: rest zero
        }
      }
    }
    sum_ = sum_ + sum;
    ++entries;
    model_->OnEntry(r);
  }
  uint64_t entries = 0;

 private:
  sockstate::NatModel* model_;
  volatile uint64_t sum_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sockstate::NatConfig nat = [] {
    sockstate::NatConfig c;
    c.top_k = 2;
    c.max_tuples = 1000;
    return c;
  }();
  sockstate::NatModel model;
  model.Reset(nat, true);
  TouchingSink sink(&model);
  const sockstate::NetlinkParseResult r = sockstate::ParseConntrackBuffer(data, size, sink);
  if ((r.state == sockstate::NetlinkParseState::kError) != !r.error.empty()) __builtin_trap();
  if (r.messages != sink.entries) __builtin_trap();
  model.Finish();
  uint64_t total = 0;
  for (int p = 0; p < sockstate::kNatProtocols; ++p) {
    for (const auto& s : model.Summarize(p)) {
      for (const auto& k : s.ports) total += k[0] + k[1];
      if (s.usable == 0) __builtin_trap();
    }
  }
  // Every TCP/UDP entry is counted exactly once (in a slot or, beyond max_tuples, in "other").
  if (total != model.entries(sockstate::kNatTcp) + model.entries(sockstate::kNatUdp)) {
    __builtin_trap();
  }
  // Second pass with a reply filter taken from the first header.
  if (size >= 16) {
    sockstate::CtReplyFilter f;
    std::memcpy(&f.seq, data + 8, 4);
    std::memcpy(&f.portid, data + 12, 4);
    sockstate::NatModel m2;
    m2.Reset(nat, false);
    TouchingSink sink2(&m2);
    const sockstate::NetlinkParseResult r2 =
        sockstate::ParseConntrackBuffer(data, size, sink2, &f);
    if (r2.messages > r.messages) __builtin_trap();
  }
  return 0;
}
