#include "kernel/bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <mutex>
#include <string_view>

#include "sockstate.skel.h"
#include "util/file_util.h"

namespace sockstate {

namespace {

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

// libbpf's warnings while loading, kept for the error message instead of printed raw.
std::mutex g_libbpf_mu;
std::string g_libbpf_log;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[512];
  vsnprintf(buf, sizeof(buf), fmt, args);
  std::lock_guard<std::mutex> lock(g_libbpf_mu);
  if (g_libbpf_log.size() < 4096) g_libbpf_log += buf;
  return 0;
}

/// The last line libbpf logged that says what failed, or "": its closing lines ("failed to
/// load object", "failed to load BPF skeleton") only repeat the error number.
std::string LastLibbpfLine() {
  std::lock_guard<std::mutex> lock(g_libbpf_mu);
  std::string_view s = g_libbpf_log;
  std::string_view fallback;
  while (!s.empty()) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
    const size_t nl = s.rfind('\n');
    const std::string_view line = nl == std::string_view::npos ? s : s.substr(nl + 1);
    s = nl == std::string_view::npos ? std::string_view() : s.substr(0, nl);
    if (line.empty()) continue;
    if (fallback.empty()) fallback = line;
    if (line.find("failed to load object") == std::string_view::npos &&
        line.find("failed to load BPF skeleton") == std::string_view::npos) {
      return std::string(line);
    }
  }
  return std::string(fallback);
}

/// Names of the capabilities missing from the effective set for loading and attaching a
/// tracing program: CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN covers both). Empty if none.
std::string MissingCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return "";  // cannot tell: let the load say
  auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  if (has(CAP_SYS_ADMIN)) return "";
  std::string missing;
  for (auto [cap, name] : {std::pair{CAP_BPF, "CAP_BPF"}, std::pair{CAP_PERFMON, "CAP_PERFMON"}}) {
    if (!has(cap)) missing += missing.empty() ? name : std::string(" and ") + name;
  }
  return missing;
}

/// Why bpf() said EPERM although the capabilities are there: a seccomp filter (the default
/// profile of podman, buildah and CRI-O as in Debian 12, and Docker's before 23.0, allow it
/// only with CAP_SYS_ADMIN) or something else (a security module).
std::string DeniedDespiteCapabilities() {
  std::string status;
  bool seccomp = false;
  if (ReadSmallFile("/proc/self/status", &status) == 0) {
    size_t at = status.find("\nSeccomp:");  // 0 none, 1 strict, 2 filter
    if (at != std::string::npos) at = status.find_first_not_of(" \t", at + 9);
    seccomp = at != std::string::npos && status[at] == '2';
  }
  if (seccomp) {
    return "; the process has CAP_BPF and CAP_PERFMON, so its seccomp filter denies bpf() (a "
           "container runtime's default profile that allows it only with CAP_SYS_ADMIN: use "
           "a profile that allows it with CAP_BPF, see docs/connect-failures.md)";
  }
  return "; denied although the process has CAP_BPF and CAP_PERFMON (a security module?)";
}

}  // namespace

Result<std::shared_ptr<BpfObject>> BpfObject::Load(const std::vector<std::string>& programs,
                                                   const std::vector<BpfMapSize>& sizes,
                                                   const BpfAttachOptions& attach) {
  struct stat st;
  if (stat("/sys/kernel/btf/vmlinux", &st) != 0) {
    return Status::Error("the kernel has no BTF (/sys/kernel/btf/vmlinux: " +
                         std::string(strerror(errno)) + "; needs CONFIG_DEBUG_INFO_BTF=y)");
  }
  const std::string missing = MissingCapabilities();
  if (!missing.empty()) {
    return Status::Error("missing capability " + missing +
                         " (grant CAP_BPF and CAP_PERFMON, or run as root)");
  }
  {
    std::lock_guard<std::mutex> lock(g_libbpf_mu);
    g_libbpf_log.clear();
  }
  libbpf_set_print(LibbpfPrint);
  sockstate_bpf* skel = sockstate_bpf__open();
  if (skel == nullptr) {
    return Status::Error(std::string("opening the BPF object: ") + strerror(errno));
  }
  std::shared_ptr<BpfObject> object(new BpfObject(skel));
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    const bool wanted =
        std::find(programs.begin(), programs.end(), bpf_program__name(prog)) != programs.end();
    bpf_program__set_autoload(prog, wanted);
  }
  for (const BpfMapSize& size : sizes) {
    bpf_map* map = bpf_object__find_map_by_name(skel->obj, size.map.c_str());
    if (map == nullptr || bpf_map__set_max_entries(map, size.max_entries) != 0) {
      return Status::Error("cannot size the BPF map " + size.map);
    }
  }
  if (sockstate_bpf__load(skel) != 0) {
    const int err = errno;
    std::string detail = LastLibbpfLine();
    return Status::Error(std::string("loading the BPF program: ") + strerror(err) +
                         (detail.empty() ? "" : " (" + detail + ")") +
                         (err == EPERM ? DeniedDespiteCapabilities() : ""));
  }
  bpf_object__for_each_program(prog, skel->obj) {
    if (!bpf_program__autoload(prog)) continue;
    const std::string_view sec = bpf_program__section_name(prog);
    if (sec == "raw_tp") continue;  // run on demand (BPF_PROG_TEST_RUN), never attached
    bpf_link* link = nullptr;
    if (sec.substr(0, 7) == "cgroup/") {
      if (attach.cgroup_fd < 0) {
        return Status::Error(std::string(sec) + " needs the cgroup v2 hierarchy (not found)");
      }
      link = bpf_program__attach_cgroup(prog, attach.cgroup_fd);
    } else {
      link = bpf_program__attach(prog);
    }
    if (link == nullptr) {
      const int err = errno;
      const char* section = bpf_program__section_name(prog);
      if (err == ENOENT || err == ESRCH) {
        return Status::Error(std::string("the kernel has no attach point ") + section);
      }
      return Status::Error(std::string("attaching to ") + section + ": " + strerror(err));
    }
    object->links_.emplace_back(bpf_program__name(prog), link);
  }
  return object;
}

BpfObject::~BpfObject() {
  for (auto& [name, link] : links_) bpf_link__destroy(link);
  sockstate_bpf__destroy(skel_);
}

int BpfObject::MapFd(std::string_view name) const {
  const bpf_map* map = bpf_object__find_map_by_name(skel_->obj, std::string(name).c_str());
  return map == nullptr ? -1 : bpf_map__fd(map);
}

int BpfObject::ProgramFd(std::string_view name) const {
  const bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, std::string(name).c_str());
  return prog == nullptr ? -1 : bpf_program__fd(prog);
}

int BpfObject::LinkFd(std::string_view name) const {
  for (const auto& [program, link] : links_) {
    if (program == name) return bpf_link__fd(link);
  }
  return -1;
}

bool BpfObject::SetGlobal(std::string_view name, uint64_t value) {
  // The object's .bss map, found by name: the skeleton has no `bss` member while no program
  // declares a zero-initialised global.
  const btf* types = bpf_object__btf(skel_->obj);
  const bpf_map* bss = nullptr;
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, skel_->obj) {
    const std::string_view map_name = bpf_map__name(m);
    if (map_name.ends_with(".bss")) bss = m;
  }
  size_t bss_size = 0;
  // libbpf returns the mapped region after the load (const in its older signature).
  void* data = bss ? const_cast<void*>(static_cast<const void*>(
                         bpf_map__initial_value(const_cast<bpf_map*>(bss), &bss_size)))
                   : nullptr;
  if (types == nullptr || data == nullptr) return false;
  const int sec_id = btf__find_by_name_kind(types, ".bss", BTF_KIND_DATASEC);
  if (sec_id < 0) return false;
  const btf_type* sec = btf__type_by_id(types, sec_id);
  const btf_var_secinfo* var = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); ++i, ++var) {
    const btf_type* t = btf__type_by_id(types, var->type);
    if (t == nullptr || name != btf__name_by_offset(types, t->name_off)) continue;
    if (var->size != sizeof(value) || var->offset + sizeof(value) > bss_size) return false;
    __atomic_store_n(reinterpret_cast<uint64_t*>(static_cast<char*>(data) + var->offset), value,
                     __ATOMIC_RELAXED);
    return true;
  }
  return false;
}

BpfFeatureSet LoadBpfFeatures(const std::vector<BpfFeature>& features,
                              const std::vector<BpfMapSize>& sizes,
                              const BpfAttachOptions& attach) {
  const size_t n = features.size();
  BpfFeatureSet set;
  set.status.assign(n, Status::Ok());
  set.off.assign(n, false);
  set.variant.assign(n, 0);
  set.notes.assign(n, "");
  auto programs_of = [&](size_t i, size_t variant) -> const std::vector<std::string>& {
    return variant == 0 ? features[i].programs : features[i].fallbacks[variant - 1];
  };
  auto load = [&](const std::vector<bool>& with) {
    std::vector<std::string> programs;
    for (size_t i = 0; i < n; ++i) {
      if (!with[i]) continue;
      const std::vector<std::string>& p = programs_of(i, set.variant[i]);
      programs.insert(programs.end(), p.begin(), p.end());
    }
    return BpfObject::Load(programs, sizes, attach);
  };
  // Loads feature `i` alone, its programs and then each fallback in turn, until one loads. True
  // then, with set.variant[i] the one that loaded and its note why `programs` did not; false
  // with set.status[i] the error of `programs` and the variant reset to 0.
  auto load_alone = [&](size_t i) {
    std::vector<bool> one(n, false);
    one[i] = true;
    Status first;
    for (size_t v = 0; v <= features[i].fallbacks.size(); ++v) {
      set.variant[i] = v;
      Result<std::shared_ptr<BpfObject>> alone = load(one);
      if (alone.ok()) {
        if (v > 0) set.notes[i] = first.message();
        return true;
      }
      if (v == 0) first = alone.status();
    }
    set.status[i] = first;
    set.variant[i] = 0;
    return false;
  };
  std::vector<bool> wanted(n);
  for (size_t i = 0; i < n; ++i) {
    set.off[i] = features[i].mode == "off";
    wanted[i] = !set.off[i];
  }
  if (std::find(wanted.begin(), wanted.end(), true) == wanted.end()) return set;
  // A feature with fallbacks is probed alone first (they are small), so that the union is
  // loaded once with the variant this kernel takes: a failed union would load every feature
  // again, alone and then together (the state tracker's programs take ~1.7 s of verifier
  // time on the development VM).
  for (size_t i = 0; i < n; ++i) {
    if (wanted[i] && !features[i].fallbacks.empty()) wanted[i] = load_alone(i);
  }
  if (std::find(wanted.begin(), wanted.end(), true) == wanted.end()) return set;
  Result<std::shared_ptr<BpfObject>> all = load(wanted);
  if (all.ok()) {
    set.object = std::move(*all);
    return set;
  }
  // Which feature cannot load? Each alone, with its fallbacks (failures only: the common case
  // loads once).
  size_t alone_ok = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!wanted[i]) continue;
    wanted[i] = load_alone(i);
    alone_ok += wanted[i];
  }
  if (alone_ok == 0) return set;
  Result<std::shared_ptr<BpfObject>> rest = load(wanted);
  if (rest.ok()) {
    set.object = std::move(*rest);
  } else {  // each loads alone but not together: report it on every one of them
    for (size_t i = 0; i < n; ++i) {
      if (wanted[i]) set.status[i] = rest.status();
    }
  }
  return set;
}

}  // namespace sockstate
