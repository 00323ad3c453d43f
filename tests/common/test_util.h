#pragma once
// Helpers shared by the test tiers: a minimal HTTP/1.0 client for loopback, a parser of the
// Prometheus text format into exact series -> value maps, and process helpers.

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sockstate::testing {

struct HttpResponse {
  int status = 0;  // 0 when the request failed
  std::string headers;
  std::string body;
  std::string error;
};

/// GET (or another method) http://host:port/path over a new TCP connection, bounded by
/// `timeout`. IPv4 or IPv6 literal host.
HttpResponse HttpGet(const std::string& host, int port, const std::string& path,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10),
                     const std::string& method = "GET");

/// Parsed exposition: key is the series as printed with labels sorted by name
/// (`sockstate_tcp_sockets{family="ipv4",state="listen"}`), value the sample value.
using Series = std::map<std::string, double>;
Series ParseExposition(const std::string& text);

/// Value of a series or NaN when absent. `labels` like {"family","ipv4"},{"state","listen"}.
double Get(const Series& s, const std::string& name,
           const std::vector<std::pair<std::string, std::string>>& labels = {});
/// True when some series has that name (with any labels).
bool HasMetric(const Series& s, const std::string& name);

/// An address literal ("10.0.0.1" or "fd00::1", IPv6 when it has a ':') in SocketRecord layout
/// (network order, IPv4 in bytes 0..3, the rest zero); all zero when the text is not an address.
std::array<uint8_t, 16> Addr(const std::string& text);

/// The socket address of an IPv4 or IPv6 literal and a port (host order), with its length in
/// `len` for bind/connect/sendto. False when `host` is neither literal.
bool MakeSockaddr(const std::string& host, uint16_t port, sockaddr_storage* ss, socklen_t* len);

/// A bcrypt hash ("$2y$<cost>$...") of `password` with a fresh salt, as htpasswd -B writes it;
/// cost 4 keeps tests fast.
std::string BcryptHash(const std::string& password, int cost = 4);

/// Reads the whole file; throws on error.
std::string ReadFile(const std::string& path);

/// A child process started with fork/exec; killed (SIGTERM then SIGKILL) on destruction.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Stop(); }
  /// argv[0] is the program path. stderr (and stdout) go to `log_path` if not empty.
  bool Start(const std::vector<std::string>& argv, const std::string& log_path = "");
  /// SIGTERM, wait up to 5 s, then SIGKILL. Returns the exit status from waitpid, or -1.
  int Stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

/// A free TCP port on 127.0.0.1 (bind to 0, read it back, close).
int FreeLoopbackPort();

/// Polls GET url until it answers 200 or the deadline passes.
bool WaitForHttp(const std::string& host, int port, const std::string& path,
                 std::chrono::milliseconds deadline);

}  // namespace sockstate::testing
