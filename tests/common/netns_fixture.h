#pragma once
// TestNetns: a throwaway network namespace for real-kernel tests (root), with helpers that
// build exact TCP socket populations on loopback and count them independently (ss, /proc).
//
// Typical use:
//   sockstate::testing::TestNetns ns;                 // `ip netns add sst-<pid>-<n>`, lo up
//   int l = ns.Listen("127.0.0.1", 0);                // owned by ns, closed in ~TestNetns
//   auto p = ns.Connect(l, "127.0.0.1", ns.LocalPort(l));   // ESTABLISHED pair
//   ns.MakeTimeWait(l, "127.0.0.1", ns.LocalPort(l), 10);    // +10 TIME_WAIT (client side)
//   EXPECT_EQ(ns.SsCounts()["time_wait"], 10);
//   ns.Run([&] { /* this thread is inside the namespace: open netlink sockets here */ });
//
// Rules:
// - Loopback only (127.0.0.0/8, ::1, ::ffff:127.0.0.x); nothing leaves the namespace.
// - Every socket the fixture creates lives in the namespace (created on a helper thread that
//   entered it) and is owned by the fixture: closed by Close() or the destructor. The
//   destructor also deletes the namespace, which purges its TIME_WAIT sockets, so tests never
//   leak state into each other. Namespaces left by a crashed run (same prefix, dead pid) are
//   deleted by the first constructor of a process (this assumes every test runner sharing
//   /var/run/netns also shares the pid namespace, as on one CI host or container).
// - Every wait is bounded (5 s for a connect/accept/EOF, 10 s for the kernel to show a state,
//   10 s for an `ip`/`ss` command); a timeout throws std::runtime_error saying what was
//   awaited. Run() is the exception: it waits for `fn` however long it takes.
// - Failures throw std::runtime_error (command output / errno text included); gtest reports
//   an exception escaping a test as a failure.
// - Thread-safety: all methods may be called from any thread, including from inside Run();
//   the fixture serialises its own bookkeeping.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sockstate::testing {

/// Output and exit status of a command run by RunCommand. Plain value.
struct CommandResult {
  int exit_code = -1;      // exit status, or -1 when it did not exit normally / timed out
  bool timed_out = false;  // killed after the timeout
  std::string output;      // stdout and stderr interleaved
};

/// Runs argv (argv[0] looked up in PATH) with fork/exec, stdin from /dev/null and stdout +
/// stderr captured; SIGKILLs it after `timeout`. Never throws for a failing command (only for
/// pipe/fork failures). Thread-safe.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Per-state socket counts keyed by the exporter's state names ("time_wait"). Only states
/// with at least one socket are present; use operator[] / Count() to read zero.
using StateCounts = std::map<std::string, int>;

/// Value of `state` in `counts`, 0 when absent. Thread-safe.
int Count(const StateCounts& counts, const std::string& state);

/// Maps an ss state column ("ESTAB", "TIME-WAIT", "UNCONN", ...) to the exporter's state name
/// ("established", "time_wait", "close", ...). Unknown names are lower-cased with '-' -> '_'.
/// Thread-safe.
std::string NormaliseSsState(const std::string& ss_state);

/// A network namespace that exists for the lifetime of the object, with owned loopback TCP
/// sockets inside it. Thread-safe (see the file comment); not copyable or movable.
class TestNetns {
 public:
  /// Creates `<prefix>-<pid>-<counter>` with `ip netns add` and brings lo up inside it.
  /// Throws std::runtime_error (with the command output) on failure.
  explicit TestNetns(const std::string& prefix = "sst");
  /// Closes every fd the fixture owns, stops its helper thread and deletes the namespace
  /// (`ip netns del`). Never throws; failures are printed to stderr.
  ~TestNetns();
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  /// Namespace name as given to `ip netns`.
  const std::string& name() const { return name_; }
  /// Bind-mount path of the namespace: /var/run/netns/<name>.
  std::string path() const;

  /// Runs `fn` on a fresh thread that has entered the namespace (setns CLONE_NEWNET); sockets
  /// it creates live in the namespace. Waits for it and rethrows its exception, if any.
  void Run(const std::function<void()>& fn);

  /// Writes /proc/sys/<key with '.' -> '/'> inside the namespace, e.g.
  /// SetSysctl("net.ipv4.ip_local_port_range", "40000 40009"). Throws on error.
  void SetSysctl(const std::string& key, const std::string& value);
  /// Reads a sysctl inside the namespace, trailing newline removed (tabs kept as the kernel
  /// prints them: "32768\t60999"). Throws on error.
  std::string GetSysctl(const std::string& key);

  /// A listening TCP socket on addr ("127.0.0.1", "::1", "::") and port (0 = kernel's
  /// choice), SO_REUSEADDR, non-blocking (accept through Accept/Connect). `v6only` sets
  /// IPV6_V6ONLY on IPv6 listeners (false on "::" gives a dual-stack listener). Owned fd.
  int Listen(const std::string& addr, uint16_t port, int backlog = 4096, bool v6only = true);

  /// Local port of a socket (getsockname), host order. Throws on error.
  uint16_t LocalPort(int fd) const;

  /// A connected pair: both fds owned by the fixture, blocking.
  struct Pair {
    int client = -1;
    int server = -1;
  };

  /// Connects a new client to dst_addr:dst_port (dst_port 0 = the listener's port) and accepts
  /// exactly that connection on `listener_fd` (other pending connections are kept for
  /// Accept()). The client family follows dst_addr: "::ffff:127.0.0.1" gives an IPv6 socket
  /// with IPv4-mapped addresses. `src_addr` (optional) is bound with port 0 and
  /// IP_BIND_ADDRESS_NO_PORT. Throws on failure or after 5 s.
  Pair Connect(int listener_fd, const std::string& dst_addr, uint16_t dst_port,
               const std::string& src_addr = "");

  /// Connects without accepting. Returns the client fd (owned) or -errno: -EADDRNOTAVAIL when
  /// no ephemeral port is left, -ECONNREFUSED, -ETIMEDOUT after 5 s (e.g. full backlog).
  int TryConnect(const std::string& dst_addr, uint16_t dst_port, const std::string& src_addr = "");

  /// Accepts one pending connection (waiting up to 5 s). Owned fd; throws on timeout.
  int Accept(int listener_fd);

  /// Closes an owned fd and forgets it. Throws std::logic_error for an fd it does not own.
  void Close(int fd);

  /// Creates `n` connections through `listener_fd` that end in TIME_WAIT: on the client side
  /// (client closes first) or on the server side. All their fds are closed. Returns once the
  /// kernel shows n more TIME_WAIT sockets and no LAST_ACK/FIN_WAIT1/CLOSING leftovers
  /// (throws after 10 s).
  void MakeTimeWait(int listener_fd, const std::string& dst_addr, uint16_t dst_port, int n,
                    bool client_closes_first = true);

  /// Creates `n` connections where the server closes first and the client keeps its fd:
  /// client CLOSE_WAIT, server FIN_WAIT2. By default the server fd is closed, so the server
  /// side is an orphaned FIN_WAIT2 timewait minisocket (uid/inode 0, gone after
  /// tcp_fin_timeout, 60 s); with `server_keeps_fd` the server only shuts down writing and
  /// stays a full FIN_WAIT2 socket until closed. Returns the pairs (server -1 when closed).
  /// Waits like MakeTimeWait.
  std::vector<Pair> MakeCloseWait(int listener_fd, const std::string& dst_addr, uint16_t dst_port,
                                  int n, bool server_keeps_fd = false);

  /// `ip netns exec <name> ss -Htan`: TCP sockets by state (exporter names). ss shows
  /// IPv4-mapped sockets as IPv6. Throws if ss fails.
  StateCounts SsCounts();
  /// Same split by `ss -4` ("ipv4") and `ss -6` ("ipv6"); both keys always present.
  std::map<std::string, StateCounts> SsCountsByFamily();
  /// TCP sockets by state from /proc/net/tcp + tcp6 read inside the namespace (no process
  /// spawned; what the waits poll).
  StateCounts ProcCounts();

 private:
  int NsSocket(int domain);                      // socket() inside the namespace, owned
  void Exec(const std::function<void()>& task);  // runs task on the helper thread
  void WorkerLoop();
  void Adopt(int fd);
  int ConnectOrErrno(const std::string& dst_addr, uint16_t dst_port, const std::string& src_addr);
  int AcceptPeer(int listener_fd, int client_fd);  // accept the connection of client_fd
  void WaitForCounts(const std::function<bool(const StateCounts&)>& done, const std::string& what);
  void Cleanup() noexcept;

  std::string name_;
  int ns_fd_ = -1;

  mutable std::mutex mu_;  // guards fds_ and unclaimed_
  std::set<int> fds_;
  std::multimap<int, int> unclaimed_;  // listener fd -> accepted fd not yet handed out

  std::mutex worker_mu_;
  std::condition_variable worker_cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace sockstate::testing
