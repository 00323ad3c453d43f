#include "config/config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace sockstate {
namespace {

Config MustParse(const std::string& yaml) {
  Result<Config> c = ParseConfig(yaml, "t.yml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : Config{};
}

// The full error message of an invalid config named "t.yml".
std::string Err(const std::string& yaml) {
  Result<Config> c = ParseConfig(yaml, "t.yml");
  EXPECT_FALSE(c.ok()) << "parsed:\n" << yaml;
  return c.status().message();
}

PortSet Ports(std::initializer_list<uint16_t> ports) {
  PortSet s;
  for (uint16_t p : ports) s.set(p);
  return s;
}

std::array<uint8_t, 16> V4(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1);
  return a;
}

void ExpectDefaults(const Config& c) {
  EXPECT_TRUE(c.destinations.groups.empty());
  EXPECT_EQ(c.destinations.top_k, 20u);
  EXPECT_EQ(c.destinations.max_series, 100u);
  EXPECT_EQ(c.destinations.max_tuples, 65536u);
  EXPECT_TRUE(c.inbound.groups.empty());
  EXPECT_EQ(c.inbound.top_k, 20u);
  EXPECT_EQ(c.inbound.max_series, 50u);
  EXPECT_EQ(c.histograms.time_wait_remaining_seconds,
            (std::vector<double>{1, 5, 10, 20, 30, 40, 50, 60}));
  EXPECT_EQ(c.histograms.occupancy_ratio,
            (std::vector<double>{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.85, 0.95, 1}));
  EXPECT_EQ(c.namespaces.mode, NetnsMode::kOwn);
  EXPECT_TRUE(c.namespaces.names.empty());
  EXPECT_EQ(c.namespaces.pattern, "");
  EXPECT_EQ(c.namespaces.max_namespaces, 64u);
  EXPECT_EQ(c.namespaces.parallel_dumps, 1u);
  EXPECT_EQ(c.namespaces.scrape_budget_seconds, 10.0);
  EXPECT_EQ(c.namespaces.detail_threshold, 0.25);
}

TEST(ConfigTest, DefaultConfig) { ExpectDefaults(DefaultConfig()); }

TEST(ConfigTest, EmptyAndCommentOnlyFilesAreDefaults) {
  ExpectDefaults(MustParse(""));
  ExpectDefaults(MustParse("\n\n"));
  ExpectDefaults(MustParse("# only a comment\n# and another\n"));
  ExpectDefaults(MustParse("---\n"));
  ExpectDefaults(MustParse("destinations:\ninbound:\nhistograms:\nnamespaces:\n"));
  ExpectDefaults(MustParse("destinations: {}\ninbound: {groups: []}\n"));
}

TEST(ConfigTest, FullConfigParsesExactly) {
  Config c = MustParse(R"(
destinations:
  groups:
    - name: postgres
      cidrs: [10.0.3.0/24, "fd00:3::/64"]
      ports: [5432, "6000-6010"]
    - name: any.dns_53-x
      ports: [53]
    - name: corp
      cidrs: ["::ffff:10.0.0.0/104"]
  top_k: 5
  max_series: 9
  max_tuples: 1000
inbound:
  groups:
    - name: https
      ports: [443, 8443]
  top_k: 0
  max_series: 2
histograms:
  time_wait_remaining_seconds: [0.5, 60]
  occupancy_ratio: [0.5, 1]
namespaces:
  mode: list
  names: [blue, /proc/1/ns/net]
  pattern: "cni-*"
  max_namespaces: 4096
  parallel_dumps: 64
  scrape_budget_seconds: 2.5
  detail_threshold: 0.5
)");
  ASSERT_EQ(c.destinations.groups.size(), 3u);
  const DestinationGroup& pg = c.destinations.groups[0];
  EXPECT_EQ(pg.name, "postgres");
  ASSERT_EQ(pg.cidrs.size(), 2u);
  EXPECT_EQ(pg.cidrs[0].ToString(), "10.0.3.0/24");
  EXPECT_EQ(pg.cidrs[1].ToString(), "fd00:3::/64");
  EXPECT_FALSE(pg.any_port);
  EXPECT_EQ(pg.ports,
            Ports({5432, 6000, 6001, 6002, 6003, 6004, 6005, 6006, 6007, 6008, 6009, 6010}));
  const DestinationGroup& dns = c.destinations.groups[1];
  EXPECT_EQ(dns.name, "any.dns_53-x");
  EXPECT_TRUE(dns.cidrs.empty());
  EXPECT_FALSE(dns.any_port);
  EXPECT_EQ(dns.ports, Ports({53}));
  const DestinationGroup& corp = c.destinations.groups[2];
  ASSERT_EQ(corp.cidrs.size(), 1u);
  EXPECT_EQ(corp.cidrs[0].family, Family::kIpv4);
  EXPECT_EQ(corp.cidrs[0].ToString(), "10.0.0.0/8");
  EXPECT_TRUE(corp.cidrs[0].Contains(Family::kIpv4, V4("10.1.2.3")));
  EXPECT_TRUE(corp.any_port);
  EXPECT_TRUE(corp.ports.none());
  EXPECT_EQ(c.destinations.top_k, 5u);
  EXPECT_EQ(c.destinations.max_series, 9u);
  EXPECT_EQ(c.destinations.max_tuples, 1000u);

  ASSERT_EQ(c.inbound.groups.size(), 1u);
  EXPECT_EQ(c.inbound.groups[0].name, "https");
  EXPECT_EQ(c.inbound.groups[0].ports, Ports({443, 8443}));
  EXPECT_EQ(c.inbound.top_k, 0u);
  EXPECT_EQ(c.inbound.max_series, 2u);

  EXPECT_EQ(c.histograms.time_wait_remaining_seconds, (std::vector<double>{0.5, 60}));
  EXPECT_EQ(c.histograms.occupancy_ratio, (std::vector<double>{0.5, 1}));

  EXPECT_EQ(c.namespaces.mode, NetnsMode::kList);
  EXPECT_EQ(c.namespaces.names, (std::vector<std::string>{"blue", "/proc/1/ns/net"}));
  EXPECT_EQ(c.namespaces.pattern, "cni-*");
  EXPECT_EQ(c.namespaces.max_namespaces, 4096u);
  EXPECT_EQ(c.namespaces.parallel_dumps, 64u);
  EXPECT_EQ(c.namespaces.scrape_budget_seconds, 2.5);
  EXPECT_EQ(c.namespaces.detail_threshold, 0.5);
}

TEST(ConfigTest, PortBoundsAndBlockStyle) {
  Config c = MustParse(
      "destinations:\n"
      "  groups:\n"
      "  - name: edge\n"
      "    ports:\n"
      "    - 1\n"
      "    - 65535\n"
      "    - '1000-1001'\n"
      "    - \"7\"\n");
  EXPECT_EQ(c.destinations.groups[0].ports, Ports({1, 7, 1000, 1001, 65535}));
}

TEST(ConfigTest, ModeAll) {
  EXPECT_EQ(MustParse("namespaces: {mode: all}").namespaces.mode, NetnsMode::kAll);
  EXPECT_EQ(MustParse("namespaces: {mode: list, pattern: 'x*'}").namespaces.mode, NetnsMode::kList);
}

TEST(ConfigTest, MaxSeriesExactlyEnough) {
  // 2 groups + top_k 3 + other = 6.
  Config c =
      MustParse("destinations:\n  groups: [{name: a}, {name: b}]\n  top_k: 3\n  max_series: 6\n");
  EXPECT_EQ(c.destinations.max_series, 6u);
}

TEST(ConfigErrorTest, YamlSyntaxErrors) {
  EXPECT_EQ(Err("destinations:\n  top_k: [1, 2\n"),
            "t.yml:3:1: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(Err("destinations: {top_k: 1\n"),
            "t.yml:2:1: YAML syntax error: end of map flow not found");
  EXPECT_EQ(Err("a: b\n c: d\n"), "t.yml:2:3: YAML syntax error: illegal map value");
}

TEST(ConfigErrorTest, TopLevelNotAMap) {
  EXPECT_EQ(Err("- a\n- b\n"), "t.yml:1:1: top level: expected a map, got a list");
  EXPECT_EQ(Err("hello\n"), "t.yml:1:1: top level: expected a map, got a scalar");
}

TEST(ConfigErrorTest, UnknownKeys) {
  EXPECT_EQ(
      Err("destination:\n  top_k: 1\n"),
      "t.yml:1:1: destination: unknown key \"destination\" (allowed: collector, destinations, "
      "inbound, histograms, namespaces, nat, connect_failures, workloads, udp, tracker)");
  EXPECT_EQ(Err("destinations:\n  topk: 1\n"),
            "t.yml:2:3: destinations.topk: unknown key \"topk\" (allowed: groups, top_k, "
            "max_series, max_tuples)");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: a\n      cidr: [10.0.0.0/8]\n"),
            "t.yml:4:7: destinations.groups[0].cidr: unknown key \"cidr\" (allowed: name, "
            "cidrs, ports)");
  EXPECT_EQ(Err("inbound:\n  max_tuples: 1000\n"),
            "t.yml:2:3: inbound.max_tuples: unknown key \"max_tuples\" (allowed: groups, top_k, "
            "max_series)");
  EXPECT_EQ(Err("histograms:\n  occupancy: [1]\n"),
            "t.yml:2:3: histograms.occupancy: unknown key \"occupancy\" (allowed: "
            "time_wait_remaining_seconds, occupancy_ratio)");
  EXPECT_EQ(Err("namespaces:\n  modes: all\n"),
            "t.yml:2:3: namespaces.modes: unknown key \"modes\" (allowed: mode, names, pattern, "
            "max_namespaces, parallel_dumps, scrape_budget_seconds, detail_threshold, "
            "kernel_counters)");
}

TEST(ConfigErrorTest, DuplicateKey) {
  EXPECT_EQ(Err("destinations:\n  top_k: 1\n  top_k: 2\n"),
            "t.yml:3:3: destinations.top_k: duplicate key \"top_k\"");
}

TEST(ConfigErrorTest, WrongTypes) {
  EXPECT_EQ(Err("destinations: [1, 2]\n"), "t.yml:1:15: destinations: expected a map, got a list");
  EXPECT_EQ(Err("destinations:\n  groups: {name: a}\n"),
            "t.yml:2:11: destinations.groups: expected a list, got a map");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - postgres\n"),
            "t.yml:3:7: destinations.groups[0]: expected a map, got a scalar");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: a\n      cidrs: 10.0.0.0/8\n"),
            "t.yml:4:14: destinations.groups[0].cidrs: expected a list, got a scalar");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: [a]\n"),
            "t.yml:3:13: destinations.groups[0].name: expected a string, got a list");
  EXPECT_EQ(Err("destinations:\n  top_k: twenty\n"),
            "t.yml:2:10: destinations.top_k: expected an integer, got \"twenty\"");
  EXPECT_EQ(Err("destinations:\n  top_k: 2.5\n"),
            "t.yml:2:10: destinations.top_k: expected an integer, got \"2.5\"");
  EXPECT_EQ(Err("destinations:\n  max_series: {a: 1}\n"),
            "t.yml:2:15: destinations.max_series: expected an integer, got a map");
  EXPECT_EQ(Err("histograms:\n  occupancy_ratio: [0.1, half]\n"),
            "t.yml:2:26: histograms.occupancy_ratio[1]: expected a number, got \"half\"");
  EXPECT_EQ(Err("namespaces:\n  scrape_budget_seconds: .nan\n"),
            "t.yml:2:26: namespaces.scrape_budget_seconds: expected a number, got \".nan\"");
}

TEST(ConfigErrorTest, BadCidrs) {
  EXPECT_EQ(Err("destinations:\n"
                "  groups:\n"
                "    - name: postgres\n"
                "      cidrs: [10.0.3.0/24, 10.0.3.0/33]\n"),
            "t.yml:4:28: destinations.groups[0].cidrs[1]: invalid CIDR \"10.0.3.0/33\": prefix "
            "length 33 out of range for IPv4");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: a\n      cidrs: [\"fd00::/200\"]\n"),
            "t.yml:4:15: destinations.groups[0].cidrs[0]: invalid CIDR \"fd00::/200\": prefix "
            "length 200 out of range for IPv6");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: a\n      cidrs: [10.0.0.0/x]\n"),
            "t.yml:4:15: destinations.groups[0].cidrs[0]: invalid CIDR \"10.0.0.0/x\": prefix "
            "length \"x\" is not a number");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: a\n      cidrs: [10.0.0/8]\n"),
            "t.yml:4:15: destinations.groups[0].cidrs[0]: invalid CIDR \"10.0.0/8\": invalid "
            "address \"10.0.0\"");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: a\n      cidrs: [\"\"]\n"),
            "t.yml:4:15: destinations.groups[0].cidrs[0]: invalid CIDR \"\": empty CIDR");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: a\n      cidrs: [10.0.0.0/8z]\n"),
            "t.yml:4:15: destinations.groups[0].cidrs[0]: invalid CIDR \"10.0.0.0/8z\": trailing "
            "characters \"z\" after prefix length");
}

TEST(ConfigErrorTest, BriefExampleLocation) {
  Result<Config> c = ParseConfig(
      "# sockstate\n"
      "destinations:\n"
      "  groups:\n"
      "    - name: postgres\n"
      "      cidrs:\n"
      "            - 10.0.3.0/24\n"
      "            - 10.0.3.0/33\n",
      "sockstate.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "sockstate.yml:7:15: destinations.groups[0].cidrs[1]: invalid CIDR \"10.0.3.0/33\": "
            "prefix length 33 out of range for IPv4");
}

TEST(ConfigErrorTest, BadPorts) {
  const std::string head = "destinations:\n  groups:\n    - name: a\n      ports: ";
  EXPECT_EQ(Err(head + "[0]\n"),
            "t.yml:4:15: destinations.groups[0].ports[0]: port 0 out of range 1..65535");
  EXPECT_EQ(Err(head + "[80, 65536]\n"),
            "t.yml:4:19: destinations.groups[0].ports[1]: port 65536 out of range 1..65535");
  EXPECT_EQ(Err(head + "[-1]\n"),
            "t.yml:4:15: destinations.groups[0].ports[0]: port -1 out of range 1..65535");
  EXPECT_EQ(Err(head + "[99999999999999999999999]\n"),
            "t.yml:4:15: destinations.groups[0].ports[0]: port 99999999999999999999999 out of "
            "range 1..65535");
  EXPECT_EQ(Err(head + "[\"0-10\"]\n"),
            "t.yml:4:15: destinations.groups[0].ports[0]: port range \"0-10\": port 0 out of "
            "range 1..65535");
  EXPECT_EQ(Err(head + "[[80]]\n"),
            "t.yml:4:15: destinations.groups[0].ports[0]: expected a port or a range \"a-b\", "
            "got a list");
  EXPECT_EQ(Err(head + "80\n"),
            "t.yml:4:14: destinations.groups[0].ports: expected a list, got a scalar");
  // The message after the colon comes from ParsePortList; assert its prefix and location.
  for (const char* bad : {"\"6010-6000\"", "\"6000-70000\"", "http", "\"1-\""}) {
    const std::string e = Err(head + "[" + bad + "]\n");
    EXPECT_EQ(e.rfind("t.yml:4:15: destinations.groups[0].ports[0]: invalid port range \"", 0), 0u)
        << e;
  }
  EXPECT_EQ(Err("inbound:\n  groups:\n    - name: web\n      ports: []\n"),
            "t.yml:4:14: inbound.groups[0].ports: must list at least one port");
}

TEST(ConfigErrorTest, GroupNames) {
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: a\n    - name: b\n    - name: a\n"),
            "t.yml:5:13: destinations.groups[2].name: duplicate group name \"a\" (first used at "
            "destinations.groups[0].name)");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: other\n"),
            "t.yml:3:13: destinations.groups[0].name: group name \"other\" is reserved (it labels "
            "everything unmatched)");
  EXPECT_EQ(Err("inbound:\n  groups:\n    - {name: other, ports: [1]}\n"),
            "t.yml:3:14: inbound.groups[0].name: group name \"other\" is reserved (it labels "
            "everything unmatched)");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: \"my db\"\n"),
            "t.yml:3:13: destinations.groups[0].name: invalid group name \"my db\": use only "
            "letters, digits, '_', '.' and '-'");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - name: \"\"\n"),
            "t.yml:3:13: destinations.groups[0].name: group name must not be empty");
  EXPECT_EQ(Err("destinations:\n  groups:\n    - cidrs: [10.0.0.0/8]\n"),
            "t.yml:3:7: destinations.groups[0]: missing required key \"name\"");
  EXPECT_EQ(Err("inbound:\n  groups:\n    - name: web\n"),
            "t.yml:3:7: inbound.groups[0]: missing required key \"ports\"");
  EXPECT_EQ(Err("inbound:\n  groups:\n    - {name: \"8080\", ports: [8080]}\n"),
            "t.yml:3:14: inbound.groups[0].name: group name \"8080\" is all digits and would "
            "clash with port-number labels");
  // Destination and inbound groups are separate namespaces.
  MustParse("destinations: {groups: [{name: a}]}\ninbound: {groups: [{name: a, ports: [1]}]}\n");
}

TEST(ConfigErrorTest, Limits) {
  EXPECT_EQ(Err("destinations:\n  top_k: 10001\n"),
            "t.yml:2:10: destinations.top_k: 10001 out of range 0..10000");
  EXPECT_EQ(Err("destinations:\n  top_k: -1\n"),
            "t.yml:2:10: destinations.top_k: -1 out of range 0..10000");
  EXPECT_EQ(Err("destinations:\n  max_series: 0\n"),
            "t.yml:2:15: destinations.max_series: 0 out of range 1..100000");
  EXPECT_EQ(Err("destinations:\n  max_tuples: 999\n"),
            "t.yml:2:15: destinations.max_tuples: 999 out of range 1000..10000000");
  EXPECT_EQ(Err("destinations:\n  max_tuples: 99999999999999999999999\n"),
            "t.yml:2:15: destinations.max_tuples: 99999999999999999999999 out of range "
            "1000..10000000");
  EXPECT_EQ(Err("namespaces:\n  max_namespaces: 4097\n"),
            "t.yml:2:19: namespaces.max_namespaces: 4097 out of range 1..4096");
  EXPECT_EQ(Err("namespaces:\n  parallel_dumps: 0\n"),
            "t.yml:2:19: namespaces.parallel_dumps: 0 out of range 1..64");
  EXPECT_EQ(Err("namespaces:\n  scrape_budget_seconds: 0\n"),
            "t.yml:2:26: namespaces.scrape_budget_seconds: 0 must be > 0");
  EXPECT_EQ(Err("namespaces:\n  detail_threshold: 1.5\n"),
            "t.yml:2:21: namespaces.detail_threshold: 1.5 must be between 0 and 1");
  EXPECT_EQ(Err("namespaces:\n  detail_threshold: -0.1\n"),
            "t.yml:2:21: namespaces.detail_threshold: -0.1 must be between 0 and 1");
}

TEST(ConfigErrorTest, MaxSeriesTooSmall) {
  EXPECT_EQ(Err("destinations:\n  groups: [{name: a}, {name: b}]\n  top_k: 3\n  max_series: 5\n"),
            "t.yml:4:15: destinations.max_series: 5 is too small: 2 groups + top_k 3 + 1 "
            "(\"other\") need at least 6");
  // max_series absent: the default (100) is checked and the error points at the section.
  EXPECT_EQ(Err("destinations:\n  top_k: 100\n"),
            "t.yml:2:3: destinations.max_series: 100 is too small: 0 groups + top_k 100 + 1 "
            "(\"other\") need at least 101");
  EXPECT_EQ(Err("inbound:\n  max_series: 20\n"),
            "t.yml:2:15: inbound.max_series: 20 is too small: 0 groups + top_k 20 + 1 "
            "(\"other\") need at least 21");
}

TEST(ConfigTest, CollectorSection) {
  auto c = ParseConfig("collector:\n  bound_inactive_interval_seconds: 0\n", "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->collector.bound_inactive_interval_seconds, 0);
  EXPECT_EQ(DefaultConfig().collector.bound_inactive_interval_seconds, 60);
  EXPECT_EQ(Err("collector:\n  bound_inactive_interval_seconds: -1\n"),
            "t.yml:2:36: collector.bound_inactive_interval_seconds: -1 out of range 0..86400");
}

TEST(ConfigTest, ConnectFailuresSection) {
  EXPECT_EQ(DefaultConfig().connect_failures.workloads_top_k, 20u);
  auto c = ParseConfig("connect_failures:\n  workloads_top_k: 5\n", "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->connect_failures.workloads_top_k, 5u);
  c = ParseConfig("connect_failures:\n  workloads_top_k: 0\n", "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->connect_failures.workloads_top_k, 0u);
  c = ParseConfig("connect_failures:\n  workloads_top_k: 1000\n", "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->connect_failures.workloads_top_k, 1000u);
  c = ParseConfig("connect_failures:\n", "t.yml");  // the section alone: defaults
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->connect_failures.workloads_top_k, 20u);
}

TEST(ConfigTest, UdpSection) {
  EXPECT_EQ(DefaultConfig().udp.local_addresses_top_k, 8u);
  auto c = ParseConfig("udp:\n  local_addresses_top_k: 0\n", "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->udp.local_addresses_top_k, 0u);
  c = ParseConfig("udp:\n  local_addresses_top_k: 64\n", "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->udp.local_addresses_top_k, 64u);
  EXPECT_EQ(Err("udp:\n  local_addresses_top_k: 65\n"),
            "t.yml:2:26: udp.local_addresses_top_k: 65 out of range 0..64");
  EXPECT_EQ(Err("udp:\n  top_k: 3\n"),
            "t.yml:2:3: udp.top_k: unknown key \"top_k\" (allowed: local_addresses_top_k)");
}

TEST(ConfigErrorTest, ConnectFailuresSection) {
  EXPECT_EQ(Err("connect_failures:\n  workloads_top_k: 1001\n"),
            "t.yml:2:20: connect_failures.workloads_top_k: 1001 out of range 0..1000");
  EXPECT_EQ(Err("destinations:\n  top_k: 3\nconnect_failures:\n  workloads_top_k: -1\n"),
            "t.yml:4:20: connect_failures.workloads_top_k: -1 out of range 0..1000");
  EXPECT_EQ(Err("connect_failures:\n  workloads_top_k: ten\n"),
            "t.yml:2:20: connect_failures.workloads_top_k: expected an integer, got \"ten\"");
  EXPECT_EQ(Err("connect_failures:\n  top_k: 5\n"),
            "t.yml:2:3: connect_failures.top_k: unknown key \"top_k\" (allowed: "
            "workloads_top_k)");
  EXPECT_EQ(Err("connect_failures: 5\n"),
            "t.yml:1:19: connect_failures: expected a map, got a scalar");
}

TEST(ConfigErrorTest, Buckets) {
  EXPECT_EQ(Err("histograms:\n  time_wait_remaining_seconds: [1, 5, 5]\n"),
            "t.yml:2:39: histograms.time_wait_remaining_seconds[2]: bucket 5 is not greater than "
            "the previous bucket 5 (buckets must be strictly increasing)");
  EXPECT_EQ(Err("histograms:\n  time_wait_remaining_seconds: [10, 5]\n"),
            "t.yml:2:37: histograms.time_wait_remaining_seconds[1]: bucket 5 is not greater than "
            "the previous bucket 10 (buckets must be strictly increasing)");
  EXPECT_EQ(Err("histograms:\n  time_wait_remaining_seconds: [0, 5]\n"),
            "t.yml:2:33: histograms.time_wait_remaining_seconds[0]: bucket 0 must be > 0");
  EXPECT_EQ(Err("histograms:\n  time_wait_remaining_seconds: [-1]\n"),
            "t.yml:2:33: histograms.time_wait_remaining_seconds[0]: bucket -1 must be > 0");
  EXPECT_EQ(Err("histograms:\n  occupancy_ratio: [0.5, 1.5]\n"),
            "t.yml:2:26: histograms.occupancy_ratio[1]: bucket 1.5 out of range (0, 1]");
  EXPECT_EQ(Err("histograms:\n  occupancy_ratio: []\n"),
            "t.yml:2:20: histograms.occupancy_ratio: must list at least one bucket");
  EXPECT_EQ(Err("histograms:\n  time_wait_remaining_seconds: "
                "[1,2,3,4,5,6,7,8,9,10,11,12]\n"),
            "t.yml:2:32: histograms.time_wait_remaining_seconds: at most 11 buckets, got 12");
}

TEST(ConfigErrorTest, Namespaces) {
  EXPECT_EQ(Err("namespaces:\n  mode: some\n"),
            "t.yml:2:9: namespaces.mode: invalid mode \"some\" (allowed: own, all, list)");
  EXPECT_EQ(Err("namespaces:\n  mode: list\n"),
            "t.yml:2:3: namespaces.mode: mode \"list\" needs names or a pattern");
  EXPECT_EQ(Err("namespaces:\n  mode: all\n  names: [blue]\n"),
            "t.yml:3:10: namespaces.names: only used with mode: list");
  EXPECT_EQ(Err("namespaces:\n  pattern: \"cni-*\"\n"),
            "t.yml:2:12: namespaces.pattern: only used with mode: list");
  EXPECT_EQ(Err("namespaces:\n  mode: list\n  names: [a/b]\n"),
            "t.yml:3:11: namespaces.names[0]: invalid namespace \"a/b\": give a name under "
            "/var/run/netns or an absolute path");
  EXPECT_EQ(
      Err("namespaces:\n  kernel_counters: yes\n"),
      "t.yml:2:20: namespaces.kernel_counters: invalid value \"yes\" (allowed: detailed, all)");
  Result<Config> all = ParseConfig("namespaces:\n  kernel_counters: all\n", "t.yml");
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->namespaces.kernel_counters, KernelCounters::kAll);
  EXPECT_EQ(DefaultConfig().namespaces.kernel_counters, KernelCounters::kDetailed);
}

TEST(ConfigErrorTest, NeverThrows) {
  for (const char* text : {"*a", "&a [*a]", "? [a]\n: b\n", "{a: 1", "!!binary x: 1",
                           "destinations: !!map {groups: !!seq [1]}", "\t", "%YAML 9.9\n---\n",
                           "---\na: 1\n---\nb: 2\n", "[[[[[[[[[[[[[[[[[[[[[[[[[[[["}) {
    EXPECT_NO_THROW(ParseConfig(text, "t.yml")) << text;
  }
}

TEST(ConfigFileTest, LoadsShippedExamples) {
  for (const char* rel : {"/config/sockstate.yml", "/config/examples/kubernetes-node.yml",
                          "/config/examples/database-client.yml"}) {
    Result<Config> c = LoadConfigFile(std::string(SOCKSTATE_SOURCE_DIR) + rel);
    EXPECT_TRUE(c.ok()) << rel << ": " << c.status().message();
  }
}

TEST(ConfigFileTest, ShippedDefaultsMatchDefaultConfig) {
  Result<Config> c = LoadConfigFile(std::string(SOCKSTATE_SOURCE_DIR) + "/config/sockstate.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Config d = DefaultConfig();
  EXPECT_EQ(c->destinations.top_k, d.destinations.top_k);
  EXPECT_EQ(c->destinations.max_series, d.destinations.max_series);
  EXPECT_EQ(c->destinations.max_tuples, d.destinations.max_tuples);
  EXPECT_EQ(c->inbound.top_k, d.inbound.top_k);
  EXPECT_EQ(c->inbound.max_series, d.inbound.max_series);
  EXPECT_EQ(c->histograms.time_wait_remaining_seconds, d.histograms.time_wait_remaining_seconds);
  EXPECT_EQ(c->histograms.occupancy_ratio, d.histograms.occupancy_ratio);
  EXPECT_EQ(c->namespaces.mode, d.namespaces.mode);
  EXPECT_EQ(c->namespaces.max_namespaces, d.namespaces.max_namespaces);
  EXPECT_EQ(c->namespaces.parallel_dumps, d.namespaces.parallel_dumps);
  EXPECT_EQ(c->namespaces.scrape_budget_seconds, d.namespaces.scrape_budget_seconds);
  ASSERT_EQ(c->destinations.groups.size(), 3u);
  EXPECT_EQ(c->destinations.groups[0].name, "postgres");
  EXPECT_EQ(c->destinations.groups[0].ports, Ports({5432, 6432}));
}

TEST(ConfigFileTest, KubernetesExample) {
  Result<Config> c =
      LoadConfigFile(std::string(SOCKSTATE_SOURCE_DIR) + "/config/examples/kubernetes-node.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->destinations.groups.size(), 2u);
  const DestinationGroup& api = c->destinations.groups[0];
  EXPECT_EQ(api.name, "kube-apiserver");
  ASSERT_EQ(api.cidrs.size(), 1u);
  EXPECT_EQ(api.cidrs[0].ToString(), "10.96.0.1/32");
  EXPECT_EQ(api.ports, Ports({443}));
  EXPECT_EQ(c->destinations.groups[1].name, "coredns");
  EXPECT_TRUE(c->destinations.groups[1].cidrs.empty());
  EXPECT_EQ(c->destinations.groups[1].ports, Ports({53}));
  EXPECT_EQ(c->namespaces.mode, NetnsMode::kAll);
}

TEST(ConfigFileTest, ErrorsNameTheFile) {
  char dir[] = "/tmp/sockstate_config_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/bad.yml";
  {
    std::ofstream out(path);
    out << "# comment\ndestinations:\n  top_k: 10001\n";
  }
  Result<Config> c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), path + ":3:10: destinations.top_k: 10001 out of range 0..10000");

  Result<Config> missing = LoadConfigFile(std::string(dir) + "/nope.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "cannot read config file \"" + std::string(dir) +
                                            "/nope.yml\": No such file or directory");

  Result<Config> is_dir = LoadConfigFile(dir);
  ASSERT_FALSE(is_dir.ok());
  EXPECT_EQ(is_dir.status().message(),
            "cannot read config file \"" + std::string(dir) + "\": Is a directory");
  std::remove(path.c_str());
  rmdir(dir);
}

TEST(ConfigTest, WorkloadsSection) {
  const WorkloadsConfig d = DefaultConfig().workloads;
  EXPECT_EQ(d.top_k, 3u);
  EXPECT_EQ(d.max_series, 500u);
  EXPECT_EQ(d.time_wait_max_sockets, 65536u);
  auto c = ParseConfig(
      "workloads:\n  top_k: 0\n  max_series: 100000\n  time_wait_max_sockets: 1024\n", "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->workloads.top_k, 0u);
  EXPECT_EQ(c->workloads.max_series, 100000u);
  EXPECT_EQ(c->workloads.time_wait_max_sockets, 1024u);
  EXPECT_EQ(Err("workloads:\n  top_k: 101\n"),
            "t.yml:2:10: workloads.top_k: 101 out of range 0..100");
  EXPECT_EQ(Err("workloads:\n  max_series: 0\n"),
            "t.yml:2:15: workloads.max_series: 0 out of range 1..100000");
  EXPECT_EQ(Err("workloads:\n  time_wait_max_sockets: 1023\n"),
            "t.yml:2:26: workloads.time_wait_max_sockets: 1023 out of range 1024..16777216");
  EXPECT_EQ(Err("workloads:\n  topk: 2\n"),
            "t.yml:2:3: workloads.topk: unknown key \"topk\" (allowed: top_k, max_series, "
            "time_wait_max_sockets)");
}

}  // namespace
}  // namespace sockstate
