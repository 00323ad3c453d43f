// sockstate_http_requests_rejected_total (http/rejected_requests.h): every reason from the
// start, exact counts, and merged into the scrape's sorted families.
#include "http/rejected_requests.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace sockstate {
namespace {

TEST(RejectedRequests, AllReasonsAtZeroThenExactCounts) {
  RejectedRequests r;
  const std::string zero = prometheus::TextSerializer().Serialize(r.Collect());
  EXPECT_NE(zero.find("# TYPE sockstate_http_requests_rejected_total counter\n"),
            std::string::npos);
  EXPECT_NE(zero.find("sockstate_http_requests_rejected_total{reason=\"unauthorized\"} 0\n"),
            std::string::npos);
  EXPECT_NE(zero.find("sockstate_http_requests_rejected_total{reason=\"scrape_limit\"} 0\n"),
            std::string::npos);
  EXPECT_NE(zero.find("sockstate_http_requests_rejected_total{reason=\"bcrypt_limit\"} 0\n"),
            std::string::npos);
  r.Add(RejectReason::kUnauthorized);
  r.Add(RejectReason::kUnauthorized);
  r.Add(RejectReason::kUnauthorized);
  r.Add(RejectReason::kBcryptLimit);
  EXPECT_EQ(r.count(RejectReason::kUnauthorized), 3u);
  EXPECT_EQ(r.count(RejectReason::kScrapeLimit), 0u);
  EXPECT_EQ(r.count(RejectReason::kBcryptLimit), 1u);
  auto families = r.Collect();
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].metric.size(), 3u);
  EXPECT_EQ(families[0].metric[0].label[0].value, "unauthorized");
  EXPECT_EQ(families[0].metric[0].counter.value, 3.0);
  EXPECT_EQ(families[0].metric[1].label[0].value, "scrape_limit");
  EXPECT_EQ(families[0].metric[1].counter.value, 0.0);
  EXPECT_EQ(families[0].metric[2].label[0].value, "bcrypt_limit");
  EXPECT_EQ(families[0].metric[2].counter.value, 1.0);
}

TEST(MergeFamilies, KeepsNameOrder) {
  auto family = [](const std::string& name) {
    prometheus::MetricFamily f;
    f.name = name;
    return f;
  };
  std::vector<prometheus::MetricFamily> fs = {family("sockstate_build_info"),
                                              family("sockstate_tcp_sockets")};
  std::vector<prometheus::MetricFamily> extra;
  extra.push_back(family("sockstate_http_requests_rejected_total"));
  MergeFamilies(fs, std::move(extra));
  ASSERT_EQ(fs.size(), 3u);
  EXPECT_EQ(fs[0].name, "sockstate_build_info");
  EXPECT_EQ(fs[1].name, "sockstate_http_requests_rejected_total");
  EXPECT_EQ(fs[2].name, "sockstate_tcp_sockets");
  std::vector<prometheus::MetricFamily> empty;
  extra.clear();
  extra.push_back(family("a"));
  MergeFamilies(empty, std::move(extra));
  ASSERT_EQ(empty.size(), 1u);
}

}  // namespace
}  // namespace sockstate
