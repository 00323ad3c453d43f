// sockstate_exporter: TCP socket states and per-destination ephemeral port occupancy for
// Prometheus. This file only parses flags, loads the config, starts the HTTP server and waits
// for signals; everything else lives in the sockstate_core library.

#include <signal.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "scrape/collector.h"
#include "config/config.h"
#include "http/http_server.h"
#include "util/log.h"
#include "version.h"
#include "http/web_config.h"

namespace {

using sockstate::Log;
using sockstate::LogLevel;

struct Flag {
  const char* name;
  const char* default_value;
  const char* help;
  bool is_bool = false;
};

const Flag kFlags[] = {
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
     "Library loaded before civetweb starts TLS, so that Debian 12's civetweb 1.15 works with "
     "OpenSSL 3 (README.md, Security). Needed only with tls_server_config."},
    {"web.enable-lifecycle", "false", "Enable POST /-/reload.", true},
    {"config.file", "",
     "YAML configuration file (destination groups, limits, namespaces). "
     "Built-in defaults when empty."},
    {"config.check", "false", "Check the configuration file, print the result and exit.", true},
    {"path.procfs", "/proc", "procfs mountpoint: root of every /proc read."},
    {"path.netns", "/var/run/netns", "Directory of named network namespaces."},
    {"log.level", "info", "Minimum log level: debug, info, warn, error."},
    {"debug.replay-dump", "",
     "Replay this recorded sock_diag dump instead of dumping the kernel (tests, bug reports)."},
    {"debug.record-dump", "",
     "Record every sock_diag dump of the own namespace to this file (overwritten per scrape)."},
    {"version", "false", "Print the version and exit.", true},
    {"help", "false", "Print this help and exit.", true},
};

void PrintHelp() {
  std::printf(
      "usage: sockstate_exporter [flags]\n\n"
      "Exports TCP socket states, per-destination ephemeral port occupancy and the kernel\n"
      "settings and counters behind them, for Prometheus.\n\nFlags:\n");
  for (const Flag& f : kFlags) {
    std::printf("  --%s%s\n      %s", f.name, f.is_bool ? "" : "=VALUE", f.help);
    if (!f.is_bool && f.default_value[0]) std::printf(" (default \"%s\")", f.default_value);
    std::printf("\n");
  }
}

bool ParseFlags(int argc, char** argv, std::map<std::string, std::string>* out,
                std::string* error) {
  for (const Flag& f : kFlags) (*out)[f.name] = f.default_value;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      *error = "unexpected argument \"" + arg + "\"";
      return false;
    }
    arg = arg.substr(2);
    std::string value;
    bool has_value = false;
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : kFlags) {
      if (arg == f.name) flag = &f;
    }
    if (flag == nullptr) {
      *error = "unknown flag --" + arg;
      return false;
    }
    if (flag->is_bool) {
      if (!has_value) value = "true";
      if (value != "true" && value != "false") {
        *error = "flag --" + arg + " takes true or false";
        return false;
      }
    } else if (!has_value) {
      if (i + 1 >= argc) {
        *error = "flag --" + arg + " needs a value";
        return false;
      }
      value = argv[++i];
    }
    (*out)[arg] = value;
  }
  return true;
}

// Parses "500ms", "5s", "1m" (or a bare number of seconds) into milliseconds; -1 if invalid.
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

// Loads --web.config.file (or an empty WebConfig without one).
sockstate::Result<sockstate::WebConfig> LoadWeb(const std::string& path) {
  if (path.empty()) return sockstate::WebConfig{};
  return sockstate::LoadWebConfigFile(path);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    std::fprintf(stderr, "sockstate_exporter: %s (see --help)\n", error.c_str());
    return 2;
  }
  if (flags["help"] == "true") {
    PrintHelp();
    return 0;
  }
  if (flags["version"] == "true") {
    std::printf("sockstate_exporter version %s (revision %s, %s)\n", sockstate::kVersion,
                sockstate::kRevision, __VERSION__);
    return 0;
  }
  LogLevel level;
  if (!sockstate::ParseLogLevel(flags["log.level"], &level)) {
    std::fprintf(stderr, "sockstate_exporter: bad --log.level \"%s\"\n",
                 flags["log.level"].c_str());
    return 2;
  }
  sockstate::SetLogLevel(level);

  const std::string config_file = flags["config.file"];
  std::shared_ptr<const sockstate::Config> config;
  if (config_file.empty()) {
    config = std::make_shared<sockstate::Config>(sockstate::DefaultConfig());
  } else {
    auto loaded = sockstate::LoadConfigFile(config_file);
    if (!loaded.ok()) {
      std::fprintf(stderr, "sockstate_exporter: invalid configuration: %s\n",
                   loaded.status().message().c_str());
      return 1;
    }
    config = std::make_shared<sockstate::Config>(std::move(*loaded));
  }
  const std::string web_config_file = flags["web.config.file"];
  // Before the web config is checked: its TLS check uses the same libssl civetweb will.
  if (!flags["web.tls-compat-lib"].empty()) {
    sockstate::Status st = sockstate::PrepareCivetwebTls(flags["web.tls-compat-lib"]);
    if (!st.ok()) {
      std::fprintf(stderr, "sockstate_exporter: %s\n", st.message().c_str());
      return 1;
    }
  }
  auto web_config = LoadWeb(web_config_file);
  if (!web_config.ok()) {
    std::fprintf(stderr, "sockstate_exporter: invalid web configuration: %s\n",
                 web_config.status().message().c_str());
    return 1;
  }
  if (flags["config.check"] == "true") {
    std::printf("%s: configuration OK\n",
                config_file.empty() ? "built-in defaults" : config_file.c_str());
    if (!web_config_file.empty()) {
      std::printf("%s: web configuration OK\n", web_config_file.c_str());
    }
    return 0;
  }

  // Block the signals we wait for before any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  sockstate::CollectorOptions copts;
  copts.procfs = flags["path.procfs"];
  copts.netns_dir = flags["path.netns"];
  copts.replay_dump = flags["debug.replay-dump"];
  copts.record_dump = flags["debug.record-dump"];
  auto collector = std::make_shared<sockstate::Collector>(copts, config);
  auto auth = std::make_shared<sockstate::BasicAuthenticator>(web_config->basic_auth_users);
  const std::optional<sockstate::TlsServerConfig> startup_tls = web_config->tls;

  // Reloads --config.file and --web.config.file together: both are loaded and validated
  // first, and nothing changes unless both are good.
  std::mutex reload_mu;
  auto reload = [&]() -> sockstate::Status {
    std::lock_guard<std::mutex> lock(reload_mu);
    if (config_file.empty() && web_config_file.empty()) {
      return sockstate::Status::Error("no --config.file or --web.config.file to reload");
    }
    std::optional<sockstate::Config> new_config;
    sockstate::Status st;
    if (!config_file.empty()) {
      auto loaded = sockstate::LoadConfigFile(config_file);
      if (loaded.ok()) {
        new_config = std::move(*loaded);
      } else {
        st = loaded.status();
      }
    }
    auto web = LoadWeb(web_config_file);
    if (st.ok() && !web.ok()) st = web.status();
    if (!st.ok()) {
      collector->NoteReload(false);
      Log(LogLevel::kError, "config reload failed, keeping the old config: " + st.message());
      return st;
    }
    if (new_config)
      collector->SetConfig(std::make_shared<sockstate::Config>(std::move(*new_config)));
    auth->SetUsers(web->basic_auth_users);
    if (web->tls != startup_tls) {
      Log(LogLevel::kWarn,
          "web config: tls_server_config changed; restart to apply it "
          "(basic_auth_users were applied)");
    }
    collector->NoteReload(true);
    Log(LogLevel::kInfo,
        "config reloaded" + (config_file.empty() ? std::string() : " from " + config_file) +
            (web_config_file.empty() ? std::string() : ", web config from " + web_config_file));
    return sockstate::Status::Ok();
  };

  sockstate::HttpOptions hopts;
  hopts.listen_address = flags["web.listen-address"];
  hopts.telemetry_path = flags["web.telemetry-path"];
  try {
    hopts.max_requests = std::stoi(flags["web.max-requests"]);
  } catch (...) {
    std::fprintf(stderr, "sockstate_exporter: bad --web.max-requests\n");
    return 2;
  }
  try {
    hopts.threads = std::stoi(flags["web.max-connections"]);
  } catch (...) {
    hopts.threads = -1;
  }
  if (hopts.threads <= 0) {
    std::fprintf(stderr, "sockstate_exporter: bad --web.max-connections\n");
    return 2;
  }
  const long timeout_ms = ParseDurationMs(flags["web.request-timeout"]);
  if (timeout_ms <= 0 || timeout_ms > 10 * 60 * 1000) {
    std::fprintf(stderr, "sockstate_exporter: bad --web.request-timeout \"%s\" (want e.g. 5s)\n",
                 flags["web.request-timeout"].c_str());
    return 2;
  }
  hopts.request_timeout_ms = static_cast<int>(timeout_ms);
  hopts.tls = web_config->tls;
  hopts.tls_compat_lib = flags["web.tls-compat-lib"];
  hopts.auth = auth;
  hopts.enable_lifecycle = flags["web.enable-lifecycle"] == "true";
  hopts.reload = reload;
  auto server = sockstate::HttpServer::Start(hopts, collector);
  if (!server.ok()) {
    std::fprintf(stderr, "sockstate_exporter: %s\n", server.status().message().c_str());
    return 1;
  }
  std::string ports;
  for (int p : (*server)->ports()) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  Log(LogLevel::kInfo, std::string("sockstate_exporter ") + sockstate::kVersion + " listening on " +
                           hopts.listen_address + " (port " + ports + (hopts.tls ? ", TLS" : "") +
                           (auth->disabled() ? "" : ", basic auth") + "), metrics at " +
                           hopts.telemetry_path);

  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    Log(LogLevel::kInfo, std::string("received ") + strsignal(sig) + ", shutting down");
    break;
  }
  server->reset();  // stop serving before the collector goes away
  return 0;
}
