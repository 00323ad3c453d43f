#pragma once
// What the HTTP server counts: requests it turned away, by reason, exported on /metrics as
//   sockstate_http_requests_rejected_total{reason="unauthorized"|"scrape_limit"|"bcrypt_limit"}
// (401 without valid basic auth; 503 over --web.max-requests scrapes in progress; 503 over the
// cap on bcrypt checks in progress). Every reason is present from the start, at 0.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace sockstate {

/// Why a request was turned away.
enum class RejectReason { kUnauthorized = 0, kScrapeLimit = 1, kBcryptLimit = 2 };

/// The counters, and the Collectable that exports them (fresh families per Collect()).
/// Thread-safe.
class RejectedRequests : public prometheus::Collectable {
 public:
  /// Counts one rejected request.
  void Add(RejectReason reason) { counts_[static_cast<int>(reason)].fetch_add(1); }
  /// The count so far for `reason`.
  uint64_t count(RejectReason reason) const { return counts_[static_cast<int>(reason)].load(); }
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::array<std::atomic<uint64_t>, 3> counts_{};
};

/// Adds `extra` to `families` (sorted by name), keeping them sorted. Pure; thread-safe.
void MergeFamilies(std::vector<prometheus::MetricFamily>& families,
                   std::vector<prometheus::MetricFamily> extra);

}  // namespace sockstate
