// The kernel side of the connect_failures source: the programs sock_state_change.bpf.c (TCP,
// tp_btf/inet_sock_set_state, shared with the TIME_WAIT owners: its TCP part counts while this
// probe lives) and udp_failures.bpf.c (UDP, fexit or the system-call exit) of the one BPF
// object (kernel/bpf_object.h), and the drain of their shared map.

#include "kernel/connect_failure_probe.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "kernel/bpf_object.h"

extern "C" {
#include "kernel/bpf/connect_failures.h"
}

namespace sockstate {

namespace {

static_assert(sizeof(sockstate_cf_key) == 40, "key layout shared with the BPF program");

/// The global of sock_state_change.bpf.c that turns its TCP connect-failure part on.
constexpr const char* kCountTcpFailures = "cf_count_tcp";

class BpfProbe : public ConnectFailureProbe {
 public:
  BpfProbe(std::shared_ptr<BpfObject> object, UdpFailureHook udp_hook)
      : udp_hook_(udp_hook),
        object_(std::move(object)),
        failures_fd_(object_->MapFd("cf_failures")),
        overflow_fd_(object_->MapFd("cf_overflow")) {
    keys_.reserve(SOCKSTATE_CF_MAX_ENTRIES);
    counting_ = object_->SetGlobal(kCountTcpFailures, 1);
  }
  ~BpfProbe() override { object_->SetGlobal(kCountTcpFailures, 0); }

  UdpFailureHook udp_hook() const override { return udp_hook_; }

  Status Drain(std::vector<FailureRecord>* out, uint64_t* overflow_total) override {
    if (!counting_) {  // the program would count nothing: say so rather than report zeros
      return Status::Error(std::string("cannot turn counting on: no global ") + kCountTcpFailures +
                           " in the BPF object's .bss");
    }
    uint32_t zero = 0;
    uint64_t lost = 0;
    if (bpf_map_lookup_elem(overflow_fd_, &zero, &lost) == 0) *overflow_total = lost;

    // Keys first, then each read-and-deleted: deleting while walking would restart the walk.
    const int fd = failures_fd_;
    keys_.clear();
    sockstate_cf_key key{}, next{};
    const void* prev = nullptr;
    while (keys_.size() < SOCKSTATE_CF_MAX_ENTRIES) {
      if (bpf_map_get_next_key(fd, prev, &next) != 0) {
        if (errno == ENOENT) break;
        return Status::Error(std::string("bpf_map_get_next_key: ") + strerror(errno));
      }
      keys_.push_back(next);
      key = next;
      prev = &key;
    }
    for (const sockstate_cf_key& k : keys_) {
      uint64_t count = 0;
      if (bpf_map_lookup_and_delete_elem(fd, &k, &count) != 0) {
        if (errno == ENOENT) continue;
        return Status::Error(std::string("bpf_map_lookup_and_delete_elem: ") + strerror(errno));
      }
      FailureRecord r;
      r.cgroup_id = k.cgroup_id;
      r.netns_inode = k.netns_inum;
      std::memcpy(r.daddr.data(), k.daddr, 16);
      r.dport = k.dport;
      r.family = k.family == 10 ? Family::kIpv6 : Family::kIpv4;
      r.reason = k.reason;
      r.protocol = k.protocol;
      r.count = count;
      out->push_back(r);
    }
    return Status::Ok();
  }

 private:
  UdpFailureHook udp_hook_;
  std::shared_ptr<BpfObject> object_;
  int failures_fd_;
  int overflow_fd_;
  std::vector<sockstate_cf_key> keys_;  // reused across scrapes
  bool counting_ = false;               // the program's TCP part was turned on
};

}  // namespace

const char* UdpFailureHookName(UdpFailureHook hook) {
  switch (hook) {
    case UdpFailureHook::kFexit:
      return "fexit";
    case UdpFailureHook::kSyscalls:
      return "syscalls";
    case UdpFailureHook::kNone:
      break;
  }
  return "none";
}

namespace {

constexpr const char* kTcpProgram = "sock_state_change";

UdpFailureHook HookOf(const UdpFailureOptions& udp, size_t variant) {
  if (udp.mode == "syscalls") return UdpFailureHook::kSyscalls;
  if (udp.mode == "auto") return variant == 0 ? UdpFailureHook::kFexit : UdpFailureHook::kNone;
  return UdpFailureHook::kNone;
}

}  // namespace

BpfFeature ConnectFailureFeature(const std::string& mode, const UdpFailureOptions& udp) {
  BpfFeature f{"--collector.connect-failures", mode, {kTcpProgram}, {}};
  if (udp.mode == "syscalls") {
    f.programs.push_back("cf_udp_sys_exit");
  } else if (udp.mode == "auto") {
    // The fexit programs need BPF trampolines, which some kernels refuse (EPERM at load, or
    // no attach point): then the TCP program alone, and UDP failures are not counted.
    f.programs.push_back("cf_udp_v4_get_port");
    f.programs.push_back("cf_udp_v6_get_port");
    f.fallbacks.push_back({kTcpProgram});
  }
  return f;
}

std::unique_ptr<ConnectFailureProbe> OpenConnectFailureProbe(std::shared_ptr<BpfObject> object,
                                                             const UdpFailureOptions& udp,
                                                             size_t variant) {
  return std::make_unique<BpfProbe>(std::move(object), HookOf(udp, variant));
}

Result<std::unique_ptr<ConnectFailureProbe>> OpenConnectFailureProbe(const UdpFailureOptions& udp,
                                                                     std::string* udp_note) {
  const BpfFeatureSet set = LoadBpfFeatures({ConnectFailureFeature("on", udp)}, {});
  if (!set.loaded(0)) return set.status[0];
  if (udp_note != nullptr) *udp_note = set.notes[0];
  return OpenConnectFailureProbe(set.object, udp, set.variant[0]);
}

}  // namespace sockstate
