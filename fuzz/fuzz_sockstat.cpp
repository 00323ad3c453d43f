// Fuzz target: ParseSockstat on arbitrary bytes (/proc/net/sockstat and sockstat6).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernel/procfs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<sockstate::SockstatTable> r = sockstate::ParseSockstat(text);
  if (r.ok()) {
    // Invariants of a successful parse: at least one line, no empty names.
    if (r->empty()) __builtin_trap();
    for (const auto& [proto, fields] : *r) {
      if (proto.empty()) __builtin_trap();
      for (const auto& [key, value] : fields) {
        if (key.empty()) __builtin_trap();
      }
    }
  } else if (r.status().message().empty()) {
    __builtin_trap();  // every error says what went wrong
  }
  return 0;
}
