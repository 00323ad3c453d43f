// Fuzz target: ParseCgroupFile on arbitrary bytes (/proc/<pid>/cgroup).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernel/cgroup.h"

namespace {

bool LowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sockstate::ContainerInfo info = sockstate::ParseCgroupFile(text);
  // A container id is 64 lowercase hex digits that occur in the input.
  if (!info.container_id.empty()) {
    if (info.container_id.size() != 64) __builtin_trap();
    for (char c : info.container_id) {
      if (!LowerHex(c)) __builtin_trap();
    }
    if (text.find(info.container_id) == std::string_view::npos) __builtin_trap();
  }
  // A pod UID is 8-4-4-4-12 lowercase hex with dashes, or 32 lowercase hex.
  const std::string& u = info.pod_uid;
  if (!u.empty()) {
    if (u.size() == 36) {
      for (size_t i = 0; i < u.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? u[i] != '-' : !LowerHex(u[i])) __builtin_trap();
      }
    } else if (u.size() == 32) {
      for (char c : u) {
        if (!LowerHex(c)) __builtin_trap();
      }
    } else {
      __builtin_trap();
    }
  }
  return 0;
}
