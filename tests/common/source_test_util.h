#pragma once
// Helpers for the unit tests of the kernel sources: export one source's families into the
// exact series -> value map of test_util.h.

#include <gtest/gtest.h>

#include <string>

#include "metrics/family_set.h"
#include "sources/source.h"
#include "sources/sysctl_source.h"
#include "test_util.h"

namespace sockstate::testing {

/// The series `source` adds with `base` labels (ExportContext: label_netns from base, page
/// size 4096).
/// `kernel_counters` and `host_wide` as ExportContext's (a namespace below detail_threshold;
/// the namespace that carries the host-wide values).
Series ExportSource(const NetnsSource& source, const Config& config, const Labels& base = {},
                    bool kernel_counters = true, bool host_wide = true);

/// The series of a FamilySet after Take(), as the exposition text says them.
Series SeriesOf(FamilySet& fs);

/// Reads a per-namespace source as the exporter's own namespace over the fixture /proc tree
/// (tests/fixtures/proc: range 32768-60999, 40000-40009 and 50000 reserved), with or without
/// the sysctl source read before it (the port range the dump sources take).
class OwnFixtureRead : public ::testing::Test {
 protected:
  Status ReadOwn(NetnsSource& src, bool with_sysctl);
  Config config_ = DefaultConfig();
  SourceEnv env_;
  ProcPaths paths_ = ProcPaths::ForRoot(std::string(SOCKSTATE_TEST_DATA_DIR) + "/proc");
  SysctlSource sysctl_;
};

}  // namespace sockstate::testing
