// Workload attribution (docs/workloads.md): owners per destination from the aggregation (full
// sockets by their cgroup id, TIME_WAIT sockets by the kernel program's records), and their
// naming, ranking and caps (aggregate/workloads.h).

#include "aggregate/workloads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "aggregate/aggregator.h"
#include "aggregate/tracked.h"
#include "alloc_count.h"
#include "kernel/tracker_probe.h"
#include "source_test_util.h"
#include "sources/time_wait_owners_source.h"
#include "test_util.h"

namespace sockstate {
namespace {

constexpr int kEst = kStateIndex[kTcpEstablished];
constexpr int kTw = kStateIndex[kTcpTimeWait];
constexpr int kCw = kStateIndex[kTcpCloseWait];
constexpr int kSynSent = kStateIndex[kTcpSynSent];

SocketRecord Rec(uint8_t state, const char* src, uint16_t sport, const char* dst, uint16_t dport,
                 uint64_t cgroup) {
  SocketRecord r;
  r.family = std::string(src).find(':') != std::string::npos ? Family::kIpv6 : Family::kIpv4;
  r.state = state;
  r.src_addr = testing::Addr(src);
  r.dst_addr = testing::Addr(dst);
  r.src_port = sport;
  r.dst_port = dport;
  r.cgroup_id = cgroup;
  return r;
}

// The kernel program's record of one TIME_WAIT socket of namespace 7 (or `netns`).
std::pair<TimeWaitKey, uint64_t> Tw(const char* src, uint16_t sport, const char* dst,
                                    uint16_t dport, uint64_t cgroup, uint64_t netns = 7) {
  SocketRecord r;
  r.family = std::string(src).find(':') != std::string::npos ? Family::kIpv6 : Family::kIpv4;
  r.src_addr = testing::Addr(src);
  r.dst_addr = testing::Addr(dst);
  r.src_port = sport;
  r.dst_port = dport;
  return {TimeWaitKey::Of(netns, r), cgroup};
}

// The kernel side behind its seam, a ring of records: `records` are made before the snapshot,
// `late` ones after it (during the dump). The ring holds the latest `ring_size`.
class FakeReader : public TimeWaitOwnerReader {
 public:
  using Records = std::vector<std::pair<TimeWaitKey, uint64_t>>;
  explicit FakeReader(Records records = {}, Records late = {})
      : records(std::move(records)), late(std::move(late)) {}
  uint64_t Head() const override {
    return snapshot_taken ? records.size() + late.size() : records.size();
  }
  uint64_t size() const override { return ring_size; }
  Status Read(uint64_t from, uint64_t to,
              const std::function<void(const TimeWaitKey&, uint64_t)>& fn) override {
    ++reads;
    if (fail) return Status::Error("tw_ring: bpf_map_lookup_batch: Bad file descriptor");
    for (uint64_t n = std::max(from, to > ring_size ? to - ring_size : 0); n < to; ++n) {
      const auto& [k, cg] = n < records.size() ? records[n] : late[n - records.size()];
      fn(k, cg);
    }
    snapshot_taken = true;
    return Status::Ok();
  }
  Records records, late;
  uint64_t ring_size = 1 << 20;
  bool snapshot_taken = false;
  int reads = 0;
  bool fail = false;
};

const DestinationStats& Dest(const AggregateResult& a, const std::string& label) {
  for (const DestinationStats& d : a.destinations) {
    if (d.label == label) return d;
  }
  throw std::runtime_error("no destination " + label);
}

// Owners of a destination as {cgroup id: {state index: sockets}} plus ports used at key -1.
std::map<uint64_t, std::map<int, uint64_t>> Owners(const DestinationStats& d) {
  std::map<uint64_t, std::map<int, uint64_t>> m;
  for (const OwnerCounts& o : d.owners) {
    for (int s = 0; s < kNumStates; ++s) {
      if (o.sockets[s]) m[o.cgroup_id][s] = o.sockets[s];
    }
    m[o.cgroup_id][-1] = o.ports_used;
  }
  return m;
}

class AttributionTest : public ::testing::Test {
 protected:
  AttributionTest() {
    range_.low = 40000;
    range_.high = 40999;
  }
  AggregateResult Run(const std::vector<SocketRecord>& recs, FakeReader::Records tw = {},
                      size_t max_cells = 1000, FakeReader::Records late = {}) {
    auto reader = std::make_unique<FakeReader>(std::move(tw), std::move(late));
    reader_ = reader.get();
    owners_ = std::make_unique<TimeWaitOwners>(std::move(reader));
    EXPECT_TRUE(owners_->Refresh().ok());
    agg_.Reset(cfg_, &range_, nullptr);
    agg_.SetAttribution(max_cells, owners_.get(), 7);
    for (const SocketRecord& r : recs) agg_.OnSocket(r);
    AggregateResult out;
    agg_.Finish(&out);
    return out;
  }
  // The same, from the state tracker's counts of a namespace instead of a dump.
  AggregateResult RunTracked(const TrackedNamespace& ns, FakeReader::Records tw) {
    auto reader = std::make_unique<FakeReader>(std::move(tw));
    owners_ = std::make_unique<TimeWaitOwners>(std::move(reader));
    EXPECT_TRUE(owners_->Refresh().ok());
    agg_.Reset(cfg_, &range_, nullptr);
    agg_.SetAttribution(1000, owners_.get(), 7);
    AggregateTracked(ns, 0, 250, agg_);
    AggregateResult out;
    agg_.Finish(&out);
    return out;
  }
  Config cfg_;
  PortRange range_;
  Aggregator agg_;
  std::unique_ptr<TimeWaitOwners> owners_;
  FakeReader* reader_ = nullptr;
};

TEST_F(AttributionTest, FullSocketsByCgroupTimeWaitFromTheKernelAndTheRestUnknown) {
  std::vector<SocketRecord> recs = {Rec(kTcpListen, "10.0.0.1", 80, "0.0.0.0", 0, 5)};
  for (uint16_t p = 40000; p < 40004; ++p)
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", p, "10.0.0.2", 5432, 11));
  for (uint16_t p = 40010; p < 40016; ++p)
    recs.push_back(Rec(kTcpTimeWait, "10.0.0.1", p, "10.0.0.2", 5432, 0));
  recs.push_back(Rec(kTcpCloseWait, "10.0.0.1", 40020, "10.0.0.3", 443, 33));
  recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 50000, "10.0.0.3", 443, 33));  // out of range
  recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 80, "10.0.0.9", 1234, 5));    // inbound: no owner
  recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40030, "10.0.0.3", 443, 0));  // no cgroup
  // The kernel recorded 4 of the 6 TIME_WAIT sockets to 10.0.0.2:5432 (22: 3, 23: 1); its
  // records of sockets the dump does not show (ended, another namespace) are never read.
  const AggregateResult a = Run(
      recs, {Tw("10.0.0.1", 40010, "10.0.0.2", 5432, 22), Tw("10.0.0.1", 40011, "10.0.0.2", 5432, 22),
             Tw("10.0.0.1", 40012, "10.0.0.2", 5432, 22), Tw("10.0.0.1", 40013, "10.0.0.2", 5432, 23),
             Tw("10.0.0.1", 40099, "10.0.0.2", 5432, 24), Tw("10.0.0.1", 40014, "10.0.0.2", 5432, 25, 5),
             Tw("10.0.0.1", 40000, "10.0.0.7", 80, 22)});
  ASSERT_TRUE(a.attributed);
  EXPECT_EQ(Owners(Dest(a, "10.0.0.2:5432")),
            (std::map<uint64_t, std::map<int, uint64_t>>{{11, {{kEst, 4}, {-1, 4}}},
                                                         {22, {{kTw, 3}, {-1, 3}}},
                                                         {23, {{kTw, 1}, {-1, 1}}},
                                                         {0, {{kTw, 2}, {-1, 2}}}}));
  EXPECT_EQ(Owners(Dest(a, "10.0.0.3:443")),
            (std::map<uint64_t, std::map<int, uint64_t>>{{33, {{kCw, 1}, {kEst, 1}, {-1, 1}}},
                                                         {0, {{kEst, 1}, {-1, 1}}}}));
  EXPECT_EQ(a.time_wait_unknown, 2u);
  EXPECT_TRUE(Dest(a, "other").owners.empty());
}

// What the state tracker keeps of outgoing sockets (no listener among `recs`): tuples, cells of
// full sockets per cgroup, and the TIME_WAIT sockets (substate TIME_WAIT) one by one.
TrackedNamespace Tracked(const std::vector<SocketRecord>& recs, const PortRange& range) {
  TrackedNamespace ns;
  ns.cur = 1;
  auto tuple_of = [&](const SocketRecord& r) -> TrackedTuple& {
    for (TrackedTuple& t : ns.tuples) {
      if (t.saddr == r.src_addr && t.daddr == r.dst_addr && t.dport == r.dst_port) return t;
    }
    TrackedTuple& t = ns.tuples.emplace_back();
    t.family = r.family;
    t.saddr = r.src_addr;
    t.daddr = r.dst_addr;
    t.dport = r.dst_port;
    return t;
  };
  for (const SocketRecord& r : recs) {
    const bool in_range = r.src_port >= range.low && r.src_port <= range.high;
    TrackedTuple& t = tuple_of(r);
    ++t.st[r.state];
    ++ns.st[r.family == Family::kIpv6 ? 1 : 0][r.state];
    if (in_range) ++t.used;
    if (r.state == kTcpTimeWait) {
      ns.time_wait.push_back({r.family, in_range, r.src_port, r.dst_port, r.src_addr, r.dst_addr});
    } else if (r.cgroup_id != 0) {
      TrackedCell* c = nullptr;
      for (TrackedCell& x : ns.cells) {
        if (x.saddr == r.src_addr && x.daddr == r.dst_addr && x.dport == r.dst_port &&
            x.cgroup == r.cgroup_id)
          c = &x;
      }
      if (c == nullptr) {
        c = &ns.cells.emplace_back();
        c->family = r.family;
        c->saddr = r.src_addr;
        c->daddr = r.dst_addr;
        c->dport = r.dst_port;
        c->cgroup = r.cgroup_id;
      }
      ++c->st[r.state];
      if (in_range) ++c->used;
    }
  }
  return ns;
}

// Served by the state tracker (no dump), a namespace's TIME_WAIT sockets are looked up in the
// owner ring one by one, as dumped ones are: the same owners, the same unknowns.
TEST_F(AttributionTest, TrackerCountsNameTheSameOwnersAsTheDump) {
  std::vector<SocketRecord> recs;
  for (uint16_t p = 40000; p < 40004; ++p)
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", p, "10.0.0.2", 5432, 11));
  recs.push_back(Rec(kTcpCloseWait, "10.0.0.1", 40005, "10.0.0.2", 5432, 12));
  for (uint16_t p = 40010; p < 40016; ++p)
    recs.push_back(Rec(kTcpTimeWait, "10.0.0.1", p, "10.0.0.2", 5432, 0));
  recs.push_back(Rec(kTcpTimeWait, "10.0.0.1", 50000, "10.0.0.2", 5432, 0));  // out of range
  recs.push_back(Rec(kTcpTimeWait, "fd00::1", 40010, "fd00::2", 443, 0));
  const FakeReader::Records tw = {
      Tw("10.0.0.1", 40010, "10.0.0.2", 5432, 22), Tw("10.0.0.1", 40011, "10.0.0.2", 5432, 22),
      Tw("10.0.0.1", 40012, "10.0.0.2", 5432, 11), Tw("10.0.0.1", 40013, "10.0.0.2", 5432, 23, 5),
      Tw("10.0.0.1", 50000, "10.0.0.2", 5432, 22), Tw("fd00::1", 40010, "fd00::2", 443, 24)};
  const AggregateResult d = Run(recs, tw);
  const AggregateResult t = RunTracked(Tracked(recs, range_), tw);
  ASSERT_TRUE(t.attributed);
  const std::map<uint64_t, std::map<int, uint64_t>> want = {
      {11, {{kEst, 4}, {kTw, 1}, {-1, 5}}},
      {12, {{kCw, 1}, {-1, 1}}},
      {22, {{kTw, 2}, {-1, 2}}},
      {0, {{kTw, 4}, {-1, 3}}}};  // 40013 (another namespace's record), 40014, 40015, 50000
  EXPECT_EQ(Owners(Dest(d, "10.0.0.2:5432")), want);
  EXPECT_EQ(Owners(Dest(t, "10.0.0.2:5432")), want);
  EXPECT_EQ(Owners(Dest(t, "[fd00::2]:443")), Owners(Dest(d, "[fd00::2]:443")));
  EXPECT_EQ(Owners(Dest(t, "[fd00::2]:443")),
            (std::map<uint64_t, std::map<int, uint64_t>>{{24, {{kTw, 1}, {-1, 1}}}}));
  EXPECT_EQ(t.time_wait_unknown, d.time_wait_unknown);
  EXPECT_EQ(t.time_wait_unknown, 4u);
}

// A tuple's first owner is kept in the tuple: its sockets are the tuple's minus the cells of
// the other owners and of the sockets without a cgroup id, whatever order they come in.
TEST_F(AttributionTest, FirstOwnerInTheTupleOthersInCells) {
  for (bool unknown_first : {false, true}) {
    std::vector<SocketRecord> recs;
    if (unknown_first) recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40050, "10.0.0.2", 80, 0));
    for (uint16_t p = 40000; p < 40003; ++p)
      recs.push_back(Rec(kTcpEstablished, "10.0.0.1", p, "10.0.0.2", 80, 11));
    recs.push_back(Rec(kTcpSynSent, "10.0.0.1", 50001, "10.0.0.2", 80, 11));  // out of range
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.2", 80, 12));
    recs.push_back(Rec(kTcpCloseWait, "10.0.0.1", 40011, "10.0.0.2", 80, 12));
    if (!unknown_first) recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40050, "10.0.0.2", 80, 0));
    for (uint16_t p = 40020; p < 40023; ++p)
      recs.push_back(Rec(kTcpTimeWait, "10.0.0.1", p, "10.0.0.2", 80, 0));
    recs.push_back(Rec(kTcpTimeWait, "10.0.0.1", 50002, "10.0.0.2", 80, 0));  // out of range
    // Another tuple (source address) to the same destination, one owner: no cell.
    recs.push_back(Rec(kTcpEstablished, "10.0.0.5", 40000, "10.0.0.2", 80, 11));
    const AggregateResult a = Run(
        recs, {Tw("10.0.0.1", 40020, "10.0.0.2", 80, 22), Tw("10.0.0.1", 40021, "10.0.0.2", 80, 22)});
    EXPECT_EQ(Owners(Dest(a, "10.0.0.2:80")),
              (std::map<uint64_t, std::map<int, uint64_t>>{
                  {11, {{kEst, 4}, {kSynSent, 1}, {-1, 4}}},
                  {12, {{kEst, 1}, {kCw, 1}, {-1, 2}}},
                  {22, {{kTw, 2}, {-1, 2}}},
                  {0, {{kEst, 1}, {kTw, 2}, {-1, 2}}}}))
        << "unknown first: " << unknown_first;
    EXPECT_EQ(agg_.OwnerCellCount(), 3u);  // 12, 22 and cgroup 0 in 10.0.0.1's tuple
    EXPECT_EQ(a.time_wait_unknown, 2u);
    EXPECT_EQ(a.owners_untracked, 0u);
  }
}

// A TIME_WAIT socket recorded after the snapshot (born during the dump) is looked up in the
// kernel's map; one outside the ephemeral range is never recorded, so never looked up.
TEST_F(AttributionTest, RecordsMadeDuringTheDumpAreLookedUpInTheKernel) {
  std::vector<SocketRecord> recs;
  for (uint16_t p = 40000; p < 40003; ++p)
    recs.push_back(Rec(kTcpTimeWait, "10.0.0.1", p, "10.0.0.2", 80, 0));
  recs.push_back(Rec(kTcpTimeWait, "10.0.0.1", 50000, "10.0.0.2", 80, 0));  // out of range
  const AggregateResult a = Run(recs, {Tw("10.0.0.1", 40000, "10.0.0.2", 80, 22)}, 1000,
                                {Tw("10.0.0.1", 40001, "10.0.0.2", 80, 23)});
  EXPECT_EQ(Owners(Dest(a, "10.0.0.2:80")),
            (std::map<uint64_t, std::map<int, uint64_t>>{{22, {{kTw, 1}, {-1, 1}}},
                                                         {23, {{kTw, 1}, {-1, 1}}},
                                                         {0, {{kTw, 2}, {-1, 1}}}}));
  EXPECT_EQ(a.time_wait_unknown, 2u);
  EXPECT_EQ(reader_->reads, 2);  // the snapshot, then once the records made since
  EXPECT_EQ(owners_->late_records(), 1u);
}

TEST_F(AttributionTest, FoldedDestinationsBringTheirOwnersToOther) {
  cfg_.destinations.top_k = 1;
  std::vector<SocketRecord> recs;
  for (uint16_t p = 40000; p < 40003; ++p)
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", p, "10.0.0.2", 80, 11));
  recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40010, "10.0.0.3", 80, 11));
  recs.push_back(Rec(kTcpEstablished, "10.0.0.1", 40011, "10.0.0.4", 80, 12));
  const AggregateResult a = Run(recs);
  EXPECT_EQ(Owners(Dest(a, "10.0.0.2:80")),
            (std::map<uint64_t, std::map<int, uint64_t>>{{11, {{kEst, 3}, {-1, 3}}}}));
  EXPECT_EQ(Owners(Dest(a, "other")), (std::map<uint64_t, std::map<int, uint64_t>>{
                                          {11, {{kEst, 1}, {-1, 1}}}, {12, {{kEst, 1}, {-1, 1}}}}));
}

TEST_F(AttributionTest, PairsBeyondTheBoundAreUnknownAndCounted) {
  std::vector<SocketRecord> recs;
  for (uint64_t cg = 1; cg <= 5; ++cg)
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", uint16_t(40000 + cg), "10.0.0.2", 80, cg));
  const AggregateResult a = Run(recs, {}, /*max_cells=*/3);
  const auto owners = Owners(Dest(a, "10.0.0.2:80"));
  EXPECT_EQ(owners.size(), 4u);  // 3 cgroups and unknown
  EXPECT_EQ(owners.at(0).at(kEst), 2u);
  EXPECT_EQ(a.owners_untracked, 2u);
}

TEST_F(AttributionTest, OffByDefaultAndThenNothingIsAttributed) {
  agg_.Reset(cfg_, &range_, nullptr);
  agg_.OnSocket(Rec(kTcpEstablished, "10.0.0.1", 40000, "10.0.0.2", 80, 11));
  AggregateResult a;
  agg_.Finish(&a);
  EXPECT_FALSE(a.attributed);
  EXPECT_TRUE(Dest(a, "10.0.0.2:80").owners.empty());
}

TEST_F(AttributionTest, OnSocketAllocatesNothingOnceTheTablesHaveGrown) {
  std::vector<SocketRecord> recs;
  for (uint16_t i = 0; i < 2000; ++i) {
    recs.push_back(Rec(kTcpEstablished, "10.0.0.1", uint16_t(40000 + i % 900), "10.0.0.2",
                       uint16_t(1000 + i % 50), 100 + i % 7));
  }
  if (!testing::NewCountWorks())
    GTEST_SKIP() << "operator new is replaced elsewhere in this binary";
  Run(recs);  // grows the tables
  agg_.Reset(cfg_, &range_, nullptr);
  agg_.SetAttribution(1000, owners_.get(), 7);
  const uint64_t before = testing::NewCount();
  for (const SocketRecord& r : recs) agg_.OnSocket(r);
  EXPECT_EQ(testing::NewCount() - before, 0u);
}

// Ranking, naming and caps.

DestinationStats WithOwners(const std::string& label,
                            std::vector<std::pair<uint64_t, uint64_t>> used) {
  DestinationStats d;
  d.label = label;
  for (auto [cg, n] : used) {
    OwnerCounts o;
    o.cgroup_id = cg;
    o.sockets[kEst] = n;
    o.ports_used = n;
    d.owners.push_back(o);
    d.sockets[kEst] += n;
    d.ports_used += n;
  }
  return d;
}

// Cgroup id -> workload: 1xx are containers of pod "p1", 2xx units, 9xx unknown.
Workload Name(uint64_t id) {
  if (id >= 900) return UnknownWorkload();
  if (id >= 200) return {"systemd_unit", "u" + std::to_string(id) + ".service"};
  return {"pod", "p1"};
}

std::vector<std::pair<std::string, uint64_t>> Named(const DestinationStats& d) {
  std::vector<std::pair<std::string, uint64_t>> v;
  for (const WorkloadStats& w : d.workloads)
    v.push_back({w.workload.kind + ":" + w.workload.name, w.ports_used});
  return v;
}

TEST(NameAndRankWorkloads, SameWorkloadSummedTopKAndOtherUnknownNeverFolded) {
  AggregateResult a;
  a.attributed = true;
  // Two containers of one pod (101, 102), three units, an unknown cgroup and an unknown owner.
  a.destinations.push_back(WithOwners(
      "10.0.0.2:80", {{101, 2}, {102, 5}, {201, 4}, {202, 4}, {203, 1}, {901, 3}, {0, 2}}));
  std::vector<AggregateResult*> all{&a};
  NameAndRankWorkloads(all, 2, 500, Name);
  EXPECT_EQ(Named(a.destinations[0]),
            (std::vector<std::pair<std::string, uint64_t>>{{"pod:p1", 7},
                                                           {"systemd_unit:u201.service", 4},
                                                           {"unknown:unknown", 5},
                                                           {"other:other", 5}}));
  EXPECT_EQ(a.workloads_folded, 2u);  // u202 (4, ties go by name) and u203
}

TEST(NameAndRankWorkloads, MaxSeriesFoldsTheLightestAcrossNamespacesIntoTheirOwnOther) {
  AggregateResult a, b;
  a.attributed = b.attributed = true;
  a.destinations.push_back(WithOwners("d1", {{201, 9}, {202, 1}}));
  b.destinations.push_back(WithOwners("d2", {{203, 5}, {204, 2}, {0, 1}}));
  std::vector<AggregateResult*> all{&a, &b};
  NameAndRankWorkloads(all, 10, 2, Name);
  EXPECT_EQ(Named(a.destinations[0]), (std::vector<std::pair<std::string, uint64_t>>{
                                          {"systemd_unit:u201.service", 9}, {"other:other", 1}}));
  EXPECT_EQ(Named(b.destinations[0]),
            (std::vector<std::pair<std::string, uint64_t>>{
                {"systemd_unit:u203.service", 5}, {"unknown:unknown", 1}, {"other:other", 2}}));
  EXPECT_EQ(a.workloads_folded + b.workloads_folded, 2u);
}

TEST(NameAndRankWorkloads, TopKZeroPutsEveryKnownWorkloadInOther) {
  AggregateResult a;
  a.attributed = true;
  a.destinations.push_back(WithOwners("d1", {{201, 3}, {202, 1}}));
  std::vector<AggregateResult*> all{&a};
  NameAndRankWorkloads(all, 0, 500, Name);
  EXPECT_EQ(Named(a.destinations[0]),
            (std::vector<std::pair<std::string, uint64_t>>{{"other:other", 4}}));
}

TEST(TimeWaitOwners, EachNamespaceItsOwnRecordsAndTheSourceExportsTheMap) {
  auto reader = std::make_unique<FakeReader>(FakeReader::Records{
      Tw("10.0.0.1", 40000, "10.0.0.2", 80, 22), Tw("10.0.0.1", 40000, "10.0.0.2", 80, 23, 5),
      Tw("::1", 40000, "::2", 80, 24), Tw("10.0.0.1", 40001, "10.0.0.2", 80, 25)});
  FakeReader* fake = reader.get();
  auto owners = std::make_shared<TimeWaitOwners>(std::move(reader));
  TimeWaitOwnersSource source(owners, 1024);
  source.BeforeNamespaces();
  EXPECT_EQ(fake->reads, 1);
  EXPECT_EQ(owners->Owner(Tw("10.0.0.1", 40000, "10.0.0.2", 80, 0).first), 22u);
  EXPECT_EQ(owners->Owner(Tw("10.0.0.1", 40000, "10.0.0.2", 80, 0, 5).first), 23u);
  EXPECT_EQ(owners->Owner(Tw("::1", 40000, "::2", 80, 0).first), 24u);
  EXPECT_EQ(owners->Owner(Tw("10.0.0.1", 40000, "10.0.0.2", 80, 0, 9).first), 0u);
  EXPECT_EQ(fake->reads, 1);  // no record was made since the snapshot
  Config config;
  ASSERT_TRUE(source.Read({config, SourceEnv(), false, {}}).ok());
  FamilySet fs;
  source.AddFamilies(fs, {config, false});
  const testing::Series s = testing::SeriesOf(fs);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owners_available", {}), 1);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owner_entries", {}), 4);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owner_entries_max", {}), 1024);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owner_map_bytes", {}),
            1024.0 * kTimeWaitEntryBytes);
  EXPECT_EQ(testing::Get(s, "sockstate_time_wait_owner_recorded_total", {}), 4);
  // A failed read keeps nothing and fails the source (the pipeline logs it).
  fake->fail = true;
  source.BeforeNamespaces();
  EXPECT_EQ(owners->entries(), 0u);
  EXPECT_EQ(source.Read({config, SourceEnv(), false, {}}).message(),
            "tw_ring: bpf_map_lookup_batch: Bad file descriptor");
}

// Many records: the snapshot grows and finds each; a socket recorded twice (its key taken
// over) keeps the later record; the ring holds the latest 4096, older ones are unknown.
TEST(TimeWaitOwners, TheLatestRecordsOfTheRingAndTheLatestWins) {
  FakeReader::Records records;
  for (uint16_t p = 0; p < 5000; ++p)
    records.push_back(Tw("10.0.0.1", uint16_t(30000 + p), "10.0.0.2", 80, 100 + p));
  records.push_back(Tw("10.0.0.1", 34000, "10.0.0.2", 80, 99));
  auto reader = std::make_unique<FakeReader>(records);
  reader->ring_size = 4096;
  auto owners = std::make_shared<TimeWaitOwners>(std::move(reader));
  ASSERT_TRUE(owners->Refresh().ok());
  EXPECT_EQ(owners->entries(), 4095u);  // records 905..5000: 4096, one socket twice
  EXPECT_EQ(owners->recorded(), 5001u);
  EXPECT_EQ(owners->Owner(Tw("10.0.0.1", 34000, "10.0.0.2", 80, 0).first), 99u);
  for (uint16_t p = 905; p < 5000; ++p) {
    if (p == 4000) continue;  // recorded again last, owner 99
    ASSERT_EQ(owners->Owner(Tw("10.0.0.1", uint16_t(30000 + p), "10.0.0.2", 80, 0).first),
              100u + p);
  }
  EXPECT_EQ(owners->Owner(Tw("10.0.0.1", 30904, "10.0.0.2", 80, 0).first), 0u);
  EXPECT_EQ(owners->late_records(), 0u);
}

TEST(TimeWaitOwners, ModesAutoOnOff) {
  const Status missing = Status::Error("missing capability CAP_BPF and CAP_PERFMON");
  auto off = MakeTimeWaitOwners("off", 1024, Status::Ok(), nullptr);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->source, nullptr);
  EXPECT_FALSE(off->owners->available());
  auto on = MakeTimeWaitOwners("on", 1024, missing, nullptr);
  ASSERT_FALSE(on.ok());
  EXPECT_EQ(on.status().message(),
            "--collector.time-wait-owners=on: missing capability CAP_BPF and CAP_PERFMON");
  auto autom = MakeTimeWaitOwners("auto", 1024, missing, nullptr);  // logs one line
  ASSERT_TRUE(autom.ok());
  ASSERT_NE(autom->source, nullptr);
  EXPECT_FALSE(autom->owners->available());
  Config config;
  FamilySet fs;
  autom->source->BeforeNamespaces();
  autom->source->AddFamilies(fs, {config, false});
  const testing::Series s = testing::SeriesOf(fs);
  EXPECT_EQ(s, (testing::Series{{"sockstate_time_wait_owners_available", 0}}));
  EXPECT_FALSE(MakeTimeWaitOwners("yes", 1024, Status::Ok(), nullptr).ok());
}

TEST(KernelSymbolAddresses, TheExactNameWithANonZeroAddress) {
  const std::string path = ::testing::TempDir() + "/kallsyms_test";
  {
    std::ofstream out(path);
    out << "ffffffff8205c500 t inet_twsk_kill\n"
           "ffffffff8205c7a0 t __pfx_tw_timer_handler\n"  // precedes it, ends with its name
           "ffffffff8205c7b0 t tw_timer_handler\n"
           "ffffffffc0a01000 t tw_timer_handler_x\t[mod]\n"
           "0000000000000000 t reqsk_timer_handler\n"  // kernel.kptr_restrict, no CAP_SYSLOG
           "zzzz t bad_address\n"
           "broken line\n";
  }
  EXPECT_EQ(KernelSymbolAddresses(path, {"tw_timer_handler", "__pfx_tw_timer_handler",
                                         "tw_timer_handler_x", "reqsk_timer_handler",
                                         "bad_address", "tw_timer"}),
            (std::vector<uint64_t>{0xffffffff8205c7b0u, 0xffffffff8205c7a0u, 0xffffffffc0a01000u,
                                   0, 0, 0}));
  EXPECT_EQ(KernelSymbolAddresses(path + ".missing", {"tw_timer_handler"}),
            (std::vector<uint64_t>{0}));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sockstate
