#pragma once
// IPv4/IPv6 prefixes for destination groups.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/family.h"
#include "util/status.h"

namespace sockstate {

/// An address prefix. IPv4 addresses live in addr[0..3] (like SocketRecord); an IPv4-mapped
/// IPv6 prefix (::ffff:10.0.0.0/104) is normalised to IPv4 (10.0.0.0/8). Bits beyond the
/// prefix are zeroed. Value type.
struct Cidr {
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> addr{};
  uint8_t prefix_len = 0;  // 0..32 for IPv4, 0..128 for IPv6

  /// Field-wise equality (both sides normalised by ParseCidr).
  bool operator==(const Cidr&) const = default;

  /// True when (family, address) lies inside the prefix: compares the whole prefix bytes,
  /// then the masked partial byte. `a` uses the SocketRecord layout (mapped addresses already
  /// normalised to IPv4). O(1), no allocation; thread-safe.
  bool Contains(Family f, const std::array<uint8_t, 16>& a) const;
  /// Canonical text ("10.0.3.0/24", "fd00::/8"); ParseCidr(ToString()) == *this.
  std::string ToString() const;
};

/// Parses "10.0.3.0/24", "fd00::/8", a bare address (host prefix /32 or /128) or an
/// IPv4-mapped IPv6 form (::ffff:10.0.0.0/104 becomes 10.0.0.0/8; a mapped prefix shorter
/// than /96 stays IPv6). Host bits set beyond the prefix are accepted and masked off
/// ("10.0.3.7/24" is 10.0.3.0/24). Errors say what is wrong: empty text, invalid address,
/// missing or non-numeric prefix length, trailing characters, "prefix length 33 out of range
/// for IPv4". Pure; thread-safe.
Result<Cidr> ParseCidr(std::string_view text);

/// Formats an address as text ("10.0.0.1", "fd00::1"). Pure; thread-safe.
std::string FormatAddress(Family f, const std::array<uint8_t, 16>& a);

}  // namespace sockstate
