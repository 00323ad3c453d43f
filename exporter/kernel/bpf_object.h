#pragma once
// The exporter's one BPF object: every program of exporter/kernel/bpf/ (*.bpf.c), linked into
// one object at build time and embedded in the binary as a skeleton. Loaded once per process,
// with only the programs the turned-on features name; the features' probes read its maps.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

struct sockstate_bpf;  // the bpftool skeleton (generated/sockstate.skel.h)
struct bpf_link;

namespace sockstate {

/// A map size set before loading (bpf_map__set_max_entries), e.g. from the configuration.
struct BpfMapSize {
  std::string map;  // its name in the .bpf.c files
  uint32_t max_entries = 0;
};

/// How programs that the kernel does not attach by their section alone are attached. Value
/// type.
struct BpfAttachOptions {
  /// `cgroup/...` programs (bind, close of sockets) are attached to this cgroup (v2: its
  /// descendants inherit them); -1: such a program cannot be loaded.
  int cgroup_fd = -1;
};

/// The loaded and attached object. Thread-safe after Load(): only fds are handed out.
/// Programs in section `raw_tp` without a tracepoint name are loaded but not attached: user
/// space runs them on demand (BPF_PROG_TEST_RUN, ProgramFd()).
class BpfObject {
 public:
  /// Checks the kernel's BTF and the capabilities (CAP_BPF and CAP_PERFMON, or
  /// CAP_SYS_ADMIN), then loads and attaches exactly the programs named in `programs` (their
  /// C function names in the .bpf.c files; the others are not loaded), with the maps of
  /// `sizes` resized first. The error says what is missing: kernel BTF, a capability, a
  /// seccomp filter, a kernel symbol, an attach point.
  static Result<std::shared_ptr<BpfObject>> Load(const std::vector<std::string>& programs,
                                                 const std::vector<BpfMapSize>& sizes = {},
                                                 const BpfAttachOptions& attach = {});
  ~BpfObject();
  BpfObject(const BpfObject&) = delete;
  BpfObject& operator=(const BpfObject&) = delete;

  /// The fd of the map named `name` in the .bpf.c files, or -1 when there is none.
  int MapFd(std::string_view name) const;
  /// The fd of the loaded program named `name` (its C function name), or -1.
  int ProgramFd(std::string_view name) const;
  /// The fd of the link of the attached program `name` (e.g. an iterator's, which user space
  /// opens iterators on), or -1.
  int LinkFd(std::string_view name) const;

  /// Writes `value` into the 8-byte global variable `name` of the programs (zero-initialised,
  /// so in .bss, which stays mapped after the load: the programs see it at once). False when
  /// there is no such 8-byte variable.
  bool SetGlobal(std::string_view name, uint64_t value);

 private:
  explicit BpfObject(sockstate_bpf* skel) : skel_(skel) {}
  sockstate_bpf* skel_;
  std::vector<std::pair<std::string, bpf_link*>> links_;  // one per attached program
};

/// One kernel-event feature of the object: the flag that turns it on, its mode (auto, on or
/// off) and the programs it needs.
struct BpfFeature {
  std::string flag;  // "--collector.connect-failures", for messages
  std::string mode;  // "auto", "on" or "off"
  std::vector<std::string> programs;
  /// Smaller program sets tried in order when `programs` cannot load (e.g. without the
  /// programs a kernel refuses); the feature then works in part.
  std::vector<std::vector<std::string>> fallbacks;
};

/// What LoadBpfFeatures() loaded. Value type.
struct BpfFeatureSet {
  std::shared_ptr<BpfObject> object;  // null when no feature is loaded
  std::vector<Status> status;         // per feature, in order: Ok when loaded or off
  std::vector<bool> off;              // per feature: its mode is off
  std::vector<size_t> variant;        // per feature: 0 = programs, i = fallbacks[i - 1]
  std::vector<std::string> notes;     // per feature: why `programs` did not load, if it did not
  /// True when feature `i` is loaded (then its programs are attached in `object`).
  bool loaded(size_t i) const { return object != nullptr && status[i].ok() && !off[i]; }
};

/// Loads the ONE object of the process with the programs of every feature not off (one load,
/// one set of maps for all). When that fails, each feature is tried alone, with its fallbacks
/// in order, to tell which cannot load (its status says why) and the others are loaded
/// together, once, each with the program set that loaded. Never exits: the caller decides
/// what a failing `on` means. Thread-safe.
BpfFeatureSet LoadBpfFeatures(const std::vector<BpfFeature>& features,
                              const std::vector<BpfMapSize>& sizes,
                              const BpfAttachOptions& attach = {});

}  // namespace sockstate
