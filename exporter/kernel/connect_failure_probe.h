#pragma once
// The kernel-event side (exporter/kernel/bpf/): loads the BPF object embedded at build time,
// attaches its programs, and reads their maps. Sources above turn what it reads into series.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/family.h"
#include "util/status.h"

namespace sockstate {

/// Why a connect() failed. The values are the BPF program's (exporter/kernel/bpf/connect_failures.h).
enum class ConnectFailureReason : uint8_t {
  kNoLocalPort = 0,       // inet_hash_connect() found no free local port: EADDRNOTAVAIL
  kRefusedOrTimeout = 1,  // SYN_SENT -> CLOSE with a local port: RST, timeout or abandoned
};
inline constexpr size_t kNumConnectFailureReasons = 2;

/// One drained kernel map entry: failures counted for one key since the previous drain. IPv4
/// (and IPv4-mapped) destinations are kIpv4 with the address in daddr[0..3]. Value type.
struct FailureRecord {
  uint64_t cgroup_id = 0;
  uint64_t netns_inode = 0;
  std::array<uint8_t, 16> daddr{};
  uint16_t dport = 0;
  Family family = Family::kIpv4;
  uint8_t reason = 0;  // ConnectFailureReason; other values are ignored
  uint64_t count = 0;
};

/// The kernel side, behind a seam so that the accounting is tested without BPF.
class ConnectFailureProbe {
 public:
  virtual ~ConnectFailureProbe() = default;
  /// Appends every failure counted since the last call to `out` (each kernel entry is read and
  /// deleted atomically, so each failure is returned once) and sets `*overflow_total` to the
  /// kernel's running count of failures dropped because the map was full. Not thread-safe.
  virtual Status Drain(std::vector<FailureRecord>* out, uint64_t* overflow_total) = 0;
};

class BpfObject;

/// The programs the feature attaches (for LoadBpfFeatures(), kernel/bpf_object.h).
std::vector<std::string> ConnectFailurePrograms();

/// A probe reading the maps of a loaded object (LoadBpfFeatures() with
/// ConnectFailurePrograms()). Thread-safe.
std::unique_ptr<ConnectFailureProbe> OpenConnectFailureProbe(std::shared_ptr<BpfObject> object);

}  // namespace sockstate
