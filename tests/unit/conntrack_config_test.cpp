// The `nat` section of the configuration: defaults, every key, and located errors.

#include <gtest/gtest.h>

#include "config/config.h"

namespace sockstate {
namespace {

TEST(NatConfig, DefaultsAreAutoAndMasqueradeRange) {
  Result<Config> c = ParseConfig("", "t.yml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->nat.enabled, NatToggle::kAuto);
  EXPECT_EQ(c->nat.time_wait_takeover, NatToggle::kAuto);
  EXPECT_EQ(c->nat.usable_ports, 64512u);  // 1024-65535
  EXPECT_EQ(c->nat.top_k, 20u);
  EXPECT_EQ(c->nat.max_series, 100u);
  EXPECT_EQ(c->nat.max_tuples, 65536u);
  EXPECT_TRUE(c->nat.groups.empty());
}

TEST(NatConfig, EveryKey) {
  Result<Config> c = ParseConfig(R"(
nat:
  enabled: on
  time_wait_takeover: off
  usable_ports: "32768-60999"
  top_k: 5
  max_series: 20
  max_tuples: 5000
  groups:
    - name: backend
      cidrs: [198.18.2.0/24]
      ports: [8080]
      protocol: tcp
      usable_ports: "61000-61009"
    - name: dns
      ports: [53]
      protocol: udp
      usable_ports: [62000, "62001-62004"]
    - name: any
)",
                                 "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const NatConfig& n = c->nat;
  EXPECT_EQ(n.enabled, NatToggle::kOn);
  EXPECT_EQ(n.time_wait_takeover, NatToggle::kOff);
  EXPECT_EQ(n.usable_ports, 28232u);
  EXPECT_EQ(n.top_k, 5u);
  EXPECT_EQ(n.max_series, 20u);
  EXPECT_EQ(n.max_tuples, 5000u);
  ASSERT_EQ(n.groups.size(), 3u);
  EXPECT_EQ(n.groups[0].destination.name, "backend");
  ASSERT_EQ(n.groups[0].destination.cidrs.size(), 1u);
  EXPECT_EQ(n.groups[0].destination.cidrs[0].ToString(), "198.18.2.0/24");
  EXPECT_TRUE(n.groups[0].destination.ports.test(8080));
  EXPECT_FALSE(n.groups[0].destination.any_port);
  EXPECT_EQ(n.groups[0].protocol, 6);
  EXPECT_EQ(n.groups[0].usable_ports, 10u);
  EXPECT_EQ(n.groups[1].protocol, 17);
  EXPECT_EQ(n.groups[1].usable_ports, 5u);
  EXPECT_EQ(n.groups[2].protocol, 0);
  EXPECT_EQ(n.groups[2].usable_ports, 0u);  // nat.usable_ports
  EXPECT_TRUE(n.groups[2].destination.any_port);
  Result<Config> off = ParseConfig("nat:\n  enabled: off\n", "t.yml");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->nat.enabled, NatToggle::kOff);
}

TEST(NatConfig, ErrorsNameFileLineAndKey) {
  auto err = [](const std::string& yaml) { return ParseConfig(yaml, "t.yml").status().message(); };
  EXPECT_EQ(err("nat:\n  enabled: maybe\n"),
            "t.yml:2:12: nat.enabled: invalid value \"maybe\" (allowed: auto, on, off)");
  EXPECT_EQ(err("nat:\n  bogus: 1\n"),
            "t.yml:2:3: nat.bogus: unknown key \"bogus\" (allowed: enabled, time_wait_takeover, "
            "usable_ports, groups, top_k, max_series, max_tuples)");
  EXPECT_EQ(err("nat:\n  groups:\n    - name: a\n      protocol: icmp\n"),
            "t.yml:4:17: nat.groups[0].protocol: invalid protocol \"icmp\" (allowed: tcp, udp, "
            "any)");
  EXPECT_EQ(err("nat:\n  groups:\n    - name: a\n      usable_ports: \"70000\"\n"),
            "t.yml:4:21: nat.groups[0].usable_ports: port 70000 out of range 1..65535");
  EXPECT_EQ(err("nat:\n  groups:\n    - name: a\n    - name: a\n"),
            "t.yml:4:13: nat.groups[1].name: duplicate group name \"a\" (first used at "
            "nat.groups[0].name)");
  EXPECT_EQ(err("nat:\n  groups:\n    - cidrs: [10.0.0.0/33]\n"),
            "t.yml:3:15: nat.groups[0].cidrs[0]: invalid CIDR \"10.0.0.0/33\": prefix length 33 "
            "out of range for IPv4");
  EXPECT_EQ(err("nat:\n  top_k: 10\n  max_series: 5\n"),
            "t.yml:3:15: nat.max_series: 5 is too small: 0 groups + top_k 10 + 1 (\"other\") "
            "need at least 11");
  EXPECT_EQ(err("nat:\n  max_tuples: 10\n"),
            "t.yml:2:15: nat.max_tuples: 10 out of range 1000..10000000");
  EXPECT_EQ(err("nat:\n  groups:\n    - ports: [53]\n"),
            "t.yml:3:7: nat.groups[0]: missing required key \"name\"");
}

}  // namespace
}  // namespace sockstate
