#include "http_server.h"

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/text_serializer.h>

#include <cstring>

#include "log.h"
#include "version.h"

namespace sockstate {

struct HttpServer::State {
  HttpOptions options;
  std::shared_ptr<Collector> collector;
  std::atomic<int> in_progress{0};
  std::atomic<uint64_t> rejected{0};
};

namespace {

const char* Uri(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  return ri && ri->local_uri ? ri->local_uri : "";
}

void Respond(mg_connection* conn, int status, const char* reason, const std::string& type,
             const std::string& body, const std::string& extra_headers = "", bool head = false) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
            "close\r\n\r\n",
            status, reason, type.c_str(), body.size(), extra_headers.c_str());
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

// Answers every method other than the ones a handler implements with 405.
class RestrictedHandler : public CivetHandler {
 public:
  explicit RestrictedHandler(std::string allow) : allow_(std::move(allow)) {}
  bool handlePost(CivetServer*, mg_connection* c) override { return NotAllowed(c); }
  bool handlePut(CivetServer*, mg_connection* c) override { return NotAllowed(c); }
  bool handleDelete(CivetServer*, mg_connection* c) override { return NotAllowed(c); }
  bool handleOptions(CivetServer*, mg_connection* c) override { return NotAllowed(c); }
  bool handlePatch(CivetServer*, mg_connection* c) override { return NotAllowed(c); }

 protected:
  bool NotAllowed(mg_connection* c) {
    Respond(c, 405, "Method Not Allowed", "text/plain; charset=utf-8", "method not allowed\n",
            "Allow: " + allow_ + "\r\n");
    return true;
  }
  bool NotFound(mg_connection* c, bool head = false) {
    Respond(c, 404, "Not Found", "text/plain; charset=utf-8", "not found\n", "", head);
    return true;
  }
  std::string allow_;
};

class MetricsHandler : public RestrictedHandler {
 public:
  explicit MetricsHandler(HttpServer::State* s) : RestrictedHandler("GET, HEAD"), s_(s) {}
  bool handleGet(CivetServer*, mg_connection* c) override { return Serve(c, false); }
  bool handleHead(CivetServer*, mg_connection* c) override { return Serve(c, true); }

 private:
  bool Serve(mg_connection* c, bool head) {
    if (s_->options.telemetry_path != Uri(c)) return NotFound(c, head);
    static const std::string kType = "text/plain; version=0.0.4; charset=utf-8";
    if (head) {
      Respond(c, 200, "OK", kType, "", "", true);
      return true;
    }
    const int limit = s_->options.max_requests;
    if (limit > 0 && s_->in_progress.fetch_add(1) >= limit) {
      s_->in_progress.fetch_sub(1);
      s_->rejected++;
      Respond(c, 503, "Service Unavailable", "text/plain; charset=utf-8",
              "too many scrapes in progress, try again\n", "Retry-After: 1\r\n");
      return true;
    }
    if (limit <= 0) s_->in_progress.fetch_add(1);
    std::string body;
    try {
      auto families = s_->collector->Collect();
      body = prometheus::TextSerializer().Serialize(families);
    } catch (const std::exception& e) {
      s_->in_progress.fetch_sub(1);
      Log(LogLevel::kError, std::string("serializing metrics: ") + e.what());
      Respond(c, 500, "Internal Server Error", "text/plain; charset=utf-8", "internal error\n");
      return true;
    }
    s_->in_progress.fetch_sub(1);
    Respond(c, 200, "OK", kType, body);
    return true;
  }
  HttpServer::State* s_;
};

class LandingHandler : public RestrictedHandler {
 public:
  explicit LandingHandler(HttpServer::State* s) : RestrictedHandler("GET, HEAD"), s_(s) {}
  bool handleGet(CivetServer*, mg_connection* c) override { return Serve(c, false); }
  bool handleHead(CivetServer*, mg_connection* c) override { return Serve(c, true); }

 private:
  bool Serve(mg_connection* c, bool head) {
    if (std::strcmp(Uri(c), "/") != 0) return NotFound(c, head);
    const std::string& p = s_->options.telemetry_path;
    std::string body =
        "<!DOCTYPE html>\n<html><head><title>sockstate_exporter</title></head><body>\n"
        "<h1>sockstate_exporter</h1>\n"
        "<p>TCP socket states, per-destination ephemeral port occupancy and the kernel settings "
        "behind them.</p>\n<p>Version " +
        std::string(kVersion) + " (" + kRevision + ")</p>\n<ul><li><a href=\"" + p + "\">" + p +
        "</a></li></ul>\n</body></html>\n";
    Respond(c, 200, "OK", "text/html; charset=utf-8", body, "", head);
    return true;
  }
  HttpServer::State* s_;
};

class ReloadHandler : public RestrictedHandler {
 public:
  explicit ReloadHandler(HttpServer::State* s) : RestrictedHandler("POST, PUT"), s_(s) {}
  bool handlePost(CivetServer*, mg_connection* c) override { return Reload(c); }
  bool handlePut(CivetServer*, mg_connection* c) override { return Reload(c); }
  bool handleGet(CivetServer*, mg_connection* c) override { return NotAllowed(c); }

 private:
  bool Reload(mg_connection* c) {
    if (std::strcmp(Uri(c), "/-/reload") != 0) return NotFound(c);
    Status st = s_->options.reload ? s_->options.reload() : Status::Error("reload not available");
    if (st.ok()) {
      Respond(c, 200, "OK", "text/plain; charset=utf-8", "config reloaded\n");
    } else {
      Respond(c, 500, "Internal Server Error", "text/plain; charset=utf-8",
              "config reload failed, old config kept: " + st.message() + "\n");
    }
    return true;
  }
  HttpServer::State* s_;
};

}  // namespace

Result<std::string> ToCivetListen(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos)
    return Status::Error("listen address \"" + address + "\": want host:port or :port");
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    return Status::Error("listen address \"" + address + "\": bad port \"" + port + "\"");
  }
  if (host.empty()) return port;
  if (host.front() == '[' && host.back() == ']') return host + ":" + port;
  if (host.find(':') != std::string::npos) {
    return Status::Error("listen address \"" + address + "\": IPv6 hosts need brackets");
  }
  if (host == "localhost") host = "127.0.0.1";
  return host + ":" + port;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options,
                                                      std::shared_ptr<Collector> collector) {
  auto listen = ToCivetListen(options.listen_address);
  if (!listen.ok()) return listen.status();
  if (options.telemetry_path.empty() || options.telemetry_path[0] != '/' ||
      options.telemetry_path == "/" || options.telemetry_path == "/-/reload") {
    return Status::Error("telemetry path \"" + options.telemetry_path +
                         "\": must start with / and not be / or /-/reload");
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->state_ = std::make_unique<State>();
  server->state_->options = options;
  server->state_->collector = std::move(collector);
  const int threads = options.threads > 0 ? options.threads : std::max(options.max_requests, 2) + 8;
  std::vector<std::string> civet = {
      "listening_ports",
      *listen,
      "num_threads",
      std::to_string(threads),
      "request_timeout_ms",
      std::to_string(options.request_timeout_ms),
      "enable_directory_listing",
      "no",
      "enable_keep_alive",
      "no",
  };
  try {
    server->server_ = std::make_unique<CivetServer>(civet);
  } catch (const std::exception& e) {
    return Status::Error("cannot listen on " + options.listen_address + ": " + e.what());
  }
  auto add = [&](const std::string& uri, CivetHandler* h) {
    server->handlers_.emplace_back(h);
    server->server_->addHandler(uri, h);
  };
  add(options.telemetry_path, new MetricsHandler(server->state_.get()));
  add("/", new LandingHandler(server->state_.get()));
  if (options.enable_lifecycle) add("/-/reload", new ReloadHandler(server->state_.get()));
  return server;
}

HttpServer::~HttpServer() {
  if (server_) server_->close();  // stops worker threads before handlers go away
}

std::vector<int> HttpServer::ports() const { return server_->getListeningPorts(); }

uint64_t HttpServer::rejected() const { return state_->rejected.load(); }

}  // namespace sockstate
