// The parts of the BPF loader that need no kernel (kernel/bpf_object.h).

#include "kernel/bpf_object.h"

#include <gtest/gtest.h>

namespace sockstate {
namespace {

TEST(MissingKernelSymbols, NeedsTheExactNameWithANonZeroAddress) {
  const std::string kallsyms =
      "ffffffff8205c500 t inet_twsk_kill\n"
      "ffffffff8205c7b0 t tw_timer_handler\n"
      "ffffffffc0a01000 t tw_timer_handler_x [mod]\n"
      "0000000000000000 t reqsk_timer_handler\n"  // kernel.kptr_restrict hides addresses
      "broken line\n";
  EXPECT_EQ(MissingKernelSymbols(kallsyms, {"tw_timer_handler"}), "");
  EXPECT_EQ(MissingKernelSymbols(kallsyms, {"reqsk_timer_handler"}), "reqsk_timer_handler");
  EXPECT_EQ(MissingKernelSymbols(kallsyms, {"tw_timer", "inet_twsk_kill", "absent"}),
            "tw_timer and absent");
  EXPECT_EQ(MissingKernelSymbols("", {"tw_timer_handler"}), "tw_timer_handler");
  EXPECT_EQ(MissingKernelSymbols(kallsyms, {}), "");
}

TEST(LoadBpfFeatures, OffFeaturesLoadNothing) {
  const BpfFeatureSet set =
      LoadBpfFeatures({{"--a", "off", {"prog_a"}, {}}, {"--b", "off", {"prog_b"}, {"sym"}}}, {});
  EXPECT_EQ(set.object, nullptr);
  ASSERT_EQ(set.status.size(), 2u);
  EXPECT_TRUE(set.status[0].ok());
  EXPECT_TRUE(set.status[1].ok());
  EXPECT_FALSE(set.loaded(0));
  EXPECT_FALSE(set.loaded(1));
}

TEST(LoadBpfFeatures, AFeatureWhoseSymbolIsHiddenIsLeftOutAndSaysWhy) {
  const std::string path = ::testing::TempDir() + "/kallsyms";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("0000000000000000 t tw_timer_handler\n", f);
  fclose(f);
  const BpfFeatureSet set =
      LoadBpfFeatures({{"--b", "auto", {"prog_b"}, {"tw_timer_handler"}}}, {}, path);
  EXPECT_FALSE(set.loaded(0));
  EXPECT_EQ(set.status[0].message(), "the kernel symbol tw_timer_handler has no address in " +
                                         path +
                                         " (kernel.kptr_restrict set, or a kernel without it)");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sockstate
