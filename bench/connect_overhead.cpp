// connect_overhead: what the connect-failures BPF programs cost the host.
//
//   connect_overhead [--seconds S] [--rounds R]
//                    [--mode churn|close|timewait|refused|syscall|udp-send]
//                    [--programs cf|tw|owners|all] [--baseline none|cf]
//
// Runs in a network namespace of its own (unshare), loopback only. Each round measures a
// single-threaded loop for S seconds without the program, then S seconds with it attached
// (loaded through the exporter's own source factory, exactly as the exporter does), and
// prints connections per CPU-second of the loop for both. Rounds alternate so that machine noise
// hits both sides alike; the summary is the median of each side and their ratio.
//   churn:   connect + accept + close (client closes with RST: no TIME_WAIT piles up); every
//            connection makes ~5 state changes that the program sees and dismisses.
//   close:   the same, the client closing normally first: every connection leaves a TIME_WAIT
//            socket (born; it ends 60 s later, outside the measurement).
//   timewait: the same as close, with tcp_tw_reuse=1 and a 1 ms reuse delay in the
//            benchmark's namespace (new connects take the oldest TIME_WAIT socket over, so the
//            loop never runs out of ports), and by default (--programs tw) the TIME_WAIT owner
//            program alone (--collector.time-wait-owners, docs/workloads.md): every connection's
//            TIME_WAIT socket is recorded with its owner in the ring.
// --baseline cf (with --programs owners): the side "without" has the connect-failure feature
// on (the exporter's default without the TIME_WAIT owners), so that the rounds measure what
// turning the owners on adds to it. The two share the one program on the tracepoint
// (sock_state_change.bpf.c), loaded once; the owners' part is switched on and off between the
// sides as the exporter does it (a ring reader sets the ring's size).
// --programs all: instead of the connect-failure program alone, everything the exporter loads
// by default (connect failures, TIME_WAIT owners, the state tracker with its namespace seeded:
// every event counted), the union loaded once as the exporter does; --programs owners: the
// same without the state tracker (what it adds is the difference of the two).
//   refused: connect to a port without a listener; every connect is a failure the program
//            counts in its map (the most it ever does per event).
//   syscall: getppid(), the cheapest system call, with the UDP program on the system-call exit
//            tracepoint (--collector.connect-failures.udp=syscalls): what every system call of
//            the host pays for it.
//   udp-send: sendto() of 64 bytes on a bound UDP socket to a loopback receiver, the same
//            program attached.
// Needs root (or CAP_SYS_ADMIN + CAP_BPF + CAP_PERFMON). Bounded: R * (2 * S + 0.4) seconds
// plus one load of the programs per round.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "kernel/bpf_object.h"
#include "kernel/connect_failure_probe.h"
#include "kernel/time_wait_owners.h"
#include "kernel/tracker_probe.h"
#include "kernel/workload.h"
#include "sources/connect_failures_source.h"
#include "sources/tracker_source.h"
#include "util/file_util.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "connect_overhead: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void LoopbackUp() {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) Die("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) Die("SIOCSIFFLAGS lo");
  close(s);
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

/// Connections (or refused connects) per second of this thread's CPU time, over `seconds` of
/// wall time. CPU time, not wall time: on a shared machine other processes steal the CPU in
/// bursts, which wall-clock rates show as noise of +-30%; loopback's softirq work runs in
/// this thread's context and is included.
double RunFor(double seconds, const std::string& mode, int listener, uint16_t port,
              uint64_t* count = nullptr) {
  const sockaddr_in dst = Loopback(port);
  const linger rst{1, 0};
  const bool refused = mode == "refused";
  const bool syscall = mode == "syscall", udp_send = mode == "udp-send";
  static int udp = -1;
  if (mode == "udp-send" && udp < 0) {
    udp = socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in any = Loopback(0);
    if (udp < 0 || bind(udp, reinterpret_cast<const sockaddr*>(&any), sizeof(any)) != 0) {
      Die("udp socket");
    }
  }
  char payload[64] = {};
  uint64_t n = 0;
  const double cpu_start = ThreadCpuSeconds();
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    for (int i = 0; i < 64; ++i) {
      ++n;
      if (syscall) {
        getppid();
        continue;
      }
      if (udp_send) {
        if (sendto(udp, payload, sizeof(payload), 0, reinterpret_cast<const sockaddr*>(&dst),
                   sizeof(dst)) != sizeof(payload)) {
          Die("sendto");
        }
        continue;
      }
      int c = socket(AF_INET, SOCK_STREAM, 0);
      if (c < 0) Die("socket");
      const int rc = connect(c, reinterpret_cast<const sockaddr*>(&dst), sizeof(dst));
      if (refused) {
        if (rc == 0 || errno != ECONNREFUSED) Die("connect (expected ECONNREFUSED)");
      } else {
        if (rc != 0) Die("connect");
        int a = accept(listener, nullptr, nullptr);
        if (a < 0) Die("accept");
        // close, timewait: the client closes first, so its side ends in TIME_WAIT
        if (mode != "close" && mode != "timewait") {
          setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
        }
        close(c);
        close(a);
      }
      if (refused) close(c);
    }
  }
  if (count) *count = n;
  return double(n) / (ThreadCpuSeconds() - cpu_start);
}

/// What --programs all loads: the exporter's default BPF features in one object, the state
/// tracker started and this thread's namespace seeded (so that every event is counted). Holds
/// them attached while it lives.
struct AllPrograms {
  std::shared_ptr<sockstate::BpfObject> object;
  std::unique_ptr<sockstate::TimeWaitOwnerReader> tw_reader;  // the ring records while it lives
  std::unique_ptr<sockstate::ConnectFailureProbe> failures;   // counts while it lives
  std::unique_ptr<sockstate::TrackerProbe> tracker;
};

/// `which`: "tw" (the TIME_WAIT owners alone), "owners" (+ connect failures) or "all" (+ the
/// state tracker).
AllPrograms LoadAll(const std::string& which) {
  const bool tracker = which == "all";
  constexpr uint32_t kRing = 65536;  // workloads.time_wait_max_sockets' default
  std::string mountinfo;
  sockstate::ReadSmallFile("/proc/self/mountinfo", &mountinfo);
  sockstate::BpfAttachOptions attach;
  const std::string root = sockstate::FindCgroup2Mount(mountinfo);
  attach.cgroup_fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::vector<sockstate::BpfMapSize> sizes = sockstate::TrackerMapSizes(sockstate::TrackerConfig{});
  sizes.push_back({sockstate::kTimeWaitSocketsMap, kRing});
  std::vector<sockstate::BpfFeature> features = {
      {"--collector.time-wait-owners", "on", sockstate::TimeWaitOwnerPrograms(), {}}};
  const bool failures = which != "tw";
  if (failures) {
    features.push_back(sockstate::ConnectFailureFeature("on", sockstate::UdpFailureOptions{"off"}));
  }
  if (tracker) features.push_back({"--collector.tracker", "on", sockstate::TrackerPrograms(), {}});
  const sockstate::BpfFeatureSet set = sockstate::LoadBpfFeatures(features, sizes, attach);
  if (attach.cgroup_fd >= 0) close(attach.cgroup_fd);
  for (size_t i = 0; i < set.status.size(); ++i) {
    if (!set.status[i].ok()) {
      std::fprintf(stderr, "connect_overhead: %s\n", set.status[i].message().c_str());
      std::exit(1);
    }
  }
  AllPrograms all;
  all.object = set.object;
  all.tw_reader = sockstate::OpenTimeWaitOwnerReader(set.object, kRing);
  if (failures) {
    all.failures =
        sockstate::OpenConnectFailureProbe(set.object, sockstate::UdpFailureOptions{"off"}, 0);
  }
  if (!tracker) return all;
  auto probe = sockstate::TrackerProbe::Open(set.object);
  if (!probe.ok()) {
    std::fprintf(stderr, "connect_overhead: %s\n", probe.status().message().c_str());
    std::exit(1);
  }
  all.tracker = std::move(*probe);
  sockstate::Status st = all.tracker->Start();
  auto seeded = st.ok() ? all.tracker->SeedThisNamespace() : sockstate::Result<sockstate::SeedOutcome>(st);
  if (!seeded.ok()) {
    std::fprintf(stderr, "connect_overhead: tracker: %s\n", seeded.status().message().c_str());
    std::exit(1);
  }
  return all;
}

/// run_time_ns and run_cnt of the attached program `name` (kernel.bpf_stats_enabled must be 1).
/// False when it is not loaded.
bool ProgramStats(const std::string& name, uint64_t* run_ns, uint64_t* runs) {
  uint32_t id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    const bool found = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
                       std::string(info.name) == name.substr(0, BPF_OBJ_NAME_LEN - 1);
    close(fd);
    if (found) {
      *run_ns = info.run_time_ns;
      *runs = info.run_cnt;
      return true;
    }
  }
  return false;
}

/// Adds run_time_ns and run_cnt of the program behind `fd` (one of this process's own: other
/// exporters on the host may have programs of the same name).
void AddProgramStats(int fd, uint64_t* run_ns, uint64_t* runs) {
  if (fd < 0) return;
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return;
  *run_ns += info.run_time_ns;
  *runs += info.run_cnt;
}

std::string ReadLine(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

void WriteLine(const char* path, const std::string& v) { std::ofstream(path) << v << "\n"; }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  int rounds = 7;
  std::string mode = "churn";
  std::string programs = "cf";
  bool programs_given = false;
  std::string baseline = "none";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--mode" && i + 1 < argc) {
      mode = argv[++i];
    } else if (a == "--programs" && i + 1 < argc) {
      programs = argv[++i];
      programs_given = true;
    } else if (a == "--baseline" && i + 1 < argc) {
      baseline = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: connect_overhead [--seconds S] [--rounds R] "
                   "[--mode churn|close|timewait|refused|syscall|udp-send] "
                   "[--programs cf|tw|owners|all] [--baseline none|cf]\n");
      return 2;
    }
  }
  const bool udp_hook = mode == "syscall" || mode == "udp-send";
  const bool timewait = mode == "timewait";
  if (timewait && !programs_given) programs = "tw";
  if (seconds <= 0 || seconds > 60 || rounds < 1 || rounds > 400 || rounds * seconds > 600 ||
      (mode != "churn" && mode != "close" && mode != "refused" && !timewait && !udp_hook) ||
      (programs != "cf" && programs != "tw" && programs != "owners" && programs != "all") ||
      (programs != "cf" && udp_hook) || (baseline != "none" && baseline != "cf") ||
      (baseline == "cf" && programs != "owners")) {
    std::fprintf(
        stderr,
        "connect_overhead: 0 < seconds <= 60, 1 <= rounds <= 400, rounds * seconds <= 600, mode "
        "churn|close|timewait|refused|syscall|udp-send, programs cf|tw|owners|all (cf only "
        "with the udp modes), baseline none|cf (cf with programs owners)\n");
    return 2;
  }
  // The program measured: the TCP one, or the UDP one on the system-call exit.
  const char* udp_mode = udp_hook ? "syscalls" : "off";
  const std::string program = udp_hook ? "cf_udp_sys_exit" : "sock_state_change";
  if (unshare(CLONE_NEWNET) != 0) Die("unshare(CLONE_NEWNET)");
  LoopbackUp();
  if (timewait) {  // TIME_WAIT sockets are taken over once 1 ms old: the ports never run out
    WriteLine("/proc/sys/net/ipv4/tcp_tw_reuse", "1");
    WriteLine("/proc/sys/net/ipv4/tcp_tw_reuse_delay", "1");
  }
  const uint16_t port = 5555;
  int listener = -1;
  if (mode == "udp-send") {  // the receiver: its queue fills and later datagrams are dropped
    listener = socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in a = Loopback(port);
    if (bind(listener, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) Die("bind udp");
  } else if (mode == "churn" || mode == "close" || timewait) {
    if (mode == "close") {  // room for the TIME_WAIT sockets of every round
      WriteLine("/proc/sys/net/ipv4/tcp_max_tw_buckets", "1000000");
      WriteLine("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535");
    }
    listener = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    const sockaddr_in a = Loopback(port);
    if (bind(listener, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) Die("bind");
    if (listen(listener, 4096) != 0) Die("listen");
  }
  RunFor(0.5, mode, listener, port);  // warm up caches and the slab
  if (const char* profile = std::getenv("CONNECT_OVERHEAD_PROFILE")) {
    // For a profiler (perf record -p): the loop for `seconds` with the programs ("with") or
    // without them ("without"), nothing else.
    if (std::string(profile) == "with" && programs != "cf") {
      AllPrograms all = LoadAll(programs);
      std::printf("profiling\n");
      std::fflush(stdout);
      std::printf("%.0f/cpu-s\n", RunFor(seconds, mode, listener, port));
    } else {
      std::printf("profiling\n");
      std::fflush(stdout);
      std::printf("%.0f/cpu-s\n", RunFor(seconds, mode, listener, port));
    }
    return 0;
  }
  std::vector<double> off, on;
  if (baseline == "cf" && programs == "owners") {
    // Loaded once, attached throughout: the owners' part is turned on and off as the exporter
    // does it (the ring's size, set while a reader lives), so "without" is exactly the
    // connect-failure feature alone and nothing is reloaded between the sides.
    AllPrograms all = LoadAll("owners");
    all.tw_reader.reset();
    for (int r = 0; r < rounds; ++r) {
      for (int side = 0; side < 2; ++side) {
        const bool with = (side == 0) == (r % 2 == 1);  // odd rounds with first
        if (with) all.tw_reader = sockstate::OpenTimeWaitOwnerReader(all.object, 65536);
        (with ? on : off).push_back(RunFor(seconds, mode, listener, port));
        all.tw_reader.reset();
      }
      std::printf("round %d: without %.0f/cpu-s, with %.0f/cpu-s\n", r + 1, off.back(), on.back());
      std::fflush(stdout);
    }
  }
  const bool toggled = !off.empty();  // the rounds above, or these
  for (int r = 0; !toggled && r < rounds; ++r) {
    // Odd rounds measure without the program first, even rounds with it first.
    // Loading the object (libbpf parses the kernel's BTF, megabytes) and unloading it leave
    // the caches cold: a short unmeasured run after each, on both sides alike.
    if (r % 2 == 0) off.push_back(RunFor(seconds, mode, listener, port));
    if (programs != "cf") {
      {
        AllPrograms all = LoadAll(programs);
        RunFor(0.2, mode, listener, port);
        on.push_back(RunFor(seconds, mode, listener, port));
      }
      RunFor(0.2, mode, listener, port);
    } else {  // (detached when it goes)
      auto source = sockstate::MakeConnectFailuresSource("on", udp_mode, "/proc");
      if (!source.ok()) {
        std::fprintf(stderr, "connect_overhead: %s\n", source.status().message().c_str());
        return 1;
      }
      on.push_back(RunFor(seconds, mode, listener, port));
    }
    if (r % 2 == 1) off.push_back(RunFor(seconds, mode, listener, port));
    std::printf("round %d: without %.0f/cpu-s, with %.0f/cpu-s\n", r + 1, off.back(), on.back());
    std::fflush(stdout);
  }
  // Per-event cost of the program, from the kernel's own BPF run-time statistics, in a phase of
  // its own (the statistics cost two clock reads per run; the rounds above run without them).
  const char* kStats = "/proc/sys/kernel/bpf_stats_enabled";
  const std::string stats_before = ReadLine(kStats);
  WriteLine(kStats, "1");
  uint64_t total_ns = 0, total_runs = 0, stats_connections = 0;
  double stats_rate = 0;
  std::vector<std::string> measured = {program};
  double baseline_ns_per_op = -1;  // --baseline cf: the program's time per operation without
  if (baseline == "cf") {          // the owners' part (the ring's size 0)
    AllPrograms cf = LoadAll("owners");
    cf.tw_reader.reset();
    uint64_t ops = 0, ns = 0, runs = 0;
    RunFor(seconds, mode, listener, port, &ops);
    AddProgramStats(cf.object->ProgramFd(sockstate::TimeWaitOwnerPrograms()[0]), &ns, &runs);
    if (ops > 0) baseline_ns_per_op = double(ns) / double(ops);
    std::printf(
        "  without the owners' part: %llu runs for %llu operations, %.1f ns per run, %.0f ns "
        "per operation\n",
        (unsigned long long)runs, (unsigned long long)ops, runs ? double(ns) / double(runs) : 0.0,
        baseline_ns_per_op);
  }
  if (programs != "cf") {
    measured = sockstate::TimeWaitOwnerPrograms();  // connect failures' TCP part included
    if (programs == "all") {
      for (const std::string& p : sockstate::TrackerPrograms()) measured.push_back(p);
    }
    AllPrograms all = LoadAll(programs);
    stats_rate = RunFor(seconds, mode, listener, port, &stats_connections);
    for (const std::string& p : measured) {
      uint64_t ns = 0, runs = 0;
      AddProgramStats(all.object->ProgramFd(p), &ns, &runs);
      std::printf("  %-18s %10llu runs %8.1f ns per run\n", p.c_str(), (unsigned long long)runs,
                  runs ? double(ns) / double(runs) : 0.0);
      total_ns += ns;
      total_runs += runs;
    }
  } else {
    auto source = sockstate::MakeConnectFailuresSource("on", udp_mode, "/proc");
    if (source.ok()) {
      stats_rate = RunFor(seconds, mode, listener, port, &stats_connections);
      ProgramStats(program, &total_ns, &total_runs);
    }
  }
  WriteLine(kStats, stats_before.empty() ? "0" : stats_before);
  const double mo = Median(off), mn = Median(on);
  if (baseline_ns_per_op >= 0 && total_runs > 0 && stats_rate > 0) {
    const double with_ns = double(total_ns) / double(stats_connections);
    std::printf(
        "owners' part: %.0f ns per operation more = %.2f%% of an operation's %.0f ns of CPU\n",
        with_ns - baseline_ns_per_op, 100.0 * (with_ns - baseline_ns_per_op) * stats_rate / 1e9,
        1e9 / stats_rate);
  }
  if (total_runs > 0) {
    const double ns_per_run = double(total_ns) / double(total_runs);
    const double runs_per_conn = double(total_runs) / double(stats_connections);
    std::printf(
        "program %s: %llu runs for %llu operations (%.2f per operation), %.1f ns per run: "
        "%.0f ns per operation = %.2f%% of an operation's %.0f ns of CPU\n",
        programs == "all"      ? "all (the exporter's default programs)"
        : programs == "owners" ? "connect failures + TIME_WAIT owners"
        : programs == "tw"     ? "TIME_WAIT owners"
                               : program.c_str(),
        (unsigned long long)total_runs, (unsigned long long)stats_connections,
        runs_per_conn, ns_per_run, ns_per_run * runs_per_conn,
        100.0 * ns_per_run * runs_per_conn * stats_rate / 1e9, 1e9 / stats_rate);
  }
  if (baseline == "cf") {
    std::printf("baseline: the side without has the connect-failure feature loaded\n");
  }
  std::printf(
      "mode=%s rounds=%d seconds=%.1f median_without=%.0f median_with=%.0f ratio=%.4f "
      "(%.2f%% fewer)\n",
      mode.c_str(), rounds, seconds, mo, mn, mn / mo, 100.0 * (1 - mn / mo));
  return 0;
}
