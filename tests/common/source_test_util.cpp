#include "source_test_util.h"

#include <prometheus/text_serializer.h>

namespace sockstate::testing {

Series SeriesOf(FamilySet& fs) {
  return ParseExposition(prometheus::TextSerializer().Serialize(fs.Take()));
}

Series ExportSource(const NetnsSource& source, const Config& config, const Labels& base,
                    bool kernel_counters, bool host_wide) {
  FamilySet fs;
  const ExportContext ctx{config, !base.empty(), 4096, kernel_counters, host_wide};
  source.AddFamilies(fs, base, ctx);
  return SeriesOf(fs);
}

Status OwnFixtureRead::ReadOwn(NetnsSource& src, bool with_sysctl) {
  std::vector<const NetnsSource*> earlier;
  if (with_sysctl) {
    EXPECT_TRUE(sysctl_.Read({config_, env_, env_, paths_, true, "", earlier}).ok());
    earlier.push_back(&sysctl_);
  }
  return src.Read({config_, env_, env_, paths_, true, "", earlier});
}

}  // namespace sockstate::testing
