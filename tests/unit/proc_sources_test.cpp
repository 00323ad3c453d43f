// The /proc/net sources (sockstat, sockstat6, netstat, snmp, snmp6): their series from tables in
// memory, a Read of the fixture tree, and a missing file being no data.
#include "sources/proc_sources.h"

#include <gtest/gtest.h>

#include "source_test_util.h"

namespace sockstate {
namespace {

using testing::ExportSource;
using testing::Series;

TEST(ProcSources, SockstatTcpLineWithMemInBytes) {
  auto src = MakeSockstatSource();
  EXPECT_EQ(src->name(), "sockstat");
  src->set_table(
      SockstatTable{{"TCP", {{"inuse", 5}, {"orphan", 1}, {"tw", 7}, {"alloc", 9}, {"mem", 3}}},
                    {"UDP", {{"inuse", 4}, {"mem", 2}}},
                    {"UDPLITE", {{"inuse", 8}}}});
  const Series want = {
      {"sockstate_sockstat_tcp_inuse", 5},
      {"sockstate_sockstat_tcp_orphan", 1},
      {"sockstate_sockstat_tcp_tw", 7},
      {"sockstate_sockstat_tcp_alloc", 9},
      {"sockstate_sockstat_tcp_mem_bytes", 3 * 4096},
      {"sockstate_sockstat_udp_inuse", 4},
      {"sockstate_sockstat_udp_mem_bytes", 2 * 4096},
  };
  EXPECT_EQ(ExportSource(*src, DefaultConfig()), want);
}

// Orphans, allocated sockets and socket memory are host-wide: one namespace (the first read)
// exports them, without a netns label. A namespace below detail_threshold exports no kernel
// counters of its own (namespaces.kernel_counters: detailed, the default).
TEST(ProcSources, HostWideValuesOnceWithoutNetnsAndNoneForAQuietNamespace) {
  auto src = MakeSockstatSource();
  src->set_table(
      SockstatTable{{"TCP", {{"inuse", 5}, {"orphan", 1}, {"tw", 7}, {"alloc", 9}, {"mem", 3}}}});
  const Config c = DefaultConfig();
  const Series per_ns = {{"sockstate_sockstat_tcp_inuse{netns=\"x\"}", 5},
                         {"sockstate_sockstat_tcp_tw{netns=\"x\"}", 7}};
  const Series host = {{"sockstate_sockstat_tcp_orphan", 1},
                       {"sockstate_sockstat_tcp_alloc", 9},
                       {"sockstate_sockstat_tcp_mem_bytes", 3 * 4096}};
  Series both = per_ns;
  both.insert(host.begin(), host.end());
  EXPECT_EQ(ExportSource(*src, c, {{"netns", "x"}}, true, true), both);
  EXPECT_EQ(ExportSource(*src, c, {{"netns", "x"}}, true, false), per_ns);
  EXPECT_EQ(ExportSource(*src, c, {{"netns", "x"}}, false, true), host);
  EXPECT_EQ(ExportSource(*src, c, {{"netns", "x"}}, false, false), Series{});
  auto v6 = MakeSockstat6Source();
  v6->set_table(SockstatTable{{"TCP6", {{"inuse", 9}}}});
  auto netstat = MakeNetstatSource();
  netstat->set_table(NetstatTable{{"TcpExt", {{"TW", 100}}}});
  auto snmp = MakeSnmpSource();
  snmp->set_table(NetstatTable{{"Tcp", {{"ActiveOpens", 3}, {"CurrEstab", 2}}}});
  for (const NetnsSource* quiet :
       {static_cast<const NetnsSource*>(v6.get()), static_cast<const NetnsSource*>(netstat.get()),
        static_cast<const NetnsSource*>(snmp.get())}) {
    EXPECT_EQ(ExportSource(*quiet, c, {{"netns", "x"}}, false, true), Series{}) << quiet->name();
    EXPECT_EQ(ExportSource(*quiet, c, {{"netns", "x"}}, true, false).size(),
              quiet == snmp.get() ? 2u : 1u)
        << quiet->name();
  }
}

TEST(ProcSources, SockstatWithoutTcpLineOrKeysExportsWhatIsThere) {
  auto src = MakeSockstatSource();
  src->set_table(SockstatTable{{"RAW", {{"inuse", 4}}}});
  EXPECT_EQ(ExportSource(*src, DefaultConfig()), Series{});
  src->set_table(SockstatTable{{"UDP", {{"inuse", 4}}}});  // no TCP line: UDP alone
  EXPECT_EQ(ExportSource(*src, DefaultConfig()), (Series{{"sockstate_sockstat_udp_inuse", 4}}));
  src->set_table(SockstatTable{{"TCP", {{"tw", 2}}}});
  EXPECT_EQ(ExportSource(*src, DefaultConfig()), (Series{{"sockstate_sockstat_tcp_tw", 2}}));
}

TEST(ProcSources, Sockstat6) {
  auto src = MakeSockstat6Source();
  EXPECT_EQ(src->name(), "sockstat6");
  src->set_table(SockstatTable{{"TCP6", {{"inuse", 9}}}, {"UDP6", {{"inuse", 3}}}});
  EXPECT_EQ(ExportSource(*src, DefaultConfig(), {{"netns", "x"}}),
            (Series{{"sockstate_sockstat6_tcp6_inuse{netns=\"x\"}", 9},
                    {"sockstate_sockstat6_udp6_inuse{netns=\"x\"}", 3}}));
}

TEST(ProcSources, NetstatTcpExtCounters) {
  auto src = MakeNetstatSource();
  EXPECT_EQ(src->name(), "netstat");
  src->set_table(NetstatTable{{"TcpExt",
                               {{"TW", 100},
                                {"TWKilled", 1},
                                {"TWRecycled", 2},
                                {"TCPTimeWaitOverflow", 3},
                                {"TCPAbortOnClose", 4},
                                {"ListenOverflows", 5},
                                {"ListenDrops", 6},
                                {"DelayedACKs", 7}}},
                              {"IpExt", {{"InOctets", 8}}}});
  const Series want = {
      {"sockstate_netstat_tcpext_tw_total", 100},
      {"sockstate_netstat_tcpext_twkilled_total", 1},
      {"sockstate_netstat_tcpext_twrecycled_total", 2},
      {"sockstate_netstat_tcpext_tcptimewaitoverflow_total", 3},
      {"sockstate_netstat_tcpext_tcpabortonclose_total", 4},
      {"sockstate_netstat_tcpext_listenoverflows_total", 5},
      {"sockstate_netstat_tcpext_listendrops_total", 6},
  };
  EXPECT_EQ(ExportSource(*src, DefaultConfig()), want);
}

TEST(ProcSources, SnmpTcpCountersAndCurrEstab) {
  auto src = MakeSnmpSource();
  EXPECT_EQ(src->name(), "snmp");
  src->set_table(NetstatTable{{"Tcp",
                               {{"MaxConn", -1},
                                {"ActiveOpens", 10},
                                {"PassiveOpens", 11},
                                {"AttemptFails", 12},
                                {"EstabResets", 13},
                                {"RetransSegs", 14},
                                {"OutRsts", 15},
                                {"CurrEstab", 16}}}});
  const Series want = {
      {"sockstate_snmp_tcp_activeopens_total", 10},  {"sockstate_snmp_tcp_passiveopens_total", 11},
      {"sockstate_snmp_tcp_attemptfails_total", 12}, {"sockstate_snmp_tcp_estabresets_total", 13},
      {"sockstate_snmp_tcp_retranssegs_total", 14},  {"sockstate_snmp_tcp_outrsts_total", 15},
      {"sockstate_snmp_tcp_currestab", 16},
  };
  EXPECT_EQ(ExportSource(*src, DefaultConfig()), want);
}

TEST(ProcSources, SnmpUdpCountersAreFamilyIpv4) {
  auto src = MakeSnmpSource();
  src->set_table(NetstatTable{{"Udp",
                               {{"InDatagrams", 1},
                                {"NoPorts", 2},
                                {"InErrors", 3},
                                {"OutDatagrams", 4},
                                {"RcvbufErrors", 5},
                                {"SndbufErrors", 6},
                                {"InCsumErrors", 7},
                                {"IgnoredMulti", 8},
                                {"MemErrors", 9}}},
                              {"UdpLite", {{"InDatagrams", 100}}}});
  const Series want = {
      {R"(sockstate_snmp_udp_indatagrams_total{family="ipv4"})", 1},
      {R"(sockstate_snmp_udp_noports_total{family="ipv4"})", 2},
      {R"(sockstate_snmp_udp_inerrors_total{family="ipv4"})", 3},
      {R"(sockstate_snmp_udp_outdatagrams_total{family="ipv4"})", 4},
      {R"(sockstate_snmp_udp_rcvbuferrors_total{family="ipv4"})", 5},
      {R"(sockstate_snmp_udp_sndbuferrors_total{family="ipv4"})", 6},
      {R"(sockstate_snmp_udp_memerrors_total{family="ipv4"})", 9},
  };
  EXPECT_EQ(ExportSource(*src, DefaultConfig()), want);
}

TEST(ProcSources, Snmp6Udp6CountersAreFamilyIpv6) {
  auto src = MakeSnmp6Source();
  EXPECT_EQ(src->name(), "snmp6");
  // 4.19 has no Udp6MemErrors: absent, not 0.
  src->set_table(Snmp6Table{{"Ip6InReceives", 50},
                            {"Udp6InDatagrams", 11},
                            {"Udp6NoPorts", 12},
                            {"Udp6RcvbufErrors", 13},
                            {"UdpLite6NoPorts", 99}});
  const Series want = {
      {R"(sockstate_snmp_udp_indatagrams_total{family="ipv6"})", 11},
      {R"(sockstate_snmp_udp_noports_total{family="ipv6"})", 12},
      {R"(sockstate_snmp_udp_rcvbuferrors_total{family="ipv6"})", 13},
  };
  EXPECT_EQ(ExportSource(*src, DefaultConfig()), want);
}

class ProcSourcesRead : public ::testing::Test {
 protected:
  Status Read(NetnsSource& src, const std::string& tree) {
    const ProcPaths paths = ProcPaths::ForRoot(std::string(SOCKSTATE_TEST_DATA_DIR) + "/" + tree);
    return src.Read({config_, env_, env_, paths, true, "", earlier_});
  }
  Config config_ = DefaultConfig();
  SourceEnv env_;
  std::vector<const NetnsSource*> earlier_;
};

TEST_F(ProcSourcesRead, FixtureTree) {
  auto sockstat = MakeSockstatSource();
  auto snmp = MakeSnmpSource();
  ASSERT_TRUE(Read(*sockstat, "proc").ok());
  ASSERT_TRUE(Read(*snmp, "proc").ok());
  EXPECT_EQ(sockstat->table()->at("TCP").at("tw"), 153u);
  EXPECT_EQ(snmp->table()->at("Tcp").at("ActiveOpens"), 52340);
  EXPECT_EQ(ExportSource(*sockstat, config_).at("sockstate_sockstat_tcp_mem_bytes"), 11 * 4096);
  EXPECT_EQ(ExportSource(*sockstat, config_).at("sockstate_sockstat_udp_inuse"), 6);
  EXPECT_EQ(ExportSource(*snmp, config_).at(R"(sockstate_snmp_udp_noports_total{family="ipv4"})"),
            12);
  auto snmp6 = MakeSnmp6Source();
  ASSERT_TRUE(Read(*snmp6, "proc").ok());
  EXPECT_EQ(ExportSource(*snmp6, config_).at(R"(sockstate_snmp_udp_noports_total{family="ipv6"})"),
            4);
  ASSERT_TRUE(Read(*snmp6, "proc-minimal").ok());  // no snmp6 (IPv6 off): no data
  EXPECT_EQ(ExportSource(*snmp6, config_), Series{});
}

TEST_F(ProcSourcesRead, MissingFileIsNoDataAndBrokenFileAnError) {
  auto sockstat6 = MakeSockstat6Source();
  ASSERT_TRUE(Read(*sockstat6, "proc-minimal").ok());  // IPv6 off: no sockstat6
  EXPECT_FALSE(sockstat6->table().has_value());
  EXPECT_EQ(ExportSource(*sockstat6, config_), Series{});

  auto netstat = MakeNetstatSource();
  const Status st = Read(*netstat, "proc-broken");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("netstat"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace sockstate
