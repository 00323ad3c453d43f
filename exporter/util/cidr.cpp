#include "util/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "util/text_util.h"

namespace sockstate {
namespace {

constexpr std::array<uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Zeroes every bit of `addr` beyond `prefix_len`.
void MaskHostBits(std::array<uint8_t, 16>& addr, unsigned prefix_len) {
  for (unsigned i = 0; i < addr.size(); ++i) {
    unsigned bit = i * 8;
    if (bit >= prefix_len) {
      addr[i] = 0;
    } else if (prefix_len - bit < 8) {
      addr[i] &= static_cast<uint8_t>(0xff << (8 - (prefix_len - bit)));
    }
  }
}

}  // namespace

bool Cidr::Contains(Family f, const std::array<uint8_t, 16>& a) const {
  if (f != family) return false;
  const unsigned whole = prefix_len / 8;
  const unsigned rest = prefix_len % 8;
  if (whole > 0 && std::memcmp(addr.data(), a.data(), whole) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == addr[whole];
}

std::string Cidr::ToString() const {
  return FormatAddress(family, addr) + "/" + std::to_string(prefix_len);
}

std::string FormatAddress(Family f, const std::array<uint8_t, 16>& a) {
  char buf[INET6_ADDRSTRLEN];
  const int af = f == Family::kIpv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, a.data(), buf, sizeof(buf)) == nullptr) return "?";
  return buf;
}

Result<Cidr> ParseCidr(std::string_view text) {
  if (text.empty()) return Status::Error("empty CIDR");
  const size_t slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  if (addr_text.empty()) return Status::Error("missing address");
  // inet_pton needs a NUL-terminated string; the longest valid form is INET6_ADDRSTRLEN - 1.
  if (addr_text.size() >= INET6_ADDRSTRLEN || addr_text.find('\0') != std::string_view::npos) {
    return Status::Error("invalid address " + QuoteText(addr_text));
  }
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, addr_text.data(), addr_text.size());
  buf[addr_text.size()] = '\0';

  Cidr c;
  unsigned max_len;
  if (inet_pton(AF_INET, buf, c.addr.data()) == 1) {
    c.family = Family::kIpv4;
    max_len = 32;
  } else if (inet_pton(AF_INET6, buf, c.addr.data()) == 1) {
    c.family = Family::kIpv6;
    max_len = 128;
  } else {
    return Status::Error("invalid address " + QuoteText(addr_text));
  }

  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    const std::string_view len_text = text.substr(slash + 1);
    if (len_text.empty()) return Status::Error("missing prefix length after '/'");
    if (len_text.front() < '0' || len_text.front() > '9') {
      return Status::Error("prefix length " + QuoteText(len_text) + " is not a number");
    }
    const char* begin = len_text.data();
    const char* end = begin + len_text.size();
    auto [ptr, ec] = std::from_chars(begin, end, len);
    if (ec == std::errc::result_out_of_range) len = 1000;  // reported as out of range below
    if (ptr != end) {
      return Status::Error("trailing characters " + QuoteText(std::string_view(ptr, end - ptr)) +
                           " after prefix length");
    }
    if (len > max_len) {
      return Status::Error("prefix length " + std::string(len_text) + " out of range for " +
                           (c.family == Family::kIpv4 ? "IPv4" : "IPv6"));
    }
  }

  // ::ffff:a.b.c.d/96+n is the IPv4 prefix a.b.c.d/n, like a mapped socket address.
  if (c.family == Family::kIpv6 && len >= 96 &&
      std::memcmp(c.addr.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0) {
    std::memmove(c.addr.data(), c.addr.data() + 12, 4);
    std::memset(c.addr.data() + 4, 0, 12);
    c.family = Family::kIpv4;
    len -= 96;
  }
  c.prefix_len = static_cast<uint8_t>(len);
  MaskHostBits(c.addr, len);
  return c;
}

}  // namespace sockstate
