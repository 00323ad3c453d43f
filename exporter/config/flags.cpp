#include "config/flags.h"

#include <map>

namespace sockstate {
namespace {

const FlagSpec kFlags[] = {
    {"web.listen-address", ":9798", "Address to listen on: host:port, :port or [v6]:port."},
    {"web.telemetry-path", "/metrics", "Path under which to expose metrics."},
    {"web.max-requests", "10", "Scrapes in progress at once; more get 503 at once (0 = no limit)."},
    {"web.max-connections", "256",
     "Connections served at once (civetweb worker threads); idle ones hold a worker until "
     "--web.request-timeout. Must exceed --web.max-requests by 2."},
    {"web.request-timeout", "5s",
     "Time allowed to send the request headers, and for each send of the response "
     "(e.g. 500ms, 5s, 1m)."},
    {"web.config.file", "",
     "Web config (exporter-toolkit format): TLS and basic auth. Reloaded with the config "
     "(basic_auth_users; TLS changes need a restart)."},
    {"web.tls-compat-lib", "",
     "TLS compat library for civetweb 1.15 with OpenSSL 3 (libsockstate_ssl_compat.so). "
     "Found by itself next to the binary or in the install prefix; this only overrides it "
     "(docs/security.md)."},
    {"web.enable-lifecycle", "false", "Enable POST /-/reload.", true},
    {"config.file", "",
     "YAML configuration file (destination groups, limits, namespaces). "
     "Built-in defaults when empty."},
    {"config.check", "false", "Check the configuration file, print the result and exit.", true},
    {"path.procfs", "/proc", "procfs mountpoint: root of every /proc read."},
    {"path.netns", "/var/run/netns", "Directory of named network namespaces."},
    {"path.cgroup2", "",
     "Root of the host's cgroup v2 tree, where workloads are named from (default: the first "
     "cgroup2 mount of <path.procfs>/self/mountinfo)."},
    {"collector.connect-failures", "auto",
     "Count failed connects from kernel events: auto (when the kernel allows), on (exit 1 if "
     "it cannot), off."},
    {"collector.time-wait-owners", "auto",
     "Record who owns each TIME_WAIT socket, from kernel events: auto (when the kernel allows), "
     "on (exit 1 if it cannot), off (TIME_WAIT sockets are owned by \"unknown\")."},
    {"collector.tracker", "off",
     "Keep socket counts from kernel events instead of walking every socket on each scrape: "
     "off (a sock_diag dump per scrape; the default while the tracker's cost per connection "
     "is above its target), auto (when the kernel allows), on (exit 1 if it cannot)."},
    {"collector.connect-failures.udp", "auto",
     "Count UDP port-allocation failures too: auto (fexit on the kernel's UDP get_port when "
     "the kernel allows BPF trampolines, else not), syscalls (the system-call exit "
     "tracepoint: one BPF run on every system call of the host), off."},
    {"log.level", "info", "Minimum log level: debug, info, warn, error."},
    {"debug.replay-dump", "",
     "Replay this recorded sock_diag dump instead of dumping the kernel (tests, bug reports)."},
    {"debug.replay-udp-dump", "",
     "Replay this recorded UDP sock_diag dump instead of dumping the kernel (tests, bug "
     "reports)."},
    {"debug.record-udp-dump", "",
     "Record every UDP sock_diag dump of the own namespace to this file (overwritten per "
     "scrape)."},
    {"debug.record-dump", "",
     "Record every sock_diag dump of the own namespace to this file (overwritten per scrape)."},
    {"once", "false",
     "Print the fullest destinations of the configured namespaces as a table and exit.", true},
    {"version", "false", "Print the version and exit.", true},
    {"help", "false", "Print this help and exit.", true},
};

const FlagSpec* FindFlag(const std::string& name) {
  for (const FlagSpec& f : kFlags) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

// A non-negative decimal integer of at most 9 digits; -1 otherwise.
long ParseCount(const std::string& text) {
  if (text.empty() || text.size() > 9) return -1;
  long n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

Status BadValue(const std::string& name, const std::string& value, const std::string& want) {
  return Status::Error("bad --" + name + " \"" + value + "\" (" + want + ")");
}

// Converts the raw name -> text map into typed values.
Result<ExporterFlags> Convert(std::map<std::string, std::string>& raw) {
  ExporterFlags f;
  f.listen_address = raw["web.listen-address"];
  f.telemetry_path = raw["web.telemetry-path"];
  const long max_requests = ParseCount(raw["web.max-requests"]);
  if (max_requests < 0) {
    return BadValue("web.max-requests", raw["web.max-requests"], "want a count, 0 = no limit");
  }
  f.max_requests = static_cast<int>(max_requests);
  const long max_connections = ParseCount(raw["web.max-connections"]);
  if (max_connections <= 0) {
    return BadValue("web.max-connections", raw["web.max-connections"], "want a count above 0");
  }
  f.max_connections = static_cast<int>(max_connections);
  const long timeout_ms = ParseDurationMs(raw["web.request-timeout"]);
  if (timeout_ms <= 0 || timeout_ms > 10 * 60 * 1000) {
    return BadValue("web.request-timeout", raw["web.request-timeout"], "want e.g. 5s, up to 10m");
  }
  f.request_timeout_ms = static_cast<int>(timeout_ms);
  f.web_config_file = raw["web.config.file"];
  f.tls_compat_lib = raw["web.tls-compat-lib"];
  f.enable_lifecycle = raw["web.enable-lifecycle"] == "true";
  f.config_file = raw["config.file"];
  f.config_check = raw["config.check"] == "true";
  f.procfs = raw["path.procfs"];
  f.netns_dir = raw["path.netns"];
  f.cgroup2_root = raw["path.cgroup2"];
  if (!ParseLogLevel(raw["log.level"], &f.log_level)) {
    return BadValue("log.level", raw["log.level"], "want debug, info, warn or error");
  }
  f.replay_dump = raw["debug.replay-dump"];
  f.record_dump = raw["debug.record-dump"];
  f.replay_udp_dump = raw["debug.replay-udp-dump"];
  f.record_udp_dump = raw["debug.record-udp-dump"];
  f.connect_failures = raw["collector.connect-failures"];
  if (f.connect_failures != "auto" && f.connect_failures != "on" && f.connect_failures != "off") {
    return BadValue("collector.connect-failures", f.connect_failures, "want auto, on or off");
  }
  f.time_wait_owners = raw["collector.time-wait-owners"];
  if (f.time_wait_owners != "auto" && f.time_wait_owners != "on" && f.time_wait_owners != "off") {
    return BadValue("collector.time-wait-owners", f.time_wait_owners, "want auto, on or off");
  }
  f.tracker = raw["collector.tracker"];
  if (f.tracker != "auto" && f.tracker != "on" && f.tracker != "off") {
    return BadValue("collector.tracker", f.tracker, "want auto, on or off");
  }
  f.connect_failures_udp = raw["collector.connect-failures.udp"];
  if (f.connect_failures_udp != "auto" && f.connect_failures_udp != "syscalls" &&
      f.connect_failures_udp != "off") {
    return BadValue("collector.connect-failures.udp", f.connect_failures_udp,
                    "want auto, syscalls or off");
  }
  f.once = raw["once"] == "true";
  f.version = raw["version"] == "true";
  f.help = raw["help"] == "true";
  return f;
}

}  // namespace

std::span<const FlagSpec> FlagTable() { return kFlags; }

long ParseDurationMs(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 9) return -1;
  const long n = std::stol(text.substr(0, i));
  const std::string unit = text.substr(i);
  if (unit == "ms") return n;
  if (unit == "s" || unit.empty()) return n * 1000;
  if (unit == "m") return n * 60 * 1000;
  return -1;
}

Result<ExporterFlags> ParseFlags(std::span<const char* const> args) {
  std::map<std::string, std::string> raw;
  for (const FlagSpec& f : kFlags) raw[f.name] = f.default_value;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg.rfind("--", 0) != 0) return Status::Error("unexpected argument \"" + arg + "\"");
    arg = arg.substr(2);
    std::string value;
    bool has_value = false;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const FlagSpec* flag = FindFlag(arg);
    if (flag == nullptr) return Status::Error("unknown flag --" + arg);
    if (flag->is_bool) {
      if (!has_value) value = "true";
      if (value != "true" && value != "false") {
        return Status::Error("flag --" + arg + " takes true or false");
      }
    } else if (!has_value) {
      if (i + 1 >= args.size()) return Status::Error("flag --" + arg + " needs a value");
      value = args[++i];
    }
    raw[arg] = value;
  }
  return Convert(raw);
}

std::string HelpText() {
  std::string out =
      "usage: sockstate_exporter [flags]\n\n"
      "Exports TCP socket states, per-destination ephemeral port occupancy and the kernel\n"
      "settings and counters behind them, for Prometheus.\n\nFlags:\n";
  for (const FlagSpec& f : kFlags) {
    out += std::string("  --") + f.name + (f.is_bool ? "" : "=VALUE") + "\n      " + f.help;
    if (!f.is_bool && f.default_value[0])
      out += std::string(" (default \"") + f.default_value + "\")";
    out += "\n";
  }
  return out;
}

}  // namespace sockstate
