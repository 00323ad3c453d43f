// Fuzz target: ParseNetstat on arbitrary bytes (/proc/net/netstat and /proc/net/snmp).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernel/procfs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<sockstate::NetstatTable> r = sockstate::ParseNetstat(text);
  if (r.ok()) {
    if (r->empty()) __builtin_trap();
    for (const auto& [prefix, fields] : *r) {
      if (prefix.empty()) __builtin_trap();
      for (const auto& [name, value] : fields) {
        if (name.empty()) __builtin_trap();
      }
    }
  } else if (r.status().message().empty()) {
    __builtin_trap();
  }
  return 0;
}
