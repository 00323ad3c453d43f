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

/// printf into a string (at most 511 bytes kept). For error messages only: it allocates.
__attribute__((format(printf, 1, 2))) std::string StrFormat(const char* fmt, ...);

/// Sets *error (when `error` is set) to a printf-formatted message (at most 511 bytes). For the
/// error paths of the binary parsers: it allocates.
__attribute__((format(printf, 2, 3))) void SetErrorf(std::string* error, const char* fmt, ...);

/// Splits `text` at `sep` one piece at a time: false once *pos has reached the end of `text`;
/// else sets *piece to the text from *pos to the next `sep` (or the end) and moves *pos past
/// that separator. A trailing separator gives no empty last piece. No allocation.
bool NextPiece(std::string_view text, char sep, size_t* pos, std::string_view* piece);

}  // namespace sockstate
