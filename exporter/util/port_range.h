#pragma once
// The ephemeral port range of a network namespace (net.ipv4.ip_local_port_range).

#include <cstdint>

namespace sockstate {

/// An inclusive port range [low, high], 1 <= low <= high <= 65535 once parsed
/// (ParsePortRange in kernel/procfs.h). Value type.
struct PortRange {
  uint16_t low = 0;
  uint16_t high = 0;
  /// Number of ports in the range.
  uint32_t size() const { return uint32_t(high) - low + 1; }
};

}  // namespace sockstate
