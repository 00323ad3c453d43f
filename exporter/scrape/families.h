#pragma once
// Builds the Prometheus metric families of one scrape from its snapshots. Pure: fresh families
// every call (no stale series), sorted by name, never throws on odd data.

#include <prometheus/metric_family.h>

#include <vector>

#include "scrape/snapshot.h"

namespace sockstate {

/// Metric families for `targets` plus exporter-wide series. Thread-safe (pure).
std::vector<prometheus::MetricFamily> BuildFamilies(const std::vector<TargetSnapshot>& targets,
                                                    const ExporterStats& stats);

}  // namespace sockstate
