#pragma once
// Metric families of one scrape, collected by name so that several namespaces and sources add
// series to the same family. Every source writes its series through this one type.

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sockstate {

/// Label pairs of one series, in order.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// `base` followed by `extra`.
inline Labels With(const Labels& base, Labels extra) {
  Labels l = base;
  l.insert(l.end(), extra.begin(), extra.end());
  return l;
}

/// Families by name, sorted on Take(). The first call for a name fixes its help and type.
/// Not thread-safe: one scrape thread fills it.
class FamilySet {
 public:
  prometheus::MetricFamily& Get(const std::string& name, const std::string& help,
                                prometheus::MetricType type) {
    auto it = families_.find(name);
    if (it == families_.end()) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      it = families_.emplace(name, std::move(f)).first;
    }
    return it->second;
  }
  void Gauge(const std::string& name, const std::string& help, const Labels& labels, double v) {
    Add(Get(name, help, prometheus::MetricType::Gauge), labels).gauge.value = v;
  }
  void Counter(const std::string& name, const std::string& help, const Labels& labels, double v) {
    Add(Get(name, help, prometheus::MetricType::Counter), labels).counter.value = v;
  }
  /// `cumulative[i]` is the count at or below `bounds[i]`; the +Inf bucket is `count`.
  void Histogram(const std::string& name, const std::string& help, const Labels& labels,
                 const std::vector<double>& bounds, const std::vector<uint64_t>& cumulative,
                 uint64_t count, double sum) {
    prometheus::ClientMetric& m = Add(Get(name, help, prometheus::MetricType::Histogram), labels);
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
  static prometheus::ClientMetric& Add(prometheus::MetricFamily& f, const Labels& labels) {
    f.metric.emplace_back();
    prometheus::ClientMetric& m = f.metric.back();
    for (const auto& [k, v] : labels) m.label.push_back({k, v});
    return m;
  }
  std::map<std::string, prometheus::MetricFamily> families_;
};

}  // namespace sockstate
