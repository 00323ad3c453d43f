#pragma once
// Small text helpers shared by the parsers of untrusted input. Pure; thread-safe.

#include <string>
#include <string_view>

namespace sockstate {

/// `s` without leading and trailing spaces, tabs, CRs and LFs.
std::string_view TrimSpace(std::string_view s);

/// Untrusted text for an error message, in single quotes: printable ASCII kept (but ' and \),
/// every other byte as \xNN, at most 40 bytes shown ("..." after). Used by the /proc parsers.
std::string QuoteRaw(std::string_view s);

/// Untrusted text for an error message, in double quotes: " and \ backslash-escaped, control
/// bytes and bytes >= 0x7f as \xNN. Used by the config and CIDR parsers.
std::string QuoteText(std::string_view s);

}  // namespace sockstate
