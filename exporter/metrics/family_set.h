#pragma once
// Metric families of one scrape, collected by name so that several namespaces and sources add
// series to the same family. Every source writes its series through this one type, naming the
// family by its declaration in metrics/names.h.

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "metrics/names.h"

namespace sockstate {

/// Label pairs of one series, in order.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// `base` followed by `extra`.
inline Labels With(const Labels& base, Labels extra) {
  Labels l = base;
  l.insert(l.end(), extra.begin(), extra.end());
  return l;
}

/// Families by name, sorted on Take(). Help and type come from the family's MetricDef.
/// Not thread-safe: one scrape thread fills it.
class FamilySet {
 public:
  /// One series of the gauge or counter `def` (a histogram def is ignored).
  void Add(const MetricDef& def, const Labels& labels, double v) {
    if (def.type == MetricType::kGauge) {
      NewSeries(def, labels).gauge.value = v;
    } else if (def.type == MetricType::kCounter) {
      NewSeries(def, labels).counter.value = v;
    }
  }
  /// One series of the histogram `def`: `cumulative[i]` is the count at or below `bounds[i]`;
  /// the +Inf bucket is `count`.
  void Histogram(const MetricDef& def, const Labels& labels, const std::vector<double>& bounds,
                 const std::vector<uint64_t>& cumulative, uint64_t count, double sum) {
    prometheus::ClientMetric& m = NewSeries(def, labels);
    m.histogram.sample_count = count;
    m.histogram.sample_sum = sum;
    for (size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
      m.histogram.bucket.push_back({cumulative[i], bounds[i]});
    }
    m.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
  }
  /// The non-empty families, sorted by name.
  std::vector<prometheus::MetricFamily> Take() {
    std::vector<prometheus::MetricFamily> out;
    out.reserve(families_.size());
    for (auto& [name, f] : families_) {
      if (!f.metric.empty()) out.push_back(std::move(f));
    }
    families_.clear();
    return out;
  }

 private:
  prometheus::ClientMetric& NewSeries(const MetricDef& def, const Labels& labels) {
    auto it = families_.find(std::string_view(def.name));
    if (it == families_.end()) {
      prometheus::MetricFamily f;
      f.name = def.name;
      f.help = def.help;
      f.type = def.type == MetricType::kCounter     ? prometheus::MetricType::Counter
               : def.type == MetricType::kHistogram ? prometheus::MetricType::Histogram
                                                    : prometheus::MetricType::Gauge;
      it = families_.emplace(def.name, std::move(f)).first;
    }
    prometheus::MetricFamily& f = it->second;
    f.metric.emplace_back();
    prometheus::ClientMetric& m = f.metric.back();
    for (const auto& [k, v] : labels) m.label.push_back({k, v});
    return m;
  }
  std::map<std::string, prometheus::MetricFamily, std::less<>> families_;
};

}  // namespace sockstate
