// sockstate_exporter: TCP socket states and per-destination ephemeral port occupancy for
// Prometheus. This file only acts on the parsed flags (config/flags.h), loads the config, starts
// the HTTP server and waits for signals; everything else lives in the sockstate_core library.

#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.h"
#include "config/flags.h"
#include "http/http_server.h"
#include "http/tls.h"
#include "http/web_config.h"
#include "scrape/collector.h"
#include "scrape/port_overview.h"
#include "scrape/terminal_view.h"
#include "sources/conntrack_source.h"
#include "util/log.h"
#include "version.h"

namespace {

using sockstate::Log;
using sockstate::LogLevel;

// Loads --web.config.file (or an empty WebConfig without one).
sockstate::Result<sockstate::WebConfig> LoadWeb(const std::string& path) {
  if (path.empty()) return sockstate::WebConfig{};
  return sockstate::LoadWebConfigFile(path);
}

// glibc gives threads up to 8 x cores malloc arenas, and each keeps the memory freed into it.
// Scrapes run on short-lived threads and civetweb answers each request on one of its workers,
// so a scrape's transient memory (families, text) ends up in another arena each time: with 200
// namespaces RSS grew 6-12 MB per scrape until 16 arenas held a copy each. One arena is enough
// for a process whose hot path does not allocate.
// glibc also raises its mmap threshold to the size of any mmap'd block freed (up to 32 MiB) and
// its trim threshold to twice that. Loading the connect-failures BPF program frees libbpf's
// parsed kernel BTF (several MB), after which every scrape's buffers came from the heap and up
// to twice that stayed resident: peak RSS at 1M sockets 34.5 MB instead of 28.8 MB. Fixed
// thresholds (glibc's defaults, 128 KiB) switch that adjustment off.
// MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES win.
void TuneMalloc() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  auto set_by_user = [&](const char* env, const char* tunable) {
    return std::getenv(env) != nullptr ||
           (tunables != nullptr && std::strstr(tunables, tunable) != nullptr);
  };
  if (!set_by_user("MALLOC_ARENA_MAX", "arena_max")) mallopt(M_ARENA_MAX, 1);
  if (!set_by_user("MALLOC_MMAP_THRESHOLD_", "mmap_threshold")) {
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  }
  if (!set_by_user("MALLOC_TRIM_THRESHOLD_", "trim_threshold")) {
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  }
}

}  // namespace

int main(int argc, char** argv) {
  TuneMalloc();
  auto parsed = sockstate::ParseFlags({argv + 1, static_cast<size_t>(argc - 1)});
  if (!parsed.ok()) {
    std::fprintf(stderr, "sockstate_exporter: %s (see --help)\n",
                 parsed.status().message().c_str());
    return 2;
  }
  const sockstate::ExporterFlags& flags = *parsed;
  if (flags.help) {
    std::fputs(sockstate::HelpText().c_str(), stdout);
    return 0;
  }
  if (flags.version) {
    std::printf("sockstate_exporter version %s (revision %s, %s)\n", sockstate::kVersion,
                sockstate::kRevision, __VERSION__);
    return 0;
  }
  sockstate::SetLogLevel(flags.log_level);

  const std::string config_file = flags.config_file;
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
  const std::string web_config_file = flags.web_config_file;
  // Before the web config is checked: its TLS check uses the same libssl civetweb will.
  if (!flags.tls_compat_lib.empty()) {
    sockstate::Status st = sockstate::PrepareCivetwebTls(flags.tls_compat_lib);
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
  if (flags.config_check) {
    std::printf("%s: configuration OK\n",
                config_file.empty() ? "built-in defaults" : config_file.c_str());
    if (!web_config_file.empty()) {
      std::printf("%s: web configuration OK\n", web_config_file.c_str());
    }
    return 0;
  }

  // nat.enabled: on that cannot work is a start-up error (docs/nat.md); auto just runs without.
  if (config->nat.enabled == sockstate::NatToggle::kOn) {
    sockstate::Status st = sockstate::ProbeConntrack(flags.procfs);
    if (!st.ok()) {
      std::fprintf(stderr, "sockstate_exporter: nat.enabled is on but %s\n", st.message().c_str());
      return 1;
    }
  }

  sockstate::CollectorOptions copts;
  copts.procfs = flags.procfs;
  copts.netns_dir = flags.netns_dir;
  copts.replay_dump = flags.replay_dump;
  copts.record_dump = flags.record_dump;
  if (flags.once) {
    // One scrape of the configured namespaces, printed as the incident table; no server.
    // Exit 1 when a source or namespace could not be read (the table says which).
    sockstate::Collector once(copts, config);
    const auto families = once.Collect();
    std::fputs(sockstate::RenderTerminalView(families).c_str(), stdout);
    std::fputs(sockstate::OnceConnectFailuresNote(flags.connect_failures).c_str(), stdout);
    return sockstate::BuildPortOverview(families).failing.empty() ? 0 : 1;
  }

  // Block the signals we wait for before any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Host-wide sources (kernel events): an explicit `on` that cannot work is fatal.
  sockstate::HostSourceOptions host_options;
  host_options.connect_failures = flags.connect_failures;
  host_options.connect_failures_udp = flags.connect_failures_udp;
  auto host_sources = sockstate::MakeHostSources(host_options);
  if (!host_sources.ok()) {
    Log(LogLevel::kError, host_sources.status().message());
    return 1;
  }
  auto collector = std::make_shared<sockstate::Collector>(copts, config, std::move(*host_sources));
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
  hopts.listen_address = flags.listen_address;
  hopts.telemetry_path = flags.telemetry_path;
  hopts.max_requests = flags.max_requests;
  hopts.threads = flags.max_connections;
  hopts.request_timeout_ms = flags.request_timeout_ms;
  hopts.tls = web_config->tls;
  hopts.tls_compat_lib = flags.tls_compat_lib;
  hopts.auth = auth;
  hopts.enable_lifecycle = flags.enable_lifecycle;
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
