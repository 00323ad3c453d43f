#include "util/port_list.h"

#include <gtest/gtest.h>

#include <string>

namespace sockstate {
namespace {

TEST(ParsePortList, EmptyIsEmptySet) {
  for (const char* text : {"", "\n", "  \t\n"}) {
    Result<PortSet> r = ParsePortList(text);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->count(), 0u) << "input: '" << text << "'";
  }
}

TEST(ParsePortList, KernelExample) {
  Result<PortSet> r = ParsePortList("1,2-4,10-10\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->count(), 5u);
  for (int p : {1, 2, 3, 4, 10}) EXPECT_TRUE(r->test(p)) << p;
  for (int p : {0, 5, 9, 11}) EXPECT_FALSE(r->test(p)) << p;
}

TEST(ParsePortList, FixtureValueAndWhitespace) {
  Result<PortSet> r = ParsePortList(" 40000-40009 , 50000\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->count(), 11u);
  EXPECT_TRUE(r->test(40000));
  EXPECT_TRUE(r->test(40009));
  EXPECT_FALSE(r->test(40010));
  EXPECT_TRUE(r->test(50000));
}

TEST(ParsePortList, ExtremesAndOverlaps) {
  Result<PortSet> r = ParsePortList("0,65535,0-0,1-3,2-5");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->count(), 7u);  // 0, 1..5, 65535
  EXPECT_TRUE(r->test(0));
  EXPECT_TRUE(r->test(65535));
  Result<PortSet> all = ParsePortList("0-65535");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count(), 65536u);
}

void ExpectError(const std::string& text, const std::string& substring) {
  Result<PortSet> r = ParsePortList(text);
  ASSERT_FALSE(r.ok()) << "accepted: '" << text << "'";
  EXPECT_NE(r.status().message().find(substring), std::string::npos)
      << "input '" << text << "' gave: " << r.status().message();
}

TEST(ParsePortList, ErrorsNameTheBadItem) {
  ExpectError("1,10-5,20", "reversed range '10-5'");
  ExpectError("70000", "port '70000' > 65535 in item '70000'");
  ExpectError("1-65536", "port '65536' > 65535 in item '1-65536'");
  ExpectError("99999999999999999999999", "> 65535");
  ExpectError("1,abc", "not a port number 'abc' in item 'abc'");
  ExpectError("1,2x", "not a port number '2x'");
  ExpectError("-5", "not a port number '' in item '-5'");
  ExpectError("5-", "not a port number '' in item '5-'");
  ExpectError("1-2-3", "not a port number '2-3' in item '1-2-3'");
  ExpectError("+5", "not a port number '+5'");
  ExpectError("1,,2", "empty item #2");
  ExpectError("1,", "empty item #2");
  ExpectError(",1", "empty item #1");
  ExpectError(std::string("1\0", 2), "not a port number '1\\x00'");
}

TEST(CountInRange, CountsInclusiveBounds) {
  Result<PortSet> r = ParsePortList("40000-40009,50000,32767,61000");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(CountInRange(*r, 32768, 60999), 11u);
  EXPECT_EQ(CountInRange(*r, 40000, 40000), 1u);
  EXPECT_EQ(CountInRange(*r, 40009, 50000), 2u);
  EXPECT_EQ(CountInRange(*r, 0, 65535), 13u);
  EXPECT_EQ(CountInRange(*r, 50001, 60999), 0u);
  EXPECT_EQ(CountInRange(*r, 60999, 32768), 0u);  // empty when lo > hi
  PortSet full;
  full.set();
  EXPECT_EQ(CountInRange(full, 0, 65535), 65536u);
}

}  // namespace
}  // namespace sockstate
