// The parts of the BPF loader that need no kernel (kernel/bpf_object.h).

#include "kernel/bpf_object.h"

#include <gtest/gtest.h>

namespace sockstate {
namespace {

TEST(LoadBpfFeatures, OffFeaturesLoadNothing) {
  const BpfFeatureSet set =
      LoadBpfFeatures({{"--a", "off", {"prog_a"}}, {"--b", "off", {"prog_b"}}}, {});
  EXPECT_EQ(set.object, nullptr);
  ASSERT_EQ(set.status.size(), 2u);
  EXPECT_TRUE(set.status[0].ok());
  EXPECT_TRUE(set.status[1].ok());
  EXPECT_FALSE(set.loaded(0));
  EXPECT_FALSE(set.loaded(1));
}

}  // namespace
}  // namespace sockstate
