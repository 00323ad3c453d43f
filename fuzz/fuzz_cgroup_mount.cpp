// Fuzz target: FindCgroup2Mount on arbitrary bytes (/proc/self/mountinfo), and
// WorkloadFromCgroupPath on the same bytes as a cgroup path (the connect_failures source).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kernel/workload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string mount = sockstate::FindCgroup2Mount(text);
  // A mount point is absolute, on one line, and never longer than its line.
  if (!mount.empty() && (mount[0] != '/' || mount.size() > size)) __builtin_trap();
  if (!mount.empty() && text.find(" - cgroup2") == std::string_view::npos) __builtin_trap();
  const sockstate::Workload w = sockstate::WorkloadFromCgroupPath(text);
  if (w.kind != "pod" && w.kind != "container" && w.kind != "systemd_unit" && w.kind != "cgroup") {
    __builtin_trap();
  }
  if (w.name.empty()) __builtin_trap();
  return 0;
}
