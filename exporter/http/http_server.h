#pragma once
// The HTTP side: civetweb serving the scrape pipeline at the telemetry path (text format through
// prometheus-cpp's TextSerializer), a landing page at "/", and optionally POST /-/reload.
// Limits: only GET/HEAD on the metrics path, a cap on scrapes in progress that answers 503
// at once instead of queueing, a bounded thread pool and request timeout.
// Security (--web.config.file): TLS through civetweb's run-time loaded OpenSSL, configured by
// ConfigureSslContext (http/tls.h); HTTP basic auth against bcrypt hashes on every path (401
// otherwise; http/basic_auth.h). Requests turned away are counted by reason and exported with
// the scrape (http/rejected_requests.h).
//
// civetweb 1.15 is thread-per-connection: the master thread accepts, queues the socket, and a
// worker owns it until the response is sent (keep-alive is off). A connection that sends
// nothing holds a worker until request_timeout_ms (which bounds reading the request headers
// and each send), so `threads` is sized to absorb that many idle connections.

#include <prometheus/collectable.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/basic_auth.h"
#include "http/rejected_requests.h"
#include "http/web_config.h"
#include "util/status.h"

class CivetServer;
class CivetHandler;

namespace sockstate {

/// How the server runs. Value type.
struct HttpOptions {
  std::string listen_address = ":9798";  // host:port, :port, [v6]:port
  std::string telemetry_path = "/metrics";
  int max_requests = 10;               // scrapes in progress at once; more get 503 (0 = no limit)
  int threads = 0;                     // civetweb worker threads = connections served at once;
                                       // 0 = kDefaultThreads
  int request_timeout_ms = 5000;       // reading a request's headers; each send of the response
  bool enable_lifecycle = false;       // POST /-/reload
  std::function<Status()> reload;      // called by /-/reload
  std::optional<TlsServerConfig> tls;  // serve HTTPS only
  std::string tls_compat_lib;          // see PrepareCivetwebTls
  std::shared_ptr<BasicAuthenticator> auth;  // null or disabled(): no authentication
};

/// Default worker threads: enough that a few hundred idle connections do not starve scrapes
/// for longer than request_timeout_ms (docs/security.md, HTTP limits).
inline constexpr int kDefaultThreads = 256;

/// Converts a Prometheus-style listen address to civetweb's listening_ports syntax:
/// ":9798" -> "9798", "127.0.0.1:9798" -> "127.0.0.1:9798", "[::1]:9798" -> "[::1]:9798".
Result<std::string> ToCivetListen(const std::string& address);

/// A running server; stops on destruction. Thread-safe.
class HttpServer {
 public:
  /// Serves `metrics` (the scrape pipeline) at the telemetry path, with this server's own
  /// counters merged in.
  static Result<std::unique_ptr<HttpServer>> Start(
      const HttpOptions& options, std::shared_ptr<prometheus::Collectable> metrics);
  ~HttpServer();
  /// Ports actually bound (useful with port 0).
  std::vector<int> ports() const;
  /// Requests turned away so far, by reason.
  const RejectedRequests& rejected() const;

  struct State;

 private:
  HttpServer() = default;
  std::unique_ptr<State> state_;
  std::unique_ptr<CivetServer> server_;
  std::vector<std::unique_ptr<CivetHandler>> handlers_;
};

}  // namespace sockstate
