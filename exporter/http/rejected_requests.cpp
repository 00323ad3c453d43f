#include "http/rejected_requests.h"

#include <algorithm>

#include "metrics/names.h"

namespace sockstate {

std::vector<prometheus::MetricFamily> RejectedRequests::Collect() const {
  static constexpr const char* kReasons[] = {"unauthorized", "scrape_limit", "bcrypt_limit"};
  prometheus::MetricFamily f;
  f.name = metric::kHttpRequestsRejectedTotal.name;
  f.help = metric::kHttpRequestsRejectedTotal.help;
  f.type = prometheus::MetricType::Counter;
  for (int i = 0; i < 3; ++i) {
    prometheus::ClientMetric m;
    m.label.push_back({"reason", kReasons[i]});
    m.counter.value = static_cast<double>(counts_[i].load());
    f.metric.push_back(std::move(m));
  }
  std::vector<prometheus::MetricFamily> out;
  out.push_back(std::move(f));
  return out;
}

void MergeFamilies(std::vector<prometheus::MetricFamily>& families,
                   std::vector<prometheus::MetricFamily> extra) {
  for (prometheus::MetricFamily& f : extra) {
    auto at = std::lower_bound(
        families.begin(), families.end(), f.name,
        [](const prometheus::MetricFamily& a, const std::string& name) { return a.name < name; });
    families.insert(at, std::move(f));
  }
}

}  // namespace sockstate
