#include "requirements.h"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "netns_fixture.h"
#include "test_util.h"

namespace sockstate::testing {
namespace {

constexpr char kConntrackCount[] = "/proc/sys/net/netfilter/nf_conntrack_count";

bool Exists(const char* path) { return access(path, F_OK) == 0; }

bool HasCgroup2() {
  std::string mountinfo;
  try {
    mountinfo = ReadFile("/proc/self/mountinfo");
  } catch (const std::exception&) {
    return false;
  }
  return mountinfo.find(" - cgroup2 ") != std::string::npos;
}

std::string Check(Need need) {
  switch (need) {
    case Need::kRoot:
      return geteuid() == 0 ? "" : "root (network namespaces, setns, BPF; run as root)";
    case Need::kKernelBtf:
      return Exists("/sys/kernel/btf/vmlinux")
                 ? ""
                 : "kernel BTF (/sys/kernel/btf/vmlinux; a kernel built with "
                   "CONFIG_DEBUG_INFO_BTF, as Debian 12's is)";
    case Need::kConntrack:
      // A module on Debian's kernel, loaded on first use (an nft NAT rule): load it now.
      if (!Exists(kConntrackCount) && geteuid() == 0) RunCommand({"modprobe", "nf_conntrack"});
      return Exists(kConntrackCount)
                 ? ""
                 : "conntrack in this kernel (/proc/sys/net/netfilter/nf_conntrack_count; "
                   "modprobe nf_conntrack)";
    case Need::kNft:
      return RunCommand({"nft", "--version"}).exit_code == 0
                 ? ""
                 : "the nft command (scripts/install-deps.sh --test installs nftables)";
    case Need::kCgroup2:
      return HasCgroup2() ? "" : "a cgroup v2 hierarchy mounted (/proc/self/mountinfo has none)";
  }
  return "unknown requirement";
}

}  // namespace

std::string Missing(std::initializer_list<Need> needs) {
  for (Need n : needs) {
    if (std::string why = Check(n); !why.empty()) return why;
  }
  return "";
}

bool InCi() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr) return false;
  const std::string_view v(ci);
  return !v.empty() && v != "0" && v != "false";
}

void RootTest::SetUp() { SOCKSTATE_REQUIRE(Missing({Need::kRoot})); }

}  // namespace sockstate::testing
