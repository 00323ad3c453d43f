// floor: the bare sock_diag dump, i.e. the least any exporter can spend reading socket states.
//
//   floor [--netns NAME] [--runs R] [--buffer BYTES] [--info] [--protocol tcp|udp]
//
// Each run: one NETLINK_SOCK_DIAG socket, SOCK_DIAG_BY_FAMILY dump of TCP (or UDP with
// --protocol udp), all states, no extensions, AF_INET then AF_INET6, 32 KiB receive buffer,
// count per state only (UDP: close = unconnected, established = connected). Prints one
// line per run (wall ms, sockets, CPU ms of the process) and a final "median_ms=..." line (plus the
// per-state counts of the last run).
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

double now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

const char* kStateNames[] = {
    "?",     "established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",    "time_wait",
    "close", "close_wait",  "last_ack", "listen",   "closing",   "new_syn_recv", "bound_inactive"};
constexpr int kStates = 14;

// Dumps one family; adds to counts. Returns false on error.
bool dump_family(int fd, int family, int protocol, std::vector<char>& buf,
                 long long counts[kStates], unsigned* seq, bool info) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = ++*seq;
  msg.req.sdiag_family = uint8_t(family);
  msg.req.sdiag_protocol = uint8_t(protocol);
  msg.req.idiag_states = ~0u;
  msg.req.idiag_ext = info ? (1 << (INET_DIAG_INFO - 1)) : 0;
  sockaddr_nl nladdr{};
  nladdr.nl_family = AF_NETLINK;
  if (sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&nladdr), sizeof nladdr) < 0) {
    perror("floor: sendto");
    return false;
  }
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("floor: recv");
      return false;
    }
    if (n == 0) return true;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, size_t(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != *seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        fprintf(stderr, "floor: netlink error %d (%s) for family %d\n", e->error,
                strerror(-e->error), family);
        return false;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      if (m->idiag_state < kStates) ++counts[m->idiag_state];
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string netns;
  int runs = 7;
  size_t bufsize = 32768;
  bool info = false;
  int protocol = IPPROTO_TCP;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--netns" && i + 1 < argc)
      netns = argv[++i];
    else if (a == "--runs" && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (a == "--buffer" && i + 1 < argc)
      bufsize = size_t(atol(argv[++i]));
    else if (a == "--info")
      info = true;
    else if (a == "--protocol" && i + 1 < argc && std::string(argv[i + 1]) == "tcp")
      protocol = IPPROTO_TCP, ++i;
    else if (a == "--protocol" && i + 1 < argc && std::string(argv[i + 1]) == "udp")
      protocol = IPPROTO_UDP, ++i;
    else {
      fprintf(stderr,
              "usage: floor [--netns NAME] [--runs R] [--buffer BYTES] [--info] "
              "[--protocol tcp|udp]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > 1000 || bufsize < 4096) return 2;
  if (!netns.empty()) {
    std::string path = "/var/run/netns/" + netns;
    int nfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0) {
      perror(path.c_str());
      return 2;
    }
    close(nfd);
  }
  std::vector<char> buf(bufsize);
  std::vector<double> times;
  long long counts[kStates] = {};
  unsigned seq = 0;
  for (int r = 0; r < runs; ++r) {
    std::fill(counts, counts + kStates, 0);
    double t0 = now_ms(), c0 = cpu_ms();
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
      perror("floor: socket");
      return 2;
    }
    bool ok = dump_family(fd, AF_INET, protocol, buf, counts, &seq, info) &&
              dump_family(fd, AF_INET6, protocol, buf, counts, &seq, info);
    close(fd);
    double ms = now_ms() - t0, cpu = cpu_ms() - c0;
    if (!ok) return 1;
    long long total = 0;
    for (long long c : counts) total += c;
    printf("run=%d ms=%.2f sockets=%lld cpu_ms=%.2f\n", r + 1, ms, total, cpu);
    times.push_back(ms);
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  double median = sorted.size() % 2
                      ? sorted[sorted.size() / 2]
                      : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
  for (int s = 0; s < kStates; ++s)
    if (counts[s]) printf("state %s %lld\n", kStateNames[s], counts[s]);
  printf("median_ms=%.2f\n", median);
  return 0;
}
