// loadgen: builds a population of TCP sockets on loopback inside a network namespace.
//
//   loadgen --netns NAME --established N --time-wait M [--ipv6-fraction F]
//           [--destinations D] [--sources S] [--holders H] [--timeout SEC]
//
// * Enters /var/run/netns/NAME (setns) unless --netns is empty (then it uses the current one).
// * Sets the namespace's sysctls it needs (the namespace starts from kernel defaults):
//   ip_local_port_range 1024 65535, tcp_max_tw_buckets, somaxconn, tcp_max_syn_backlog,
//   tcp_tw_reuse 0 (so TIME_WAIT sockets are not recycled and stay level). Brings lo up.
// * Listeners ("destinations") on 127.0.0.x and ::1, ports below 1024 (outside the ephemeral
//   range, so they hold no ephemeral port). Sources 127.0.1.x (bind with
//   IP_BIND_ADDRESS_NO_PORT, so the port is picked per 4-tuple by connect()).
//   Tuples (src, dst, dport) = S x D for IPv4 when N/2 >= S*D.
// * H holder processes each connect+accept a slice of the N/2 connections (both ends are fds
//   of the holder: 2 fds per connection, so a holder holds <= (RLIMIT_NOFILE - D - margin)/2).
//   ESTABLISHED total = N exactly (N is rounded down to even).
// * One or two TIME_WAIT processes keep ~M TIME_WAIT sockets: each reads the namespace's tw
//   count from /proc/net/sockstat every 50 ms and opens+closes (client closes first) connections
//   to its own listeners (127.0.3.x:81+w, ::1:81+w) from 127.0.2.x to top up its share. In steady
//   state that is M/60 per second.
// * Prints "READY established=X time_wait=Y" on stdout when reached, then holds until
//   SIGTERM/SIGINT or EOF on stdin (stdin is watched only if it is a pipe or a tty).
// * Every socket has SO_LINGER {1,0}: teardown sends RST and leaves no TIME_WAIT behind.
// * Bounded: gives up (exit 2) if the population is not reached within --timeout seconds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string netns;
  long long established = 10000;
  long long time_wait = 0;
  double ipv6_fraction = 0.1;
  int destinations = 1000;
  int sources = 100;
  int holders = 0;  // 0 = as few as the fd limit allows
  int timeout_s = 300;
};

constexpr int kListenPortBase = 100;  // IPv4 destinations: 127.0.0.(1..250) x ports 100..
constexpr int kAddrsPerPort = 250;
constexpr int kTwPort = 81;  // TIME_WAIT generator's own listeners
constexpr int kTwDsts = 16;  // 127.0.3.1..16
constexpr int kTwSrcs = 16;  // 127.0.2.1..16
constexpr int kFdMargin = 64;

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

[[noreturn]] void die(const char* what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  _exit(2);
}

void usage() {
  fprintf(stderr,
          "usage: loadgen --netns NAME --established N --time-wait M [--ipv6-fraction F]\n"
          "               [--destinations D] [--sources S] [--holders H] [--timeout SEC]\n");
  exit(2);
}

bool write_file(const char* path, const std::string& value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, value.data(), value.size());
  close(fd);
  return n == ssize_t(value.size());
}

std::string read_file(const char* path) {
  std::string out;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  close(fd);
  return out;
}

void set_sysctl(const char* name, const std::string& value) {
  std::string path = std::string("/proc/sys/") + name;
  if (!write_file(path.c_str(), value))
    fprintf(stderr, "loadgen: warning: cannot set %s=%s: %s\n", name, value.c_str(),
            strerror(errno));
  std::string got = read_file(path.c_str());
  while (!got.empty() && (got.back() == '\n' || got.back() == ' ')) got.pop_back();
  fprintf(stderr, "loadgen: sysctl %s = %s\n", name, got.c_str());
}

// TIME_WAIT count of the current namespace (IPv4 + IPv6), from /proc/net/sockstat "TCP: ... tw N".
long long sockstat_tw() {
  std::string s = read_file("/proc/self/net/sockstat");
  auto p = s.find("TCP:");
  if (p == std::string::npos) return -1;
  auto q = s.find(" tw ", p);
  if (q == std::string::npos) return -1;
  return atoll(s.c_str() + q + 4);
}

void lo_up() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  ifreq ifr{};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS lo");
  if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS lo up");
  }
  close(fd);
}

union Addr {
  sockaddr sa;
  sockaddr_in in4;
  sockaddr_in6 in6;
};

Addr v4(uint32_t host_order_addr, int port) {
  Addr a{};
  a.in4.sin_family = AF_INET;
  a.in4.sin_addr.s_addr = htonl(host_order_addr);
  a.in4.sin_port = htons(uint16_t(port));
  return a;
}

Addr v6_loopback(int port) {
  Addr a{};
  a.in6.sin6_family = AF_INET6;
  a.in6.sin6_addr = in6addr_loopback;
  a.in6.sin6_port = htons(uint16_t(port));
  return a;
}

socklen_t addr_len(const Addr& a) {
  return a.sa.sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

void set_linger0(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

int make_listener(const Addr& a, int backlog) {
  int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket(listener)");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a.sa.sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, &a.sa, addr_len(a)) < 0) die("bind(listener)");
  if (listen(fd, backlog) < 0) die("listen");
  return fd;
}

// connect from src (port 0, IP_BIND_ADDRESS_NO_PORT) to dst; returns fd or -1 (errno set).
int connect_from(const Addr* src, const Addr& dst) {
  int fd = socket(dst.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_linger0(fd);
  if (src) {
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, &src->sa, addr_len(*src)) < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
  }
  if (connect(fd, &dst.sa, addr_len(dst)) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

struct Listeners {
  std::vector<int> v4;  // index d: 127.0.0.(1 + d % 250) : (100 + d / 250)
  std::vector<int> v6;  // index p: ::1 : (100 + p)
};

Addr v4_dst(int d) {
  return v4((127u << 24) | unsigned(1 + d % kAddrsPerPort), kListenPortBase + d / kAddrsPerPort);
}
Addr v4_src(int s) { return v4((127u << 24) | (1u << 8) | unsigned(1 + s), 0); }  // 127.0.1.x
// (s < 254 is enforced; more sources spill into 127.0.(1 + s/254).x would collide with dsts)

struct HolderReport {
  int holder;
  int ok;  // 1 = slice complete
  long long conns;
  int err;
};

// A holder: connect + accept its slice [begin, end) of the connection indices.
[[noreturn]] void run_holder(int id, long long begin, long long end, const Options& o,
                             const Listeners& ls, int report_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // SIGTERM from the parent ends the holder
  HolderReport r{id, 0, 0, 0};
  const int nsrc = o.sources;
  const int ndst = int(ls.v4.size());
  const int n6 = int(ls.v6.size());
  std::vector<int> fds;
  fds.reserve(size_t(2 * (end - begin)));
  const double deadline = now_s() + o.timeout_s;
  for (long long i = begin; i < end; ++i) {
    // IPv6 for a fraction F of the indices, spread evenly.
    bool is6 = n6 > 0 && std::floor(double(i + 1) * o.ipv6_fraction) >
                             std::floor(double(i) * o.ipv6_fraction);
    int lfd;
    int cfd;
    if (is6) {
      long long k = (long long)std::floor(double(i) * o.ipv6_fraction);
      int p = int(k % n6);
      lfd = ls.v6[size_t(p)];
      Addr dst = v6_loopback(kListenPortBase + p);
      cfd = connect_from(nullptr, dst);
    } else {
      // Walk sources fastest, then destinations, so every (src, dst) tuple gets used.
      int s = int(i % nsrc);
      int d = int((i / nsrc) % ndst);
      lfd = ls.v4[size_t(d)];
      Addr src = v4_src(s);
      Addr dst = v4_dst(d);
      cfd = connect_from(&src, dst);
    }
    if (cfd < 0) {
      r.err = errno;
      r.conns = i - begin;
      if (write(report_fd, &r, sizeof r) < 0) {
      }
      _exit(3);
    }
    int afd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (afd < 0) {
      r.err = errno;
      r.conns = i - begin;
      if (write(report_fd, &r, sizeof r) < 0) {
      }
      _exit(3);
    }
    set_linger0(afd);
    fds.push_back(cfd);
    fds.push_back(afd);
    if (((i - begin) & 1023) == 0 && now_s() > deadline) {
      r.err = ETIMEDOUT;
      r.conns = i - begin;
      if (write(report_fd, &r, sizeof r) < 0) {
      }
      _exit(3);
    }
  }
  r.ok = 1;
  r.conns = end - begin;
  if (write(report_fd, &r, sizeof r) < 0) _exit(3);
  close(report_fd);
  // Hold until killed (parent sends SIGTERM, or PDEATHSIG).
  for (;;) pause();
}

volatile sig_atomic_t g_tw_stop = 0;
void tw_on_term(int) { g_tw_stop = 1; }

// TIME_WAIT generator: keeps the namespace's tw count near target.
// Worker w of `workers` uses port kTwPort + w (its own listeners) and makes 1/workers of the
// deficit, sources 127.0.2.x, destinations 127.0.3.x.
[[noreturn]] void run_time_wait(const Options& o, int w, int workers) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct sigaction sa {};
  sa.sa_handler = tw_on_term;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  std::vector<int> l4, l6;
  const int port = kTwPort + w;
  for (int d = 0; d < kTwDsts; ++d)
    l4.push_back(make_listener(v4((127u << 24) | (3u << 8) | unsigned(1 + d), port), 4096));
  l6.push_back(make_listener(v6_loopback(port), 4096));
  const long long target = o.time_wait;
  const double tick = 0.05;
  long long made = 0, errors = 0, i = 0;
  while (!g_tw_stop) {
    double t0 = now_s();
    long long tw = sockstat_tw();
    long long deficit = (target - tw + workers - 1) / workers;
    // Cap per tick: fast initial fill (CPU-bound anyway), then ~M/60 per second in steady state.
    long long cap = 4000;
    for (long long k = 0; k < deficit && k < cap && !g_tw_stop; ++k, ++i) {
      bool is6 =
          std::floor(double(i + 1) * o.ipv6_fraction) > std::floor(double(i) * o.ipv6_fraction);
      int cfd, lfd;
      if (is6) {
        lfd = l6[0];
        cfd = connect_from(nullptr, v6_loopback(port));
      } else {
        int s = int(i % kTwSrcs);
        int d = int((i / kTwSrcs) % kTwDsts);
        lfd = l4[size_t(d)];
        Addr src = v4((127u << 24) | (2u << 8) | unsigned(1 + s), 0);
        cfd = connect_from(&src, v4((127u << 24) | (3u << 8) | unsigned(1 + d), port));
      }
      if (cfd < 0) {
        if (++errors % 1000 == 1)
          fprintf(stderr, "loadgen: time_wait connect: %s\n", strerror(errno));
        continue;
      }
      int afd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      // Client closes first (normal close: FIN) -> the client end goes to TIME_WAIT.
      linger l{0, 0};
      setsockopt(cfd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      close(cfd);
      if (afd >= 0) close(afd);
      ++made;
    }
    double left = tick - (now_s() - t0);
    if (left > 0) {
      timespec ts{0, long(left * 1e9)};
      nanosleep(&ts, nullptr);
    }
  }
  fprintf(stderr, "loadgen: time_wait worker %d made %lld, %lld errors\n", w, made, errors);
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--netns")
      o.netns = next();
    else if (a == "--established")
      o.established = atoll(next());
    else if (a == "--time-wait")
      o.time_wait = atoll(next());
    else if (a == "--ipv6-fraction")
      o.ipv6_fraction = atof(next());
    else if (a == "--destinations")
      o.destinations = atoi(next());
    else if (a == "--sources")
      o.sources = atoi(next());
    else if (a == "--holders")
      o.holders = atoi(next());
    else if (a == "--timeout")
      o.timeout_s = atoi(next());
    else
      usage();
  }
  if (o.established < 0 || o.time_wait < 0 || o.ipv6_fraction < 0 || o.ipv6_fraction > 1 ||
      o.destinations < 1 || o.destinations > kAddrsPerPort * 900 || o.sources < 1 ||
      o.sources > 254 || o.timeout_s < 1)
    usage();
  const long long conns = o.established / 2;

  if (!o.netns.empty()) {
    std::string path = "/var/run/netns/" + o.netns;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path.c_str());
    if (setns(fd, CLONE_NEWNET) < 0) die("setns");
    close(fd);
  }
  // After setns, /proc/self/net and /proc/sys/net are the namespace's (single-threaded process).
  lo_up();
  set_sysctl("net/ipv4/ip_local_port_range", "1024 65535");
  set_sysctl("net/ipv4/tcp_tw_reuse", "0");
  set_sysctl("net/ipv4/tcp_max_tw_buckets",
             std::to_string(std::max<long long>(262144, o.time_wait * 2)));
  set_sysctl("net/core/somaxconn", "65535");
  set_sysctl("net/ipv4/tcp_max_syn_backlog", "65535");

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die("setrlimit");
  const long long fd_limit = (long long)rl.rlim_cur;

  Listeners ls;
  const int ports6 = o.ipv6_fraction > 0 ? std::min(o.destinations, 64) : 0;
  for (int d = 0; d < o.destinations; ++d) ls.v4.push_back(make_listener(v4_dst(d), 65535));
  for (int p = 0; p < ports6; ++p)
    ls.v6.push_back(make_listener(v6_loopback(kListenPortBase + p), 65535));

  const long long per_holder_max =
      (fd_limit - (long long)ls.v4.size() - (long long)ls.v6.size() - kFdMargin) / 2;
  if (per_holder_max < 1) {
    fprintf(stderr, "loadgen: fd limit %lld too small for %zu listeners\n", fd_limit,
            ls.v4.size() + ls.v6.size());
    return 2;
  }
  long long holders = (conns + per_holder_max - 1) / per_holder_max;
  if (o.holders > 0) {
    if (o.holders < holders) {
      fprintf(stderr,
              "loadgen: --holders %d too few: fd limit %lld allows %lld connections per holder, "
              "need %lld holders\n",
              o.holders, fd_limit, per_holder_max, holders);
      return 2;
    }
    holders = o.holders;
  }
  if (conns == 0) holders = 0;
  fprintf(
      stderr,
      "loadgen: netns=%s established=%lld (%lld connections) time_wait=%lld ipv6_fraction=%.3f "
      "destinations=%d (+%d v6 ports) sources=%d fd_limit=%lld holders=%lld (<= %lld conns each) "
      "ipv4 tuples=%lld\n",
      o.netns.c_str(), conns * 2, conns, o.time_wait, o.ipv6_fraction, o.destinations, ports6,
      o.sources, fd_limit, holders, per_holder_max,
      std::min<long long>((long long)o.sources * o.destinations, conns));

  // Signals handled synchronously by the parent through a signalfd.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");

  int rep[2];
  if (pipe2(rep, O_CLOEXEC) < 0) die("pipe");

  std::vector<pid_t> children;
  auto kill_all = [&](int sig) {
    for (pid_t p : children) kill(p, sig);
  };
  auto reap_all = [&]() {
    double t_end = now_s() + 60;
    for (pid_t p : children) {
      while (now_s() < t_end) {
        pid_t r = waitpid(p, nullptr, WNOHANG);
        if (r == p || r < 0) break;
        usleep(20000);
      }
      if (waitpid(p, nullptr, WNOHANG) == 0) {
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
      }
    }
  };

  const double t_start = now_s();
  // Spread connections evenly over the holders.
  for (long long h = 0; h < holders; ++h) {
    long long begin = conns * h / holders, end = conns * (h + 1) / holders;
    pid_t p = fork();
    if (p < 0) {
      kill_all(SIGKILL);
      reap_all();
      die("fork");
    }
    if (p == 0) {
      close(rep[0]);
      close(sfd);
      run_holder(int(h), begin, end, o, ls, rep[1]);
    }
    children.push_back(p);
  }
  // Two TIME_WAIT workers: one process alone cannot keep 100k level (M/60 per second) when the
  // CPUs are shared with other work.
  const int tw_workers = o.time_wait >= 20000 ? 2 : 1;
  for (int w = 0; o.time_wait > 0 && w < tw_workers; ++w) {
    pid_t tw_pid = fork();
    if (tw_pid < 0) {
      kill_all(SIGKILL);
      reap_all();
      die("fork");
    }
    if (tw_pid == 0) {
      close(rep[0]);
      close(rep[1]);
      close(sfd);
      for (int fd : ls.v4) close(fd);
      for (int fd : ls.v6) close(fd);
      run_time_wait(o, w, tw_workers);
    }
    children.push_back(tw_pid);
  }
  close(rep[1]);

  struct stat st {};
  bool watch_stdin =
      fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(0));

  int rep_fd = rep[0];
  long long holders_done = 0, conns_done = 0;
  bool ready = false, failed = false, stop = false;
  double last_status = now_s();
  while (!stop) {
    pollfd pf[3] = {{sfd, POLLIN, 0}, {rep_fd, POLLIN, 0}, {watch_stdin ? 0 : -1, POLLIN, 0}};
    int n = poll(pf, 3, 200);
    if (n < 0 && errno != EINTR) die("poll");
    if (pf[0].revents & POLLIN) {
      signalfd_siginfo si{};
      if (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
          // A child died: a holder or the TIME_WAIT generator. That is a failure.
          int status;
          pid_t p;
          while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
            for (auto& c : children)
              if (c == p) c = -1;
            fprintf(stderr, "loadgen: child %d exited (status 0x%x)\n", int(p), status);
            failed = true;
          }
        } else {
          stop = true;
        }
      }
    }
    if (pf[1].revents & (POLLIN | POLLHUP)) {
      HolderReport r{};
      ssize_t got = read(rep_fd, &r, sizeof r);
      if (got <= 0) {
        rep_fd = -1;  // every holder closed its end: stop polling it (POLLHUP would spin)
      } else if (got == sizeof r) {
        if (r.ok) {
          ++holders_done;
          conns_done += r.conns;
        } else {
          fprintf(stderr, "loadgen: holder %d failed after %lld connections: %s\n", r.holder,
                  r.conns, strerror(r.err));
          failed = true;
        }
      }
    }
    if (pf[2].revents & (POLLIN | POLLHUP)) {
      char buf[256];
      ssize_t got = read(0, buf, sizeof buf);
      if (got <= 0) stop = true;  // EOF on stdin: the caller is gone
    }
    if (failed) break;
    long long tw = sockstat_tw();
    if (!ready && holders_done == holders && (o.time_wait == 0 || tw >= o.time_wait * 98 / 100)) {
      ready = true;
      fprintf(stderr, "loadgen: population reached in %.1f s\n", now_s() - t_start);
      printf("READY established=%lld time_wait=%lld\n", conns_done * 2, tw);
      fflush(stdout);
    }
    if (!ready && now_s() - t_start > o.timeout_s) {
      fprintf(stderr, "loadgen: timeout: %lld/%lld holders done, time_wait %lld/%lld after %d s\n",
              holders_done, holders, tw, o.time_wait, o.timeout_s);
      failed = true;
      break;
    }
    if (now_s() - last_status > (ready ? 30.0 : 2.0)) {
      last_status = now_s();
      fprintf(stderr, "loadgen: %s holders %lld/%lld time_wait %lld/%lld\n",
              ready ? "holding" : "building", holders_done, holders, tw, o.time_wait);
    }
  }
  // Teardown: holders first (RST thanks to SO_LINGER 0), then the TIME_WAIT generator.
  for (auto& c : children)
    if (c > 0) kill(c, SIGTERM);
  std::vector<pid_t> live;
  for (auto c : children)
    if (c > 0) live.push_back(c);
  children = live;
  reap_all();
  fprintf(stderr, "loadgen: stopped after %.1f s\n", now_s() - t_start);
  return failed ? 2 : 0;
}
