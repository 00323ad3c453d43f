#include "netns_fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>

#include "kernel/socket_record.h"
#include "test_util.h"
#include "util/file_util.h"

namespace sockstate::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kIoTimeout = std::chrono::seconds(5);
constexpr auto kStateTimeout = std::chrono::seconds(10);
constexpr char kNetnsDir[] = "/var/run/netns";

[[noreturn]] void ThrowErrno(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + ErrnoText(err));
}

int RemainingMs(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return ms.count() < 0 ? 0 : static_cast<int>(ms.count());
}

// Polls fd for `events` until the deadline; EINTR-safe. Returns revents, 0 on timeout.
short PollUntil(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, RemainingMs(deadline));
    if (r > 0) return p.revents;
    if (r == 0) return 0;
    if (errno != EINTR) ThrowErrno("poll", errno);
  }
}

sockaddr_storage ParseAddr(const std::string& host, uint16_t port, socklen_t* len) {
  sockaddr_storage ss;
  if (!MakeSockaddr(host, port, &ss, len)) {
    throw std::invalid_argument("not an IPv4/IPv6 literal: '" + host + "'");
  }
  return ss;
}

// An endpoint in IPv6 form (IPv4 as ::ffff:a.b.c.d) so a v4 client matches the peer address
// a dual-stack listener reports.
struct Endpoint {
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

Endpoint ToEndpoint(const sockaddr_storage& ss) {
  Endpoint e;
  if (ss.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    e.addr[10] = e.addr[11] = 0xff;
    std::memcpy(&e.addr[12], &v4->sin_addr, 4);
    e.port = ntohs(v4->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    std::memcpy(e.addr.data(), &v6->sin6_addr, 16);
    e.port = ntohs(v6->sin6_port);
  }
  return e;
}

Endpoint LocalEndpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ThrowErrno("getsockname", errno);
  }
  return ToEndpoint(ss);
}

void SetBlocking(int fd, bool blocking) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) ThrowErrno("fcntl(F_GETFL)", errno);
  flags = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) != 0) ThrowErrno("fcntl(F_SETFL)", errno);
}

std::string SysctlPath(const std::string& key) {
  if (key.empty() || key.find("..") != std::string::npos || key.find('/') != std::string::npos) {
    throw std::invalid_argument("bad sysctl key '" + key + "'");
  }
  std::string path = "/proc/sys/" + key;
  for (size_t i = 10; i < path.size(); ++i) {
    if (path[i] == '.') path[i] = '/';
  }
  return path;
}

std::string Quote(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// `ip ...`, throwing with the output on failure.
void RunIp(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) {
    throw std::runtime_error(
        "`" + Quote(argv) + "` failed (" +
        (r.timed_out ? std::string("timed out") : "exit " + std::to_string(r.exit_code)) +
        "): " + r.output);
  }
}

// Deletes namespaces `<prefix>-<pid>-<n>` whose pid is gone (left by a crashed test run).
void DeleteStaleNamespaces(const std::string& prefix) {
  DIR* dir = opendir(kNetnsDir);
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(dir)) {
    std::string n = e->d_name;
    if (n.rfind(prefix + "-", 0) != 0) continue;
    std::string rest = n.substr(prefix.size() + 1);
    size_t dash = rest.find('-');
    if (dash == std::string::npos || dash == 0) continue;
    std::string pid_text = rest.substr(0, dash);
    if (pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == getpid()) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(n);
  }
  closedir(dir);
  for (const auto& n : stale) RunCommand({"ip", "netns", "del", n});
}

void CountProcNetTcp(const std::string& path, StateCounts* counts) {
  std::ifstream in(path);
  if (!in) return;  // tcp6 absent when IPv6 is disabled
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string sl, local, remote, st;
    if (!(ls >> sl >> local >> remote >> st)) continue;
    unsigned state = std::stoul(st, nullptr, 16);
    std::string name(TcpStateName(static_cast<uint8_t>(state)));
    ++(*counts)[name.empty() ? "state_" + std::to_string(state) : name];
  }
}

StateCounts ParseSs(const std::string& output) {
  StateCounts counts;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string state;
    if (ls >> state) ++counts[NormaliseSsState(state)];
  }
  return counts;
}

std::string FormatCounts(const StateCounts& c) {
  std::string s = "{";
  for (const auto& [k, v] : c) s += (s.size() > 1 ? " " : "") + k + "=" + std::to_string(v);
  return s + "}";
}

std::atomic<int> g_counter{0};

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty()) throw std::invalid_argument("RunCommand: empty argv");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) ThrowErrno("pipe2", errno);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    ThrowErrno("fork", err);
  }
  if (pid == 0) {  // child: async-signal-safe calls only
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    execvp(cargv[0], cargv.data());
    static const char kMsg[] = "exec failed\n";
    (void)!write(2, kMsg, sizeof(kMsg) - 1);
    _exit(127);
  }
  close(pipefd[1]);
  CommandResult r;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    pollfd p{pipefd[0], POLLIN, 0};
    int pr = poll(&p, 1, RemainingMs(deadline));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) {
      r.timed_out = true;
      break;
    }
    ssize_t n = read(pipefd[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.output.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  if (r.timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

int Count(const StateCounts& counts, const std::string& state) {
  auto it = counts.find(state);
  return it == counts.end() ? 0 : it->second;
}

std::string NormaliseSsState(const std::string& s) {
  static const std::map<std::string, std::string> kNames = {{"ESTAB", "established"},
                                                            {"SYN-SENT", "syn_sent"},
                                                            {"SYN-RECV", "syn_recv"},
                                                            {"FIN-WAIT-1", "fin_wait1"},
                                                            {"FIN-WAIT-2", "fin_wait2"},
                                                            {"TIME-WAIT", "time_wait"},
                                                            {"CLOSE", "close"},
                                                            {"UNCONN", "close"},
                                                            {"CLOSE-WAIT", "close_wait"},
                                                            {"LAST-ACK", "last_ack"},
                                                            {"LISTEN", "listen"},
                                                            {"CLOSING", "closing"},
                                                            {"BOUND-INACTIVE", "bound_inactive"}};
  auto it = kNames.find(s);
  if (it != kNames.end()) return it->second;
  std::string out = s;
  for (char& c : out) c = c == '-' ? '_' : static_cast<char>(std::tolower(c));
  return out;
}

TestNetns::TestNetns(const std::string& prefix) {
  static std::once_flag stale_once;
  std::call_once(stale_once, [&] { DeleteStaleNamespaces(prefix); });
  name_ = prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(g_counter++);
  RunIp({"netns", "add", name_});
  try {
    RunIp({"-n", name_, "link", "set", "lo", "up"});
    ns_fd_ = open(path().c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd_ < 0) ThrowErrno("open " + path(), errno);
    std::promise<int> entered;
    auto entered_future = entered.get_future();
    worker_ = std::thread([this, &entered] {
      if (setns(ns_fd_, CLONE_NEWNET) != 0) {
        entered.set_value(errno);
        return;
      }
      entered.set_value(0);
      WorkerLoop();
    });
    if (int err = entered_future.get(); err != 0) {
      worker_.join();
      ThrowErrno("setns " + path(), err);
    }
  } catch (...) {
    Cleanup();
    throw;
  }
}

TestNetns::~TestNetns() { Cleanup(); }

void TestNetns::Cleanup() noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) close(fd);
    fds_.clear();
    unclaimed_.clear();
  }
  if (worker_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(worker_mu_);
      stop_ = true;
    }
    worker_cv_.notify_all();
    worker_.join();
  }
  if (ns_fd_ >= 0) {
    close(ns_fd_);
    ns_fd_ = -1;
  }
  if (!name_.empty()) {
    try {
      CommandResult r = RunCommand({"ip", "netns", "del", name_});
      if (r.exit_code != 0) {
        fprintf(stderr, "TestNetns: `ip netns del %s` failed: %s\n", name_.c_str(),
                r.output.c_str());
      }
    } catch (const std::exception& e) {
      fprintf(stderr, "TestNetns: `ip netns del %s`: %s\n", name_.c_str(), e.what());
    }
  }
}

std::string TestNetns::path() const { return std::string(kNetnsDir) + "/" + name_; }

void TestNetns::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(worker_mu_);
      worker_cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stop_ and nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void TestNetns::Exec(const std::function<void()>& task) {
  if (std::this_thread::get_id() == worker_.get_id()) {  // re-entrant use from a task
    task();
    return;
  }
  std::promise<void> done;
  auto future = done.get_future();
  {
    std::lock_guard<std::mutex> lock(worker_mu_);
    tasks_.emplace_back([&task, &done] {
      try {
        task();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
  }
  worker_cv_.notify_one();
  future.get();  // tasks are short syscalls (socket(), /proc reads): no timeout needed
}

void TestNetns::Run(const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread t([&] {
    try {
      if (setns(ns_fd_, CLONE_NEWNET) != 0) ThrowErrno("setns " + path(), errno);
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

void TestNetns::SetSysctl(const std::string& key, const std::string& value) {
  const std::string p = SysctlPath(key);
  Exec([&] {
    int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("open " + p, errno);
    ssize_t n = write(fd, value.data(), value.size());
    int err = errno;
    close(fd);
    if (n != static_cast<ssize_t>(value.size())) ThrowErrno("write '" + value + "' to " + p, err);
  });
}

std::string TestNetns::GetSysctl(const std::string& key) {
  const std::string p = SysctlPath(key);
  std::string value;
  Exec([&] {
    std::ifstream in(p);
    if (!in) ThrowErrno("open " + p, errno);
    std::stringstream ss;
    ss << in.rdbuf();
    value = ss.str();
  });
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

void TestNetns::Adopt(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  fds_.insert(fd);
}

int TestNetns::NsSocket(int domain) {
  int fd = -1;
  Exec([&] {
    fd = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) ThrowErrno("socket", errno);
  });
  Adopt(fd);
  return fd;
}

int TestNetns::Listen(const std::string& addr, uint16_t port, int backlog, bool v6only) {
  socklen_t len;
  sockaddr_storage ss = ParseAddr(addr, port, &len);
  int fd = NsSocket(ss.ss_family);
  const int one = 1, v6 = v6only ? 1 : 0;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    ThrowErrno("SO_REUSEADDR", errno);
  }
  if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6))) {
    ThrowErrno("IPV6_V6ONLY", errno);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ThrowErrno("bind [" + addr + "]:" + std::to_string(port), errno);
  }
  if (listen(fd, backlog) != 0) ThrowErrno("listen", errno);
  SetBlocking(fd, false);
  return fd;
}

uint16_t TestNetns::LocalPort(int fd) const { return LocalEndpoint(fd).port; }

int TestNetns::ConnectOrErrno(const std::string& dst_addr, uint16_t dst_port,
                              const std::string& src_addr) {
  socklen_t len;
  sockaddr_storage dst = ParseAddr(dst_addr, dst_port, &len);
  int fd = NsSocket(dst.ss_family);
  auto fail = [&](int err) {
    Close(fd);
    return -err;
  };
  if (!src_addr.empty()) {
    socklen_t src_len;
    sockaddr_storage src = ParseAddr(src_addr, 0, &src_len);
    const int one = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) != 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&src), src_len) != 0) {
      return fail(errno);
    }
  }
  SetBlocking(fd, false);
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), len) != 0) {
    if (errno != EINPROGRESS) return fail(errno);
    short ev = PollUntil(fd, POLLOUT, Clock::now() + kIoTimeout);
    if (ev == 0) return fail(ETIMEDOUT);
    int soerr = 0;
    socklen_t l = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) != 0) return fail(errno);
    if (soerr != 0) return fail(soerr);
  }
  SetBlocking(fd, true);
  return fd;
}

int TestNetns::TryConnect(const std::string& dst_addr, uint16_t dst_port,
                          const std::string& src_addr) {
  return ConnectOrErrno(dst_addr, dst_port, src_addr);
}

int TestNetns::AcceptPeer(int listener_fd, int client_fd) {
  const Endpoint want = client_fd >= 0 ? LocalEndpoint(client_fd) : Endpoint{};
  auto matches = [&](int accepted) {
    if (client_fd < 0) return true;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getpeername(accepted, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
    return ToEndpoint(ss) == want;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto range = unclaimed_.equal_range(listener_fd);
    for (auto it = range.first; it != range.second; ++it) {
      if (matches(it->second)) {
        int fd = it->second;
        unclaimed_.erase(it);
        return fd;
      }
    }
  }
  const auto deadline = Clock::now() + kIoTimeout;
  for (;;) {
    int fd = accept4(listener_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      Adopt(fd);
      if (matches(fd)) return fd;
      std::lock_guard<std::mutex> lock(mu_);
      unclaimed_.emplace(listener_fd, fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) ThrowErrno("accept", errno);
    if (PollUntil(listener_fd, POLLIN, deadline) == 0) {
      throw std::runtime_error("accept on listener port " + std::to_string(LocalPort(listener_fd)) +
                               ": no matching connection within 5 s");
    }
  }
}

int TestNetns::Accept(int listener_fd) { return AcceptPeer(listener_fd, -1); }

TestNetns::Pair TestNetns::Connect(int listener_fd, const std::string& dst_addr, uint16_t dst_port,
                                   const std::string& src_addr) {
  if (dst_port == 0) dst_port = LocalPort(listener_fd);
  int client = ConnectOrErrno(dst_addr, dst_port, src_addr);
  if (client < 0) {
    throw std::runtime_error("connect to [" + dst_addr + "]:" + std::to_string(dst_port) +
                             (src_addr.empty() ? "" : " from " + src_addr) + ": " +
                             ErrnoText(-client));
  }
  return Pair{client, AcceptPeer(listener_fd, client)};
}

void TestNetns::Close(int fd) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fds_.erase(fd) == 0) {
      throw std::logic_error("TestNetns::Close: fd " + std::to_string(fd) + " is not owned");
    }
    for (auto it = unclaimed_.begin(); it != unclaimed_.end();) {
      it = it->second == fd ? unclaimed_.erase(it) : std::next(it);
    }
  }
  close(fd);
}

void TestNetns::WaitForCounts(const std::function<bool(const StateCounts&)>& done,
                              const std::string& what) {
  const auto deadline = Clock::now() + kStateTimeout;
  StateCounts c;
  for (;;) {
    c = ProcCounts();
    if (done(c)) return;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw std::runtime_error("TestNetns " + name_ + ": timed out after 10 s waiting for " + what +
                           "; kernel shows " + FormatCounts(c));
}

void TestNetns::MakeTimeWait(int listener_fd, const std::string& dst_addr, uint16_t dst_port, int n,
                             bool client_closes_first) {
  const StateCounts before = ProcCounts();
  for (int i = 0; i < n; ++i) {
    Pair p = Connect(listener_fd, dst_addr, dst_port);
    const int first = client_closes_first ? p.client : p.server;
    const int second = client_closes_first ? p.server : p.client;
    Close(first);
    if ((PollUntil(second, POLLIN | POLLRDHUP, Clock::now() + kIoTimeout) &
         (POLLIN | POLLRDHUP | POLLHUP)) == 0) {
      throw std::runtime_error("MakeTimeWait: no FIN seen within 5 s");
    }
    Close(second);
  }
  WaitForCounts(
      [&](const StateCounts& c) {
        return Count(c, "time_wait") >= Count(before, "time_wait") + n &&
               Count(c, "last_ack") <= Count(before, "last_ack") &&
               Count(c, "fin_wait1") <= Count(before, "fin_wait1") &&
               Count(c, "closing") <= Count(before, "closing");
      },
      std::to_string(n) + " more time_wait (before: " + FormatCounts(before) + ")");
}

std::vector<TestNetns::Pair> TestNetns::MakeCloseWait(int listener_fd, const std::string& dst_addr,
                                                      uint16_t dst_port, int n,
                                                      bool server_keeps_fd) {
  const StateCounts before = ProcCounts();
  std::vector<Pair> pairs;
  for (int i = 0; i < n; ++i) {
    Pair p = Connect(listener_fd, dst_addr, dst_port);
    if (server_keeps_fd) {
      if (shutdown(p.server, SHUT_WR) != 0) ThrowErrno("shutdown", errno);
    } else {
      Close(p.server);
      p.server = -1;
    }
    if ((PollUntil(p.client, POLLIN | POLLRDHUP, Clock::now() + kIoTimeout) &
         (POLLIN | POLLRDHUP | POLLHUP)) == 0) {
      throw std::runtime_error("MakeCloseWait: no FIN seen within 5 s");
    }
    pairs.push_back(p);
  }
  WaitForCounts(
      [&](const StateCounts& c) {
        return Count(c, "close_wait") >= Count(before, "close_wait") + n &&
               Count(c, "fin_wait2") >= Count(before, "fin_wait2") + n &&
               Count(c, "fin_wait1") <= Count(before, "fin_wait1");
      },
      std::to_string(n) + " more close_wait + fin_wait2 (before: " + FormatCounts(before) + ")");
  return pairs;
}

StateCounts TestNetns::SsCounts() {
  std::vector<std::string> argv = {"ip", "netns", "exec", name_, "ss", "-Htan"};
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) {
    throw std::runtime_error("`" + Quote(argv) + "` failed: " + r.output);
  }
  return ParseSs(r.output);
}

std::map<std::string, StateCounts> TestNetns::SsCountsByFamily() {
  std::map<std::string, StateCounts> out;
  for (const auto& [family, flag] :
       std::vector<std::pair<std::string, std::string>>{{"ipv4", "-4"}, {"ipv6", "-6"}}) {
    std::vector<std::string> argv = {"ip", "netns", "exec", name_, "ss", "-Htan", flag};
    CommandResult r = RunCommand(argv);
    if (r.exit_code != 0) {
      throw std::runtime_error("`" + Quote(argv) + "` failed: " + r.output);
    }
    out[family] = ParseSs(r.output);
  }
  return out;
}

StateCounts TestNetns::ProcCounts() {
  StateCounts counts;
  Exec([&] {
    CountProcNetTcp("/proc/thread-self/net/tcp", &counts);
    CountProcNetTcp("/proc/thread-self/net/tcp6", &counts);
  });
  return counts;
}

}  // namespace sockstate::testing
