// The user-space side of the state tracker (tracker.bpf.c): map reads, control operations and
// seeding.

#include "kernel/tracker_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>

#include "kernel/bpf_object.h"
#include "kernel/sock_diag.h"
#include "kernel/socket_record.h"
#include "util/file_util.h"

extern "C" {
#include "kernel/bpf/tracker.h"
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace sockstate {

namespace {

static_assert(sizeof(sockstate_trk_tuple_key) == 48, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_tuple_val) == 80, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_cell_key) == 56, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_cell_val) == 72, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_port_key) == 16, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_port_val) == 72, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_dest_key) == 32, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_ns) == 280, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_mini_key) == 48, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_mini_val) == 24, "layout shared with the BPF program");
static_assert(sizeof(sockstate_trk_bound_val) == 32, "layout shared with the BPF program");
static_assert(kTrackerStates <= SOCKSTATE_TRK_STATES && kTrackerRingSlots == SOCKSTATE_TRK_RING);

constexpr uint32_t kBatch = 4096;
// The kernel's hash-map element header (struct htab_elem) rounded up, for memory estimates.
constexpr uint64_t kHtabElemHeader = 48;

std::string Errno(const char* what) { return std::string(what) + ": " + strerror(errno); }

Family FamilyOf(uint8_t af) { return af == 10 ? Family::kIpv6 : Family::kIpv4; }

/// Calls fn(key, value) for every entry of a hash map, reading it in batches (one system call
/// per kBatch entries) into keys[kBatch] and vals[kBatch]. Entries added or removed meanwhile
/// may or may not be seen.
template <typename K, typename V, typename Fn>
Status ForEachEntryInto(int fd, const char* name, K* keys, V* vals, Fn fn) {
  uint64_t in = 0, out = 0;
  bool first = true;
  for (int rounds = 0; rounds < 1 << 20; ++rounds) {  // bound: far more than any map holds
    __u32 count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err =
        bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, keys, vals, &count, &opts);
    const int e = errno;
    if (err != 0 && e != ENOENT) {
      return Status::Error(std::string(name) + ": bpf_map_lookup_batch: " + strerror(e));
    }
    for (__u32 i = 0; i < count && i < kBatch; ++i) fn(keys[i], vals[i]);
    if (err != 0) break;  // ENOENT: the last batch
    in = out;
    first = false;
  }
  return Status::Ok();
}

template <typename K, typename V, typename Fn>
Status ForEachEntry(int fd, const char* name, std::vector<K>& keys, std::vector<V>& vals, Fn fn) {
  keys.resize(kBatch);
  vals.resize(kBatch);
  return ForEachEntryInto(fd, name, keys.data(), vals.data(), fn);
}

/// The same with the batch buffers carved out of `scratch`, which the caller keeps across
/// calls: the scrape's reads allocate (and fault in) nothing after the first.
template <typename K, typename V, typename Fn>
Status ForEachEntryIn(std::vector<uint64_t>& scratch, int fd, const char* name, Fn fn) {
  static_assert(sizeof(K) % 8 == 0 && sizeof(V) % 8 == 0 && alignof(K) <= 8 && alignof(V) <= 8);
  const size_t kw = sizeof(K) / 8, vw = sizeof(V) / 8;
  if (scratch.size() < kBatch * (kw + vw)) scratch.resize(kBatch * (kw + vw));
  return ForEachEntryInto(fd, name, reinterpret_cast<K*>(scratch.data()),
                          reinterpret_cast<V*>(scratch.data() + kBatch * kw), fn);
}

/// Deletes `keys` from a map in batches (missing ones are skipped one by one).
template <typename K>
void DeleteKeys(int fd, const std::vector<K>& keys) {
  for (size_t at = 0; at < keys.size(); at += kBatch) {
    __u32 count = uint32_t(std::min<size_t>(kBatch, keys.size() - at));
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_delete_batch(fd, &keys[at], &count, &opts) != 0) {
      for (size_t i = at + count; i < at + std::min<size_t>(kBatch, keys.size() - at); ++i)
        bpf_map_delete_elem(fd, &keys[i]);
    }
  }
}

TrackerStateCounts StatesOf(const int* st) {
  TrackerStateCounts c{};
  for (int i = 0; i < kTrackerStates; ++i) c[i] = st[i];
  return c;
}

/// The netns cookie of a namespace made for the purpose on `cpu` (-1: any), or 0 when the
/// process may not make one (no CAP_SYS_ADMIN).
uint64_t FreshNamespaceCookie(int cpu) {
  uint64_t cookie = 0;
  std::thread t([&] {
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
    if (unshare(CLONE_NEWNET) != 0) return;  // this thread only; it ends right after
    cookie = TrackerProbe::ThisNamespaceCookie();
  });
  t.join();
  return cookie;
}

/// Addresses of `names` in kallsyms-format `path` (one pass; 0 for a symbol not found or
/// shown without its address).
}  // namespace

std::vector<uint64_t> KernelSymbolAddresses(const std::string& path,
                                            const std::vector<std::string>& names) {
  std::vector<uint64_t> out(names.size(), 0);
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr) return out;
  char line[512];
  size_t found = 0;
  for (size_t n = 0; n < 10000000 && found < names.size() && fgets(line, sizeof(line), f); ++n) {
    unsigned long long addr = 0;
    char type = 0;
    char name[256];
    if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3) continue;
    for (size_t i = 0; i < names.size(); ++i) {
      if (out[i] == 0 && names[i] == name && addr != 0) {
        out[i] = addr;
        ++found;
      }
    }
  }
  fclose(f);
  return out;
}

std::string TrackerMissingKernelSymbol(const std::string& kallsyms) {
  const std::vector<std::string> names = {"tw_timer_handler", "reqsk_timer_handler"};
  const std::vector<uint64_t> a = KernelSymbolAddresses(kallsyms, names);
  for (size_t i = 0; i < names.size(); ++i) {
    if (a[i] == 0) return names[i];
  }
  return "";
}

namespace {

const char* StateName(int st) {
  static const char* kNames[] = {"0",          "established", "syn_sent",   "syn_recv",
                                 "fin_wait1",  "fin_wait2",   "time_wait",  "close",
                                 "close_wait", "last_ack",    "listen",     "closing"};
  return st >= 0 && st < 12 ? kNames[st] : "?";
}

std::string AddrText(uint8_t family, const uint8_t* a) {
  char buf[64];
  if (family == 10) {
    std::string s;
    for (int i = 0; i < 16; i += 2) {
      snprintf(buf, sizeof(buf), "%s%x", i ? ":" : "", (a[i] << 8) | a[i + 1]);
      s += buf;
    }
    return "[" + s + "]";
  }
  snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
  return buf;
}

}  // namespace

const TrackedNamespace* TrackerSnapshot::Find(uint64_t cookie) const {
  auto it = std::lower_bound(namespaces.begin(), namespaces.end(), cookie,
                             [](const TrackedNamespace& n, uint64_t c) { return n.cookie < c; });
  return it != namespaces.end() && it->cookie == cookie ? &*it : nullptr;
}

std::vector<std::string> TrackerPrograms() {
  return {"trk_state",        "trk_state1",        "trk_timer_start", "trk_timer_start1",
          "trk_timer_start2", "trk_timer_cancel",  "trk_timer_cancel1", "trk_timer_cancel2",
          "trk_iter",         "trk_post_bind4",    "trk_post_bind6",  "trk_release",
          "trk_control"};
}

TrackerProbe::TrackerProbe(std::shared_ptr<BpfObject> object) : object_(std::move(object)) {}
TrackerProbe::~TrackerProbe() = default;

Result<std::unique_ptr<TrackerProbe>> TrackerProbe::Open(std::shared_ptr<BpfObject> object) {
  if (object == nullptr) return Status::Error("tracker: no BPF object");
  std::unique_ptr<TrackerProbe> p(new TrackerProbe(object));
  struct {
    int* fd;
    const char* name;
  } maps[] = {{&p->tuples_fd_, "trk_tuples"}, {&p->cells_fd_, "trk_cells"},
              {&p->ports_fd_, "trk_ports"},
              {&p->dests_fd_, "trk_dests"},   {&p->ns_fd_, "trk_ns"},
              {&p->mini_fd_, "trk_mini"},     {&p->pending_fd_, "trk_pending"},
              {&p->bound_fd_, "trk_bound"},   {&p->created_fd_, "trk_created"},
              {&p->seed_fd_, "trk_seed"},     {&p->cfg_fd_, "trk_cfg"},
              {&p->clock_fd_, "trk_clock"},   {&p->stats_fd_, "trk_stats"}};
  for (auto& m : maps) {
    *m.fd = object->MapFd(m.name);
    if (*m.fd < 0) return Status::Error(std::string("tracker: the BPF object has no map ") + m.name);
  }
  p->control_fd_ = object->ProgramFd("trk_control");
  p->iter_link_fd_ = object->LinkFd("trk_iter");
  if (p->control_fd_ < 0 || p->iter_link_fd_ < 0) {
    return Status::Error("tracker: trk_control or trk_iter is not loaded");
  }
  p->cpus_ = std::max(1, libbpf_num_possible_cpus());
  return p;
}

uint64_t TrackerProbe::ThisNamespaceCookie() {
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) cookie = 0;
  close(fd);
  return cookie;
}

Status TrackerProbe::Control(uint64_t op, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                             uint64_t a5) {
  uint64_t args[6] = {op, a1, a2, a3, a4, a5};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));
  if (bpf_prog_test_run_opts(control_fd_, &opts) != 0) {
    return Status::Error(Errno("tracker control: BPF_PROG_TEST_RUN"));
  }
  if (opts.retval != 0) {
    return Status::Error("tracker control: operation " + std::to_string(op) + " refused");
  }
  return Status::Ok();
}

Status TrackerProbe::WriteCfg() {
  sockstate_trk_cfg cfg{};
  // c0 0 or ~0: no namespace is tracked from its first socket (each is seeded when read).
  cfg.c0 = auto_track_ && c0_ != 0 ? c0_ : ~0ULL;
  cfg.hz = hz_;
  cfg.epoch = epoch_;
  cfg.tw_handler = tw_handler_;
  cfg.reqsk_handler = reqsk_handler_;
  const uint32_t zero = 0;
  if (bpf_map_update_elem(cfg_fd_, &zero, &cfg, BPF_ANY) != 0) {
    return Status::Error(Errno("tracker: trk_cfg"));
  }
  return Status::Ok();
}

Status TrackerProbe::MeasureHz() {
  sockstate_trk_clock a{}, b{};
  const uint32_t zero = 0;
  Status st = Control(SOCKSTATE_TRK_OP_CLOCK);
  if (!st.ok()) return st;
  bpf_map_lookup_elem(clock_fd_, &zero, &a);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  st = Control(SOCKSTATE_TRK_OP_CLOCK);
  if (!st.ok()) return st;
  bpf_map_lookup_elem(clock_fd_, &zero, &b);
  const double seconds = double(b.ns - a.ns) / 1e9;
  if (seconds <= 0) return Status::Error("tracker: the kernel clock did not move");
  const double measured = double(b.jiffies - a.jiffies) / seconds;
  // The values CONFIG_HZ takes; the nearest one (a tick more or less in 0.12 s is noise).
  uint32_t best = 250;
  for (uint32_t hz : {100u, 250u, 300u, 1000u}) {
    if (std::fabs(measured - hz) < std::fabs(measured - best)) best = hz;
  }
  hz_ = best;
  return Status::Ok();
}

Status TrackerProbe::Start() {
  std::lock_guard<std::mutex> lock(cfg_mu_);
  const std::vector<uint64_t> handlers =
      KernelSymbolAddresses("/proc/kallsyms", {"tw_timer_handler", "reqsk_timer_handler"});
  if (handlers[0] == 0 || handlers[1] == 0) {
    return Status::Error("/proc/kallsyms shows no address for tw_timer_handler or "
                         "reqsk_timer_handler: TIME_WAIT and request sockets cannot be followed");
  }
  tw_handler_ = handlers[0];
  reqsk_handler_ = handlers[1];
  Status st = MeasureHz();
  if (!st.ok()) return st;
  st = WriteCfg();
  if (!st.ok()) return st;
  // Netns cookies come from per-CPU batches (6.18 too: namespaces made one after the other
  // on two CPUs got 14412, 14414, 10562, 10564): each CPU's sequence grows, not the whole. A
  // namespace made now on every CPU bounds every cookie handed out before: a namespace with a
  // larger cookie was made after this (one with a smaller one is seeded, to be safe).
  uint64_t c0 = 0;
  for (int cpu = 0; cpu < cpus_; ++cpu) c0 = std::max(c0, FreshNamespaceCookie(cpu));
  c0_ = c0;  // 0 (no CAP_SYS_ADMIN): every namespace is seeded when first read
  return WriteCfg();
}

Status TrackerProbe::SetAutoTrack(bool on) {
  std::lock_guard<std::mutex> lock(cfg_mu_);
  if (on == auto_track_) return Status::Ok();
  auto_track_ = on;
  return WriteCfg();
}

Status TrackerProbe::NextPeakEpoch() {
  std::lock_guard<std::mutex> lock(cfg_mu_);
  ++epoch_;
  return Control(SOCKSTATE_TRK_OP_PEAK_EPOCH, epoch_);
}

Status TrackerProbe::Read(TrackerSnapshot* out) {
  Status st = Control(SOCKSTATE_TRK_OP_SWEEP);
  if (!st.ok()) return st;
  st = Control(SOCKSTATE_TRK_OP_CLOCK);
  if (!st.ok()) return st;
  const uint32_t zero = 0;
  sockstate_trk_clock clk{};
  bpf_map_lookup_elem(clock_fd_, &zero, &clk);
  out->jiffies = clk.jiffies;
  out->hz = hz_;

  // Namespaces first: every other entry is kept only for its namespace's current generation.
  std::vector<TrackedNamespace>& nss = out->namespaces;
  size_t kept = 0;
  std::unordered_map<uint64_t, size_t> index;
  {
    st = ForEachEntryIn<uint64_t, sockstate_trk_ns>(read_scratch_, ns_fd_, "trk_ns",
                                                    [&](uint64_t k, const sockstate_trk_ns& v) {
                                                      if (kept == nss.size()) nss.emplace_back();
                                                      TrackedNamespace& n = nss[kept++];
                                                      n.cookie = k;
                                                      n.inum = v.inum;
                                                      n.cur = v.gens & 0xff;
                                                      n.seed = v.gens >> 8;
                                                      n.range = v.range;
                                                      n.range_changes = v.range_changes;
                                                      n.overflow = v.overflow;
                                                      for (int f = 0; f < 2; ++f)
                                                        n.st[f] = StatesOf(v.st[n.cur & 1][f]);
                                                      n.tuples.clear();
                                                      n.cells.clear();
                                                      n.ports.clear();
                                                      n.dests.clear();
                                                      n.bound.clear();
                                                      n.time_wait.clear();
                                                    });
    if (!st.ok()) return st;
  }
  nss.resize(kept);
  std::sort(nss.begin(), nss.end(),
            [](const TrackedNamespace& a, const TrackedNamespace& b) { return a.cookie < b.cookie; });
  for (size_t i = 0; i < nss.size(); ++i) index[nss[i].cookie] = i;
  auto current = [&](uint64_t cookie, uint8_t gen) -> TrackedNamespace* {
    auto it = index.find(cookie);
    if (it == index.end()) return nullptr;
    TrackedNamespace& n = nss[it->second];
    return n.cur != 0 && n.cur == gen ? &n : nullptr;
  };
  uint64_t tuples = 0, ports = 0, dests = 0, bound = 0;
  {
    st = ForEachEntryIn<sockstate_trk_tuple_key, sockstate_trk_tuple_val>(
        read_scratch_, tuples_fd_, "trk_tuples",
        [&](const sockstate_trk_tuple_key& k, const sockstate_trk_tuple_val& v) {
          ++tuples;
          TrackedNamespace* n = current(k.netns, k.gen);
          if (n == nullptr) return;
          TrackedTuple& t = n->tuples.emplace_back();
          t.family = FamilyOf(k.family);
          std::memcpy(t.saddr.data(), k.saddr, 16);
          std::memcpy(t.daddr.data(), k.daddr, 16);
          t.dport = k.dport;
          t.st = StatesOf(v.st);
          t.used = v.used;
          t.peak = std::max({v.peak[0], v.peak[1], v.used});
        });
    if (!st.ok()) return st;
  }
  uint64_t cells = 0;
  {
    st = ForEachEntryIn<sockstate_trk_cell_key, sockstate_trk_cell_val>(
        read_scratch_, cells_fd_, "trk_cells",
        [&](const sockstate_trk_cell_key& k, const sockstate_trk_cell_val& v) {
          ++cells;
          TrackedNamespace* n = current(k.netns, k.gen);
          if (n == nullptr) return;
          TrackedCell& c = n->cells.emplace_back();
          c.family = FamilyOf(k.family);
          std::memcpy(c.saddr.data(), k.saddr, 16);
          std::memcpy(c.daddr.data(), k.daddr, 16);
          c.dport = k.dport;
          c.cgroup = k.cgroup;
          c.st = StatesOf(v.st);
          c.used = v.used;
        });
    if (!st.ok()) return st;
  }
  {
    st = ForEachEntryIn<sockstate_trk_port_key, sockstate_trk_port_val>(
        read_scratch_, ports_fd_, "trk_ports",
        [&](const sockstate_trk_port_key& k, const sockstate_trk_port_val& v) {
          ++ports;
          TrackedNamespace* n = current(k.netns, k.gen);
          if (n == nullptr) return;
          TrackedPort& p = n->ports.emplace_back();
          p.port = k.port;
          p.st = StatesOf(v.st);
          p.refs = v.refs;
        });
    if (!st.ok()) return st;
  }
  {
    st = ForEachEntryIn<sockstate_trk_dest_key, sockstate_trk_dest_val>(
        read_scratch_, dests_fd_, "trk_dests",
        [&](const sockstate_trk_dest_key& k, const sockstate_trk_dest_val& v) {
          ++dests;
          TrackedNamespace* n = current(k.netns, k.gen);
          if (n == nullptr) return;
          TrackedDest& d = n->dests.emplace_back();
          d.family = FamilyOf(k.family);
          std::memcpy(d.daddr.data(), k.daddr, 16);
          d.dport = k.dport;
          std::copy(std::begin(v.slot), std::end(v.slot), d.slots.begin());
        });
    if (!st.ok()) return st;
  }
  {
    st = ForEachEntryIn<uint64_t, sockstate_trk_bound_val>(
        read_scratch_, bound_fd_, "trk_bound", [&](uint64_t, const sockstate_trk_bound_val& v) {
          ++bound;
          if (v.word & SOCKSTATE_TRK_DEAD) return;
          if (v.kind != SOCKSTATE_TRK_LISTEN && v.kind != SOCKSTATE_TRK_BOUND) return;
          auto it = index.find(v.netns);
          if (it == index.end()) return;
          TrackedBound& b = nss[it->second].bound.emplace_back();
          b.port = v.port;
          b.family = FamilyOf(v.family);
          b.listener = v.kind == SOCKSTATE_TRK_LISTEN;
        });
    if (!st.ok()) return st;
  }
  if (read_time_wait_) {  // outgoing TIME_WAIT sockets of the current generations
    st = ForEachEntryIn<sockstate_trk_mini_key, sockstate_trk_mini_val>(
        read_scratch_, mini_fd_, "trk_mini",
        [&](const sockstate_trk_mini_key& k, const sockstate_trk_mini_val& v) {
          if (k.kind != kTcpTimeWait || v.inbound || (v.word & SOCKSTATE_TRK_DEAD)) return;
          if (((v.word >> SOCKSTATE_TRK_STATE_SHIFT) & 0xff) != kTcpTimeWait) return;
          auto it = index.find(k.netns);
          if (it == index.end()) return;
          TrackedNamespace& n = nss[it->second];
          if (n.cur == 0 || !(v.word & (1ULL << n.cur))) return;
          TrackedTimeWait& t = n.time_wait.emplace_back();
          t.family = FamilyOf(k.family);
          t.in_range = v.in_range != 0;
          t.sport = k.sport;
          t.dport = k.dport;
          std::memcpy(t.saddr.data(), k.saddr, 16);
          std::memcpy(t.daddr.data(), k.daddr, 16);
        });
    if (!st.ok()) return st;
  }
  // Statistics (per CPU).
  std::vector<uint64_t> per_cpu(cpus_);
  uint64_t s[SOCKSTATE_TRK_STATS] = {};
  for (uint32_t i = 0; i < SOCKSTATE_TRK_STATS; ++i) {
    if (bpf_map_lookup_elem(stats_fd_, &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) s[i] += v;
  }
  out->stats.events = s[SOCKSTATE_TRK_EVENTS];
  out->stats.born = s[SOCKSTATE_TRK_BORN];
  out->stats.ended = s[SOCKSTATE_TRK_ENDED];
  out->stats.swept = s[SOCKSTATE_TRK_SWEPT];
  out->stats.full = s[SOCKSTATE_TRK_FULL];
  out->stats.unknown_end = s[SOCKSTATE_TRK_UNKNOWN_END];
  // Events lost to nested runs: the level-0 program's misses (the kernel skipped it because it
  // was running on that CPU) minus the events the deeper levels counted instead.
  const struct {
    const char* program;
    uint32_t nested;
  } levels[] = {{"trk_state", SOCKSTATE_TRK_NESTED_STATE},
                {"trk_timer_start", SOCKSTATE_TRK_NESTED_START},
                {"trk_timer_cancel", SOCKSTATE_TRK_NESTED_CANCEL}};
  out->stats.nested = 0;
  out->stats.lost = 0;
  for (const auto& l : levels) {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    const int fd = object_->ProgramFd(l.program);
    uint64_t misses = 0;
    if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) misses = info.recursion_misses;
    out->stats.nested += s[l.nested];
    if (misses > s[l.nested]) out->stats.lost += misses - s[l.nested];
  }
  // Memory: the maps read here by their entries; TIME_WAIT and request sockets (not read per
  // scrape) by entries made (births and the walks') minus ends.
  auto use = [&](const char* name, int fd, uint64_t entries, uint64_t key, uint64_t value) {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    uint64_t capacity = 0;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) capacity = info.max_entries;
    out->maps.push_back({name, entries, capacity, key + value + kHtabElemHeader});
  };
  out->maps.clear();
  use("trk_tuples", tuples_fd_, tuples, sizeof(sockstate_trk_tuple_key),
      sizeof(sockstate_trk_tuple_val));
  use("trk_cells", cells_fd_, cells, sizeof(sockstate_trk_cell_key),
      sizeof(sockstate_trk_cell_val));
  use("trk_ports", ports_fd_, ports, sizeof(sockstate_trk_port_key), sizeof(sockstate_trk_port_val));
  use("trk_dests", dests_fd_, dests, sizeof(sockstate_trk_dest_key), sizeof(sockstate_trk_dest_val));
  use("trk_bound", bound_fd_, bound, 8, sizeof(sockstate_trk_bound_val));
  use("trk_ns", ns_fd_, nss.size(), 8, sizeof(sockstate_trk_ns));
  const uint64_t made = out->stats.born + s[SOCKSTATE_TRK_WALK_BORN];
  const uint64_t mini = made > out->stats.ended ? made - out->stats.ended : 0;
  use("trk_mini", mini_fd_, mini, sizeof(sockstate_trk_mini_key), sizeof(sockstate_trk_mini_val));
  return Status::Ok();
}

Status TrackerProbe::SeedBound(uint64_t cookie, uint64_t* added, uint64_t* removed,
                               std::vector<std::string>* differences) {
  // Entries older than the dump that the dump does not show are stale (their socket went
  // without an event this program saw); those the dump shows and the map lacks are missing.
  Status st = Control(SOCKSTATE_TRK_OP_CLOCK);
  if (!st.ok()) return st;
  const uint32_t zero = 0;
  sockstate_trk_clock before{};
  bpf_map_lookup_elem(clock_fd_, &zero, &before);
  auto sock = SockDiagSocket::Open();
  if (!sock.ok()) return sock.status();
  struct Sink : RecordSink {
    std::vector<SocketRecord> found;
    void OnSocket(const SocketRecord& r) override {
      if (r.dst_port != 0 || (r.state != kTcpClose && r.state != kTcpBoundInactive)) return;
      found.push_back(r);
    }
  } sink;
  st = (*sock)->DumpTcp(1u << kTcpBoundInactive, sink);
  if (!st.ok()) return st.WithContext("tracker: bound-inactive dump");
  std::set<uint64_t> dumped;
  for (const SocketRecord& r : sink.found) {
    dumped.insert(r.cookie);
    sockstate_trk_bound_val v{};
    v.netns = cookie;
    v.port = r.src_port;
    v.family = r.family == Family::kIpv6 ? 10 : 2;
    v.kind = SOCKSTATE_TRK_BOUND;
    v.born_ns = before.ns;
    // NOEXIST: what the events said since (or a tombstone of a socket gone since) wins.
    if (bpf_map_update_elem(bound_fd_, &r.cookie, &v, BPF_NOEXIST) == 0) {
      ++*added;
      if (differences && differences->size() < 10) {
        differences->push_back("bound-inactive socket on port " + std::to_string(r.src_port) +
                               ": found, not counted");
      }
    }
  }
  std::vector<uint64_t> keys, stale;
  std::vector<sockstate_trk_bound_val> vals;
  st = ForEachEntry(bound_fd_, "trk_bound", keys, vals,
                    [&](uint64_t k, const sockstate_trk_bound_val& v) {
                      if (v.netns != cookie || v.kind != SOCKSTATE_TRK_BOUND) return;
                      if (v.word & SOCKSTATE_TRK_DEAD) return;
                      if (v.born_ns < before.ns && !dumped.count(k)) {
                        stale.push_back(k);
                        if (differences && differences->size() < 10) {
                          differences->push_back("bound-inactive socket on port " +
                                                 std::to_string(v.port) + ": counted, not found");
                        }
                      }
                    });
  if (!st.ok()) return st;
  DeleteKeys(bound_fd_, stale);
  *removed += stale.size();
  return Status::Ok();
}

namespace {

/// Deletes the entries of map `fd` whose key is of namespace `cookie` and generation `gen`.
template <typename K, typename V>
Status DeleteGenerationIn(int fd, const char* name, uint64_t cookie, uint8_t gen) {
  std::vector<K> keys, doomed;
  std::vector<V> vals;
  Status st = ForEachEntry(fd, name, keys, vals, [&](const K& k, const V&) {
    if (k.netns == cookie && k.gen == gen) doomed.push_back(k);
  });
  if (st.ok()) DeleteKeys(fd, doomed);
  return st;
}

}  // namespace

Status TrackerProbe::DeleteGeneration(uint64_t cookie, uint8_t gen) {
  Status st = DeleteGenerationIn<sockstate_trk_tuple_key, sockstate_trk_tuple_val>(
      tuples_fd_, "trk_tuples", cookie, gen);
  if (st.ok()) {
    st = DeleteGenerationIn<sockstate_trk_cell_key, sockstate_trk_cell_val>(cells_fd_, "trk_cells",
                                                                            cookie, gen);
  }
  if (st.ok()) {
    st = DeleteGenerationIn<sockstate_trk_port_key, sockstate_trk_port_val>(ports_fd_, "trk_ports",
                                                                            cookie, gen);
  }
  if (st.ok()) {
    st = DeleteGenerationIn<sockstate_trk_dest_key, sockstate_trk_dest_val>(dests_fd_, "trk_dests",
                                                                            cookie, gen);
  }
  if (!st.ok()) return st;
  // The namespace's totals of that generation's slot start from zero for its next use.
  return Status::Ok();
}

Status TrackerProbe::ClearCreated() {
  std::vector<uint64_t> keys, all;
  std::vector<uint8_t> vals;
  Status st = ForEachEntry(created_fd_, "trk_created", keys, vals,
                           [&](uint64_t k, uint8_t) { all.push_back(k); });
  if (!st.ok()) return st;
  DeleteKeys(created_fd_, all);
  return Status::Ok();
}

Status TrackerProbe::DeleteTombstones(uint64_t cookie) {
  {
    std::vector<sockstate_trk_mini_key> keys, doomed;
    std::vector<sockstate_trk_mini_val> vals;
    Status st = ForEachEntry(mini_fd_, "trk_mini", keys, vals,
                             [&](const sockstate_trk_mini_key& k, const sockstate_trk_mini_val& v) {
                               if (k.netns == cookie && (v.word & SOCKSTATE_TRK_DEAD))
                                 doomed.push_back(k);
                             });
    if (!st.ok()) return st;
    DeleteKeys(mini_fd_, doomed);
  }
  std::vector<uint64_t> keys, doomed;
  std::vector<sockstate_trk_bound_val> vals;
  Status st = ForEachEntry(bound_fd_, "trk_bound", keys, vals,
                           [&](uint64_t k, const sockstate_trk_bound_val& v) {
                             if (v.netns == cookie && v.kind == SOCKSTATE_TRK_BOUND &&
                                 (v.word & SOCKSTATE_TRK_DEAD))
                               doomed.push_back(k);
                           });
  if (!st.ok()) return st;
  DeleteKeys(bound_fd_, doomed);
  return Status::Ok();
}

SeedOutcome TrackerProbe::Compare(uint64_t cookie, uint8_t old_gen, uint8_t new_gen) {
  SeedOutcome o;
  o.previous_gen = old_gen;
  o.gen = new_gen;
  // cells[(what, state)] = {old, new}; `what` names a tuple or an inbound port.
  std::map<std::pair<std::string, int>, std::pair<int64_t, int64_t>> cells;
  auto note = [&](const std::string& what, const int* st, uint8_t gen) {
    for (int s = 0; s < kTrackerStates; ++s) {
      if (st[s] == 0) continue;
      auto& c = cells[{what, s}];
      (gen == old_gen ? c.first : c.second) += st[s];
    }
  };
  std::vector<sockstate_trk_tuple_key> tk;
  std::vector<sockstate_trk_tuple_val> tv;
  ForEachEntry(tuples_fd_, "trk_tuples", tk, tv,
               [&](const sockstate_trk_tuple_key& k, const sockstate_trk_tuple_val& v) {
                 if (k.netns != cookie || (k.gen != old_gen && k.gen != new_gen)) return;
                 note("tuple " + AddrText(k.family, k.saddr) + " -> " +
                          AddrText(k.family, k.daddr) + ":" + std::to_string(k.dport),
                      v.st, k.gen);
               });
  std::vector<sockstate_trk_port_key> pk;
  std::vector<sockstate_trk_port_val> pv;
  ForEachEntry(ports_fd_, "trk_ports", pk, pv,
               [&](const sockstate_trk_port_key& k, const sockstate_trk_port_val& v) {
                 if (k.netns != cookie || (k.gen != old_gen && k.gen != new_gen)) return;
                 note("inbound port " + std::to_string(k.port), v.st, k.gen);
               });
  for (const auto& [cell, c] : cells) {
    if (c.first == c.second) continue;
    o.drift += uint64_t(std::llabs(c.first - c.second));
    if (o.differences.size() < 10) {
      o.differences.push_back(cell.first + " " + StateName(cell.second) + ": " +
                              std::to_string(c.first) + " counted, " + std::to_string(c.second) +
                              " found");
    }
  }
  return o;
}

Result<SeedOutcome> TrackerProbe::SeedThisNamespace() {
  const uint64_t cookie = ThisNamespaceCookie();
  if (cookie == 0) return Status::Error(Errno("tracker: SO_NETNS_COOKIE"));
  struct stat nsst;
  const uint32_t inum =
      stat("/proc/thread-self/ns/net", &nsst) == 0 ? uint32_t(nsst.st_ino) : 0;
  sockstate_trk_ns ns{};
  const bool known = bpf_map_lookup_elem(ns_fd_, &cookie, &ns) == 0;
  const uint8_t cur = known ? (ns.gens & 0xff) : 0;
  const uint32_t overflow0 = known ? ns.overflow : 0, ranges0 = known ? ns.range_changes : 0;
  const uint8_t gen = uint8_t(cur % 30 + 1);  // generations 1..30 (bit 31 of a word is DEAD)
  const bool first = cur == 0;
  Status st = DeleteGeneration(cookie, gen);  // what a failed seed may have left
  if (st.ok()) st = ClearCreated();
  if (st.ok()) st = Control(SOCKSTATE_TRK_OP_SEED_BEGIN, cookie, gen, inum);
  if (st.ok()) st = Control(SOCKSTATE_TRK_OP_SET_GEN, cookie, inum, cur, gen, 1);
  if (!st.ok()) return st;
  auto abandon = [&](Status why) -> Result<SeedOutcome> {
    Control(SOCKSTATE_TRK_OP_SET_GEN, cookie, inum, cur, 0, 0);
    Control(SOCKSTATE_TRK_OP_SEED_END, 0);
    DeleteGeneration(cookie, gen);
    ClearCreated();
    DeleteTombstones(cookie);
    return why;
  };
  uint64_t added = 0, removed = 0;
  std::vector<std::string> bound_differences;
  st = SeedBound(cookie, &added, &removed, first ? nullptr : &bound_differences);
  if (!st.ok()) return abandon(st);
  // The walk: the iterator walks the namespace of the thread that creates it.
  const int it = bpf_iter_create(iter_link_fd_);
  if (it < 0) return abandon(Status::Error(Errno("tracker: bpf_iter_create")));
  char buf[4096];
  ssize_t n = 0;
  for (int i = 0; i < 1 << 24; ++i) {  // the program writes nothing: one read walks it all
    n = read(it, buf, sizeof(buf));
    if (n <= 0 && !(n < 0 && errno == EINTR)) break;
  }
  const int read_errno = errno;
  close(it);
  if (n < 0) return abandon(Status::Error(std::string("tracker: iterator read: ") + strerror(read_errno)));
  st = Control(SOCKSTATE_TRK_OP_SEED_END, 1);
  sockstate_trk_seed seed{};
  const uint32_t zero = 0;
  if (st.ok() && bpf_map_lookup_elem(seed_fd_, &zero, &seed) != 0) st = Status::Error(Errno("trk_seed"));
  if (!st.ok()) return abandon(st);
  sockstate_trk_ns after{};
  bpf_map_lookup_elem(ns_fd_, &cookie, &after);
  if (seed.overflow || after.overflow != overflow0 || after.range_changes != ranges0) {
    SeedOutcome o;  // a map filled up, or the port range changed, while the walk ran
    o.exact = false;
    o.walked = seed.walked;
    abandon(Status::Ok());
    return o;
  }
  // The walk's record stays DONE until the next seeding begins: an event that read the
  // generations just before the switch still counts into the new one.
  st = Control(SOCKSTATE_TRK_OP_SET_GEN, cookie, inum, gen, 0, 0);
  if (!st.ok()) return st;
  // Events that read the generations just before the switch finish within microseconds.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  SeedOutcome o = first ? SeedOutcome{} : Compare(cookie, cur, gen);
  o.previous_gen = cur;
  o.gen = gen;
  o.walked = seed.walked;
  o.bound_added = added;
  if (!first) {  // bound-inactive sockets the events missed or kept too long are drift too
    o.drift += added + removed;
    for (std::string& d : bound_differences) {
      if (o.differences.size() < 10) o.differences.push_back(std::move(d));
    }
  }
  o.overflow = overflow0;
  o.range_changes = ranges0;
  if (!first) DeleteGeneration(cookie, cur);
  ClearCreated();
  DeleteTombstones(cookie);
  return o;
}

}  // namespace sockstate
