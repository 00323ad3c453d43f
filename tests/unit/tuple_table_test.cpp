#include "aggregate/tuple_table.h"

#include <gtest/gtest.h>

#include <map>

#include "test_util.h"

namespace sockstate {
namespace {

TupleTable::Key Key(const char* dst, uint16_t port, const char* src = "10.0.0.1") {
  TupleTable::Key k;
  k.src = testing::Addr(src);
  k.dst = testing::Addr(dst);
  k.dport = port;
  k.family = 0;
  k.pad = 0;
  return k;
}

// Tuples by destination port (the tests below use one destination address per port).
std::map<uint16_t, TupleTable::Counters> ByPort(const TupleTable& t) {
  std::map<uint16_t, TupleTable::Counters> out;
  t.ForEach([&](const TupleTable::Entry& e) { out[e.key.dport] = e.value; });
  return out;
}

TEST(TupleTable, CountsPerTupleStateRangeAndTimeWaitBucket) {
  TupleTable t;
  t.Reset(100);
  t.Add(Key("10.0.0.2", 80), 0, true, -1, 0);
  t.Add(Key("10.0.0.2", 80), 0, false, -1, 0);
  t.Add(Key("10.0.0.2", 80), 5, true, 2, 7500);
  t.Add(Key("10.0.0.2", 443), 5, true, 11, 4000000);  // bogus expiry: 1 h at most
  ASSERT_EQ(t.size(), 2u);
  auto m = ByPort(t);
  EXPECT_EQ(m[80].states[0], 2u);
  EXPECT_EQ(m[80].states[5], 1u);
  EXPECT_EQ(m[80].used, 2u);
  EXPECT_EQ(m[80].tw[2], 1u);
  EXPECT_EQ(m[80].tw_sum_ms, 7500u);
  EXPECT_EQ(m[443].tw[11], 1u);
  EXPECT_EQ(m[443].tw_sum_ms, 3600000u);
  EXPECT_EQ(t.overflow_sockets(), 0u);
}

TEST(TupleTable, SixteenBitCountersSaturate) {
  TupleTable t;
  t.Reset(10);
  for (int i = 0; i < 70000; ++i) t.Add(Key("10.0.0.2", 80), 5, true, 0, 3600000);
  auto m = ByPort(t);
  EXPECT_EQ(m[80].states[5], 65535u);
  EXPECT_EQ(m[80].used, 65535u);
  EXPECT_EQ(m[80].tw[0], 65535u);
  EXPECT_EQ(m[80].tw_sum_ms, UINT32_MAX);
}

TEST(TupleTable, TuplesBeyondTheCapGoToTheOverflowWithWideCounters) {
  TupleTable t;
  t.Reset(2);
  t.Add(Key("10.0.0.2", 1), 0, true, -1, 0);
  t.Add(Key("10.0.0.3", 2), 0, true, -1, 0);
  for (int i = 0; i < 70000; ++i) t.Add(Key("10.0.0.4", 3), 5, i % 2 == 0, 1, 2000);
  t.Add(Key("10.0.0.2", 1), 0, true, -1, 0);  // tracked tuples still count
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(ByPort(t)[1].states[0], 2u);
  EXPECT_EQ(t.overflow_sockets(), 70000u);
  EXPECT_EQ(t.overflow().states[5], 70000u);
  EXPECT_EQ(t.overflow().used, 35000u);
  EXPECT_EQ(t.overflow().tw[1], 70000u);
  EXPECT_EQ(t.overflow().tw_sum_ms, 140000000u);
}

TEST(TupleTable, GrowsKeepingEveryTupleAndIsReusedEmptyAfterReset) {
  TupleTable t;
  t.Reset(100000);
  const size_t first = t.Bytes();
  EXPECT_EQ(first, 1024u * sizeof(TupleTable::Entry));
  for (int p = 1; p <= 3000; ++p) {
    t.Add(Key("10.0.0.2", uint16_t(p)), 0, true, -1, 0);
    t.Add(Key("10.0.0.2", uint16_t(p)), 0, true, -1, 0);
  }
  EXPECT_EQ(t.size(), 3000u);
  EXPECT_EQ(t.Bytes(), 4096u * sizeof(TupleTable::Entry));  // 3000 / 4096 <= 3/4
  auto m = ByPort(t);
  ASSERT_EQ(m.size(), 3000u);
  for (const auto& [port, c] : m) ASSERT_EQ(c.states[0], 2u) << port;
  t.Reset(100000);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.Bytes(), 4096u * sizeof(TupleTable::Entry));
  EXPECT_TRUE(ByPort(t).empty());
  t.Add(Key("10.0.0.2", 7), 0, true, -1, 0);
  EXPECT_EQ(ByPort(t)[7].states[0], 1u);  // counters cleared, not left from the last scrape
}

TEST(TupleTable, SourceAddressAndFamilyAreKeyParts) {
  TupleTable t;
  t.Reset(100);
  t.Add(Key("10.0.0.2", 80, "10.0.0.1"), 0, true, -1, 0);
  t.Add(Key("10.0.0.2", 80, "10.0.0.9"), 0, true, -1, 0);
  TupleTable::Key v6 = Key("10.0.0.2", 80, "10.0.0.1");
  v6.family = 1;
  t.Add(v6, 0, true, -1, 0);
  EXPECT_EQ(t.size(), 3u);
}

}  // namespace
}  // namespace sockstate
