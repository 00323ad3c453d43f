#include "http/http_server.h"

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <thread>

#include "http/landing_page.h"
#include "http/tls.h"
#include "util/log.h"
#include "version.h"

namespace sockstate {

struct HttpServer::State {
  HttpOptions options;
  std::shared_ptr<prometheus::Collectable> metrics;
  std::atomic<int> in_progress{0};
  RejectedRequests rejected;
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

// Debian's civetweb runs its workers on 100 KiB stacks (built with USE_STACK_SIZE=102400): too
// small for a scrape or a config parse (a config parse overflowed it; ASan needs even more).
// Heavy work runs on a thread with the default stack while the worker waits. One thread per
// scrape or reload, bounded by max_requests.
template <typename F>
auto OnFullStack(F&& f) -> decltype(f()) {
  std::optional<decltype(f())> out;
  std::exception_ptr error;
  std::thread t([&] {
    try {
      out.emplace(f());
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

enum class Method { kGet, kHead, kPost, kPut, kDelete, kOptions, kPatch };

// Every request goes through Handle(): authentication first (401 with WWW-Authenticate, on
// every path and method), then the subclass; methods it does not implement get 405.
class Handler : public CivetHandler {
 public:
  Handler(HttpServer::State* s, std::string allow) : s_(s), allow_(std::move(allow)) {}
  bool handleGet(CivetServer*, mg_connection* c) override { return Handle(c, Method::kGet); }
  bool handleHead(CivetServer*, mg_connection* c) override { return Handle(c, Method::kHead); }
  bool handlePost(CivetServer*, mg_connection* c) override { return Handle(c, Method::kPost); }
  bool handlePut(CivetServer*, mg_connection* c) override { return Handle(c, Method::kPut); }
  bool handleDelete(CivetServer*, mg_connection* c) override { return Handle(c, Method::kDelete); }
  bool handleOptions(CivetServer*, mg_connection* c) override {
    return Handle(c, Method::kOptions);
  }
  bool handlePatch(CivetServer*, mg_connection* c) override { return Handle(c, Method::kPatch); }

 protected:
  // Returns false when the method is not allowed (405 is sent by the caller).
  virtual bool Serve(mg_connection* c, Method m) = 0;

  // For /metrics and "/": scrapes (bounded by --web.max-requests: 503 at once beyond it,
  // counted as scrape_limit) and answers with render(families). HEAD answers the headers
  // without scraping.
  template <typename Render>
  bool ServeScrape(mg_connection* c, bool head, const std::string& type, Render render) {
    if (head) {
      Respond(c, 200, "OK", type, "", "", true);
      return true;
    }
    const int limit = s_->options.max_requests;
    if (limit > 0 && s_->in_progress.fetch_add(1) >= limit) {
      s_->in_progress.fetch_sub(1);
      s_->rejected.Add(RejectReason::kScrapeLimit);
      Respond(c, 503, "Service Unavailable", "text/plain; charset=utf-8",
              "too many scrapes in progress, try again\n", "Retry-After: 1\r\n");
      return true;
    }
    if (limit <= 0) s_->in_progress.fetch_add(1);
    std::string body;
    try {
      body = OnFullStack([this, &render] { return render(s_->metrics->Collect()); });
    } catch (const std::exception& e) {
      s_->in_progress.fetch_sub(1);
      Log(LogLevel::kError, std::string("serializing metrics: ") + e.what());
      Respond(c, 500, "Internal Server Error", "text/plain; charset=utf-8", "internal error\n");
      return true;
    }
    s_->in_progress.fetch_sub(1);
    Respond(c, 200, "OK", type, body);
    return true;
  }

  bool NotFound(mg_connection* c, bool head = false) {
    Respond(c, 404, "Not Found", "text/plain; charset=utf-8", "not found\n", "", head);
    return true;
  }
  HttpServer::State* s_;

 private:
  bool Handle(mg_connection* c, Method m) {
    const auto& auth = s_->options.auth;
    if (auth && !auth->disabled()) {
      switch (auth->Check(mg_get_header(c, "Authorization"))) {
        case AuthResult::kOk:
          break;
        case AuthResult::kBusy:
          s_->rejected.Add(RejectReason::kBcryptLimit);
          Respond(c, 503, "Service Unavailable", "text/plain; charset=utf-8",
                  "too many authentication checks in progress, try again\n", "Retry-After: 1\r\n",
                  m == Method::kHead);
          return true;
        case AuthResult::kDenied:
          s_->rejected.Add(RejectReason::kUnauthorized);
          Respond(c, 401, "Unauthorized", "text/plain; charset=utf-8", "Unauthorized\n",
                  "WWW-Authenticate: Basic realm=\"sockstate_exporter\", charset=\"UTF-8\"\r\n",
                  m == Method::kHead);
          return true;
      }
    }
    if (!Serve(c, m)) {
      Respond(c, 405, "Method Not Allowed", "text/plain; charset=utf-8", "method not allowed\n",
              "Allow: " + allow_ + "\r\n", m == Method::kHead);
    }
    return true;
  }
  std::string allow_;
};

// A page rendered from a scrape, at one path, for GET and HEAD: /metrics (the text format) and
// "/" (the fullest destinations and the kernel settings, http/landing_page.h). Both count
// against --web.max-requests.
class ScrapePageHandler : public Handler {
 public:
  using Render = std::function<std::string(std::vector<prometheus::MetricFamily>)>;
  ScrapePageHandler(HttpServer::State* s, std::string path, std::string type, Render render)
      : Handler(s, "GET, HEAD"),
        path_(std::move(path)),
        type_(std::move(type)),
        render_(std::move(render)) {}

 private:
  bool Serve(mg_connection* c, Method m) override {
    if (m != Method::kGet && m != Method::kHead) return false;
    const bool head = m == Method::kHead;
    if (path_ != Uri(c)) return NotFound(c, head);
    return ServeScrape(c, head, type_, render_);
  }
  const std::string path_;
  const std::string type_;
  const Render render_;
};

class ReloadHandler : public Handler {
 public:
  explicit ReloadHandler(HttpServer::State* s) : Handler(s, "POST, PUT") {}

 private:
  bool Serve(mg_connection* c, Method m) override {
    if (m != Method::kPost && m != Method::kPut) return false;
    if (std::strcmp(Uri(c), "/-/reload") != 0) return NotFound(c);
    Status st = Status::Error("reload not available");
    if (s_->options.reload) {
      try {
        st = OnFullStack([this] { return s_->options.reload(); });
      } catch (const std::exception& e) {
        st = Status::Error(std::string("reload: ") + e.what());
      }
    }
    if (st.ok()) {
      Respond(c, 200, "OK", "text/plain; charset=utf-8", "config reloaded\n");
    } else {
      Respond(c, 500, "Internal Server Error", "text/plain; charset=utf-8",
              "config reload failed, old config kept: " + st.message() + "\n");
    }
    return true;
  }
};

int InitSsl(void* ssl_ctx, void* user_data) {
  auto* server = static_cast<CivetServer*>(user_data);
  const auto* state = static_cast<const HttpServer::State*>(server->getUserContext());
  if (state == nullptr || !state->options.tls) return -1;
  return ConfigureSslContext(ssl_ctx, *state->options.tls);
}

int LogMessage(const mg_connection*, const char* message) {
  // civetweb reports failed handshakes and broken clients here: debug, so scanners and
  // plain-HTTP probes of the TLS port cannot flood the log.
  Log(LogLevel::kDebug, std::string("civetweb: ") + (message ? message : ""));
  return 1;
}

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

Result<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpOptions& options, std::shared_ptr<prometheus::Collectable> metrics) {
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
  server->state_->metrics = std::move(metrics);
  if (options.request_timeout_ms <= 0) return Status::Error("request timeout must be > 0");
  const int threads = options.threads > 0 ? options.threads : kDefaultThreads;
  if (threads < std::max(options.max_requests, 1) + 2) {
    return Status::Error("web.max-connections " + std::to_string(threads) +
                         " must exceed web.max-requests " + std::to_string(options.max_requests) +
                         " by at least 2");
  }
  if (options.tls) {
    Status st = PrepareCivetwebTls(options.tls_compat_lib);
    if (!st.ok()) return st;
  }
  std::vector<std::string> civet = {
      "listening_ports",
      *listen + (options.tls ? "s" : ""),
      "num_threads",
      std::to_string(threads),
      // Bounds reading the request headers (slow or idle clients) and each send.
      "request_timeout_ms",
      std::to_string(options.request_timeout_ms),
      "enable_directory_listing",
      "no",
      "enable_keep_alive",
      "no",
      // Accepted connections waiting for a worker (civetweb's queue; the kernel backlog
      // holds the rest). Bounded, so memory does not grow with a connection flood.
      "connection_queue",
      "64",
      "listen_backlog",
      "1024",
      "max_request_size",
      "16384",
  };
  if (options.tls) {
    // The certificate comes from our init_ssl callback; these keep civetweb's own
    // defaults (TLS1.2+, no SSL verification of its own) out of the way.
    civet.insert(civet.end(), {"ssl_protocol_version", "4", "ssl_verify_peer", "no"});
  }
  CivetCallbacks callbacks;  // zero-initialized by its constructor
  callbacks.log_message = LogMessage;
  if (options.tls) callbacks.init_ssl = InitSsl;
  try {
    server->server_ = std::make_unique<CivetServer>(civet, &callbacks, server->state_.get());
  } catch (const std::exception& e) {
    return Status::Error("cannot listen on " + options.listen_address +
                         (options.tls ? " with TLS" : "") + ": " + e.what());
  }
  auto add = [&](const std::string& uri, CivetHandler* h) {
    server->handlers_.emplace_back(h);
    server->server_->addHandler(uri, h);
  };
  HttpServer::State* state = server->state_.get();
  add(options.telemetry_path,
      new ScrapePageHandler(state, options.telemetry_path,
                            "text/plain; version=0.0.4; charset=utf-8",
                            [state](std::vector<prometheus::MetricFamily> families) {
                              MergeFamilies(families, state->rejected.Collect());
                              return prometheus::TextSerializer().Serialize(families);
                            }));
  const LandingPageInfo info{options.telemetry_path, kVersion, kRevision};
  add("/", new ScrapePageHandler(state, "/", "text/html; charset=utf-8",
                                 [info](std::vector<prometheus::MetricFamily> families) {
                                   return RenderLandingPage(families, info);
                                 }));
  if (options.enable_lifecycle) add("/-/reload", new ReloadHandler(server->state_.get()));
  return server;
}

HttpServer::~HttpServer() {
  if (server_) server_->close();  // stops worker threads before handlers go away
}

std::vector<int> HttpServer::ports() const { return server_->getListeningPorts(); }

const RejectedRequests& HttpServer::rejected() const { return state_->rejected; }

}  // namespace sockstate
