// Real-kernel tests of "who holds the ports" (docs/workloads.md): processes in cgroup v2 groups
// the test creates hold, churn and leak connections in a namespace the test creates; the real
// exporter (with its TIME_WAIT owner program loaded) must report exactly those sockets per
// destination, workload and state.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "exporter_process.h"
#include "kernel/workload.h"
#include "netns_fixture.h"
#include "test_util.h"

namespace sockstate {
namespace {

using testing::TestNetns;

// What a child does inside the namespace, in its cgroup (async-signal-safe calls only).
enum class Work { kServe, kHold, kChurn, kLeak };

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// kServe: listens on `port` (accepts, closes each connection when its peer closes) and on
// `port` + 1 (accepts and closes at once: the client is left in CLOSE_WAIT), for 60 s at most.
[[noreturn]] void Serve(uint16_t port, int ready_fd, int stop_fd) {
  int lis[2];
  for (int i = 0; i < 2; ++i) {
    lis[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lis[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = Loopback(uint16_t(port + i));
    if (bind(lis[i], reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(lis[i], 4096) != 0)
      _exit(110);
  }
  if (write(ready_fd, "r", 1) != 1) _exit(111);
  pollfd fds[4096];
  int n = 3;
  fds[0] = {stop_fd, POLLIN, 0};
  fds[1] = {lis[0], POLLIN, 0};
  fds[2] = {lis[1], POLLIN, 0};
  for (int round = 0; round < 60000; ++round) {  // 1 ms polls: 60 s at most
    if (poll(fds, n, 1) < 0) continue;
    if (fds[0].revents) _exit(0);
    for (int l = 1; l <= 2; ++l) {
      if (!(fds[l].revents & POLLIN)) continue;
      for (int c; (c = accept4(fds[l].fd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
        if (l == 2 || n == 4096) {
          close(c);
        } else {
          fds[n++] = {c, POLLIN, 0};
        }
      }
    }
    for (int i = 3; i < n; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[64];
      if (read(fds[i].fd, buf, sizeof(buf)) > 0) continue;
      close(fds[i].fd);  // the peer closed: close ours
      fds[i--] = fds[--n];
    }
  }
  _exit(0);
}

// A child in `cgroup_dir`, inside the namespace at `netns_path`, doing `work` with `count`
// connections to 127.0.0.1:`port`; it says "ready" when done and keeps its sockets until
// Stop().
class CgroupChild {
 public:
  CgroupChild(const std::string& cgroup_dir, const std::string& netns_path, Work work,
              uint16_t port, int count) {
    int ready[2], stop[2];
    if (pipe(ready) != 0 || pipe(stop) != 0) throw std::runtime_error("pipe");
    const int ns_fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) throw std::runtime_error("open " + netns_path);
    const std::string procs = cgroup_dir + "/cgroup.procs";
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      // Only our three fds: another child's stop pipe kept open here would keep it waiting.
      for (int fd = 3; fd < 1024; ++fd) {
        if (fd != ns_fd && fd != ready[1] && fd != stop[0]) close(fd);
      }
      int fd = open(procs.c_str(), O_WRONLY);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(100);
      close(fd);
      if (setns(ns_fd, CLONE_NEWNET) != 0) _exit(101);
      if (work == Work::kServe) Serve(port, ready[1], stop[0]);
      sockaddr_in a = Loopback(port);
      for (int i = 0; i < count; ++i) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) _exit(102);
        if (work == Work::kChurn) close(s);  // client closes first: TIME_WAIT here
      }
      if (write(ready[1], "r", 1) != 1) _exit(103);
      char c;
      while (read(stop[0], &c, 1) < 0 && errno == EINTR) {
      }
      _exit(0);
    }
    close(ns_fd);
    close(ready[1]);
    close(stop[0]);
    stop_ = stop[1];
    char c = 0;
    pollfd p{ready[0], POLLIN, 0};
    const bool ok = poll(&p, 1, 10000) == 1 && read(ready[0], &c, 1) == 1;
    close(ready[0]);
    if (!ok) {
      Stop();
      throw std::runtime_error("child in " + cgroup_dir + " did not get ready");
    }
  }
  ~CgroupChild() { Stop(); }
  void Stop() {
    if (stop_ >= 0) close(stop_);
    stop_ = -1;
    if (pid_ > 0) {
      int status = 0;
      for (int i = 0; i < 500 && waitpid(pid_, &status, WNOHANG) == 0; ++i) usleep(10000);
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int stop_ = -1;
};

// Cgroups under the cgroup2 root, removed (after their processes are gone) at the end.
class Cgroups {
 public:
  explicit Cgroups(const std::string& root) : root_(root) {}
  ~Cgroups() {
    for (const std::string& r : rel_) rmdir((root_ + r).c_str());
  }
  // Creates /sst-wl-<pid>-<name>; returns its path relative to the root.
  std::string Make(const std::string& name) {
    const std::string rel = "/sst-wl-" + std::to_string(getpid()) + "-" + name;
    if (mkdir((root_ + rel).c_str(), 0755) != 0 && errno != EEXIST)
      throw std::runtime_error("mkdir " + root_ + rel + ": " + strerror(errno));
    rel_.push_back(rel);
    return rel;
  }
  std::string Dir(const std::string& rel) const { return root_ + rel; }

 private:
  std::string root_;
  std::vector<std::string> rel_;
};

// tcp_tw_reuse 2 (the default) lets loopback connects take over TIME_WAIT sockets older than a
// second: the populations below count every one of them.
void NoTimeWaitReuse(TestNetns& ns) { ns.SetSysctl("net.ipv4.tcp_tw_reuse", "0"); }

// Waits (10 s at most) until the namespace holds exactly `want` sockets in `state`.
void WaitForState(TestNetns& ns, const std::string& state, int want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int have = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    have = testing::Count(ns.ProcCounts(), state);
    if (have == want) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("namespace has " + std::to_string(have) + " " + state + ", want " +
                           std::to_string(want));
}

// The TIME_WAIT sockets of the namespace once its closes have settled (no socket in a closing
// state, the count unchanged for 200 ms; 10 s at most): `made` connections closed by their
// client leave that many, except the few a loopback race resets (the peer's FIN reaching the
// FIN_WAIT2 minisocket out of window: TcpOutRsts), so the tests compare the exporter with the
// kernel's count, which must be within 10% of `made`.
int SettledTimeWait(TestNetns& ns, int made) {
  // Wall time, not a count of reads: a read of /proc/net/tcp walks every socket of the host
  // (other namespaces' too), which takes seconds on a machine holding a million.
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  int last = -1;
  bool settled = false;
  auto since = Clock::now();
  while (Clock::now() < deadline) {
    const auto read_at = Clock::now();
    const testing::StateCounts c = ns.ProcCounts();
    const int tw = testing::Count(c, "time_wait");
    const bool closing = testing::Count(c, "fin_wait1") + testing::Count(c, "fin_wait2") +
                             testing::Count(c, "last_ack") + testing::Count(c, "closing") >
                         0;
    if (tw != last || closing) {
      since = read_at;
      last = closing ? -1 : tw;
    } else if (read_at - since >= std::chrono::milliseconds(200)) {
      settled = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!settled || last > made || last < made - made / 10 - 1) {
    throw std::runtime_error("namespace has " + std::to_string(last) + " time_wait for " +
                             std::to_string(made) + " closed connections");
  }
  return last;
}

std::string SkipReason(std::string* root) {
  if (geteuid() != 0) return "needs root";
  struct stat st;
  if (stat("/sys/kernel/btf/vmlinux", &st) != 0) return "no kernel BTF (/sys/kernel/btf/vmlinux)";
  *root = Cgroup2Root("", "/proc");
  if (root->empty()) return "no cgroup v2 hierarchy mounted";
  return "";
}

std::string ListConfig(const TestNetns& ns, const std::string& extra = "") {
  return "namespaces:\n  mode: list\n  names: [" + ns.name() + "]\n  detail_threshold: 0\n" + extra;
}

double Workload(const testing::Series& s, const std::string& netns, const std::string& dest,
                const std::string& workload, const std::string& kind, const std::string& state) {
  return testing::Get(s, "sockstate_destination_workload_sockets",
                      {{"netns", netns},
                       {"destination", dest},
                       {"workload", workload},
                       {"workload_kind", kind},
                       {"state", state}});
}

TEST(WorkloadsKernel, EstablishedTimeWaitAndCloseWaitPerWorkloadAndOlderTimeWaitUnknown) {
  std::string root;
  const std::string skip = SkipReason(&root);
  if (!skip.empty()) GTEST_SKIP() << skip;
  Cgroups cg(root);
  const std::string a = cg.Make("a"), b = cg.Make("b"), c = cg.Make("c"), pre = cg.Make("pre");
  TestNetns ns("sstbpf");
  NoTimeWaitReuse(ns);
  CgroupChild server(cg.Dir(cg.Make("srv")), ns.path(), Work::kServe, 7001, 0);
  // 4 TIME_WAIT sockets to 127.0.0.1:7001 before the exporter (and its program) starts.
  { CgroupChild(cg.Dir(pre), ns.path(), Work::kChurn, 7001, 4); }
  const int older = SettledTimeWait(ns, 4);

  testing::ExporterProcess exporter(ListConfig(ns), {"--collector.time-wait-owners=on"});
  CgroupChild hold(cg.Dir(a), ns.path(), Work::kHold, 7001, 5);
  { CgroupChild(cg.Dir(b), ns.path(), Work::kChurn, 7001, 7); }
  const int churned = SettledTimeWait(ns, older + 7) - older;
  CgroupChild leak(cg.Dir(c), ns.path(), Work::kLeak, 7002, 2);
  WaitForState(ns, "close_wait", 2);
  WaitForState(ns, "established", 10);  // both ends of the 5 held connections

  const testing::Series s = exporter.Scrape();
  const std::string n = ns.name(), d1 = "127.0.0.1:7001", d2 = "127.0.0.1:7002";
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owners_available", {}), 1);
  EXPECT_EQ(Workload(s, n, d1, a, "cgroup", "established"), 5);
  EXPECT_EQ(Workload(s, n, d1, b, "cgroup", "time_wait"), churned);
  EXPECT_EQ(Workload(s, n, d1, "unknown", "unknown", "time_wait"), older);
  EXPECT_EQ(Workload(s, n, d2, c, "cgroup", "close_wait"), 2);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_unknown_owner_sockets", {{"netns", n}}), older);
  auto used = [&](const std::string& dest, const std::string& w, const std::string& kind) {
    return testing::Get(
        s, "sockstate_destination_workload_ephemeral_ports_used",
        {{"netns", n}, {"destination", dest}, {"workload", w}, {"workload_kind", kind}});
  };
  EXPECT_EQ(used(d1, a, "cgroup"), 5);
  EXPECT_EQ(used(d1, b, "cgroup"), churned);
  EXPECT_EQ(used(d1, "unknown", "unknown"), older);
  EXPECT_EQ(used(d2, c, "cgroup"), 2);
  // Exactly those series for these two destinations: nothing else is attributed to them.
  int series = 0;
  for (const auto& [k, v] : s) {
    if (k.rfind("sockstate_destination_workload_sockets{", 0) == 0 &&
        (k.find(d1) != std::string::npos || k.find(d2) != std::string::npos))
      ++series;
  }
  EXPECT_EQ(series, 4);
}

// nobody with exactly CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (to enter the namespace): the
// program loads and names every owner (it needs no kernel symbol address, so no CAP_SYSLOG).
TEST(WorkloadsKernel, WithOnlyTheBpfCapabilitiesEveryOwnerIsNamed) {
  std::string root;
  const std::string skip = SkipReason(&root);
  if (!skip.empty()) GTEST_SKIP() << skip;
  Cgroups cg(root);
  const std::string b = cg.Make("caps");
  TestNetns ns("sstbpf");
  NoTimeWaitReuse(ns);
  CgroupChild server(cg.Dir(cg.Make("srv")), ns.path(), Work::kServe, 7201, 0);
  const std::string caps = "+bpf,+perfmon,+sys_admin";
  testing::ExporterProcess exporter(
      ListConfig(ns),
      {"--collector.time-wait-owners=on", "--collector.connect-failures=off", "--log.level=info"},
      {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=" + caps,
       "--ambient-caps=" + caps});
  ASSERT_NE(exporter.Log().find("TIME_WAIT owners are recorded by the kernel"), std::string::npos)
      << exporter.Log();
  const testing::Series before = exporter.Scrape();
  { CgroupChild(cg.Dir(b), ns.path(), Work::kChurn, 7201, 6); }
  const int churned = SettledTimeWait(ns, 6);
  const testing::Series s = exporter.Scrape();
  EXPECT_EQ(Workload(s, ns.name(), "127.0.0.1:7201", b, "cgroup", "time_wait"), churned);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_unknown_owner_sockets", {{"netns", ns.name()}}),
            0);
  // Host-wide: other TIME_WAIT sockets of the machine may be recorded meanwhile.
  EXPECT_GE(testing::Get(s, "sockstate_time_wait_owner_recorded_total", {}) -
                testing::Get(before, "sockstate_time_wait_owner_recorded_total", {}),
            churned);
}

// The state tracker serving the namespace (no dump): its TIME_WAIT sockets are looked up in
// the owner ring one by one, as a dump's are; full sockets come from its own cells.
TEST(WorkloadsKernel, WhenTheTrackerServesTheNamespaceEveryOwnerIsNamedToo) {
  std::string root;
  const std::string skip = SkipReason(&root);
  if (!skip.empty()) GTEST_SKIP() << skip;
  Cgroups cg(root);
  const std::string a = cg.Make("held"), b = cg.Make("churned");
  TestNetns ns("sstbpf");
  NoTimeWaitReuse(ns);
  CgroupChild server(cg.Dir(cg.Make("srv")), ns.path(), Work::kServe, 7501, 0);
  testing::ExporterProcess exporter(ListConfig(ns),
                                    {"--collector.time-wait-owners=on", "--collector.tracker=on"});
  const std::string n = ns.name(), d = "127.0.0.1:7501";
  bool served = false;  // the tracker's first walk of the namespace (15 s at most)
  for (int i = 0; i < 75 && !served; ++i) {
    served = testing::Get(exporter.Scrape(), "sockstate_tracker_in_use", {{"netns", n}}) == 1;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(served) << exporter.Log();
  CgroupChild hold(cg.Dir(a), ns.path(), Work::kHold, 7501, 3);
  { CgroupChild(cg.Dir(b), ns.path(), Work::kChurn, 7501, 8); }
  const int churned = SettledTimeWait(ns, 8);
  WaitForState(ns, "established", 6);  // both ends of the 3 held connections
  const testing::Series s = exporter.Scrape();
  EXPECT_EQ(testing::Get(s, "sockstate_tracker_in_use", {{"netns", n}}), 1);
  EXPECT_EQ(Workload(s, n, d, a, "cgroup", "established"), 3);
  EXPECT_EQ(Workload(s, n, d, b, "cgroup", "time_wait"), churned);
  EXPECT_TRUE(std::isnan(Workload(s, n, d, "unknown", "unknown", "time_wait")));
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_unknown_owner_sockets", {{"netns", n}}), 0);
}

// tcp_tw_reuse (2, the default, on loopback): with 10 ephemeral ports, a second workload's
// connects take over the first's 10 TIME_WAIT sockets (older than a second) and close: the 10
// TIME_WAIT sockets there now are the second workload's, recorded over the first's records.
TEST(WorkloadsKernel, TimeWaitTakenOverByAnotherWorkloadIsItsOwn) {
  std::string root;
  const std::string skip = SkipReason(&root);
  if (!skip.empty()) GTEST_SKIP() << skip;
  Cgroups cg(root);
  const std::string a = cg.Make("first"), b = cg.Make("second");
  TestNetns ns("sstbpf");
  ns.SetSysctl("net.ipv4.ip_local_port_range", "40000 40009");
  ns.SetSysctl("net.ipv4.tcp_tw_reuse", "2");
  CgroupChild server(cg.Dir(cg.Make("srv")), ns.path(), Work::kServe, 7401, 0);
  testing::ExporterProcess exporter(ListConfig(ns), {"--collector.time-wait-owners=on"});
  { CgroupChild(cg.Dir(a), ns.path(), Work::kChurn, 7401, 10); }
  ASSERT_EQ(SettledTimeWait(ns, 10), 10);
  const std::string n = ns.name(), d = "127.0.0.1:7401";
  testing::Series s = exporter.Scrape();
  EXPECT_EQ(Workload(s, n, d, a, "cgroup", "time_wait"), 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // tcp_tw_reuse_delay: 1 s
  { CgroupChild(cg.Dir(b), ns.path(), Work::kChurn, 7401, 10); }
  ASSERT_EQ(SettledTimeWait(ns, 10), 10);
  s = exporter.Scrape();
  EXPECT_EQ(Workload(s, n, d, b, "cgroup", "time_wait"), 10);
  EXPECT_TRUE(std::isnan(Workload(s, n, d, a, "cgroup", "time_wait")));
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_unknown_owner_sockets", {{"netns", n}}), 0);
}

// A ring smaller than the TIME_WAIT sockets born: it holds the latest
// workloads.time_wait_max_sockets records, so the sockets recorded last are named and the older
// ones are "unknown", counted. The ring is host-wide: of its 1024 records, those not naming
// one of these sockets are this test's sockets that ended (a loopback race resets a few) and
// other TIME_WAIT sockets of the machine, at most (records made) - (sockets here) in all.
TEST(WorkloadsKernel, TimeWaitSocketsBeyondTheRingAreUnknownAndCounted) {
  std::string root;
  const std::string skip = SkipReason(&root);
  if (!skip.empty()) GTEST_SKIP() << skip;
  Cgroups cg(root);
  const std::string b = cg.Make("full");
  TestNetns ns("sstbpf");
  NoTimeWaitReuse(ns);
  CgroupChild server(cg.Dir(cg.Make("srv")), ns.path(), Work::kServe, 7301, 0);
  testing::ExporterProcess exporter(ListConfig(ns, "workloads:\n  time_wait_max_sockets: 1024\n"),
                                    {"--collector.time-wait-owners=on"});
  const double recorded_before =
      testing::Get(exporter.Scrape(), "sockstate_time_wait_owner_recorded_total", {});
  { CgroupChild(cg.Dir(b), ns.path(), Work::kChurn, 7301, 1200); }
  const int n = SettledTimeWait(ns, 1200);
  const testing::Series s = exporter.Scrape();
  const double recorded =
      testing::Get(s, "sockstate_time_wait_owner_recorded_total", {}) - recorded_before;
  const double named = Workload(s, ns.name(), "127.0.0.1:7301", b, "cgroup", "time_wait");
  const double unknown =
      Workload(s, ns.name(), "127.0.0.1:7301", "unknown", "unknown", "time_wait");
  EXPECT_GE(recorded, n);
  EXPECT_EQ(named + unknown, n);
  EXPECT_LE(named, 1024);
  EXPECT_GE(named, 1024 - (recorded - n)) << "recorded " << recorded << ", sockets " << n;
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_unknown_owner_sockets", {{"netns", ns.name()}}),
            unknown);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owner_entries", {}), 1024);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owner_entries_max", {}), 1024);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owner_map_bytes", {}), 1024 * 72);
}

TEST(WorkloadsKernel, WorkloadsBeyondTopKFoldIntoOtherWithExactSums) {
  std::string root;
  const std::string skip = SkipReason(&root);
  if (!skip.empty()) GTEST_SKIP() << skip;
  Cgroups cg(root);
  TestNetns ns("sstbpf");
  NoTimeWaitReuse(ns);
  CgroupChild server(cg.Dir(cg.Make("srv")), ns.path(), Work::kServe, 7101, 0);
  testing::ExporterProcess exporter(ListConfig(ns, "workloads:\n  top_k: 2\n"),
                                    {"--collector.time-wait-owners=off"});
  // Four workloads hold 4, 3, 2 and 1 connections to one destination.
  std::vector<std::string> rel;
  std::vector<std::unique_ptr<CgroupChild>> children;
  for (int i = 1; i <= 4; ++i) {
    rel.push_back(cg.Make("k" + std::to_string(i)));
    children.push_back(
        std::make_unique<CgroupChild>(cg.Dir(rel.back()), ns.path(), Work::kHold, 7101, i));
  }
  WaitForState(ns, "established", 20);
  const testing::Series s = exporter.Scrape();
  const std::string n = ns.name(), d = "127.0.0.1:7101";
  EXPECT_EQ(Workload(s, n, d, rel[3], "cgroup", "established"), 4);
  EXPECT_EQ(Workload(s, n, d, rel[2], "cgroup", "established"), 3);
  EXPECT_TRUE(std::isnan(Workload(s, n, d, rel[1], "cgroup", "established")));
  EXPECT_TRUE(std::isnan(Workload(s, n, d, rel[0], "cgroup", "established")));
  EXPECT_EQ(Workload(s, n, d, "other", "other", "established"), 3);
  EXPECT_EQ(testing::Get(s, "sockstate_destination_workloads_folded", {{"netns", n}}), 2);
  EXPECT_EQ(testing::Get(s, "sockstate_destination_sockets",
                         {{"netns", n}, {"destination", d}, {"state", "established"}}),
            10);
  // --collector.time-wait-owners=off: no program and no series about it.
  EXPECT_FALSE(testing::HasMetric(s, "sockstate_time_wait_owners_available"));
}

}  // namespace
}  // namespace sockstate
