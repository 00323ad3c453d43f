#include "util/port_list.h"

#include <charconv>
#include <string>

#include "util/text_util.h"

namespace sockstate {
namespace {

// Parses one decimal port (digits only, <= 65535). Returns an error message or "".
std::string ParsePort(std::string_view text, std::string_view item, uint32_t* port) {
  text = TrimSpace(text);
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return "not a port number " + QuoteRaw(text) + " in item " + QuoteRaw(item);
  }
  if (ec == std::errc::result_out_of_range || value > 65535) {
    return "port " + QuoteRaw(text) + " > 65535 in item " + QuoteRaw(item);
  }
  *port = static_cast<uint32_t>(value);
  return "";
}

}  // namespace

Result<PortSet> ParsePortList(std::string_view text) {
  PortSet set;
  text = TrimSpace(text);
  if (text.empty()) return set;
  size_t index = 0;
  while (true) {
    ++index;
    size_t comma = text.find(',');
    std::string_view item = TrimSpace(text.substr(0, comma));
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
    if (lo > hi) return Status::Error("port list: reversed range " + QuoteRaw(item));
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
