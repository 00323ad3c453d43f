#pragma once
// Helpers for the unit tests of the kernel sources: export one source's families into the
// exact series -> value map of test_util.h.

#include <string>

#include "metrics/family_set.h"
#include "sources/source.h"
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

}  // namespace sockstate::testing
