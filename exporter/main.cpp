// sockstate_exporter: TCP socket states and per-destination ephemeral port occupancy for
// Prometheus. This file only acts on the parsed flags (config/flags.h), loads the config, starts
// the HTTP server and waits for signals; everything else lives in the sockstate_core library.

#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
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

constexpr const char kName[] = "sockstate_exporter";

// Prints "sockstate_exporter: <what><message>" to stderr; returns `code` (the exit status).
int Fail(int code, const std::string& what, const std::string& message) {
  std::fprintf(stderr, "%s: %s%s\n", kName, what.c_str(), message.c_str());
  return code;
}

// --help and --version: the text, and exit 0. Nothing for other runs.
std::optional<int> PrintInfo(const sockstate::ExporterFlags& flags) {
  if (flags.help) {
    std::fputs(sockstate::HelpText().c_str(), stdout);
    return 0;
  }
  if (flags.version) {
    std::printf("%s version %s (revision %s, %s)\n", kName, sockstate::kVersion,
                sockstate::kRevision, __VERSION__);
    return 0;
  }
  return std::nullopt;
}

// --config.file, or the built-in defaults without one.
sockstate::Result<std::shared_ptr<const sockstate::Config>> LoadConfig(const std::string& file) {
  if (file.empty()) {
    return std::shared_ptr<const sockstate::Config>(
        std::make_shared<sockstate::Config>(sockstate::DefaultConfig()));
  }
  auto loaded = sockstate::LoadConfigFile(file);
  if (!loaded.ok()) return loaded.status();
  return std::shared_ptr<const sockstate::Config>(
      std::make_shared<sockstate::Config>(std::move(*loaded)));
}

// --web.config.file (or an empty WebConfig without one).
sockstate::Result<sockstate::WebConfig> LoadWeb(const std::string& path) {
  if (path.empty()) return sockstate::WebConfig{};
  return sockstate::LoadWebConfigFile(path);
}

// --config.check: says which files are valid (they were loaded already), exit 0.
int ReportConfigCheck(const sockstate::ExporterFlags& flags) {
  std::printf("%s: configuration OK\n",
              flags.config_file.empty() ? "built-in defaults" : flags.config_file.c_str());
  if (!flags.web_config_file.empty()) {
    std::printf("%s: web configuration OK\n", flags.web_config_file.c_str());
  }
  return 0;
}

sockstate::CollectorOptions MakeCollectorOptions(const sockstate::ExporterFlags& flags) {
  sockstate::CollectorOptions copts;
  copts.procfs = flags.procfs;
  copts.netns_dir = flags.netns_dir;
  copts.replay_dump = flags.replay_dump;
  copts.record_dump = flags.record_dump;
  copts.replay_udp_dump = flags.replay_udp_dump;
  copts.record_udp_dump = flags.record_udp_dump;
  // Workloads are named from the cgroup2 tree (docs/workloads.md).
  copts.cgroups = std::make_shared<sockstate::CgroupResolver>(
      sockstate::Cgroup2Root(flags.cgroup2_root, flags.procfs));
  return copts;
}

// --once: one scrape of the configured namespaces, printed as the incident table; no server.
// Exit 1 when a source or namespace could not be read (the table says which).
int RunOnce(const sockstate::CollectorOptions& copts,
            std::shared_ptr<const sockstate::Config> config, const std::string& connect_failures) {
  sockstate::Collector once(copts, std::move(config));
  const auto families = once.Collect();
  std::fputs(sockstate::RenderTerminalView(families).c_str(), stdout);
  std::fputs(sockstate::OnceConnectFailuresNote(connect_failures).c_str(), stdout);
  return sockstate::BuildPortOverview(families).failing.empty() ? 0 : 1;
}

// Blocks the signals the main thread waits for, before any thread starts (every thread
// inherits the mask), and ignores SIGPIPE.
sigset_t BlockSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

// Reloads --config.file and --web.config.file together (SIGHUP, POST /-/reload): both are
// loaded and validated first, and nothing changes unless both are good. Thread-safe.
class Reloader {
 public:
  Reloader(const sockstate::ExporterFlags& flags, std::shared_ptr<sockstate::Collector> collector,
           std::shared_ptr<sockstate::BasicAuthenticator> auth,
           std::optional<sockstate::TlsServerConfig> startup_tls)
      : config_file_(flags.config_file),
        web_config_file_(flags.web_config_file),
        collector_(std::move(collector)),
        auth_(std::move(auth)),
        startup_tls_(std::move(startup_tls)) {}

  sockstate::Status Reload() {
    std::lock_guard<std::mutex> lock(mu_);
    if (config_file_.empty() && web_config_file_.empty()) {
      return sockstate::Status::Error("no --config.file or --web.config.file to reload");
    }
    std::shared_ptr<const sockstate::Config> config;
    sockstate::Status st;
    if (!config_file_.empty()) {
      auto loaded = LoadConfig(config_file_);
      if (loaded.ok()) {
        config = std::move(*loaded);
      } else {
        st = loaded.status();
      }
    }
    auto web = LoadWeb(web_config_file_);
    if (st.ok() && !web.ok()) st = web.status();
    if (!st.ok()) {
      collector_->NoteReload(false);
      Log(LogLevel::kError, "config reload failed, keeping the old config: " + st.message());
      return st;
    }
    if (config) collector_->SetConfig(std::move(config));
    auth_->SetUsers(web->basic_auth_users);
    if (web->tls != startup_tls_) {
      Log(LogLevel::kWarn,
          "web config: tls_server_config changed; restart to apply it "
          "(basic_auth_users were applied)");
    }
    collector_->NoteReload(true);
    Log(LogLevel::kInfo,
        "config reloaded" + (config_file_.empty() ? std::string() : " from " + config_file_) +
            (web_config_file_.empty() ? std::string() : ", web config from " + web_config_file_));
    return sockstate::Status::Ok();
  }

 private:
  const std::string config_file_;
  const std::string web_config_file_;
  const std::shared_ptr<sockstate::Collector> collector_;
  const std::shared_ptr<sockstate::BasicAuthenticator> auth_;
  const std::optional<sockstate::TlsServerConfig> startup_tls_;
  std::mutex mu_;
};

sockstate::HttpOptions MakeHttpOptions(const sockstate::ExporterFlags& flags,
                                       const sockstate::WebConfig& web,
                                       std::shared_ptr<sockstate::BasicAuthenticator> auth,
                                       std::function<sockstate::Status()> reload) {
  sockstate::HttpOptions hopts;
  hopts.listen_address = flags.listen_address;
  hopts.telemetry_path = flags.telemetry_path;
  hopts.max_requests = flags.max_requests;
  hopts.threads = flags.max_connections;
  hopts.request_timeout_ms = flags.request_timeout_ms;
  hopts.tls = web.tls;
  hopts.tls_compat_lib = flags.tls_compat_lib;
  hopts.auth = std::move(auth);
  hopts.enable_lifecycle = flags.enable_lifecycle;
  hopts.reload = std::move(reload);
  return hopts;
}

void LogListening(const sockstate::HttpServer& server, const sockstate::HttpOptions& hopts) {
  std::string ports;
  for (int p : server.ports()) {
    if (!ports.empty()) ports += ',';
    ports += std::to_string(p);
  }
  std::string line = kName;
  line.append(" ").append(sockstate::kVersion).append(" listening on ");
  line += hopts.listen_address + " (port " + ports;
  if (hopts.tls) line += ", TLS";
  if (!hopts.auth->disabled()) line += ", basic auth";
  line += "), metrics at " + hopts.telemetry_path;
  Log(LogLevel::kInfo, line);
}

// Waits for signals: SIGHUP reloads, SIGTERM and SIGINT return.
void WaitForSignals(const sigset_t& signals, Reloader& reloader) {
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      reloader.Reload();
      continue;
    }
    Log(LogLevel::kInfo, std::string("received ") + strsignal(sig) + ", shutting down");
    return;
  }
}

// The exporter proper: host-wide sources, the collector, the HTTP server, then signals.
int Serve(const sockstate::ExporterFlags& flags, sockstate::CollectorOptions copts,
          std::shared_ptr<const sockstate::Config> config, const sockstate::WebConfig& web) {
  const sigset_t signals = BlockSignals();
  // Host-wide sources (kernel events): an explicit `on` that cannot work is fatal.
  sockstate::HostSourceOptions host_options;
  host_options.connect_failures = flags.connect_failures;
  host_options.connect_failures_udp = flags.connect_failures_udp;
  host_options.time_wait_owners = flags.time_wait_owners;
  host_options.time_wait_max_sockets = config->workloads.time_wait_max_sockets;
  host_options.tracker = flags.tracker;
  host_options.tracker_config = config->tracker;
  host_options.cgroup2_root = copts.cgroups->root();
  auto host_sources = sockstate::MakeHostSources(host_options);
  if (!host_sources.ok()) {
    Log(LogLevel::kError, host_sources.status().message());
    return 1;
  }
  copts.time_wait_owners = host_sources->time_wait_owners;
  copts.tracker = host_sources->tracker;
  auto collector = std::make_shared<sockstate::Collector>(copts, std::move(config),
                                                          std::move(host_sources->sources));
  auto auth = std::make_shared<sockstate::BasicAuthenticator>(web.basic_auth_users);
  Reloader reloader(flags, collector, auth, web.tls);
  const sockstate::HttpOptions hopts =
      MakeHttpOptions(flags, web, auth, [&reloader] { return reloader.Reload(); });
  auto server = sockstate::HttpServer::Start(hopts, collector);
  if (!server.ok()) return Fail(1, "", server.status().message());
  LogListening(**server, hopts);
  WaitForSignals(signals, reloader);
  server->reset();  // stop serving before the collector and the reloader go away
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  TuneMalloc();
  auto flags = sockstate::ParseFlags({argv + 1, static_cast<size_t>(argc - 1)});
  if (!flags.ok()) return Fail(2, "", flags.status().message() + " (see --help)");
  if (std::optional<int> done = PrintInfo(*flags)) return *done;
  sockstate::SetLogLevel(flags->log_level);

  auto config = LoadConfig(flags->config_file);
  if (!config.ok()) return Fail(1, "invalid configuration: ", config.status().message());
  // Before the web config is checked: its TLS check uses the same libssl civetweb will.
  if (!flags->tls_compat_lib.empty()) {
    sockstate::Status st = sockstate::PrepareCivetwebTls(flags->tls_compat_lib);
    if (!st.ok()) return Fail(1, "", st.message());
  }
  auto web = LoadWeb(flags->web_config_file);
  if (!web.ok()) return Fail(1, "invalid web configuration: ", web.status().message());
  if (flags->config_check) return ReportConfigCheck(*flags);

  // nat.enabled: on that cannot work is a start-up error (docs/nat.md); auto just runs without.
  if ((*config)->nat.enabled == sockstate::NatToggle::kOn) {
    sockstate::Status st = sockstate::ProbeConntrack(flags->procfs);
    if (!st.ok()) return Fail(1, "nat.enabled is on but ", st.message());
  }
  const sockstate::CollectorOptions copts = MakeCollectorOptions(*flags);
  if (flags->once) return RunOnce(copts, *config, flags->connect_failures);
  return Serve(*flags, copts, *config, *web);
}
