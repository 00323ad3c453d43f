// The user-space side of time_wait_owners.bpf.c: reads its owner counts and statistics.

#include "kernel/time_wait_owners.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "kernel/bpf_object.h"
#include "util/text_util.h"

extern "C" {
#include "kernel/bpf/time_wait_owners.h"
}

namespace sockstate {

namespace {

static_assert(sizeof(sockstate_tw_key) == 48, "key layout shared with the BPF program");
static_assert(sizeof(sockstate_tw_owner_key) == 48, "key layout shared with the BPF program");

class BpfTimeWaitOwnerReader : public TimeWaitOwnerReader {
 public:
  explicit BpfTimeWaitOwnerReader(std::shared_ptr<BpfObject> object)
      : object_(std::move(object)),
        owners_fd_(object_->MapFd("tw_owners")),
        stats_fd_(object_->MapFd("tw_stats")),
        cpus_(std::max(1, libbpf_num_possible_cpus())) {}

  Status Read(std::vector<TimeWaitOwnerCount>* out, TimeWaitOwnerStats* stats) override {
    out->clear();
    zero_.clear();
    // Keys and values in one pass; entries at 0 are forgotten afterwards (deleting while
    // walking would restart the walk). A count that an event moves from 0 between the read and
    // the delete is lost: that TIME_WAIT socket then shows as "unknown" (docs/workloads.md).
    sockstate_tw_owner_key key{}, next{};
    const void* prev = nullptr;
    for (size_t n = 0; n < SOCKSTATE_TW_MAX_OWNERS * 4; ++n) {  // bound: the map's size
      if (bpf_map_get_next_key(owners_fd_, prev, &next) != 0) {
        if (errno == ENOENT) break;
        return Status::Error(std::string("tw_owners: bpf_map_get_next_key: ") + strerror(errno));
      }
      key = next;
      prev = &key;
      int64_t count = 0;
      if (bpf_map_lookup_elem(owners_fd_, &key, &count) != 0) continue;  // deleted meanwhile
      if (count <= 0) {
        zero_.push_back(key);
        continue;
      }
      TimeWaitOwnerCount c;
      c.netns_inode = key.netns_inum;
      c.family = key.family == 10 ? Family::kIpv6 : Family::kIpv4;
      std::memcpy(c.saddr.data(), key.saddr, 16);
      std::memcpy(c.daddr.data(), key.daddr, 16);
      c.dport = key.dport;
      c.cgroup_id = key.cgroup_id;
      c.count = uint64_t(count);
      out->push_back(c);
    }
    for (const sockstate_tw_owner_key& k : zero_) bpf_map_delete_elem(owners_fd_, &k);
    *stats = TimeWaitOwnerStats{};
    uint64_t* fields[SOCKSTATE_TW_STATS] = {&stats->remembered, &stats->ended, &stats->named,
                                            &stats->sockets_full, &stats->owners_full};
    std::vector<uint64_t> per_cpu(cpus_);
    for (uint32_t i = 0; i < SOCKSTATE_TW_STATS; ++i) {
      if (bpf_map_lookup_elem(stats_fd_, &i, per_cpu.data()) != 0) continue;
      for (uint64_t v : per_cpu) *fields[i] += v;
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<BpfObject> object_;
  int owners_fd_;
  int stats_fd_;
  int cpus_;
  std::vector<sockstate_tw_owner_key> zero_;  // reused across scrapes
};

}  // namespace

bool KernelSymbolVisible(std::string_view text, std::string_view symbol) {
  size_t pos = 0;
  std::string_view line;
  // "ffffffff8205c7b0 t tw_timer_handler" (a module's symbols end with " [module]")
  while (NextPiece(text, '\n', &pos, &line)) {
    const size_t a = line.find(' ');
    const size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
    if (b == std::string_view::npos) continue;
    std::string_view name = line.substr(b + 1);
    name = name.substr(0, name.find_first_of(" \t"));
    if (name == symbol) return line.substr(0, a).find_first_not_of('0') != std::string_view::npos;
  }
  return false;
}

bool KernelSymbolVisibleIn(const std::string& path, std::string_view symbol) {
  std::ifstream in(path);
  std::string line;
  for (size_t n = 0; n < 10000000 && std::getline(in, line); ++n) {  // bounded: ~200k lines
    // "<address> <type> <name>": only the line whose name is exactly `symbol` decides.
    const size_t at = line.size() - std::min(line.size(), symbol.size());
    if (at > 0 && line[at - 1] == ' ' && line.compare(at, symbol.size(), symbol) == 0) {
      return KernelSymbolVisible(line, symbol);
    }
  }
  return false;
}

std::vector<std::string> TimeWaitOwnerPrograms() {
  return {"tw_timer_start", "tw_timer_cancel", "tw_owner_named"};
}

std::unique_ptr<TimeWaitOwnerReader> OpenTimeWaitOwnerReader(std::shared_ptr<BpfObject> object) {
  return std::make_unique<BpfTimeWaitOwnerReader>(std::move(object));
}

Status TimeWaitOwners::Refresh() {
  counts_.clear();
  if (!reader_) return Status::Ok();
  Status st = reader_->Read(&counts_, &stats_);
  if (!st.ok()) {
    counts_.clear();
    return st;
  }
  std::sort(counts_.begin(), counts_.end(),
            [](const TimeWaitOwnerCount& a, const TimeWaitOwnerCount& b) {
              return a.netns_inode < b.netns_inode;
            });
  return Status::Ok();
}

std::span<const TimeWaitOwnerCount> TimeWaitOwners::ForNamespace(uint64_t netns_inode) const {
  auto lo =
      std::lower_bound(counts_.begin(), counts_.end(), netns_inode,
                       [](const TimeWaitOwnerCount& c, uint64_t v) { return c.netns_inode < v; });
  auto hi = lo;
  while (hi != counts_.end() && hi->netns_inode == netns_inode) ++hi;
  return {lo, hi};
}

}  // namespace sockstate
