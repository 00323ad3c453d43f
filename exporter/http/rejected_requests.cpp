#include "http/rejected_requests.h"

#include <algorithm>

namespace sockstate {

std::vector<prometheus::MetricFamily> RejectedRequests::Collect() const {
  static constexpr const char* kReasons[] = {"unauthorized", "scrape_limit", "bcrypt_limit"};
  prometheus::MetricFamily f;
  f.name = "sockstate_http_requests_rejected_total";
  f.help =
      "HTTP requests the exporter turned away, by reason: unauthorized (401, basic auth), "
      "scrape_limit (503, --web.max-requests scrapes in progress), bcrypt_limit (503, too many "
      "password checks in progress).";
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
