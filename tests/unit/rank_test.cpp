#include "aggregate/rank.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace sockstate {
namespace {

TEST(IndividualRoom, TopKBoundedByCapMinusGroupsAndOther) {
  EXPECT_EQ(IndividualRoom(20, 100, 0), 20u);
  EXPECT_EQ(IndividualRoom(20, 10, 3), 6u);
  EXPECT_EQ(IndividualRoom(20, 4, 3), 0u);
  EXPECT_EQ(IndividualRoom(20, 2, 3), 0u);
  EXPECT_EQ(IndividualRoom(0, 100, 0), 0u);
}

TEST(KeepUnderCap, KeepsAllUnderTheCapAndNeverLessThanZero) {
  EXPECT_EQ(KeepUnderCap(8, 4, 8), 4u);
  EXPECT_EQ(KeepUnderCap(8, 4, 100), 4u);
  EXPECT_EQ(KeepUnderCap(8, 4, 6), 2u);
  EXPECT_EQ(KeepUnderCap(8, 4, 4), 0u);
  EXPECT_EQ(KeepUnderCap(8, 4, 1), 0u);
}

struct Item {
  int key;
  uint64_t a, b;
};

std::vector<int> Keys(const std::vector<Item>& v, size_t n) {
  std::vector<int> out;
  for (size_t i = 0; i < n; ++i) out.push_back(v[i].key);
  return out;
}

TEST(RankAndFold, KeepsTheHeaviestByPrimaryThenSecondaryThenKeyAndFoldsLightestFirst) {
  std::vector<Item> items = {{7, 5, 1}, {3, 9, 0}, {5, 5, 2}, {1, 5, 1}, {9, 0, 0}, {2, 1, 7}};
  std::vector<int> folded;
  const size_t n = RankAndFold(
      std::span<Item>(items), 3,
      [](const Item& i) {
        return RankWeight{i.a, i.b};
      },
      [](const Item& x, const Item& y) { return x.key < y.key; },
      [&](const Item& i) { folded.push_back(i.key); });
  EXPECT_EQ(n, 3u);
  // 9 > (5,2) > (5,1) key 1 < (5,1) key 7 > (1,7) > (0,0).
  EXPECT_EQ(Keys(items, 6), (std::vector<int>{3, 5, 1, 7, 2, 9}));
  EXPECT_EQ(folded, (std::vector<int>{9, 2, 7}));
}

TEST(RankAndFold, KeepBeyondSizeFoldsNothingAndEmptyIsFine) {
  std::vector<Item> items = {{1, 1, 0}, {2, 2, 0}};
  int calls = 0;
  auto w = [](const Item& i) { return RankWeight{i.a, i.b}; };
  auto less = [](const Item& x, const Item& y) { return x.key < y.key; };
  EXPECT_EQ(RankAndFold(std::span<Item>(items), 10, w, less, [&](const Item&) { ++calls; }), 0u);
  EXPECT_EQ(Keys(items, 2), (std::vector<int>{2, 1}));
  EXPECT_EQ(RankAndFold(std::span<Item>(items), 0, w, less, [&](const Item&) { ++calls; }), 2u);
  EXPECT_EQ(calls, 2);
  std::vector<Item> none;
  EXPECT_EQ(RankAndFold(std::span<Item>(none), 3, w, less, [&](const Item&) { ++calls; }), 0u);
  EXPECT_EQ(calls, 2);
}

TEST(FoldUnderCap, FoldsTheLightestLaterListsFirstUntilUnderTheCap) {
  std::vector<CapCandidate> c = {{{4, 0}, 0, 1}, {{2, 0}, 0, 2}, {{2, 0}, 1, 1}, {{9, 0}, 1, 2}};
  std::vector<std::pair<uint32_t, uint32_t>> folded;
  auto fold = [&](const CapCandidate& x) { folded.emplace_back(x.list, x.index); };
  EXPECT_EQ(FoldUnderCap(std::span<CapCandidate>(c), 10, 7, fold), 3u);
  EXPECT_EQ(folded, (std::vector<std::pair<uint32_t, uint32_t>>{{1, 1}, {0, 2}, {0, 1}}));
  folded.clear();
  EXPECT_EQ(FoldUnderCap(std::span<CapCandidate>(c), 10, 10, fold), 0u);
  EXPECT_TRUE(folded.empty());
}

std::array<uint8_t, 16> V4(const char* a) { return testing::Addr(a); }
std::array<uint8_t, 16> V6(const char* a) { return testing::Addr(a); }
WeightedDestination W4(const char* a, uint16_t port, uint64_t w) {
  return {Family::kIpv4, V4(a), port, w};
}

DestinationPlan PlanWithDbGroup(uint32_t top_k, uint32_t max_series) {
  DestinationConfig cfg;
  DestinationGroup db;
  db.name = "db";
  db.cidrs.push_back(*ParseCidr("10.0.3.0/24"));
  db.ports.set(5432);
  db.any_port = false;
  cfg.groups = {db};
  cfg.top_k = top_k;
  cfg.max_series = max_series;
  return DestinationPlan(cfg);
}

TEST(LabelDestinations, GroupsThenTopKByWeightThenOtherWithExactSumsAndSlots) {
  const DestinationPlan plan = PlanWithDbGroup(2, 100);
  const std::vector<WeightedDestination> in = {
      W4("10.0.3.5", 5432, 4),                  // 0: db
      W4("192.0.2.1", 80, 3),                   // 1: ties with 2 (3 + 0), wins on the port
      W4("192.0.2.1", 443, 3),                  // 2
      {Family::kIpv6, V6("fd00::2"), 443, 10},  // 3: heaviest
      W4("10.0.3.6", 5432, 1),                  // 4: db
      W4("192.0.2.9", 80, 2),                   // 5: folded
      W4("192.0.2.1", 443, 0),                  // 6: same destination as 2
      W4("10.0.3.5", 6432, 1),                  // 7: port not in db: folded (lightest)
  };
  const DestinationLabels l = LabelDestinations(plan, in);
  EXPECT_EQ(l.groups, 1u);
  EXPECT_EQ(l.labels, (std::vector<std::string>{"db", "[fd00::2]:443", "192.0.2.1:80", "other"}));
  EXPECT_EQ(l.weights, (std::vector<uint64_t>{5, 10, 3, 2 + 3 + 1}));
  EXPECT_EQ(l.slot_of, (std::vector<uint32_t>{0, 2, 3, 1, 0, 3, 3, 3}));
  EXPECT_EQ(l.folded, 3u);  // 192.0.2.1:443, 192.0.2.9:80, 10.0.3.5:6432
}

TEST(LabelDestinations, NoEntriesGiveGroupsAndAnEmptyOther) {
  const DestinationLabels l = LabelDestinations(PlanWithDbGroup(2, 100), {});
  EXPECT_EQ(l.labels, (std::vector<std::string>{"db", "other"}));
  EXPECT_EQ(l.weights, (std::vector<uint64_t>{0, 0}));
  EXPECT_EQ(l.folded, 0u);
}

TEST(LabelDestinations, SeriesCapLimitsTheTopK) {
  const DestinationPlan plan = PlanWithDbGroup(50, 3);  // db + 1 individual + other
  const std::vector<WeightedDestination> in = {W4("192.0.2.1", 80, 1), W4("192.0.2.2", 80, 1),
                                               W4("192.0.2.0", 80, 1)};
  const DestinationLabels l = LabelDestinations(plan, in);
  EXPECT_EQ(l.labels, (std::vector<std::string>{"db", "192.0.2.0:80", "other"}));
  EXPECT_EQ(l.weights, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(l.slot_of, (std::vector<uint32_t>{2, 2, 1}));
  EXPECT_EQ(l.folded, 2u);
}

TEST(CapAcrossNamespaces, FoldsTheLightestIntoTheirOwnOtherAndRemapsSlots) {
  const DestinationPlan plan = PlanWithDbGroup(20, 100);
  DestinationLabels a = LabelDestinations(
      plan, std::vector<WeightedDestination>{W4("10.0.3.1", 5432, 5), W4("192.0.2.1", 80, 40),
                                             W4("192.0.2.2", 80, 3)});
  DestinationLabels b = LabelDestinations(
      plan, std::vector<WeightedDestination>{W4("192.0.2.9", 443, 7), W4("192.0.2.8", 443, 2)});
  ASSERT_EQ(a.labels.size() + b.labels.size(), 8u);
  std::vector<DestinationLabels*> lists = {&a, &b};
  // Cap 6: the two lightest individual ones (2 in b, 3 in a) go to their own "other".
  EXPECT_EQ(CapAcrossNamespaces(lists, 6), 2u);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"db", "192.0.2.1:80", "other"}));
  EXPECT_EQ(a.weights, (std::vector<uint64_t>{5, 40, 3}));
  EXPECT_EQ(a.slot_of, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(a.folded, 1u);
  EXPECT_EQ(b.labels, (std::vector<std::string>{"db", "192.0.2.9:443", "other"}));
  EXPECT_EQ(b.weights, (std::vector<uint64_t>{0, 7, 2}));
  EXPECT_EQ(b.slot_of, (std::vector<uint32_t>{1, 2}));
  // Groups and "other" stay even when the cap is below them.
  EXPECT_EQ(CapAcrossNamespaces(lists, 1), 2u);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"db", "other"}));
  EXPECT_EQ(a.weights, (std::vector<uint64_t>{5, 43}));
  EXPECT_EQ(a.slot_of, (std::vector<uint32_t>{0, 1, 1}));
  EXPECT_EQ(CapAcrossNamespaces(lists, 100), 0u);
}

}  // namespace
}  // namespace sockstate
