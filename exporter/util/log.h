#pragma once
// Minimal logfmt logging to stderr: `ts=2026-11-25T20:01:02.123Z level=warn msg="..."`.

#include <string>

namespace sockstate {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// Sets the minimum level printed. Thread-safe.
void SetLogLevel(LogLevel level);
/// Parses "debug|info|warn|error"; false if unknown.
bool ParseLogLevel(const std::string& text, LogLevel* out);
/// Prints one line (msg is quoted and escaped). Thread-safe.
void Log(LogLevel level, const std::string& msg);

}  // namespace sockstate
