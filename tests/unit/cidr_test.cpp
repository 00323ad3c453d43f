#include "util/cidr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace sockstate {
namespace {

std::array<uint8_t, 16> V4(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1) << text;
  return a;
}

std::array<uint8_t, 16> V6(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
  return a;
}

Cidr MustParse(const char* text) {
  Result<Cidr> c = ParseCidr(text);
  EXPECT_TRUE(c.ok()) << text << ": " << c.status().message();
  return c.ok() ? *c : Cidr{};
}

std::string ErrorOf(const char* text) {
  Result<Cidr> c = ParseCidr(text);
  EXPECT_FALSE(c.ok()) << text << " parsed as " << (c.ok() ? c->ToString() : "");
  return c.status().message();
}

TEST(ParseCidrTest, Ipv4Prefix) {
  Cidr c = MustParse("10.0.3.0/24");
  EXPECT_EQ(c.family, Family::kIpv4);
  EXPECT_EQ(c.prefix_len, 24);
  EXPECT_EQ(c.addr, V4("10.0.3.0"));
  EXPECT_EQ(c.ToString(), "10.0.3.0/24");
}

TEST(ParseCidrTest, Ipv6Prefix) {
  Cidr c = MustParse("fd00:3::/64");
  EXPECT_EQ(c.family, Family::kIpv6);
  EXPECT_EQ(c.prefix_len, 64);
  EXPECT_EQ(c.addr, V6("fd00:3::"));
  EXPECT_EQ(c.ToString(), "fd00:3::/64");
}

TEST(ParseCidrTest, BareAddressIsHostPrefix) {
  EXPECT_EQ(MustParse("10.96.0.1").ToString(), "10.96.0.1/32");
  EXPECT_EQ(MustParse("fd00::1").ToString(), "fd00::1/128");
  EXPECT_EQ(MustParse("fd00::1").prefix_len, 128);
}

TEST(ParseCidrTest, HostBitsAreMaskedOff) {
  EXPECT_EQ(MustParse("10.0.3.7/24").ToString(), "10.0.3.0/24");
  EXPECT_EQ(MustParse("192.168.1.255/27").ToString(), "192.168.1.224/27");
  EXPECT_EQ(MustParse("fd00::ffff/121").ToString(), "fd00::ff80/121");
  EXPECT_EQ(MustParse("1.2.3.4/0").ToString(), "0.0.0.0/0");
  EXPECT_EQ(MustParse("fd00::1/0").ToString(), "::/0");
  EXPECT_EQ(MustParse("10.0.3.7/24"), MustParse("10.0.3.0/24"));
}

TEST(ParseCidrTest, MappedIpv6NormalisesToIpv4) {
  Cidr c = MustParse("::ffff:10.0.0.0/104");
  EXPECT_EQ(c.family, Family::kIpv4);
  EXPECT_EQ(c.prefix_len, 8);
  EXPECT_EQ(c.addr, V4("10.0.0.0"));
  EXPECT_EQ(c.ToString(), "10.0.0.0/8");
  EXPECT_EQ(MustParse("::ffff:10.1.2.3"), MustParse("10.1.2.3/32"));
  EXPECT_EQ(MustParse("::ffff:0:0/96"), MustParse("0.0.0.0/0"));
  EXPECT_EQ(MustParse("::ffff:10.1.2.3/100").ToString(), "0.0.0.0/4");
  // Shorter than /96 covers more than the mapped space: it stays IPv6.
  Cidr wide = MustParse("::ffff:0:0/95");
  EXPECT_EQ(wide.family, Family::kIpv6);
  EXPECT_EQ(wide.ToString(), "::fffe:0:0/95");
}

TEST(ParseCidrTest, Errors) {
  EXPECT_EQ(ErrorOf(""), "empty CIDR");
  EXPECT_EQ(ErrorOf("/24"), "missing address");
  EXPECT_EQ(ErrorOf("10.0.3/24"), "invalid address \"10.0.3\"");
  EXPECT_EQ(ErrorOf("10.0.3.256/24"), "invalid address \"10.0.3.256\"");
  EXPECT_EQ(ErrorOf("fd00:::1/64"), "invalid address \"fd00:::1\"");
  EXPECT_EQ(ErrorOf("hello"), "invalid address \"hello\"");
  EXPECT_EQ(ErrorOf(" 10.0.0.0/8"), "invalid address \" 10.0.0.0\"");
  EXPECT_EQ(ErrorOf("10.0.3.0/33"), "prefix length 33 out of range for IPv4");
  EXPECT_EQ(ErrorOf("fd00::/129"), "prefix length 129 out of range for IPv6");
  EXPECT_EQ(ErrorOf("10.0.0.0/99999999999999999999"),
            "prefix length 99999999999999999999 out of range for IPv4");
  EXPECT_EQ(ErrorOf("10.0.0.0/"), "missing prefix length after '/'");
  EXPECT_EQ(ErrorOf("10.0.0.0/abc"), "prefix length \"abc\" is not a number");
  EXPECT_EQ(ErrorOf("10.0.0.0/-1"), "prefix length \"-1\" is not a number");
  EXPECT_EQ(ErrorOf("10.0.0.0/+8"), "prefix length \"+8\" is not a number");
  EXPECT_EQ(ErrorOf("10.0.0.0/8x"), "trailing characters \"x\" after prefix length");
  EXPECT_EQ(ErrorOf("10.0.0.0/8/9"), "trailing characters \"/9\" after prefix length");
  EXPECT_EQ(ErrorOf("10.0.0.0/8 "), "trailing characters \" \" after prefix length");
}

TEST(ParseCidrTest, EmbeddedNulIsInvalid) {
  Result<Cidr> c = ParseCidr(std::string_view("10.0.0.1\0x", 10));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "invalid address \"10.0.0.1\\x00x\"");
}

TEST(CidrContainsTest, Ipv4) {
  Cidr c = MustParse("10.0.3.0/24");
  EXPECT_TRUE(c.Contains(Family::kIpv4, V4("10.0.3.0")));
  EXPECT_TRUE(c.Contains(Family::kIpv4, V4("10.0.3.255")));
  EXPECT_FALSE(c.Contains(Family::kIpv4, V4("10.0.4.0")));
  EXPECT_FALSE(c.Contains(Family::kIpv4, V4("10.0.2.255")));
  // The same bytes as IPv6 are a different family.
  EXPECT_FALSE(c.Contains(Family::kIpv6, V4("10.0.3.1")));
}

TEST(CidrContainsTest, OddIpv4Prefix) {
  Cidr c = MustParse("192.168.1.32/27");
  EXPECT_FALSE(c.Contains(Family::kIpv4, V4("192.168.1.31")));
  EXPECT_TRUE(c.Contains(Family::kIpv4, V4("192.168.1.32")));
  EXPECT_TRUE(c.Contains(Family::kIpv4, V4("192.168.1.63")));
  EXPECT_FALSE(c.Contains(Family::kIpv4, V4("192.168.1.64")));
  Cidr one_bit = MustParse("128.0.0.0/1");
  EXPECT_TRUE(one_bit.Contains(Family::kIpv4, V4("200.1.1.1")));
  EXPECT_FALSE(one_bit.Contains(Family::kIpv4, V4("127.255.255.255")));
}

TEST(CidrContainsTest, HostAndZeroPrefixes) {
  Cidr host = MustParse("10.96.0.1/32");
  EXPECT_TRUE(host.Contains(Family::kIpv4, V4("10.96.0.1")));
  EXPECT_FALSE(host.Contains(Family::kIpv4, V4("10.96.0.2")));
  Cidr all4 = MustParse("0.0.0.0/0");
  EXPECT_TRUE(all4.Contains(Family::kIpv4, V4("255.255.255.255")));
  EXPECT_TRUE(all4.Contains(Family::kIpv4, V4("0.0.0.0")));
  EXPECT_FALSE(all4.Contains(Family::kIpv6, V6("::1")));
  Cidr all6 = MustParse("::/0");
  EXPECT_TRUE(all6.Contains(Family::kIpv6, V6("2001:db8::1")));
  EXPECT_FALSE(all6.Contains(Family::kIpv4, V4("10.0.0.1")));
  Cidr host6 = MustParse("fd00::1/128");
  EXPECT_TRUE(host6.Contains(Family::kIpv6, V6("fd00::1")));
  EXPECT_FALSE(host6.Contains(Family::kIpv6, V6("fd00::2")));
}

TEST(CidrContainsTest, Ipv6) {
  Cidr c = MustParse("fd00:3::/64");
  EXPECT_TRUE(c.Contains(Family::kIpv6, V6("fd00:3::1")));
  EXPECT_TRUE(c.Contains(Family::kIpv6, V6("fd00:3::ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(c.Contains(Family::kIpv6, V6("fd00:4::1")));
  Cidr odd = MustParse("fd00::80/121");
  EXPECT_FALSE(odd.Contains(Family::kIpv6, V6("fd00::7f")));
  EXPECT_TRUE(odd.Contains(Family::kIpv6, V6("fd00::80")));
  EXPECT_TRUE(odd.Contains(Family::kIpv6, V6("fd00::ff")));
  EXPECT_FALSE(odd.Contains(Family::kIpv6, V6("fd00::100")));
}

TEST(CidrContainsTest, MappedPrefixMatchesNormalisedIpv4Sockets) {
  // Sockets to ::ffff:10.x arrive as kIpv4 records (SocketRecord normalisation).
  Cidr c = MustParse("::ffff:10.0.0.0/104");
  EXPECT_TRUE(c.Contains(Family::kIpv4, V4("10.200.1.1")));
  EXPECT_FALSE(c.Contains(Family::kIpv4, V4("11.0.0.1")));
}

TEST(CidrTest, ToStringRoundTrips) {
  for (const char* text : {"10.0.3.0/24", "0.0.0.0/0", "255.255.255.255/32", "fd00::/8", "::/0",
                           "2001:db8::1/128", "fd00::ff80/121", "::fffe:0:0/95", "::1.2.3.4/128"}) {
    Cidr c = MustParse(text);
    EXPECT_EQ(c.ToString(), text);
    EXPECT_EQ(MustParse(c.ToString().c_str()), c) << text;
  }
}

TEST(FormatAddressTest, Formats) {
  EXPECT_EQ(FormatAddress(Family::kIpv4, V4("10.0.0.5")), "10.0.0.5");
  EXPECT_EQ(FormatAddress(Family::kIpv6, V6("fd00::1")), "fd00::1");
  EXPECT_EQ(FormatAddress(Family::kIpv6, V6("::")), "::");
}

}  // namespace
}  // namespace sockstate
