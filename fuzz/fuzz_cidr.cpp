// Fuzz target: arbitrary bytes as a CIDR. On success, Contains/ToString must be consistent:
// the prefix contains its own network address, and ParseCidr(ToString(c)) == c.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "util/cidr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<sockstate::Cidr> c = sockstate::ParseCidr(text);
  if (!c.ok()) {
    if (c.status().message().empty()) std::abort();
    return 0;
  }
  const unsigned max_len = c->family == sockstate::Family::kIpv4 ? 32 : 128;
  if (c->prefix_len > max_len) std::abort();
  if (!c->Contains(c->family, c->addr)) std::abort();
  // The last address of the prefix is inside too; one past it (if any) is not.
  std::array<uint8_t, 16> last = c->addr;
  for (unsigned bit = c->prefix_len; bit < max_len; ++bit) {
    last[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
  }
  if (!c->Contains(c->family, last)) std::abort();
  if (c->prefix_len > 0) {
    std::array<uint8_t, 16> outside = c->addr;
    const unsigned bit = c->prefix_len - 1;
    outside[bit / 8] ^= static_cast<uint8_t>(0x80 >> (bit % 8));
    if (c->Contains(c->family, outside)) std::abort();
  }
  const sockstate::Family other =
      c->family == sockstate::Family::kIpv4 ? sockstate::Family::kIpv6 : sockstate::Family::kIpv4;
  if (c->Contains(other, c->addr)) std::abort();
  sockstate::Result<sockstate::Cidr> again = sockstate::ParseCidr(c->ToString());
  if (!again.ok() || !(*again == *c)) std::abort();
  return 0;
}
