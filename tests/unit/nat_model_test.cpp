// The NAT model: reply-tuple grouping, snat/direct and blocking/reclaimable split per the
// kernel's takeover rule (Linux 6.5+), labels through aggregate/rank.h, caps, no allocation.

#include "aggregate/nat_model.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alloc_count.h"
#include "config/config.h"
#include "ct_builder.h"

using sockstate::testing::NewCount;
using sockstate::testing::NewCountWorks;

namespace sockstate {
namespace {

std::array<uint8_t, 16> V4(const std::string& text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET, text.c_str(), a.data()), 1) << text;
  return a;
}

// A SNAT entry client:cport -> server:sport, translated to nat:nport.
ConntrackRecord Snat(const std::string& nat, uint16_t nport, const std::string& server,
                     uint16_t sport, uint8_t state = kCtTcpEstablished, uint8_t proto = 6) {
  ConntrackRecord r;
  r.orig.src = V4("198.18.1.2");
  r.orig.dst = V4(server);
  r.orig.src_port = uint16_t(nport - 20000);
  r.orig.dst_port = sport;
  r.orig.protocol = proto;
  r.reply.src = V4(server);
  r.reply.dst = V4(nat);
  r.reply.src_port = sport;
  r.reply.dst_port = nport;
  r.reply.protocol = proto;
  r.status = 0x1be;
  r.has_tcp_state = proto == 6;
  r.tcp_state = proto == 6 ? state : 0;
  return r;
}

TEST(NatKernel, TakeoverFromLinux65) {
  EXPECT_TRUE(KernelHasTimeWaitTakeover("6.18.44-fc-v1045"));
  EXPECT_TRUE(KernelHasTimeWaitTakeover("6.5.0"));
  EXPECT_TRUE(KernelHasTimeWaitTakeover("7.0.1"));
  EXPECT_FALSE(KernelHasTimeWaitTakeover("6.4.16-arch1"));
  EXPECT_FALSE(KernelHasTimeWaitTakeover("6.1.0-56-amd64"));
  EXPECT_FALSE(KernelHasTimeWaitTakeover("5.15.0-91-generic"));
  EXPECT_FALSE(KernelHasTimeWaitTakeover(""));
  EXPECT_FALSE(KernelHasTimeWaitTakeover("6"));
  EXPECT_FALSE(KernelHasTimeWaitTakeover("six.5"));
}

TEST(NatKernel, ReclaimableFollowsNfNatUsedTupleHarder) {
  ConntrackRecord r = Snat("198.18.2.1", 61000, "198.18.2.2", 8080, kCtTcpTimeWait);
  EXPECT_TRUE(NatPortReclaimable(r, true));
  EXPECT_FALSE(NatPortReclaimable(r, false));  // before 6.5
  r.tcp_state = kCtTcpClose;
  EXPECT_TRUE(NatPortReclaimable(r, true));
  r.tcp_state = kCtTcpSynSent2;
  EXPECT_TRUE(NatPortReclaimable(r, true));
  for (uint8_t s :
       {kCtTcpSynSent, kCtTcpEstablished, kCtTcpFinWait, kCtTcpCloseWait, kCtTcpLastAck}) {
    r.tcp_state = s;
    EXPECT_FALSE(NatPortReclaimable(r, true)) << int(s);
  }
  r.tcp_state = kCtTcpTimeWait;
  for (uint32_t bit : {kIpsDying, kIpsFixedTimeout, kIpsOffload, kIpsHwOffload}) {
    ConntrackRecord x = r;
    x.status |= bit;
    EXPECT_FALSE(NatPortReclaimable(x, true)) << bit;
  }
  ConntrackRecord direct = r;
  direct.status &= ~kIpsSrcNat;
  EXPECT_FALSE(NatPortReclaimable(direct, true));
  ConntrackRecord no_state = r;
  no_state.has_tcp_state = false;
  EXPECT_FALSE(NatPortReclaimable(no_state, true));
  EXPECT_FALSE(NatPortReclaimable(Snat("198.18.2.1", 62000, "198.18.2.2", 53, 0, 17), true));
}

NatConfig TenPortGroup() {
  NatConfig c;
  NatGroup g;
  g.destination.name = "backend";
  g.destination.cidrs.push_back(*ParseCidr("198.18.2.2/32"));
  g.destination.ports.set(8080);
  g.destination.any_port = false;
  g.protocol = 6;
  g.usable_ports = 10;
  c.groups.push_back(g);
  return c;
}

TEST(NatModel, TenEstablishedFillTenUsablePorts) {
  const NatConfig cfg = TenPortGroup();
  NatModel m;
  m.Reset(cfg, true);
  for (int i = 0; i < 10; ++i)
    m.OnEntry(Snat("198.18.2.1", uint16_t(61000 + i), "198.18.2.2", 8080));
  m.Finish();
  EXPECT_EQ(m.entries(kNatTcp), 10u);
  EXPECT_EQ(m.tcp_states()[kCtTcpEstablished], 10u);
  const auto tcp = m.Summarize(kNatTcp);
  ASSERT_EQ(tcp.size(), 2u);  // the group and "other"
  const NatSlotStats& g = tcp[0];
  EXPECT_EQ(g.label, "backend");
  EXPECT_TRUE(g.is_group);
  EXPECT_EQ(g.ports[kNatSnat][kNatBlocking], 10u);
  EXPECT_EQ(g.ports[kNatSnat][kNatReclaimable], 0u);
  EXPECT_EQ(g.ports[kNatDirect][kNatBlocking], 0u);
  EXPECT_EQ(g.tuples, 1u);
  EXPECT_EQ(g.fullest_blocking, 10u);
  EXPECT_EQ(g.usable, 10u);
  EXPECT_DOUBLE_EQ(g.Occupancy(), 1.0);
  EXPECT_EQ(tcp[1].label, "other");
  EXPECT_EQ(tcp[1].tuples, 0u);
  EXPECT_EQ(tcp[1].usable, 64512u);
}

TEST(NatModel, TimeWaitIsReclaimableFrom65AndBlockingBefore) {
  const NatConfig cfg = TenPortGroup();
  for (bool takeover : {true, false}) {
    NatModel m;
    m.Reset(cfg, takeover);
    for (int i = 0; i < 9; ++i) {
      m.OnEntry(Snat("198.18.2.1", uint16_t(61000 + i), "198.18.2.2", 8080, kCtTcpTimeWait));
    }
    m.OnEntry(Snat("198.18.2.1", 61009, "198.18.2.2", 8080, kCtTcpEstablished));
    m.Finish();
    const NatSlotStats g = m.Summarize(kNatTcp)[0];  // a copy: Summarize returns by value
    if (takeover) {
      EXPECT_EQ(g.ports[kNatSnat][kNatBlocking], 1u);
      EXPECT_EQ(g.ports[kNatSnat][kNatReclaimable], 9u);
      EXPECT_DOUBLE_EQ(g.Occupancy(), 0.1);
    } else {
      EXPECT_EQ(g.ports[kNatSnat][kNatBlocking], 10u);
      EXPECT_EQ(g.ports[kNatSnat][kNatReclaimable], 0u);
      EXPECT_DOUBLE_EQ(g.Occupancy(), 1.0);
    }
  }
}

TEST(NatModel, DirectEntriesShareTheTupleAndAreReportedApart) {
  const NatConfig cfg = TenPortGroup();
  NatModel m;
  m.Reset(cfg, true);
  for (int i = 0; i < 4; ++i)
    m.OnEntry(Snat("198.18.2.1", uint16_t(61000 + i), "198.18.2.2", 8080));
  ConntrackRecord own = Snat("198.18.2.1", 61005, "198.18.2.2", 8080, kCtTcpTimeWait);
  own.status = 0x18e;  // no IPS_SRC_NAT: the router's own connection
  m.OnEntry(own);
  m.Finish();
  const NatSlotStats g = m.Summarize(kNatTcp)[0];  // a copy: Summarize returns by value
  EXPECT_EQ(g.ports[kNatSnat][kNatBlocking], 4u);
  EXPECT_EQ(g.ports[kNatDirect][kNatBlocking], 1u);  // SNAT cannot evict an unNATed entry
  EXPECT_EQ(g.ports[kNatDirect][kNatReclaimable], 0u);
  EXPECT_EQ(g.tuples, 1u);
  EXPECT_EQ(g.fullest_blocking, 5u);
}

TEST(NatModel, TuplesPerNatAddressAndProtocolsApart) {
  NatConfig cfg;  // no groups: top-K labels
  NatModel m;
  m.Reset(cfg, true);
  for (int i = 0; i < 6; ++i)
    m.OnEntry(Snat("198.18.2.1", uint16_t(61000 + i), "198.18.2.2", 8080));
  for (int i = 0; i < 3; ++i)
    m.OnEntry(Snat("198.18.2.3", uint16_t(61000 + i), "198.18.2.2", 8080));
  for (int i = 0; i < 2; ++i)
    m.OnEntry(Snat("198.18.2.1", uint16_t(61000 + i), "198.18.2.2", 9090));
  for (int i = 0; i < 5; ++i) {
    m.OnEntry(Snat("198.18.2.1", uint16_t(62000 + i), "198.18.2.2", 8080, 0, 17));
  }
  ConntrackRecord icmp = Snat("198.18.2.1", 1, "198.18.2.2", 0, 0, 1);
  m.OnEntry(icmp);
  m.Finish();
  EXPECT_EQ(m.entries(kNatTcp), 11u);
  EXPECT_EQ(m.entries(kNatUdp), 5u);
  EXPECT_EQ(m.icmp_entries(), 1u);
  EXPECT_EQ(m.tuples(kNatTcp), 3u);
  EXPECT_EQ(m.tuples(kNatUdp), 1u);
  const auto tcp = m.Summarize(kNatTcp);
  ASSERT_EQ(tcp.size(), 3u);
  EXPECT_EQ(tcp[0].label, "198.18.2.2:8080");
  EXPECT_EQ(tcp[0].tuples, 2u);
  EXPECT_EQ(tcp[0].ports[kNatSnat][kNatBlocking], 9u);
  EXPECT_EQ(tcp[0].fullest_blocking, 6u);
  EXPECT_DOUBLE_EQ(tcp[0].Occupancy(), 6.0 / 64512);
  EXPECT_EQ(tcp[1].label, "198.18.2.2:9090");
  EXPECT_EQ(tcp[1].ports[kNatSnat][kNatBlocking], 2u);
  EXPECT_EQ(tcp[2].label, "other");
  const auto udp = m.Summarize(kNatUdp);
  ASSERT_EQ(udp.size(), 2u);
  EXPECT_EQ(udp[0].label, "198.18.2.2:8080");
  EXPECT_EQ(udp[0].ports[kNatSnat][kNatBlocking], 5u);
  EXPECT_EQ(udp[0].ports[kNatSnat][kNatReclaimable], 0u);
}

TEST(NatModel, ProtocolGroupsOnlyMatchTheirProtocol) {
  NatConfig cfg;
  NatGroup dns;
  dns.destination.name = "dns";
  dns.destination.ports.set(53);
  dns.destination.any_port = false;
  dns.protocol = 17;
  dns.usable_ports = 100;
  cfg.groups.push_back(dns);
  NatModel m;
  m.Reset(cfg, true);
  m.OnEntry(Snat("198.18.2.1", 62000, "198.18.2.2", 53, 0, 17));
  m.OnEntry(Snat("198.18.2.1", 61000, "198.18.2.2", 53, kCtTcpEstablished, 6));
  m.Finish();
  const auto udp = m.Summarize(kNatUdp);
  ASSERT_EQ(udp.size(), 2u);
  EXPECT_EQ(udp[0].label, "dns");
  EXPECT_EQ(udp[0].usable, 100u);
  EXPECT_DOUBLE_EQ(udp[0].Occupancy(), 0.01);
  const auto tcp = m.Summarize(kNatTcp);
  ASSERT_EQ(tcp.size(), 2u);  // no "dns" slot for TCP
  EXPECT_EQ(tcp[0].label, "198.18.2.2:53");
}

TEST(NatModel, TopKFoldsIntoOtherAndMaxTuplesCountsUntracked) {
  NatConfig cfg;
  cfg.top_k = 1;
  cfg.max_tuples = 1000;
  NatModel m;
  m.Reset(cfg, true);
  // 1001 destinations with one port each, and one with three.
  for (int i = 0; i < 3; ++i) m.OnEntry(Snat("198.18.2.1", uint16_t(61000 + i), "198.18.3.1", 443));
  for (int i = 0; i < 1001; ++i) {
    m.OnEntry(Snat("198.18.2.1", 61000, "198.18.4." + std::to_string(i % 250), uint16_t(1000 + i)));
  }
  m.Finish();
  EXPECT_EQ(m.tuples(kNatTcp), 1000u);
  EXPECT_EQ(m.untracked_entries(), 2u);
  const auto tcp = m.Summarize(kNatTcp);
  ASSERT_EQ(tcp.size(), 2u);
  EXPECT_EQ(tcp[0].label, "198.18.3.1:443");
  EXPECT_EQ(tcp[0].ports[kNatSnat][kNatBlocking], 3u);
  EXPECT_EQ(tcp[1].label, "other");
  EXPECT_EQ(tcp[1].ports[kNatSnat][kNatBlocking], 1001u);  // 999 folded + 2 untracked
  EXPECT_EQ(tcp[1].tuples, 999u);
  EXPECT_EQ(m.labels(kNatTcp).folded, 999u);
}

// Most namespaces of a node have no tracked connection: their model holds no table between
// scrapes (1024 slots each otherwise), and one that gets entries later counts them exactly.
TEST(NatModel, EmptyTableIsNotKeptBetweenScrapes) {
  NatConfig cfg;
  NatModel m;
  m.Reset(cfg, true);
  m.Finish();
  EXPECT_EQ(m.TableBytes(), 0u);
  EXPECT_EQ(m.tuples(kNatTcp), 0u);
  const auto none = m.Summarize(kNatTcp);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].label, "other");
  EXPECT_EQ(none[0].tuples, 0u);
  m.Reset(cfg, true);
  m.OnEntry(Snat("198.18.2.1", 1024, "198.18.5.1", 80, kCtTcpEstablished));
  m.OnEntry(Snat("198.18.2.1", 1025, "198.18.5.1", 80, kCtTcpTimeWait));
  m.Finish();
  EXPECT_GT(m.TableBytes(), 0u);  // kept: memory follows tuples
  ASSERT_EQ(m.tuples(kNatTcp), 1u);
  const auto tcp = m.Summarize(kNatTcp);
  ASSERT_EQ(tcp.size(), 2u);  // the destination and "other"
  EXPECT_EQ(tcp[0].label, "198.18.5.1:80");
  EXPECT_EQ(tcp[1].tuples, 0u);
  EXPECT_EQ(tcp[0].ports[kNatSnat][kNatBlocking], 1u);
  EXPECT_EQ(tcp[0].ports[kNatSnat][kNatReclaimable], 1u);
  m.Reset(cfg, true);
  m.Finish();
  EXPECT_EQ(m.TableBytes(), 0u);
  EXPECT_EQ(m.tuples(kNatTcp), 0u);
}

TEST(NatModel, NoAllocationPerEntryOnceTheTableHasGrown) {
  if (!NewCountWorks()) GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
  NatConfig cfg;
  std::vector<ConntrackRecord> records;
  for (int d = 0; d < 50; ++d) {
    for (int i = 0; i < 200; ++i) {
      records.push_back(Snat("198.18.2.1", uint16_t(1024 + i), "198.18.5." + std::to_string(d), 80,
                             i % 2 ? kCtTcpTimeWait : kCtTcpEstablished));
    }
  }
  NatModel m;
  m.Reset(cfg, true);
  for (const auto& r : records) m.OnEntry(r);
  m.Finish();
  m.Reset(cfg, true);
  const uint64_t before = NewCount();
  for (const auto& r : records) m.OnEntry(r);
  const uint64_t after = NewCount();
  EXPECT_EQ(after - before, 0u);
  m.Finish();
  EXPECT_EQ(m.tuples(kNatTcp), 50u);
  const auto tcp = m.Summarize(kNatTcp);
  EXPECT_EQ(tcp[0].ports[kNatSnat][kNatBlocking], 100u);
  EXPECT_EQ(tcp[0].ports[kNatSnat][kNatReclaimable], 100u);
}

}  // namespace
}  // namespace sockstate

namespace sockstate {
namespace {

// The committed real-kernel recording (tests/fixtures/dumps/README.md): 3 TCP connections to
// 198.18.2.2:8080, 2 to :9090 and 4 UDP flows to :5353, all masqueraded by 198.18.2.1.
TEST(NatModelFixture, RecordedNatDumpReplaysToExactCounts) {
  Result<Config> c = ParseConfig(std::string("nat:\n") + testing::kBackendNatGroups, "t.yml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  NatModel m;
  m.Reset(c->nat, true);
  Status s =
      ReplayConntrackFile(std::string(SOCKSTATE_TEST_DATA_DIR) + "/dumps/nat-tcp-udp.ssct", m);
  ASSERT_TRUE(s.ok()) << s.message();
  m.Finish();
  EXPECT_EQ(m.entries(kNatTcp), 5u);
  EXPECT_EQ(m.entries(kNatUdp), 4u);
  EXPECT_EQ(m.tcp_states()[kCtTcpEstablished], 5u);
  const auto tcp = m.Summarize(kNatTcp);
  ASSERT_EQ(tcp.size(), 3u);
  EXPECT_EQ(tcp[0].label, "backend");
  EXPECT_EQ(tcp[0].ports[kNatSnat][kNatBlocking], 3u);
  EXPECT_DOUBLE_EQ(tcp[0].Occupancy(), 0.3);
  EXPECT_EQ(tcp[1].label, "198.18.2.2:9090");
  EXPECT_EQ(tcp[1].ports[kNatSnat][kNatBlocking], 2u);
  EXPECT_EQ(tcp[2].label, "other");
  const auto udp = m.Summarize(kNatUdp);
  ASSERT_EQ(udp.size(), 2u);
  EXPECT_EQ(udp[0].label, "198.18.2.2:5353");
  EXPECT_EQ(udp[0].ports[kNatSnat][kNatBlocking], 4u);
  EXPECT_EQ(udp[0].tuples, 1u);
}

}  // namespace
}  // namespace sockstate
