#include "port_list.h"

#include <charconv>
#include <string>

namespace sockstate {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Quotes `s` for an error message: non-printable bytes as \xNN, at most 40 bytes shown.
std::string Quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  size_t shown = 0;
  for (char c : s) {
    if (++shown > 40) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\'' && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  out += "'";
  return out;
}

// Parses one decimal port (digits only, <= 65535). Returns an error message or "".
std::string ParsePort(std::string_view text, std::string_view item, uint32_t* port) {
  text = Trim(text);
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return "not a port number " + Quote(text) + " in item " + Quote(item);
  }
  if (ec == std::errc::result_out_of_range || value > 65535) {
    return "port " + Quote(text) + " > 65535 in item " + Quote(item);
  }
  *port = static_cast<uint32_t>(value);
  return "";
}

}  // namespace

Result<PortSet> ParsePortList(std::string_view text) {
  PortSet set;
  text = Trim(text);
  if (text.empty()) return set;
  size_t index = 0;
  while (true) {
    ++index;
    size_t comma = text.find(',');
    std::string_view item = Trim(text.substr(0, comma));
    if (item.empty()) {
      return Status::Error("port list: empty item #" + std::to_string(index));
    }
    size_t dash = item.find('-');
    uint32_t lo = 0;
    uint32_t hi = 0;
    std::string err = ParsePort(item.substr(0, dash), item, &lo);
    if (err.empty()) {
      err = dash == std::string_view::npos ? "" : ParsePort(item.substr(dash + 1), item, &hi);
      if (dash == std::string_view::npos) hi = lo;
    }
    if (!err.empty()) return Status::Error("port list: " + err);
    if (lo > hi) return Status::Error("port list: reversed range " + Quote(item));
    for (uint32_t p = lo; p <= hi; ++p) set.set(p);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return set;
}

uint32_t CountInRange(const PortSet& set, uint16_t lo, uint16_t hi) {
  uint32_t count = 0;
  for (uint32_t p = lo; p <= hi; ++p) {
    if (set.test(p)) ++count;
  }
  return count;
}

}  // namespace sockstate
