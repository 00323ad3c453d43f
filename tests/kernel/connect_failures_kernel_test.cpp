// Real-kernel tests of the connect_failures source (root, kernel BTF): the BPF program is
// loaded and attached for real, connect()s fail for real in namespaces the tests create, and
// the source's counters are compared with exactly the failures the test caused.

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "exporter_process.h"
#include "kernel/bpf_object.h"
#include "kernel/connect_failure_probe.h"
#include "kernel/time_wait_owners.h"
#include "metrics/family_set.h"
#include "netns_fixture.h"
#include "requirements.h"
#include "routed_netns.h"
#include "sources/connect_failures_source.h"
#include "test_util.h"
#include "udp_sockets.h"
#include "util/file_util.h"

extern "C" {
#include "kernel/bpf/connect_failures.h"
}

namespace sockstate {
namespace {

using testing::TestNetns;

uint64_t NetnsInode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw std::runtime_error("stat " + path);
  return st.st_ino;
}

using testing::Missing;
using testing::Need;

/// Tests of the source with the BPF program loaded and attached (root, kernel BTF).
class ConnectFailuresKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    SOCKSTATE_REQUIRE(Missing({Need::kRoot, Need::kKernelBtf}));
    // Root with BTF: loading must work, so a failure here fails the test.
    auto made = MakeConnectFailuresSource("on", udp_mode(), "/proc");
    ASSERT_TRUE(made.ok()) << made.status().message();
    source_ = std::move(*made);
  }
  virtual const char* udp_mode() const { return "off"; }
  std::unique_ptr<HostSource> source_;
};

/// The same with UDP failures counted from the system-call exit tracepoint (the one UDP hook
/// these machines allow: they refuse BPF trampolines, so fexit cannot load).
class ConnectFailuresUdpKernel : public ConnectFailuresKernel {
 protected:
  const char* udp_mode() const override { return "syscalls"; }
};

/// Tests of the exporter process with --collector.connect-failures=on (root, kernel BTF).
class ConnectFailuresExporter : public ::testing::Test {
 protected:
  void SetUp() override { SOCKSTATE_REQUIRE(Missing({Need::kRoot, Need::kKernelBtf})); }
};

/// Reads the source once with `namespaces` and returns the exposition parsed.
testing::Series Scrape(HostSource& source, const std::vector<NamespaceInfo>& namespaces,
                       const Config& config = DefaultConfig()) {
  SourceEnv env;
  const bool label_netns =
      namespaces.size() > 1 || (!namespaces.empty() && !namespaces[0].label.empty());
  HostReadContext ctx{config, env, label_netns, namespaces};
  Status s = source.Read(ctx);
  if (!s.ok()) throw std::runtime_error(s.message());
  FamilySet fs;
  ExportContext ectx{config, label_netns};
  source.AddFamilies(fs, ectx);
  std::vector<prometheus::MetricFamily> families = fs.Take();
  testing::Series out;
  for (const auto& f : families) {
    for (const auto& m : f.metric) {
      std::vector<std::pair<std::string, std::string>> labels;
      for (const auto& l : m.label) labels.push_back({l.name, l.value});
      std::sort(labels.begin(), labels.end());
      std::string key = f.name;
      if (!labels.empty()) {
        key += "{";
        for (size_t i = 0; i < labels.size(); ++i) {
          key += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
        }
        key += "}";
      }
      out[key] = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return out;
}

double Failures(const testing::Series& s, const std::string& destination, const std::string& reason,
                const std::string& netns = "") {
  std::vector<std::pair<std::string, std::string>> l = {{"destination", destination}};
  if (!netns.empty()) l.push_back({"netns", netns});
  l.push_back({"protocol", "tcp"});
  l.push_back({"reason", reason});
  return testing::Get(s, "sockstate_connect_failures_total", l);
}

/// Sum of every sockstate_connect_failures_total series with `reason`, excluding one
/// destination.
double FailuresElsewhere(const testing::Series& s, const std::string& except,
                         const std::string& reason) {
  double sum = 0;
  for (const auto& [k, v] : s) {
    if (k.rfind("sockstate_connect_failures_total{", 0) != 0) continue;
    if (k.find("reason=\"" + reason + "\"") == std::string::npos) continue;
    if (k.find("destination=\"" + except + "\"") != std::string::npos) continue;
    sum += v;
  }
  return sum;
}

/// 13 connects into a 10-port range to one destination: 10 succeed, 3 fail EADDRNOTAVAIL.
void ExhaustPorts(TestNetns& ns, const std::string& addr, uint16_t port) {
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40009");
  ns.Listen(addr, port);
  int ok = 0, no_port = 0;
  for (int i = 0; i < 13; ++i) {
    int fd = ns.TryConnect(addr, port);
    if (fd >= 0) {
      ++ok;
    } else if (fd == -EADDRNOTAVAIL) {
      ++no_port;
    } else {
      FAIL() << "connect " << i << ": " << strerror(-fd);
    }
  }
  ASSERT_EQ(ok, 10);
  ASSERT_EQ(no_port, 3);
}

TEST_F(ConnectFailuresKernel, TenPortRangeGivesExactlyThreeNoLocalPortIpv4) {
  TestNetns ns;
  std::vector<NamespaceInfo> nss = {{"", NetnsInode(ns.path()), true}};
  auto before = Scrape(*source_, nss);
  EXPECT_EQ(testing::Get(before, "sockstate_connect_failures_available"), 1);
  EXPECT_EQ(Failures(before, "other", "no_local_port"), 0);
  ExhaustPorts(ns, "127.0.0.1", 5000);
  auto after = Scrape(*source_, nss);
  EXPECT_EQ(Failures(after, "127.0.0.1:5000", "no_local_port"), 3);
  EXPECT_EQ(Failures(after, "127.0.0.1:5000", "refused"), 0);
  EXPECT_EQ(FailuresElsewhere(after, "127.0.0.1:5000", "no_local_port"), 0);
  EXPECT_EQ(FailuresElsewhere(after, "127.0.0.1:5000", "refused"), 0);
  EXPECT_EQ(testing::Get(after, "sockstate_connect_failures_map_overflow_total"), 0);
  // Drained means counted once: a second scrape without failures keeps 3, not 6.
  auto again = Scrape(*source_, nss);
  EXPECT_EQ(Failures(again, "127.0.0.1:5000", "no_local_port"), 3);
}

TEST_F(ConnectFailuresKernel, TenPortRangeGivesExactlyThreeNoLocalPortIpv6) {
  TestNetns ns;
  std::vector<NamespaceInfo> nss = {{"", NetnsInode(ns.path()), true}};
  ExhaustPorts(ns, "::1", 5000);
  auto after = Scrape(*source_, nss);
  EXPECT_EQ(Failures(after, "[::1]:5000", "no_local_port"), 3);
  EXPECT_EQ(Failures(after, "[::1]:5000", "refused"), 0);
  EXPECT_EQ(FailuresElsewhere(after, "[::1]:5000", "no_local_port"), 0);
  EXPECT_EQ(FailuresElsewhere(after, "[::1]:5000", "refused"), 0);
}

/// How a test connect() ends: waited for (the kernel's answer, up to 10 s) or closed by the
/// application after 0.3 s.
enum class ConnectEnd { kWait, kCloseEarly };

/// A non-blocking connect() to addr:port from inside `ns`, then either polls for the outcome
/// (returns the SO_ERROR errno, reading it as an application does) or closes the socket after
/// 0.3 s (returns 0). The socket is closed in both cases.
int ConnectOnce(TestNetns& ns, const std::string& addr, uint16_t port, ConnectEnd end) {
  int result = -1;
  ns.Run([&] {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    inet_pton(AF_INET, addr.c_str(), &sin.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0) {
      result = 0;
    } else if (errno != EINPROGRESS) {
      result = errno;
    } else if (end == ConnectEnd::kCloseEarly) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      result = 0;
    } else {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 10000) == 1) {
        socklen_t len = sizeof(result);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &len);
      } else {
        result = ETIME;  // no answer in 10 s
      }
    }
    close(fd);
  });
  return result;
}

TEST_F(ConnectFailuresKernel, EachReasonOfAFailedConnectIsCountedExactly) {
  SOCKSTATE_REQUIRE(Missing({Need::kNft}));
  // client -> router -> server (routed_netns.h). The client gives up after one SYN
  // retransmission (1 s + 2 s); the router answers 198.19.5.0/24 and 198.19.6.0/24 with ICMP
  // host unreachable (an unreachable route) and drops every other SYN to 198.19.6.0/24, so the
  // first SYN there goes unanswered and the retransmission, sent from the timer while nobody
  // holds the socket, gets the ICMP error; the server drops SYNs to ports 7002 and 7003.
  testing::RoutedNetns net("sstcf");
  net.client().SetSysctl("net.ipv4.tcp_syn_retries", "1");
  net.router().SetSysctl("net.ipv4.icmp_ratelimit", "0");
  testing::RoutedNetns::Ip(net.router(), {"route", "add", "unreachable", "198.19.5.0/24"});
  testing::RoutedNetns::Ip(net.router(), {"route", "add", "unreachable", "198.19.6.0/24"});
  testing::RoutedNetns::Nft(net.router(),
                            "table ip sstcf {\n"
                            "  chain pre {\n"
                            "    type filter hook prerouting priority 0;\n"
                            "    ip daddr 198.19.6.0/24 tcp flags syn numgen inc mod 2 == 0 drop\n"
                            "  }\n"
                            "}\n");
  testing::RoutedNetns::Nft(net.server(),
                            "table ip sstcf {\n"
                            "  chain in {\n"
                            "    type filter hook input priority 0;\n"
                            "    tcp dport { 7002, 7003 } tcp flags syn drop\n"
                            "  }\n"
                            "}\n");
  std::vector<NamespaceInfo> nss = {{"", NetnsInode(net.client().path()), true}};
  Scrape(*source_, nss);  // nothing counted before this point

  // Refused: nobody listens on the server's port 7001, its kernel answers with a RST.
  EXPECT_EQ(ConnectOnce(net.client(), "198.18.2.2", 7001, ConnectEnd::kWait), ECONNREFUSED);
  // Timed out: the SYN and its retransmission are dropped.
  EXPECT_EQ(ConnectOnce(net.client(), "198.18.2.2", 7002, ConnectEnd::kWait), ETIMEDOUT);
  // Abandoned: the SYN is dropped and the application closes the socket after 0.3 s.
  EXPECT_EQ(ConnectOnce(net.client(), "198.18.2.2", 7003, ConnectEnd::kCloseEarly), 0);
  // Unreachable, the ICMP error answering the first SYN inside connect() itself (the socket is
  // held: the error waits in sk_err_soft, which SO_ERROR returns and clears, and on the
  // socket's error queue, where the program reads it).
  EXPECT_EQ(ConnectOnce(net.client(), "198.19.5.5", 80, ConnectEnd::kWait), EHOSTUNREACH);
  // Unreachable, the ICMP error answering the retransmission (sk_err set before the close).
  EXPECT_EQ(ConnectOnce(net.client(), "198.19.6.6", 80, ConnectEnd::kWait), EHOSTUNREACH);

  auto after = Scrape(*source_, nss);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"198.18.2.2:7001", "refused"},   {"198.18.2.2:7002", "timed_out"},
      {"198.18.2.2:7003", "abandoned"}, {"198.19.5.5:80", "unreachable"},
      {"198.19.6.6:80", "unreachable"},
  };
  for (const auto& [dest, reason] : expected) {
    for (const char* r : {"no_local_port", "refused", "timed_out", "unreachable", "abandoned"}) {
      EXPECT_EQ(Failures(after, dest, r), r == reason ? 1 : 0) << dest << " " << r;
    }
  }
  EXPECT_EQ(Failures(after, "other", "refused"), 0);
}

TEST_F(ConnectFailuresKernel, NoListenerGivesExactlyOneRefused) {
  TestNetns ns;
  std::vector<NamespaceInfo> nss = {{"", NetnsInode(ns.path()), true}};
  ASSERT_EQ(ns.TryConnect("127.0.0.1", 5001), -ECONNREFUSED);
  auto after = Scrape(*source_, nss);
  EXPECT_EQ(Failures(after, "127.0.0.1:5001", "refused"), 1);
  EXPECT_EQ(Failures(after, "127.0.0.1:5001", "no_local_port"), 0);
  EXPECT_EQ(FailuresElsewhere(after, "127.0.0.1:5001", "refused"), 0);
  EXPECT_EQ(FailuresElsewhere(after, "127.0.0.1:5001", "no_local_port"), 0);
}

TEST_F(ConnectFailuresKernel, OtherNamespaceIgnoredInModeOwnLabelledInModeAll) {
  TestNetns a, b;
  ExhaustPorts(b, "127.0.0.1", 5000);
  // Mode own: only the exporter's namespace (here: a) is read, so b's failures are dropped.
  auto own = Scrape(*source_, {{"", NetnsInode(a.path()), true}});
  EXPECT_EQ(FailuresElsewhere(own, "", "no_local_port"), 0);
  EXPECT_TRUE(std::isnan(Failures(own, "127.0.0.1:5000", "no_local_port")));
  // Mode all: b is read too and its failures carry its label.
  ExhaustPorts(b, "127.0.0.1", 5002);
  auto all = Scrape(
      *source_, {{a.name(), NetnsInode(a.path()), true}, {b.name(), NetnsInode(b.path()), false}});
  EXPECT_EQ(Failures(all, "127.0.0.1:5002", "no_local_port", b.name()), 3);
  EXPECT_EQ(Failures(all, "other", "no_local_port", a.name()), 0);
  EXPECT_TRUE(std::isnan(Failures(all, "127.0.0.1:5002", "no_local_port", a.name())));
}

/// A child process moves itself into `cgroup_dir`, enters the namespace and connects a socket
/// of `type` to 127.0.0.1:port (nobody listens there). Returns the connect() errno.
int ConnectFromCgroup(const std::string& cgroup_dir, const std::string& netns_path, uint16_t port,
                      int type = SOCK_STREAM) {
  int ns_fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) throw std::runtime_error("open " + netns_path);
  const std::string procs = cgroup_dir + "/cgroup.procs";
  pid_t pid = fork();
  if (pid == 0) {  // async-signal-safe calls only
    int fd = open(procs.c_str(), O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(100);
    close(fd);
    if (setns(ns_fd, CLONE_NEWNET) != 0) _exit(101);
    int s = socket(AF_INET, type, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(s, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
    _exit(rc == 0 ? 0 : errno);
  }
  close(ns_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Where the cgroup v2 hierarchy is mounted ("" when none is, or /proc cannot be read).
std::string Cgroup2Root() {
  std::string mountinfo;
  if (ReadSmallFile("/proc/self/mountinfo", &mountinfo) != 0) return "";
  return FindCgroup2Mount(mountinfo);
}

TEST_F(ConnectFailuresKernel, WorkloadNamesTheCgroupOfTheFailingProcess) {
  SOCKSTATE_REQUIRE(Missing({Need::kCgroup2}));
  const std::string root = Cgroup2Root();
  ASSERT_FALSE(root.empty()) << "a cgroup2 mount is listed but FindCgroup2Mount found none";
  const std::string rel = "/sst-cf-" + std::to_string(getpid());
  const std::string dir = root + rel;
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
  TestNetns ns;
  const int err = ConnectFromCgroup(dir, ns.path(), 5003);
  auto after = Scrape(*source_, {{"", NetnsInode(ns.path()), true}});
  rmdir(dir.c_str());  // the child is gone, so the cgroup is empty
  ASSERT_EQ(err, ECONNREFUSED);
  auto wl = [&](const char* reason) {
    return testing::Get(
        after, "sockstate_workload_connect_failures_total",
        {{"protocol", "tcp"}, {"reason", reason}, {"workload", rel}, {"workload_kind", "cgroup"}});
  };
  EXPECT_EQ(wl("refused"), 1);
  EXPECT_EQ(wl("no_local_port"), 0);
  EXPECT_EQ(Failures(after, "127.0.0.1:5003", "refused"), 1);
}

TEST_F(ConnectFailuresKernel, WorkloadsTopKFromTheConfigNamesKAndCountsTheRestInOther) {
  SOCKSTATE_REQUIRE(Missing({Need::kCgroup2}));
  const std::string root = Cgroup2Root();
  ASSERT_FALSE(root.empty()) << "a cgroup2 mount is listed but FindCgroup2Mount found none";
  Config config = DefaultConfig();
  config.connect_failures.workloads_top_k = 3;
  // K + 1 = 4 cgroups; the one with i failures fails i times (refused), all before one scrape:
  // the 3 heaviest get a series, the lightest goes to "other".
  std::vector<std::string> rel;
  for (int i = 1; i <= 4; ++i) {
    rel.push_back("/sst-cfk-" + std::to_string(getpid()) + "-" + std::to_string(i));
    ASSERT_EQ(mkdir((root + rel.back()).c_str(), 0755), 0) << rel.back() << ": " << strerror(errno);
  }
  TestNetns ns;
  std::vector<int> errs;
  for (int i = 1; i <= 4; ++i) {
    for (int n = 0; n < i; ++n)
      errs.push_back(ConnectFromCgroup(root + rel[i - 1], ns.path(), 5004));
  }
  auto after = Scrape(*source_, {{"", NetnsInode(ns.path()), true}}, config);
  for (const std::string& r : rel) rmdir((root + r).c_str());
  ASSERT_EQ(errs, std::vector<int>(10, ECONNREFUSED));
  auto wl = [&](const std::string& name, const std::string& kind, const std::string& reason) {
    return testing::Get(
        after, "sockstate_workload_connect_failures_total",
        {{"protocol", "tcp"}, {"reason", reason}, {"workload", name}, {"workload_kind", kind}});
  };
  EXPECT_EQ(wl(rel[3], "cgroup", "refused"), 4);
  EXPECT_EQ(wl(rel[2], "cgroup", "refused"), 3);
  EXPECT_EQ(wl(rel[1], "cgroup", "refused"), 2);
  EXPECT_TRUE(std::isnan(wl(rel[0], "cgroup", "refused")));
  EXPECT_EQ(wl("other", "other", "refused"), 1);
  EXPECT_EQ(wl("other", "other", "no_local_port"), 0);
  size_t series = 0;
  for (const auto& [k, v] : after) {
    series += k.rfind("sockstate_workload_connect_failures_total{", 0) == 0;
  }
  EXPECT_EQ(series, 20u);  // 3 named + other, 5 reasons each
  EXPECT_EQ(Failures(after, "127.0.0.1:5004", "refused"), 10);
}

// ---- UDP port-allocation failures ------------------------------------------------------------

double UdpFailures(const testing::Series& s, const std::string& netns = "") {
  std::vector<std::pair<std::string, std::string>> l;
  if (!netns.empty()) l.push_back({"netns", netns});
  l.push_back({"protocol", "udp"});
  l.push_back({"reason", "no_local_port"});
  return testing::Get(s, "sockstate_connect_failures_total", l);
}

TEST_F(ConnectFailuresUdpKernel, TwentyPortRangeEveryKindOfAttemptFailsOnceAndIsCountedOnce) {
  TestNetns ns;
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40019");
  std::vector<NamespaceInfo> nss = {{"", NetnsInode(ns.path()), true}};
  auto before = Scrape(*source_, nss);
  EXPECT_EQ(testing::Get(before, "sockstate_connect_failures_udp_available"), 1);
  EXPECT_EQ(UdpFailures(before), 0);
  testing::FdOwner held;
  std::vector<std::string> outcomes;
  const std::vector<std::string> destinations = {"127.0.0.1", "::1", "127.0.0.2"};
  ns.Run([&] {
    testing::HoldTwentyPortsEveryWay(held);
    // The 21st of each kind, to either family and any destination: no port is left.
    outcomes = testing::TryEveryKind(destinations);
  });
  ASSERT_EQ(held.size(), 20u);
  ASSERT_EQ(outcomes, testing::NoPortLeftOutcomes(destinations));
  auto after = Scrape(*source_, nss);
  EXPECT_EQ(UdpFailures(after), 12);
  // Not a TCP failure, and nothing elsewhere.
  EXPECT_EQ(FailuresElsewhere(after, "", "no_local_port"), 12);
  EXPECT_EQ(Failures(after, "other", "no_local_port"), 0);
  // An explicit port that is taken (EADDRINUSE too) is not a lack of ephemeral ports.
  ns.Run([&] {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(40000);
    EXPECT_NE(bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    EXPECT_EQ(errno, EADDRINUSE);
    close(fd);
  });
  EXPECT_EQ(UdpFailures(Scrape(*source_, nss)), 12);
}

TEST_F(ConnectFailuresUdpKernel, UdpFailureOfAProcessInACgroupNamesItsWorkload) {
  SOCKSTATE_REQUIRE(Missing({Need::kCgroup2}));
  const std::string root = Cgroup2Root();
  const std::string rel = "/sst-cfu-" + std::to_string(getpid());
  ASSERT_EQ(mkdir((root + rel).c_str(), 0755), 0) << rel << ": " << strerror(errno);
  TestNetns ns;
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40000");
  testing::FdOwner held;
  ns.Run([&] { held.Own(testing::UdpSocket(testing::UdpBind::kBind0, "127.0.0.1")); });
  const int err = ConnectFromCgroup(root + rel, ns.path(), 53, SOCK_DGRAM);
  auto after = Scrape(*source_, {{"", NetnsInode(ns.path()), true}});
  rmdir((root + rel).c_str());
  ASSERT_EQ(err, EAGAIN);
  auto wl = [&](const char* protocol) {
    return testing::Get(after, "sockstate_workload_connect_failures_total",
                        {{"protocol", protocol},
                         {"reason", "no_local_port"},
                         {"workload", rel},
                         {"workload_kind", "cgroup"}});
  };
  EXPECT_EQ(wl("udp"), 1);
  EXPECT_EQ(wl("tcp"), 0);
  EXPECT_EQ(UdpFailures(after), 1);
}

TEST_F(ConnectFailuresKernel, UdpAutoCountsWithFexitExactlyWhenTheKernelAllowsIt) {
  // Whether this kernel loads the fexit programs (these test machines refuse every BPF
  // trampoline with EPERM; most distribution kernels allow them).
  const bool fexit = BpfObject::Load({"cf_udp_v4_get_port", "cf_udp_v6_get_port"}).ok();
  auto made = MakeConnectFailuresSource("on", "auto", "/proc");
  ASSERT_TRUE(made.ok()) << made.status().message();
  TestNetns ns;
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40000");
  std::vector<NamespaceInfo> nss = {{"", NetnsInode(ns.path()), true}};
  auto s = Scrape(**made, nss);
  EXPECT_EQ(testing::Get(s, "sockstate_connect_failures_available"), 1);  // TCP either way
  EXPECT_EQ(testing::Get(s, "sockstate_connect_failures_udp_available"), fexit ? 1 : 0);
  ns.Run([&] {
    testing::FdOwner held;
    held.Own(testing::UdpSocket(testing::UdpBind::kBind0, "127.0.0.1"));
    EXPECT_EQ(testing::UdpSocket(testing::UdpBind::kConnect, "127.0.0.1"), -EAGAIN);
  });
  auto after = Scrape(**made, nss);
  if (fexit) {
    EXPECT_EQ(UdpFailures(after), 1);
  } else {
    EXPECT_TRUE(std::isnan(UdpFailures(after)));
  }
}

TEST_F(ConnectFailuresKernel, UdpOffExportsNoUdpSeries) {
  TestNetns ns;
  auto s = Scrape(*source_, {{"", NetnsInode(ns.path()), true}});
  EXPECT_EQ(testing::Get(s, "sockstate_connect_failures_udp_available"), 0);
  EXPECT_TRUE(std::isnan(UdpFailures(s)));
}

// ---- The real exporter binary --------------------------------------------------------------

/// Open fds and resident memory (kB) of a process.
struct ProcessUsage {
  size_t fds = 0;
  long rss_kb = 0;
};
ProcessUsage Usage(pid_t pid) {
  ProcessUsage u;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    (void)e;
    ++u.fds;
  }
  const std::string status = testing::ReadFile("/proc/" + std::to_string(pid) + "/status");
  const size_t at = status.find("VmRSS:");
  if (at != std::string::npos) u.rss_kb = std::atol(status.c_str() + at + 6);
  return u;
}

/// The fewest open fds of `pid` over 1 s (10 samples): the HTTP server closes a connection's
/// socket a moment after the client did, so one sample may count the last scrape's socket.
size_t SettledFds(pid_t pid) {
  size_t fewest = SIZE_MAX;
  for (int i = 0; i < 10; ++i) {
    fewest = std::min(fewest, Usage(pid).fds);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return fewest;
}

std::string ListConfig(const TestNetns& ns) {
  return "namespaces:\n  mode: list\n  names: [" + ns.name() + "]\n";
}

double ExporterFailures(const testing::Series& s, const std::string& destination,
                        const std::string& reason, const std::string& netns) {
  return testing::Get(
      s, "sockstate_connect_failures_total",
      {{"destination", destination}, {"netns", netns}, {"protocol", "tcp"}, {"reason", reason}});
}

TEST_F(ConnectFailuresExporter, ModeListCountsUnderTheNamespaceLabelModeOwnDoesNot) {
  TestNetns ns;
  testing::ExporterProcess own("", {"--collector.connect-failures=on"});
  testing::ExporterProcess list(ListConfig(ns), {"--collector.connect-failures=on"});
  EXPECT_EQ(testing::Get(own.Scrape(), "sockstate_connect_failures_available"), 1);
  EXPECT_EQ(ExporterFailures(list.Scrape(), "other", "no_local_port", ns.name()), 0);
  ExhaustPorts(ns, "127.0.0.1", 5000);
  // own: the exporter's namespace only; the failures happened elsewhere.
  testing::Series o = own.Scrape();
  EXPECT_TRUE(std::isnan(testing::Get(
      o, "sockstate_connect_failures_total",
      {{"destination", "127.0.0.1:5000"}, {"protocol", "tcp"}, {"reason", "no_local_port"}})));
  // list: exactly the 3 failures, under the namespace's label.
  testing::Series l = list.Scrape();
  EXPECT_EQ(ExporterFailures(l, "127.0.0.1:5000", "no_local_port", ns.name()), 3);
  EXPECT_EQ(ExporterFailures(l, "127.0.0.1:5000", "refused", ns.name()), 0);
  EXPECT_EQ(ExporterFailures(l, "other", "no_local_port", ns.name()), 0);
}

TEST_F(ConnectFailuresExporter, WithoutCapabilitiesAutoReportsUnavailableAndOnExits1) {
  // Root with an empty bounding set: exec leaves no capability at all.
  const std::vector<std::string> drop = {"setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"};
  std::vector<std::string> on = drop;
  on.insert(on.end(), {testing::ExporterBinary(), "--web.listen-address=127.0.0.1:0",
                       "--collector.connect-failures=on"});
  testing::CommandResult r = testing::RunCommand(on, std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--collector.connect-failures=on"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CAP_BPF and CAP_PERFMON"), std::string::npos) << r.output;

  const int port = testing::FreeLoopbackPort();
  const std::string log = ::testing::TempDir() + "/cf-auto-" + std::to_string(getpid()) + ".log";
  std::vector<std::string> autov = drop;
  autov[0] = "/usr/bin/setpriv";
  autov.insert(autov.end(),
               {testing::ExporterBinary(), "--web.listen-address=127.0.0.1:" + std::to_string(port),
                "--collector.connect-failures=auto"});
  testing::ChildProcess child;
  ASSERT_TRUE(child.Start(autov, log));
  ASSERT_TRUE(testing::WaitForHttp("127.0.0.1", port, "/", std::chrono::seconds(10)))
      << testing::ReadFile(log);
  for (int i = 0; i < 3; ++i) {
    testing::HttpResponse h = testing::HttpGet("127.0.0.1", port, "/metrics");
    ASSERT_EQ(h.status, 200);
    testing::Series s = testing::ParseExposition(h.body);
    EXPECT_EQ(testing::Get(s, "sockstate_connect_failures_available"), 0);
    EXPECT_FALSE(testing::HasMetric(s, "sockstate_connect_failures_total"));
    EXPECT_EQ(testing::Get(s, "sockstate_scrape_source_success", {{"source", "connect_failures"}}),
              1);
  }
  child.Stop();
  const std::string text = testing::ReadFile(log);
  unlink(log.c_str());
  // Said once, at start, naming what is missing.
  size_t lines = 0;
  for (size_t at = 0;
       (at = text.find("connect() failures are not counted", at)) != std::string::npos; ++at) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << text;
  EXPECT_NE(text.find("CAP_BPF and CAP_PERFMON"), std::string::npos) << text;
}

TEST_F(ConnectFailuresExporter, CounterSurvivesReloadAnd1000ScrapesWithoutFdOrMemoryGrowth) {
  TestNetns ns;
  testing::ExporterProcess exp(ListConfig(ns), {"--collector.connect-failures=on"});
  ExhaustPorts(ns, "127.0.0.1", 5000);
  EXPECT_EQ(ExporterFailures(exp.Scrape(), "127.0.0.1:5000", "no_local_port", ns.name()), 3);
  // Reload (same file, SIGHUP): the total stays. Wait (bounded) until the reload shows.
  const double stamp =
      testing::Get(exp.Scrape(), "sockstate_config_last_reload_success_timestamp_seconds");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a new timestamp differs
  ASSERT_EQ(kill(exp.pid(), SIGHUP), 0);
  bool reloaded = false;
  for (int i = 0; i < 50 && !reloaded; ++i) {
    reloaded = testing::Get(exp.Scrape(),
                            "sockstate_config_last_reload_success_timestamp_seconds") > stamp;
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(reloaded) << exp.Log();
  EXPECT_EQ(ExporterFailures(exp.Scrape(), "127.0.0.1:5000", "no_local_port", ns.name()), 3);
  // One more failure after the reload adds exactly one.
  ASSERT_EQ(ns.TryConnect("127.0.0.1", 5000), -EADDRNOTAVAIL);
  EXPECT_EQ(ExporterFailures(exp.Scrape(), "127.0.0.1:5000", "no_local_port", ns.name()), 4);
  // Warm up: the exporter's RSS grows by ~4 MB over its first ~1000 scrapes with or without
  // this source (per-thread malloc arenas of the HTTP server), then stays flat.
  for (int i = 0; i < 1000; ++i) exp.ScrapeText();
  const ProcessUsage before = Usage(exp.pid());
  const size_t fds_before = SettledFds(exp.pid());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(200);
  int scrapes = 0;
  for (; scrapes < 1000 && std::chrono::steady_clock::now() < deadline; ++scrapes) {
    exp.ScrapeText();
  }
  ASSERT_EQ(scrapes, 1000) << "1000 scrapes did not finish in 200 s";
  const ProcessUsage after = Usage(exp.pid());
  EXPECT_EQ(SettledFds(exp.pid()), fds_before);
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in its quarantine (256 MB by default), so RSS grows
  // by design there; the plain build checks the bound.
  std::printf("RSS not checked under AddressSanitizer: %zu -> %zu kB\n", size_t(before.rss_kb),
              size_t(after.rss_kb));
#else
  EXPECT_LE(after.rss_kb, before.rss_kb + 1024)
      << "RSS " << before.rss_kb << " -> " << after.rss_kb;
#endif
  EXPECT_EQ(ExporterFailures(exp.Scrape(), "127.0.0.1:5000", "no_local_port", ns.name()), 4);
}

/// Failures the shared program counted in the namespace `netns_inode`, straight from its map
/// (host-wide: other namespaces' entries are left alone).
uint64_t FailuresInMap(const BpfObject& object, uint64_t netns_inode) {
  const int fd = object.MapFd("cf_failures");
  EXPECT_GE(fd, 0);
  uint64_t total = 0;
  sockstate_cf_key key{}, next{};
  const void* prev = nullptr;
  for (int i = 0; i < SOCKSTATE_CF_MAX_ENTRIES && bpf_map_get_next_key(fd, prev, &next) == 0; ++i) {
    uint64_t count = 0;
    if (next.netns_inum == netns_inode && bpf_map_lookup_elem(fd, &next, &count) == 0) {
      total += count;
    }
    key = next;
    prev = &key;
  }
  return total;
}

// The TCP connect-failure part and the TIME_WAIT owner part are one program on the tracepoint
// (sock_state_change.bpf.c): loaded for the owners alone, it counts no failure; it counts each
// one exactly while the connect-failure probe lives, and stops when the probe goes.
TEST_F(ConnectFailuresKernel, SharedProgramCountsOnlyWhileTheConnectFailureProbeLives) {
  auto object = BpfObject::Load(TimeWaitOwnerPrograms());
  ASSERT_TRUE(object.ok()) << object.status().message();
  TestNetns ns;
  const uint64_t inode = NetnsInode(ns.path());
  ASSERT_EQ(ns.TryConnect("127.0.0.1", 5001), -ECONNREFUSED);
  EXPECT_EQ(FailuresInMap(**object, inode), 0u) << "the owners alone count no failure";
  auto probe = OpenConnectFailureProbe(*object, UdpFailureOptions{"off"}, 0);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ns.TryConnect("127.0.0.1", 5001), -ECONNREFUSED);
  std::vector<FailureRecord> records;
  uint64_t overflow = 0;
  ASSERT_TRUE(probe->Drain(&records, &overflow).ok());
  uint64_t refused = 0, other = 0;
  for (const FailureRecord& r : records) {
    if (r.netns_inode != inode) continue;
    (r.reason == SOCKSTATE_CF_REFUSED ? refused : other) += r.count;
  }
  EXPECT_EQ(refused, 3u);
  EXPECT_EQ(other, 0u);
  probe.reset();
  ASSERT_EQ(ns.TryConnect("127.0.0.1", 5001), -ECONNREFUSED);
  EXPECT_EQ(FailuresInMap(**object, inode), 0u) << "counting stops with the probe";
}

}  // namespace
}  // namespace sockstate
