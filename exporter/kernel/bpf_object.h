#pragma once
// The exporter's one BPF object: every program of exporter/kernel/bpf/ (*.bpf.c), linked into
// one object at build time and embedded in the binary as a skeleton. Loaded once per process,
// with only the programs the turned-on features name; the features' probes read its maps.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

struct sockstate_bpf;  // the bpftool skeleton (generated/sockstate.skel.h)
struct bpf_link;

namespace sockstate {

/// The loaded and attached object. Thread-safe after Load(): only map fds are handed out.
class BpfObject {
 public:
  /// Checks the kernel's BTF and the capabilities (CAP_BPF and CAP_PERFMON, or
  /// CAP_SYS_ADMIN), then loads and attaches exactly the programs named in `programs` (their
  /// C function names in the .bpf.c files; the others are not loaded). The error says what
  /// is missing: kernel BTF, a capability, a seccomp filter, an attach point.
  static Result<std::shared_ptr<BpfObject>> Load(const std::vector<std::string>& programs);
  ~BpfObject();
  BpfObject(const BpfObject&) = delete;
  BpfObject& operator=(const BpfObject&) = delete;

  /// The fd of the map named `name` in the .bpf.c files, or -1 when there is none.
  int MapFd(std::string_view name) const;

 private:
  explicit BpfObject(sockstate_bpf* skel) : skel_(skel) {}
  sockstate_bpf* skel_;
  std::vector<bpf_link*> links_;  // one per attached program
};

}  // namespace sockstate
