// Fuzz target: ParsePortList on arbitrary bytes (net.ipv4.ip_local_reserved_ports).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/port_list.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<sockstate::PortSet> r = sockstate::ParsePortList(text);
  if (r.ok()) {
    // CountInRange over the whole space agrees with the bitset.
    if (sockstate::CountInRange(*r, 0, 65535) != r->count()) __builtin_trap();
  } else if (r.status().message().empty()) {
    __builtin_trap();
  }
  return 0;
}
