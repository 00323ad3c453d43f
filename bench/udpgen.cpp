// udpgen: builds a population of UDP sockets on loopback inside a network namespace, for the
// UDP benchmark (bench/run_udp_bench.sh, docs/bench.md "UDP").
//
//   udpgen --netns NAME --sockets N [--connected-fraction F] [--destinations D]
//          [--addresses A] [--ipv6-fraction F6] [--timeout SEC]
//
// * Enters /var/run/netns/NAME (setns) unless --netns is empty; sets ip_local_port_range
//   "1024 65535" there (a new namespace starts from the kernel default) and brings lo up.
// * N sockets, all with an ephemeral port of the range: a fraction F (default 0.5) connected
//   to D destinations (127.0.1.1.. port 53, round robin; IPv6 ones to ::1 ports 5301..), the
//   others unconnected. IPv4 sockets are spread over A local addresses (127.0.0.1..A, bind
//   with port 0; the connected ones with IP_BIND_ADDRESS_NO_PORT so connect() picks the port):
//   a UDP port is unique per local address, so A addresses hold up to A x 64,512 sockets.
//   IPv6 sockets (fraction F6, default 0.1) are on ::1 only (at most 64,512).
// * UDP needs no peer: nothing is sent, no listener exists.
// * The sockets are held by child processes ("holders") of at most RLIMIT_NOFILE - 64 fds each
//   (the hard limit cannot be raised without CAP_SYS_RESOURCE); they die with udpgen
//   (PR_SET_PDEATHSIG).
// * Prints "READY sockets=N connected=C ipv6=V" on stdout, then holds until SIGTERM/SIGINT or
//   EOF on stdin (watched only when stdin is a pipe or a tty). Exit 2 on any failure (fd
//   limit, a bind/connect error, --timeout before the population is reached).
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
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
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void Die(const char* what) {
  fprintf(stderr, "udpgen: %s: %s\n", what, strerror(errno));
  exit(2);
}

void WriteFile(const char* path, const char* value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) Die(path);
  close(fd);
}

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// One socket: local address `local` (port 0), connected to `dst` unless dst is null.
void MakeSocket(const sockaddr* local, socklen_t len, const sockaddr* dst) {
  int fd = socket(local->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  if (dst != nullptr && local->sa_family == AF_INET) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0)
      Die("IP_BIND_ADDRESS_NO_PORT");
  }
  if (bind(fd, local, len) < 0) Die("bind");
  if (dst != nullptr && connect(fd, dst, len) < 0) Die("connect");
}

}  // namespace

int main(int argc, char** argv) {
  std::string netns;
  long long n = 10000;
  double connected_fraction = 0.5, ipv6_fraction = 0.1;
  int destinations = 100, addresses = 4, timeout = 120;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (v == nullptr) {
      fprintf(stderr, "udpgen: %s needs a value\n", a.c_str());
      return 2;
    }
    ++i;
    if (a == "--netns")
      netns = v;
    else if (a == "--sockets")
      n = atoll(v);
    else if (a == "--connected-fraction")
      connected_fraction = atof(v);
    else if (a == "--destinations")
      destinations = atoi(v);
    else if (a == "--addresses")
      addresses = atoi(v);
    else if (a == "--ipv6-fraction")
      ipv6_fraction = atof(v);
    else if (a == "--timeout")
      timeout = atoi(v);
    else {
      fprintf(stderr, "udpgen: unknown argument %s (see the comment at the top of udpgen.cpp)\n",
              a.c_str());
      return 2;
    }
  }
  const long long v6 = (long long)(double(n) * ipv6_fraction);
  if (n < 1 || n > 4000000 || destinations < 1 || destinations > 250 || addresses < 1 ||
      addresses > 250 || connected_fraction < 0 || connected_fraction > 1 || v6 > 64512 ||
      (n - v6) > 64512LL * addresses) {
    fprintf(stderr, "udpgen: bad sizes (IPv4 sockets <= 64512 x addresses, IPv6 <= 64512)\n");
    return 2;
  }
  if (!netns.empty()) {
    const std::string path = "/var/run/netns/" + netns;
    int nfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0) Die(path.c_str());
    close(nfd);
  }
  WriteFile("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535");
  int sfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(sfd, SIOCGIFFLAGS, &ifr) < 0) Die("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sfd, SIOCSIFFLAGS, &ifr) < 0) Die("SIOCSIFFLAGS lo");
  close(sfd);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) Die("setrlimit RLIMIT_NOFILE");
  const long long per_holder = (long long)rl.rlim_cur - 64;
  if (per_holder < 1000) {
    fprintf(stderr, "udpgen: RLIMIT_NOFILE %llu is too small\n", (unsigned long long)rl.rlim_cur);
    return 2;
  }

  const double deadline = Now() + timeout;
  long long connected = 0;
  for (long long i = 0; i < n; ++i) {
    connected += (long long)(double(i + 1) * connected_fraction) >
                 (long long)(double(i) * connected_fraction);
  }
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) Die("pipe");
  const pid_t parent = getpid();
  for (long long begin = 0; begin < n; begin += per_holder) {
    const long long end = begin + per_holder < n ? begin + per_holder : n;
    const pid_t pid = fork();
    if (pid < 0) Die("fork");
    if (pid > 0) continue;
    // Holder: sockets [begin, end), then "1" on the pipe, then sleep until udpgen dies.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    close(ready[0]);
    for (long long i = begin; i < end; ++i) {
      if ((i & 1023) == 0 && Now() > deadline) {
        fprintf(stderr, "udpgen: --timeout %d s reached at socket %lld\n", timeout, i);
        _exit(2);
      }
      // Connected sockets spread evenly: socket i is connected when floor((i+1)F) > floor(iF).
      const bool connect_it = (long long)(double(i + 1) * connected_fraction) >
                              (long long)(double(i) * connected_fraction);
      const bool ipv6 =
          (long long)(double(i + 1) * ipv6_fraction) > (long long)(double(i) * ipv6_fraction);
      if (ipv6) {
        sockaddr_in6 local{}, dst{};
        local.sin6_family = dst.sin6_family = AF_INET6;
        local.sin6_addr = dst.sin6_addr = in6addr_loopback;
        dst.sin6_port = htons(uint16_t(5301 + i % destinations));
        MakeSocket(reinterpret_cast<sockaddr*>(&local), sizeof local,
                   connect_it ? reinterpret_cast<sockaddr*>(&dst) : nullptr);
      } else {
        sockaddr_in local{}, dst{};
        local.sin_family = dst.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(0x7f000001u + uint32_t(i % addresses));
        dst.sin_addr.s_addr = htonl(0x7f000101u + uint32_t(i % destinations));
        dst.sin_port = htons(53);
        MakeSocket(reinterpret_cast<sockaddr*>(&local), sizeof local,
                   connect_it ? reinterpret_cast<sockaddr*>(&dst) : nullptr);
      }
    }
    if (write(ready[1], "1", 1) != 1) _exit(2);
    for (;;) pause();
  }
  close(ready[1]);
  for (long long got = 0, want = (n + per_holder - 1) / per_holder; got < want;) {
    char c;
    const ssize_t r = read(ready[0], &c, 1);
    if (r == 1) {
      ++got;
    } else if (r == 0 || (r < 0 && errno != EINTR)) {
      fprintf(stderr, "udpgen: a holder failed (%lld of %lld ready)\n", got, want);
      return 2;  // the others die with this process
    }
  }
  printf("READY sockets=%lld connected=%lld ipv6=%lld\n", n, connected, v6);
  fflush(stdout);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sig = signalfd(-1, &mask, SFD_CLOEXEC);
  struct stat st {};
  const bool watch_stdin =
      fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(0));
  for (;;) {
    pollfd pf[2] = {{sig, POLLIN, 0}, {watch_stdin ? 0 : -1, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0 && errno != EINTR) Die("poll");
    if (pf[0].revents) return 0;
    if (pf[1].revents) {
      char buf[256];
      if (read(0, buf, sizeof buf) <= 0) return 0;
    }
  }
}
