#pragma once
// Sets of TCP ports and the kernel's port-list syntax ("1,2-4,10-10").

#include <bitset>
#include <cstdint>
#include <string_view>

#include "util/status.h"

namespace sockstate {

/// A set of ports 0..65535 (8 KiB). Value type; not synchronized.
using PortSet = std::bitset<65536>;

/// Parses the ip_local_reserved_ports syntax: comma-separated ports and inclusive ranges
/// ("1,2-4,10-10"), surrounding whitespace/newline allowed, empty string = empty set.
/// Errors name the offending item. Pure; thread-safe.
Result<PortSet> ParsePortList(std::string_view text);

/// Number of ports of `set` inside [lo, hi] (inclusive). Pure; thread-safe.
uint32_t CountInRange(const PortSet& set, uint16_t lo, uint16_t hi);

}  // namespace sockstate
