// Fuzz target: ParseSysctlInt on arbitrary bytes (single-integer sysctls).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kernel/procfs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<int64_t> r = sockstate::ParseSysctlInt(text);
  if (r.ok()) {
    if (*r < 0) __builtin_trap();
    // The digits of the value appear in the input (no invented numbers).
    if (text.find(std::to_string(*r)) == std::string_view::npos) __builtin_trap();
  } else if (r.status().message().empty()) {
    __builtin_trap();
  }
  return 0;
}
