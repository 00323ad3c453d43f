// Several network namespaces read by one exporter running in the host namespace (real kernel,
// root). Three named namespaces with different ephemeral port ranges and exact socket
// populations, plus one unnamed namespace held by a process (`unshare -n`): every number is
// reported per namespace and labelled right; namespaces that go away disappear from the next
// scrape and the exporter's open fd count returns to its baseline. (The scrape cost per namespace
// is measured by bench/run_netns_cost_bench.sh.)
//
// The helpers are local on purpose (a shared TestNetns fixture lives on another branch).

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "requirements.h"
#include "test_util.h"

namespace sockstate::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Labels = std::vector<std::pair<std::string, std::string>>;

const char* kStates[] = {"established", "syn_sent",  "syn_recv", "fin_wait1",
                         "fin_wait2",   "time_wait", "close",    "close_wait",
                         "last_ack",    "listen",    "closing",  "bound_inactive"};

int Sh(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

ino_t Inode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

int CountEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

int CountFds(pid_t pid) { return CountEntries("/proc/" + std::to_string(pid) + "/fd"); }

/// Threads of process `pid` (/proc/<pid>/task).
int CountThreads(pid_t pid) { return CountEntries("/proc/" + std::to_string(pid) + "/task"); }

/// Runs `fn` on a thread that entered the network namespace at `path`. Sockets made there stay
/// in that namespace and can be used from any thread.
bool InNetns(const std::string& path, const std::function<void()>& fn) {
  bool ok = false;
  std::thread th([&] {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    if (rc != 0) return;
    fn();
    ok = true;
  });
  th.join();
  return ok;
}

/// Writes a sysctl of the calling thread's namespace.
bool WriteSysctl(const std::string& name, const std::string& value) {
  std::ofstream f("/proc/sys/" + name);
  f << value;
  f.flush();
  return bool(f);
}

/// Sockets a test holds; closed on destruction or Close().
struct Fds {
  std::vector<int> fds;
  ~Fds() { Close(); }
  void Close() {
    for (int fd : fds) close(fd);
    fds.clear();
  }
  int Add(int fd) {
    if (fd >= 0) fds.push_back(fd);
    return fd;
  }
};

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int Listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = Loopback(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 128) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/// `n` ESTABLISHED pairs to 127.0.0.1:port (the listener and both ends are kept in `keep`).
bool MakePairs(int port, int n, Fds* keep) {
  int l = keep->Add(Listen(port));
  if (l < 0) return false;
  for (int i = 0; i < n; ++i) {
    if (keep->Add(Connect(port)) < 0) return false;
    if (keep->Add(accept4(l, nullptr, nullptr, SOCK_CLOEXEC)) < 0) return false;
  }
  return true;
}

/// `n` client-side TIME_WAIT sockets towards 127.0.0.1:port; the listener is closed after, so
/// nothing listens on `port` and the TIME_WAIT sockets are outgoing.
bool MakeTimeWait(int port, int n) {
  int l = Listen(port);
  if (l < 0) return false;
  bool ok = true;
  for (int i = 0; i < n && ok; ++i) {
    int c = Connect(port);
    int s = c >= 0 ? accept4(l, nullptr, nullptr, SOCK_CLOEXEC) : -1;
    ok = c >= 0 && s >= 0;
    if (c >= 0) close(c);  // the client closes first: it ends in TIME_WAIT
    if (s >= 0) {
      char buf[16];
      while (read(s, buf, sizeof(buf)) > 0) {
      }
      close(s);
    }
  }
  close(l);
  return ok;
}

/// A named namespace with lo up; deleted on destruction.
struct NamedNetns {
  std::string name;
  explicit NamedNetns(std::string n) : name(std::move(n)) {
    Sh("ip netns del " + name);
    if (Sh("ip netns add " + name) == 0) Sh("ip -n " + name + " link set lo up");
  }
  ~NamedNetns() { Delete(); }
  void Delete() {
    if (!name.empty()) Sh("ip netns del " + name);
    name.clear();
  }
  std::string path() const { return "/var/run/netns/" + name; }
  bool ok() const { return !name.empty() && Exists(path()); }
};

/// The exporter with a config file, on a free loopback port.
struct Exporter {
  ChildProcess proc;
  int port = 0;
  std::string dir;
  bool Start(const std::string& config_yaml) {
    char tmpl[] = "/tmp/sst_multi_XXXXXX";
    if (!mkdtemp(tmpl)) return false;
    dir = tmpl;
    {
      std::ofstream f(dir + "/sockstate.yml");
      f << config_yaml;
    }
    port = FreeLoopbackPort();
    if (!proc.Start({SOCKSTATE_EXPORTER_BIN, "--config.file=" + dir + "/sockstate.yml",
                     "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                    dir + "/exporter.log")) {
      return false;
    }
    // The first scrape enters every namespace; a busy host can make it slow.
    return WaitForHttp("127.0.0.1", port, "/metrics", std::chrono::seconds(240));
  }
  ~Exporter() {
    proc.Stop();
    if (!dir.empty()) Sh("rm -rf " + dir);
  }
  Series Scrape() {
    HttpResponse r = HttpGet("127.0.0.1", port, "/metrics", std::chrono::seconds(240));
    EXPECT_EQ(r.status, 200) << r.error;
    return ParseExposition(r.body);
  }
  std::string Log() {
    try {
      return ReadFile(dir + "/exporter.log");
    } catch (...) {
      return "";
    }
  }
};

/// What one namespace must show.
struct Expected {
  std::string netns;
  int range = 0;
  std::map<std::string, double> ipv4;       // state -> count; every other state (and ipv6) is 0
  std::map<std::string, double> dest_used;  // destination -> ephemeral ports used
  std::string container_id, pod_uid;
};

/// Mismatches between a scrape and `e`, as text (empty when all match).
std::string Diff(const Series& s, const Expected& e) {
  std::string out;
  auto check = [&](const std::string& name, const Labels& l, double want) {
    double got = Get(s, name, l);
    if (!(got == want)) {
      out += name + "{";
      for (auto& [k, v] : l) out += k + "=" + v + ",";
      out += "} = " + std::to_string(got) + ", want " + std::to_string(want) + "\n";
    }
  };
  for (const char* fam : {"ipv4", "ipv6"}) {
    for (const char* st : kStates) {
      double want = 0;
      if (std::string(fam) == "ipv4" && e.ipv4.count(st)) want = e.ipv4.at(st);
      check("sockstate_tcp_sockets", {{"netns", e.netns}, {"family", fam}, {"state", st}}, want);
    }
  }
  check("sockstate_ephemeral_port_range_ports", {{"netns", e.netns}}, e.range);
  check("sockstate_ephemeral_port_usable_ports", {{"netns", e.netns}}, e.range);
  for (auto& [dest, used] : e.dest_used) {
    check("sockstate_destination_ephemeral_ports_used", {{"netns", e.netns}, {"destination", dest}},
          used);
  }
  check("sockstate_netns_info",
        {{"netns", e.netns}, {"container_id", e.container_id}, {"pod_uid", e.pod_uid}}, 1);
  check("sockstate_netns_scrape_success", {{"netns", e.netns}}, 1);
  return out;
}

/// Scrapes until every expectation holds (sockets settle: LAST_ACK, FIN_WAIT2) or 15 s pass;
/// returns the last scrape.
Series ScrapeUntil(Exporter& ex, const std::vector<Expected>& all) {
  Series s;
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while (true) {
    s = ex.Scrape();
    bool ok = true;
    for (const Expected& e : all) ok = ok && Diff(s, e).empty();
    if (ok || Clock::now() > deadline) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

/// Every series with label netns="<netns>".
std::vector<std::string> SeriesOf(const Series& s, const std::string& netns) {
  std::vector<std::string> out;
  const std::string needle = "netns=\"" + netns + "\"";
  for (auto& [k, v] : s) {
    if (k.find(needle) != std::string::npos) out.push_back(k);
  }
  return out;
}

int CountSeries(const Series& s, const std::string& name) {
  int n = 0;
  for (auto& [k, v] : s) n += k.rfind(name + "{", 0) == 0;
  return n;
}

/// Fd count once it stops moving (an HTTP connection may still be closing).
int SettledFds(pid_t pid, int want) {
  int n = -1;
  for (int i = 0; i < 30; ++i) {
    n = CountFds(pid);
    if (n == want) return n;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return n;
}

class NetnsMultiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SOCKSTATE_REQUIRE(Missing({Need::kRoot}));
    prefix_ = "sst-multi-" + std::to_string(getpid());
  }

  /// The three named namespaces with their ranges and populations.
  void MakeNamed() {
    ns_.emplace_back(std::make_unique<NamedNetns>(prefix_ + "-a"));
    ns_.emplace_back(std::make_unique<NamedNetns>(prefix_ + "-b"));
    ns_.emplace_back(std::make_unique<NamedNetns>(prefix_ + "-c"));
    for (auto& n : ns_) ASSERT_TRUE(n->ok()) << n->name;
    bool ok = true;
    // a: 5 ESTABLISHED pairs to 127.0.0.1:8080 + 3 TIME_WAIT to 127.0.0.1:8081.
    ASSERT_TRUE(InNetns(ns_[0]->path(), [&] {
      ok = ok && WriteSysctl("net/ipv4/ip_local_port_range", "40000 40099");
      ok = ok && MakePairs(8080, 5, &fds_[0]);
      ok = ok && MakeTimeWait(8081, 3);
    }));
    // b: 7 ESTABLISHED pairs to 127.0.0.1:9090.
    ASSERT_TRUE(InNetns(ns_[1]->path(), [&] {
      ok = ok && WriteSysctl("net/ipv4/ip_local_port_range", "41000 41049");
      ok = ok && MakePairs(9090, 7, &fds_[1]);
    }));
    // c: 2 listeners + 10 TIME_WAIT to 127.0.0.1:7002.
    ASSERT_TRUE(InNetns(ns_[2]->path(), [&] {
      ok = ok && WriteSysctl("net/ipv4/ip_local_port_range", "42000 42199");
      ok = ok && fds_[2].Add(Listen(7000)) >= 0 && fds_[2].Add(Listen(7001)) >= 0;
      ok = ok && MakeTimeWait(7002, 10);
    }));
    ASSERT_TRUE(ok) << "socket setup failed: " << std::strerror(errno);
    expected_ = {
        {ns_[0]->name,
         100,
         {{"established", 10}, {"listen", 1}, {"time_wait", 3}},
         {{"127.0.0.1:8080", 5}, {"127.0.0.1:8081", 3}},
         "",
         ""},
        {ns_[1]->name, 50, {{"established", 14}, {"listen", 1}}, {{"127.0.0.1:9090", 7}}, "", ""},
        {ns_[2]->name, 200, {{"listen", 2}, {"time_wait", 10}}, {{"127.0.0.1:7002", 10}}, "", ""},
    };
  }

  void TearDown() override {
    for (auto& f : fds_) f.Close();
    ns_.clear();
  }

  std::string prefix_;
  std::vector<std::unique_ptr<NamedNetns>> ns_;
  Fds fds_[4];
  std::vector<Expected> expected_;
};

/// A fake container cgroup for a process, shaped like the kubelet's cgroupfs driver
/// (/kubepods/besteffort/pod<uid>/<64hex>), in a named cgroup v1 hierarchy of its own
/// (`mount -t cgroup -o none,name=<tag>`: no controllers, so no resource effect). It needs no
/// cgroup layout from the host (v1, hybrid and v2-only alike): /proc/<pid>/cgroup gains the
/// line "<n>:name=<tag>:/kubepods/...", which the exporter reads like a container runtime's.
/// Unmounted and removed on destruction (the caller kills the process first).
struct FakeContainerCgroup {
  std::string dir, leaf;
  const std::string uid = "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b";
  const std::string id = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
  /// "" on success, else what failed.
  std::string Create(const std::string& tag, pid_t pid) {
    dir = "/run/" + tag + "-cgroup";
    if (Sh("mkdir -p " + dir) != 0) return "mkdir " + dir;
    if (Sh("mount -t cgroup -o none,name=" + tag + " cgroup " + dir) != 0) {
      rmdir(dir.c_str());
      dir.clear();
      return "mount -t cgroup -o none,name=" + tag;
    }
    leaf = dir + "/kubepods/besteffort/pod" + uid + "/" + id;
    if (Sh("mkdir -p " + leaf) != 0) return "mkdir " + leaf;
    std::ofstream f(leaf + "/cgroup.procs");
    f << pid;
    f.flush();
    return f ? "" : "writing " + leaf + "/cgroup.procs";
  }
  ~FakeContainerCgroup() {
    if (dir.empty()) return;
    // Leaves first; a cgroup with a live process cannot be removed (bounded wait for it to go).
    const std::string top = dir + "/kubepods";
    for (int i = 0; i < 50 && Exists(top); ++i) {
      Sh("find " + top + " -depth -type d -exec rmdir {} +");
      if (Exists(top)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (Sh("umount " + dir) != 0 || rmdir(dir.c_str()) != 0) {
      std::fprintf(stderr, "FakeContainerCgroup: could not remove %s\n", dir.c_str());
    }
  }
};

TEST_F(NetnsMultiTest, ModeAllNamedAndUnnamedExactPerNamespace) {
  ASSERT_NO_FATAL_FAILURE(MakeNamed());

  // The unnamed namespace, held by a process. unshare execs sh which execs sleep: one pid.
  FakeContainerCgroup cg;  // destroyed after the holder, which must be dead to remove it
  ChildProcess holder;
  ASSERT_TRUE(
      holder.Start({"/usr/bin/unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep 600"}));
  const std::string holder_ns = "/proc/" + std::to_string(holder.pid()) + "/ns/net";
  const ino_t host_ino = Inode("/proc/self/ns/net");
  for (int i = 0; i < 100; ++i) {
    std::string comm;
    std::ifstream("/proc/" + std::to_string(holder.pid()) + "/comm") >> comm;
    if (comm == "sleep" && Inode(holder_ns) != host_ino) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const ino_t unnamed_ino = Inode(holder_ns);
  ASSERT_NE(unnamed_ino, 0u);
  ASSERT_NE(unnamed_ino, host_ino);
  const std::string unnamed = std::to_string(unnamed_ino);
  bool ok = true;
  ASSERT_TRUE(InNetns(holder_ns, [&] {
    ok = ok && WriteSysctl("net/ipv4/ip_local_port_range", "43000 43009");
    ok = ok && MakePairs(6000, 4, &fds_[3]);
  }));
  ASSERT_TRUE(ok);
  const std::string cg_error = cg.Create(prefix_, holder.pid());
  ASSERT_EQ(cg_error, "");
  expected_.push_back(
      {unnamed, 10, {{"established", 8}, {"listen", 1}}, {{"127.0.0.1:6000", 4}}, cg.id, cg.uid});

  // Other namespaces on this host (other tests, benchmarks) are read too: generous budget.
  Exporter ex;
  ASSERT_TRUE(
      ex.Start("namespaces:\n  mode: all\n  max_namespaces: 4096\n  detail_threshold: 0\n"
               "  scrape_budget_seconds: 200\n"))
      << ex.Log();

  Series s = ScrapeUntil(ex, expected_);
  for (const Expected& e : expected_) EXPECT_EQ(Diff(s, e), "") << "netns " << e.netns;
  // Named namespaces are labelled by name, never by inode.
  for (auto& n : ns_) {
    EXPECT_TRUE(SeriesOf(s, std::to_string(Inode(n->path()))).empty()) << n->name;
  }
  // Namespace b goes away (its sockets closed, its name deleted) and so does the unnamed one.
  const std::string gone = ns_[1]->name;
  fds_[1].Close();
  ns_[1]->Delete();
  fds_[3].Close();
  holder.Stop();
  Series s2 = ex.Scrape();
  EXPECT_TRUE(SeriesOf(s2, gone).empty()) << "deleted namespace still reported";
  EXPECT_TRUE(SeriesOf(s2, unnamed).empty()) << "namespace of the killed process still reported";
  EXPECT_EQ(Diff(s2, expected_[0]), "");
  EXPECT_EQ(Diff(s2, expected_[2]), "");
  // The exact fd baseline is asserted in ModeListPatternExactAndFdBaseline: in mode all the
  // exporter also reads every other namespace on the host, which other tests may create or
  // delete at any moment, so an exact fd count here would test the host, not the exporter.
  ASSERT_FALSE(HasFailure()) << ex.Log();
}

/// Waits (bounded) until /proc/<pid>/ns/net is not the host's namespace any more; its inode.
ino_t WaitForOwnNetns(pid_t pid) {
  const ino_t host = Inode("/proc/self/ns/net");
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  for (int i = 0; i < 100; ++i) {
    std::string comm;
    std::ifstream("/proc/" + std::to_string(pid) + "/comm") >> comm;
    const ino_t ino = Inode(path);
    if (comm == "sleep" && ino != 0 && ino != host) return ino;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

// An unnamed namespace is entered through /proc/<pid>/ns/net of a process in it. The process
// discovery found it through exits while another one keeps the namespace: the namespace is
// still read, exactly, through the other process (the exporter holds no thread or fd in it).
TEST_F(NetnsMultiTest, ModeAllUnnamedNamespaceOutlivesTheProcessItWasFoundThrough) {
  ChildProcess a, b;
  ASSERT_TRUE(
      a.Start({"/usr/bin/unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep 600"}));
  const ino_t ino = WaitForOwnNetns(a.pid());
  ASSERT_NE(ino, 0u);
  const std::string a_ns = "/proc/" + std::to_string(a.pid()) + "/ns/net";
  ASSERT_TRUE(b.Start({"/usr/bin/nsenter", "--net=" + a_ns, "sleep", "600"}));
  ASSERT_EQ(WaitForOwnNetns(b.pid()), ino);
  bool ok = true;
  ASSERT_TRUE(InNetns(a_ns, [&] {
    ok = ok && WriteSysctl("net/ipv4/ip_local_port_range", "44000 44009");
    ok = ok && MakePairs(6100, 3, &fds_[3]);
  }));
  ASSERT_TRUE(ok);
  const Expected e{std::to_string(ino),     10, {{"established", 6}, {"listen", 1}},
                   {{"127.0.0.1:6100", 3}}, "", ""};

  Exporter ex;
  ASSERT_TRUE(
      ex.Start("namespaces:\n  mode: all\n  max_namespaces: 4096\n  detail_threshold: 0\n"
               "  scrape_budget_seconds: 200\n"))
      << ex.Log();
  Series s = ScrapeUntil(ex, {e});
  EXPECT_EQ(Diff(s, e), "");
  // Discovery lists /proc in name order and takes the first process of a namespace for its
  // path: stop that one, keep the other.
  ChildProcess& first = std::to_string(a.pid()) < std::to_string(b.pid()) ? a : b;
  const pid_t kept = &first == &a ? b.pid() : a.pid();
  first.Stop();
  ASSERT_EQ(Inode("/proc/" + std::to_string(kept) + "/ns/net"), ino);
  Series s2 = ex.Scrape();
  EXPECT_EQ(Diff(s2, e), "") << "namespace not read after the process it was found through exited";
  ASSERT_FALSE(HasFailure()) << ex.Log();
}

TEST_F(NetnsMultiTest, ModeAllPinnedNamespaceGetsContainerWhenAProcessJoins) {
  // containerd pins a sandbox's namespace under /var/run/netns before the sandbox process
  // enters it: a scrape in between sees no process. The labels must appear once one is there.
  NamedNetns pinned(prefix_ + "-pinned");
  ASSERT_TRUE(pinned.ok());
  Exporter ex;
  ASSERT_TRUE(
      ex.Start("namespaces:\n  mode: all\n  max_namespaces: 4096\n  detail_threshold: 0\n"
               "  scrape_budget_seconds: 200\n"))
      << ex.Log();
  Series s = ex.Scrape();
  EXPECT_EQ(Get(s, "sockstate_netns_info",
                {{"netns", pinned.name}, {"container_id", ""}, {"pod_uid", ""}}),
            1);

  FakeContainerCgroup cg;  // destroyed after the process
  ChildProcess sandbox;
  ASSERT_TRUE(sandbox.Start({"/usr/sbin/ip", "netns", "exec", pinned.name, "sleep", "600"}));
  const ino_t want_ino = Inode(pinned.path());
  for (int i = 0; i < 100; ++i) {
    if (Inode("/proc/" + std::to_string(sandbox.pid()) + "/ns/net") == want_ino) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(cg.Create(prefix_ + "-pinned", sandbox.pid()), "");
  Series s2 = ex.Scrape();
  EXPECT_EQ(Get(s2, "sockstate_netns_info",
                {{"netns", pinned.name}, {"container_id", cg.id}, {"pod_uid", cg.uid}}),
            1)
      << "series of the namespace: " << ::testing::PrintToString(SeriesOf(s2, pinned.name));
  sandbox.Stop();
}

TEST_F(NetnsMultiTest, ModeListPatternExactAndFdBaseline) {
  Exporter ex;
  ASSERT_TRUE(ex.Start("namespaces:\n  mode: list\n  detail_threshold: 0\n  pattern: \"" + prefix_ +
                       "-*\"\n  scrape_budget_seconds: 200\n"))
      << ex.Log();
  // Baseline: no namespace matches yet.
  Series s0 = ex.Scrape();
  EXPECT_EQ(CountSeries(s0, "sockstate_netns_info"), 0);
  EXPECT_EQ(Get(s0, "sockstate_netns_discovered"), 0);
  const int baseline = SettledFds(ex.proc.pid(), -2);
  const int threads = CountThreads(ex.proc.pid());

  ASSERT_NO_FATAL_FAILURE(MakeNamed());
  Series s = ScrapeUntil(ex, expected_);
  for (const Expected& e : expected_) EXPECT_EQ(Diff(s, e), "") << "netns " << e.netns;
  EXPECT_EQ(CountSeries(s, "sockstate_netns_info"), 3);
  EXPECT_EQ(Get(s, "sockstate_netns_discovered"), 3);
  EXPECT_EQ(Get(s, "sockstate_netns_skipped"), 0);
  EXPECT_GT(CountFds(ex.proc.pid()), baseline);  // one sock_diag socket per namespace
  // No thread per namespace: the scrape's workers setns() into each one and end with it.
  EXPECT_EQ(CountThreads(ex.proc.pid()), threads);

  // One namespace deleted between scrapes: gone from the next one, the others unchanged.
  fds_[0].Close();
  const std::string gone = ns_[0]->name;
  ns_[0]->Delete();
  Series s2 = ex.Scrape();
  EXPECT_TRUE(SeriesOf(s2, gone).empty());
  EXPECT_EQ(Diff(s2, expected_[1]), "");
  EXPECT_EQ(Diff(s2, expected_[2]), "");
  EXPECT_EQ(Get(s2, "sockstate_netns_discovered"), 2);

  // All gone: back to the baseline fd count.
  for (auto& f : fds_) f.Close();
  ns_.clear();
  Series s3 = ex.Scrape();
  EXPECT_EQ(CountSeries(s3, "sockstate_netns_info"), 0);
  EXPECT_EQ(SettledFds(ex.proc.pid(), baseline), baseline);
  ASSERT_FALSE(HasFailure()) << ex.Log();
}

}  // namespace
}  // namespace sockstate::testing
