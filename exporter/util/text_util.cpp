#include "util/text_util.h"

#include <cstdarg>
#include <cstdio>

namespace sockstate {

namespace {
constexpr char kHex[] = "0123456789abcdef";
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
void AppendHex(std::string& out, unsigned char u) {
  out += "\\x";
  out += kHex[u >> 4];
  out += kHex[u & 0xf];
}
}  // namespace

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string QuoteRaw(std::string_view s) {
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
      AppendHex(out, u);
    }
  }
  return out + "'";
}

std::string QuoteText(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      AppendHex(out, u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

namespace {
std::string VFormat(const char* fmt, va_list ap) {
  char buf[512];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  return buf;
}
}  // namespace

std::string StrFormat(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string out = VFormat(fmt, ap);
  va_end(ap);
  return out;
}

void SetErrorf(std::string* error, const char* fmt, ...) {
  if (error == nullptr) return;
  va_list ap;
  va_start(ap, fmt);
  *error = VFormat(fmt, ap);
  va_end(ap);
}

bool NextPiece(std::string_view text, char sep, size_t* pos, std::string_view* piece) {
  if (*pos >= text.size()) return false;
  size_t end = text.find(sep, *pos);
  if (end == std::string_view::npos) end = text.size();
  *piece = text.substr(*pos, end - *pos);
  *pos = end + 1;
  return true;
}

}  // namespace sockstate
