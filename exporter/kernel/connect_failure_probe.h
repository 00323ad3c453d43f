#pragma once
// The kernel-event side (exporter/kernel/bpf/): loads the BPF object embedded at build time,
// attaches its programs, and reads their maps. Sources above turn what it reads into series.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernel/bpf_object.h"
#include "util/family.h"
#include "util/status.h"

namespace sockstate {

/// Why a connect() failed. The values are the BPF program's
/// (exporter/kernel/bpf/connect_failures.h). TCP: the socket's error at SYN_SENT -> CLOSE
/// (docs/connect-failures.md#reasons); UDP: only kNoLocalPort.
enum class ConnectFailureReason : uint8_t {
  kNoLocalPort = 0,  // TCP: EADDRNOTAVAIL from inet_hash_connect(); UDP: no free port at all
  kRefused = 1,      // ECONNREFUSED: a RST, or ICMP port unreachable
  kTimedOut = 2,     // ETIMEDOUT: the SYN retries ran out
  kUnreachable = 3,  // another ICMP error: EHOSTUNREACH, ENETUNREACH, ...
  kAbandoned = 4,    // no error: the application closed the socket while connecting
};
inline constexpr size_t kNumConnectFailureReasons = 5;

/// One drained kernel map entry: failures counted for one key since the previous drain. IPv4
/// (and IPv4-mapped) destinations are kIpv4 with the address in daddr[0..3]. Value type.
struct FailureRecord {
  uint64_t cgroup_id = 0;
  uint64_t netns_inode = 0;
  std::array<uint8_t, 16> daddr{};
  uint16_t dport = 0;
  Family family = Family::kIpv4;
  uint8_t reason = 0;    // ConnectFailureReason; other values are ignored
  uint8_t protocol = 6;  // IPPROTO_TCP or IPPROTO_UDP (a UDP failure has no destination)
  uint64_t count = 0;
};

/// How UDP port-allocation failures are seen (exporter/kernel/bpf/udp_failures.bpf.c,
/// docs/udp.md#failures-counted-by-the-kernel).
enum class UdpFailureHook {
  kNone,      // not counted
  kFexit,     // fexit on udp_v4_get_port / udp_v6_get_port: needs BPF trampolines
  kSyscalls,  // the system-call exit tracepoint: runs on every system call of the host
};
/// "none", "fexit", "syscalls". Thread-safe.
const char* UdpFailureHookName(UdpFailureHook hook);

/// The kernel side, behind a seam so that the accounting is tested without BPF.
class ConnectFailureProbe {
 public:
  virtual ~ConnectFailureProbe() = default;
  /// How UDP failures are counted; kNone: they are not (Drain returns TCP ones only).
  virtual UdpFailureHook udp_hook() const { return UdpFailureHook::kNone; }
  /// Appends every failure counted since the last call to `out` (each kernel entry is read and
  /// deleted atomically, so each failure is returned once) and sets `*overflow_total` to the
  /// kernel's running count of failures dropped because the map was full. Not thread-safe.
  virtual Status Drain(std::vector<FailureRecord>* out, uint64_t* overflow_total) = 0;
};

/// What --collector.connect-failures.udp asks for: "auto" (fexit when the kernel allows BPF
/// trampolines, else not counted), "syscalls" (the system-call exit tracepoint) or "off".
struct UdpFailureOptions {
  std::string mode = "auto";
};

/// The feature for the process's one BPF object (LoadBpfFeatures(), kernel/bpf_object.h):
/// --collector.connect-failures=`mode`, the UDP programs following `udp` (mode auto: the fexit
/// programs, falling back to the TCP one alone when the kernel refuses them). Thread-safe.
BpfFeature ConnectFailureFeature(const std::string& mode, const UdpFailureOptions& udp);

/// A probe of the feature loaded into `object` as its program set `variant`
/// (BpfFeatureSet::variant). Thread-safe.
std::unique_ptr<ConnectFailureProbe> OpenConnectFailureProbe(std::shared_ptr<BpfObject> object,
                                                             const UdpFailureOptions& udp,
                                                             size_t variant);

/// Loads and attaches the connect-failure programs in an object of their own, or says what is
/// missing (kernel BTF, CAP_BPF/CAP_PERFMON, a seccomp filter, the tracepoint). The UDP
/// program follows `udp`; in mode auto a kernel that refuses the fexit programs gets the TCP
/// one alone, and `*udp_note` (when set) says why UDP failures are not counted. Thread-safe.
Result<std::unique_ptr<ConnectFailureProbe>> OpenConnectFailureProbe(
    const UdpFailureOptions& udp = {}, std::string* udp_note = nullptr);

}  // namespace sockstate
