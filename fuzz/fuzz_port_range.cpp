// Fuzz target: ParsePortRange on arbitrary bytes (net.ipv4.ip_local_port_range).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernel/procfs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<sockstate::PortRange> r = sockstate::ParsePortRange(text);
  if (r.ok()) {
    if (r->low < 1 || r->low > r->high) __builtin_trap();
    if (r->size() < 1 || r->size() > 65535) __builtin_trap();
  } else if (r.status().message().empty()) {
    __builtin_trap();
  }
  return 0;
}
