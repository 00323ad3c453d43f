#pragma once
// What a kernel test needs from the machine, and the one way a test says it is missing.
//
// Under CI a missing requirement FAILS the test; run by hand it SKIPS with the same message.
// CI means the environment variable CI is set to anything but "", "0" or "false"
// (scripts/test.sh, the CI entry, exports CI=1), so a CI machine without root, kernel BTF or
// nft cannot report "skipped" and pass (docs/development.md: a tier whose tools are missing
// fails).
//
//   TEST(X, Y) {
//     SOCKSTATE_REQUIRE(testing::Missing({testing::Need::kRoot, testing::Need::kNft}));
//     ...
//   }
//   class XTest : public testing::RootTest {};   // root checked in SetUp()
//
// SOCKSTATE_REQUIRE returns from the function it is used in (a test body or a SetUp()); its
// argument is what is missing, "" when nothing is.

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace sockstate::testing {

/// A requirement of the kernel tier.
enum class Need {
  kRoot,       // euid 0: ip netns, setns, loading BPF programs
  kKernelBtf,  // /sys/kernel/btf/vmlinux: the CO-RE BPF program
  kConntrack,  // nf_conntrack in this kernel (/proc/sys/net/netfilter/nf_conntrack_count)
  kNft,        // the nft command (nftables): the NAT topology
  kCgroup2     // a cgroup v2 hierarchy mounted (workload attribution)
};

/// The first of `needs` this machine lacks, as "<what> (<how to get it>)"; "" when it has them
/// all. Thread-safe.
std::string Missing(std::initializer_list<Need> needs);

/// True when CI is set (see the file comment).
bool InCi();

/// A test fixture whose SetUp() requires root (SOCKSTATE_REQUIRE).
class RootTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

}  // namespace sockstate::testing

/// Fails (under CI) or skips (by hand) the current test when `missing` is not empty, and
/// returns from the enclosing function. Use as a statement: SOCKSTATE_REQUIRE(x);
#define SOCKSTATE_REQUIRE(missing)                                                     \
  if (const std::string sockstate_missing_ = (missing); sockstate_missing_.empty()) {  \
  } else if (::sockstate::testing::InCi())                                             \
    GTEST_FAIL() << "requirement missing with CI set (a CI machine must provide it): " \
                 << sockstate_missing_;                                                \
  else                                                                                 \
    GTEST_SKIP() << "requirement missing: " << sockstate_missing_                      \
                 << " (set CI=1 to make this a failure)"
