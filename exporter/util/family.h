#pragma once
// The address family of a socket, a destination or a CIDR, as the exporter counts it: IPv4
// (AF_INET, and IPv4-mapped IPv6 addresses normalised to it) or IPv6.

#include <cstdint>

namespace sockstate {

enum class Family : uint8_t { kIpv4 = 0, kIpv6 = 1 };

}  // namespace sockstate
