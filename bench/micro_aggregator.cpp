// Per-socket cost of the aggregation (Aggregator::OnSocket) against a baseline measured in the
// same run: a sink that only counts per state (what the bare dump floor does in user space).
// Run: build/bench/micro_aggregator   (prints ns per socket; compare the two rows)
// The aggregator rows take a second argument: 0 = no workload attribution, N = attribution on
// with the sockets of each tuple spread over N cgroups (1: every tuple has one owner, which the
// tuple itself holds; 4: three cells per tuple, beyond their bound at 100k tuples).

#include <arpa/inet.h>
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "aggregate/aggregator.h"

namespace {

using sockstate::SocketRecord;

std::vector<SocketRecord> MakeRecords(size_t n, size_t tuples, size_t owners = 0) {
  std::vector<SocketRecord> recs(n);
  std::mt19937 rng(42);
  for (size_t i = 0; i < n; ++i) {
    SocketRecord& r = recs[i];
    size_t t = rng() % tuples;
    r.family = sockstate::Family::kIpv4;
    r.state = (i % 10 == 0) ? sockstate::kTcpTimeWait : sockstate::kTcpEstablished;
    uint32_t src = htonl(0x7f000100 | uint32_t(t % 200));
    uint32_t dst = htonl(0x7f000000 | uint32_t((t / 200) % 250 + 1));
    memcpy(r.src_addr.data(), &src, 4);
    memcpy(r.dst_addr.data(), &dst, 4);
    r.dst_port = uint16_t(1000 + t / 50000);
    r.src_port = uint16_t(32768 + i % 28000);
    r.expires_ms = uint32_t(rng() % 60000);
    r.cgroup_id = owners == 0 || r.state == sockstate::kTcpTimeWait ? 0 : 100 + i % owners;
  }
  return recs;
}

class CountingSink : public sockstate::RecordSink {
 public:
  void OnSocket(const SocketRecord& r) override { ++counts[r.state & 15]; }
  uint64_t counts[16] = {};
};

void BM_BaselineStateCount(benchmark::State& state) {
  auto recs = MakeRecords(1 << 20, size_t(state.range(0)));
  CountingSink sink;
  for (auto _ : state) {
    for (const auto& r : recs) static_cast<sockstate::RecordSink&>(sink).OnSocket(r);
    benchmark::DoNotOptimize(sink.counts);
  }
  state.SetItemsProcessed(state.iterations() * int64_t(recs.size()));
}

void BM_AggregatorOnSocket(benchmark::State& state) {
  const size_t owners = size_t(state.range(1));
  auto recs = MakeRecords(1 << 20, size_t(state.range(0)), owners);
  sockstate::Config cfg;
  sockstate::PortRange range{32768, 60999};
  sockstate::PortSet reserved;
  sockstate::Aggregator agg;
  for (auto _ : state) {
    agg.Reset(cfg, &range, &reserved);
    if (owners > 0) agg.SetAttribution(size_t(cfg.destinations.max_tuples), nullptr, 0);
    for (const auto& r : recs) static_cast<sockstate::RecordSink&>(agg).OnSocket(r);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * int64_t(recs.size()));
  state.counters["table_MiB"] = double(agg.TableBytes()) / (1 << 20);
  state.counters["cells"] = double(agg.OwnerCellCount());
}

void BM_AggregatorFinish(benchmark::State& state) {
  const size_t owners = size_t(state.range(1));
  auto recs = MakeRecords(1 << 20, size_t(state.range(0)), owners);
  sockstate::Config cfg;
  sockstate::PortRange range{32768, 60999};
  sockstate::PortSet reserved;
  sockstate::Aggregator agg;
  sockstate::AggregateResult out;
  for (auto _ : state) {
    state.PauseTiming();
    agg.Reset(cfg, &range, &reserved);
    if (owners > 0) agg.SetAttribution(size_t(cfg.destinations.max_tuples), nullptr, 0);
    for (const auto& r : recs) agg.OnSocket(r);
    state.ResumeTiming();
    agg.Finish(&out);
  }
}

}  // namespace

// Args: distinct (src, dst, dport) tuples among 1M sockets; cgroups per tuple (0: attribution
// off).
BENCHMARK(BM_BaselineStateCount)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AggregatorOnSocket)
    ->ArgsProduct({{1000, 100000}, {0, 1, 4}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AggregatorFinish)
    ->ArgsProduct({{1000, 100000}, {0, 1, 4}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
