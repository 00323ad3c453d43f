#pragma once
// Command-line flags: one table (name, default, help) and a pure parser from argv to typed,
// validated values. main() only acts on the result.

#include <span>
#include <string>
#include <vector>

#include "util/log.h"
#include "util/status.h"

namespace sockstate {

/// One row of the flag table. Immutable; thread-safe.
struct FlagSpec {
  const char* name;           // without the leading "--"
  const char* default_value;  // "" = none
  const char* help;
  bool is_bool = false;  // --x, --x=true, --x=false
};

/// The flag table, in --help order. Thread-safe.
std::span<const FlagSpec> FlagTable();

/// Every flag's value, parsed and validated. Value type; not synchronized.
struct ExporterFlags {
  std::string listen_address = ":9798";       // --web.listen-address
  std::string telemetry_path = "/metrics";    // --web.telemetry-path
  int max_requests = 10;                      // --web.max-requests (0 = no limit)
  int max_connections = 256;                  // --web.max-connections
  int request_timeout_ms = 5000;              // --web.request-timeout
  std::string web_config_file;                // --web.config.file
  std::string tls_compat_lib;                 // --web.tls-compat-lib ("" = found by itself)
  bool enable_lifecycle = false;              // --web.enable-lifecycle
  std::string config_file;                    // --config.file
  bool config_check = false;                  // --config.check
  std::string procfs = "/proc";               // --path.procfs
  std::string netns_dir = "/var/run/netns";   // --path.netns
  std::string cgroup2_root;                   // --path.cgroup2 ("" = found in mountinfo)
  LogLevel log_level = LogLevel::kInfo;       // --log.level
  std::string replay_dump;                    // --debug.replay-dump
  std::string record_dump;                    // --debug.record-dump
  std::string replay_udp_dump;                // --debug.replay-udp-dump
  std::string record_udp_dump;                // --debug.record-udp-dump
  std::string connect_failures = "auto";      // --collector.connect-failures: auto|on|off
  std::string connect_failures_udp = "auto";  // --collector.connect-failures.udp: auto|syscalls|off
  std::string time_wait_owners = "auto";      // --collector.time-wait-owners: auto|on|off
  std::string tracker = "off";                // --collector.tracker: auto|on|off
  bool once = false;                          // --once
  bool version = false;                       // --version
  bool help = false;                          // --help
};

/// Parses the arguments after argv[0] ("--name=value", "--name value", bool "--name").
/// Errors name the flag: "unknown flag --x", "flag --x needs a value", "flag --x takes true or
/// false", "bad --x \"v\" (...)". Pure; thread-safe.
Result<ExporterFlags> ParseFlags(std::span<const char* const> args);

/// Parses "500ms", "5s", "1m" (or a bare number of seconds) into milliseconds; -1 if invalid.
/// Pure; thread-safe.
long ParseDurationMs(const std::string& text);

/// The --help text. Pure; thread-safe.
std::string HelpText();

}  // namespace sockstate
