// The user-space side of time_wait_owners.bpf.h: a snapshot of its ring once per scrape.

#include "kernel/time_wait_owners.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "kernel/bpf_object.h"
#include "util/key36.h"

extern "C" {
#include "kernel/bpf/time_wait_owners.h"
}

namespace sockstate {

namespace {

static_assert(sizeof(sockstate_tw_key) == sizeof(TimeWaitKey), "key shared with the program");
static_assert(offsetof(sockstate_tw_key, sport) == offsetof(TimeWaitKey, sport));
static_assert(offsetof(sockstate_tw_key, family) == offsetof(TimeWaitKey, family));
static_assert(offsetof(sockstate_tw_key, saddr) == offsetof(TimeWaitKey, saddr));
static_assert(offsetof(sockstate_tw_key, daddr) == offsetof(TimeWaitKey, daddr));
static_assert(sizeof(sockstate_tw_record) == kTimeWaitEntryBytes);

class BpfTimeWaitOwnerReader : public TimeWaitOwnerReader {
 public:
  BpfTimeWaitOwnerReader(std::shared_ptr<BpfObject> object, uint32_t size)
      : object_(std::move(object)),
        ring_fd_(object_->MapFd(kTimeWaitSocketsMap)),
        head_fd_(object_->MapFd("tw_head")),
        size_(size) {
    // The head is read on every lookup that misses the snapshot: mapped, it is a load.
    void* m = mmap(nullptr, size_t(sysconf(_SC_PAGESIZE)), PROT_READ | PROT_WRITE, MAP_SHARED,
                   head_fd_, 0);
    if (m != MAP_FAILED) head_ = static_cast<sockstate_tw_head*>(m);
    // Recording starts now (the program records nothing while the size is 0).
    if (head_ != nullptr) {
      __atomic_store_n(&head_->size, uint64_t(size_), __ATOMIC_RELEASE);
    } else {
      const uint32_t zero = 0;
      sockstate_tw_head h{0, size_};
      bpf_map_update_elem(head_fd_, &zero, &h, BPF_ANY);
    }
  }
  ~BpfTimeWaitOwnerReader() override {  // recording stops (the object may live on)
    if (head_ != nullptr) {
      __atomic_store_n(&head_->size, uint64_t(0), __ATOMIC_RELEASE);
      munmap(head_, size_t(sysconf(_SC_PAGESIZE)));
    }
  }

  uint64_t Head() const override {
    if (head_ != nullptr) return __atomic_load_n(&head_->head, __ATOMIC_ACQUIRE);
    const uint32_t zero = 0;
    sockstate_tw_head h{};
    return bpf_map_lookup_elem(head_fd_, &zero, &h) == 0 ? h.head : 0;
  }
  uint64_t size() const override { return size_; }

  Status Read(uint64_t from, uint64_t to,
              const std::function<void(const TimeWaitKey&, uint64_t)>& fn) override {
    // Contiguous runs of slots in batches (an array's batch starts after the key given).
    constexpr uint32_t kBatch = 4096;
    keys_.resize(kBatch);
    records_.resize(kBatch);
    for (uint64_t n = std::max(from, to > size_ ? to - size_ : 0); n < to;) {
      const uint32_t slot = uint32_t(n % size_);
      uint32_t count = uint32_t(std::min<uint64_t>({kBatch, to - n, size_ - slot}));
      uint32_t prev = slot - 1, next = 0;
      const int err = bpf_map_lookup_batch(ring_fd_, slot == 0 ? nullptr : &prev, &next,
                                           keys_.data(), records_.data(), &count, nullptr);
      if (err != 0 && errno != ENOENT) {
        return Status::Error(std::string("tw_ring: bpf_map_lookup_batch: ") + strerror(errno));
      }
      if (count == 0) break;
      for (uint32_t i = 0; i < count; ++i) {
        // Complete, and record n + i itself (not an older or a newer one in its slot).
        const sockstate_tw_record& r = records_[i];
        if (r.seq_begin != n + i + 1 || r.seq_end != r.seq_begin) continue;
        TimeWaitKey k;
        std::memcpy(&k, &r.key, sizeof(k));
        fn(k, r.cgroup_id);
      }
      n += count;
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<BpfObject> object_;
  int ring_fd_;
  int head_fd_;
  uint32_t size_;
  sockstate_tw_head* head_ = nullptr;
  std::vector<uint32_t> keys_;  // batch buffers, reused across scrapes
  std::vector<sockstate_tw_record> records_;
};

}  // namespace

TimeWaitKey TimeWaitKey::Of(uint64_t netns_inode, const SocketRecord& r) {
  TimeWaitKey k;
  k.netns_inode = uint32_t(netns_inode);
  k.sport = r.src_port;
  k.dport = r.dst_port;
  k.family = r.family == Family::kIpv6 ? 10 : 2;
  k.saddr = r.src_addr;
  k.daddr = r.dst_addr;
  return k;
}

// The one program on sock:inet_sock_set_state, shared with the connect failures: its owner part
// records while the ring's size is set (BpfTimeWaitOwnerReader).
std::vector<std::string> TimeWaitOwnerPrograms() { return {"sock_state_change"}; }

std::unique_ptr<TimeWaitOwnerReader> OpenTimeWaitOwnerReader(std::shared_ptr<BpfObject> object,
                                                             uint32_t size) {
  return std::make_unique<BpfTimeWaitOwnerReader>(std::move(object), size);
}

uint64_t TimeWaitOwners::HashOf(const TimeWaitKey& key) {
  const uint64_t h = HashKey48(reinterpret_cast<const uint8_t*>(&key));
  return h == 0 ? 1 : h;
}

void TimeWaitOwners::Insert(uint64_t h, uint64_t cgroup) {
  if ((entries_ + 1) * 2 > slots_.size()) {  // grow (the first scrapes only: reused after)
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(std::max<size_t>(1024, old.size() * 2), Slot{0, 0});
    for (const Slot& s : old) {
      if (s.hash == 0) continue;
      size_t i = s.hash & (slots_.size() - 1);
      while (slots_[i].hash != 0) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = s;
    }
  }
  size_t i = h & (slots_.size() - 1);
  while (slots_[i].hash != 0 && slots_[i].hash != h) i = (i + 1) & (slots_.size() - 1);
  if (slots_[i].hash == 0) ++entries_;
  slots_[i] = Slot{h, cgroup};  // a later record of the same socket wins
}

Status TimeWaitOwners::Refresh() {
  entries_ = 0;
  std::fill(slots_.begin(), slots_.end(), Slot{0, 0});
  {
    std::lock_guard<std::mutex> lock(mu_);
    late_.clear();
    late_read_ = 0;
  }
  if (!reader_) return Status::Ok();
  const uint64_t head = reader_->Head();
  Status st = reader_->Read(0, head, [&](const TimeWaitKey& key, uint64_t cgroup) {
    if (cgroup != 0) Insert(HashOf(key), cgroup);
  });
  recorded_ = head;
  late_from_ = head;
  if (!st.ok()) {
    std::fill(slots_.begin(), slots_.end(), Slot{0, 0});
    entries_ = 0;
  }
  return st;
}

uint64_t TimeWaitOwners::Owner(const TimeWaitKey& key) const {
  if (!reader_) return 0;
  const uint64_t h = HashOf(key);
  if (!slots_.empty()) {
    for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].hash == h) return slots_[i].cgroup;
      if (slots_[i].hash == 0) break;
    }
  }
  // Not in the snapshot: born since (during the dump), or unknown. Read the records made
  // since the snapshot, once per new batch of them.
  std::lock_guard<std::mutex> lock(mu_);
  auto it = late_.find(h);
  if (it != late_.end()) return it->second;
  const uint64_t head = reader_->Head();
  if (head <= late_from_) return 0;
  const Status st = reader_->Read(late_from_, head, [&](const TimeWaitKey& k, uint64_t cgroup) {
    if (cgroup != 0) late_[HashOf(k)] = cgroup;
    ++late_read_;
  });
  late_from_ = head;
  if (!st.ok()) return 0;
  it = late_.find(h);
  return it == late_.end() ? 0 : it->second;
}

uint64_t TimeWaitOwners::late_records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return late_read_;
}

}  // namespace sockstate
