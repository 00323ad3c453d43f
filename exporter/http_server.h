#pragma once
// The HTTP side: civetweb serving the Collector at the telemetry path (text format through
// prometheus-cpp's TextSerializer), a landing page at "/", and optionally POST /-/reload.
// Limits: only GET/HEAD on the metrics path, a cap on scrapes in progress that answers 503
// at once instead of queueing, a bounded thread pool and request timeout.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collector.h"
#include "status.h"

class CivetServer;
class CivetHandler;

namespace sockstate {

struct HttpOptions {
  std::string listen_address = ":9798";  // host:port, :port, [v6]:port
  std::string telemetry_path = "/metrics";
  int max_requests = 10;  // scrapes in progress at once; more get 503 (0 = no limit)
  int threads = 0;        // civetweb worker threads; 0 = max_requests + 8
  int request_timeout_ms = 30000;
  bool enable_lifecycle = false;   // POST /-/reload
  std::function<Status()> reload;  // called by /-/reload
};

/// Converts a Prometheus-style listen address to civetweb's listening_ports syntax:
/// ":9798" -> "9798", "127.0.0.1:9798" -> "127.0.0.1:9798", "[::1]:9798" -> "[::1]:9798".
Result<std::string> ToCivetListen(const std::string& address);

/// A running server; stops on destruction. Thread-safe.
class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(const HttpOptions& options,
                                                   std::shared_ptr<Collector> collector);
  ~HttpServer();
  /// Ports actually bound (useful with port 0).
  std::vector<int> ports() const;
  /// Requests answered 503 because max_requests scrapes were in progress.
  uint64_t rejected() const;

  struct State;

 private:
  HttpServer() = default;
  std::unique_ptr<State> state_;
  std::unique_ptr<CivetServer> server_;
  std::vector<std::unique_ptr<CivetHandler>> handlers_;
};

}  // namespace sockstate
