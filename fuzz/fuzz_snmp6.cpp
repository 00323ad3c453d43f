// Fuzz target for ParseSnmp6 (/proc/net/snmp6: one "Name value" line per counter). Must never
// crash, hang or read outside the input. Seeds: fuzz/corpus/fuzz_snmp6.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernel/procfs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<sockstate::Snmp6Table> r = sockstate::ParseSnmp6(text);
  if (r.ok()) {
    if (r->empty()) __builtin_trap();  // a successful parse has at least one line
    for (const auto& [name, value] : *r) {
      if (name.empty()) __builtin_trap();
      for (char c : name) {
        if (static_cast<unsigned char>(c) <= 0x20) __builtin_trap();  // names have no blanks
      }
      (void)value;
    }
  } else if (r.status().message().empty()) {
    __builtin_trap();  // every error says what
  }
  return 0;
}
