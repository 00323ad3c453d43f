// The scrape pipeline (Collector). Single flight: scrapes that arrive while a dump is running
// share it. The dump is made to block (a recorded dump replayed from a FIFO that the test fills
// only after every scraper has arrived), so the test is deterministic: if concurrent scrapes
// each ran their own dump, dumps_total would be 20, not 1. Then the source contract as the
// pipeline applies it, with fake sources: success and duration per source, a failing source
// does not stop the others, a disabled source exports nothing, cross-namespace finish, host
// sources.

#include "scrape/collector.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_util.h"

namespace sockstate {
namespace {

std::string Fixture(const std::string& rel) {
  return std::string(SOCKSTATE_TEST_DATA_DIR) + "/" + rel;
}

TEST(Collector, ConcurrentScrapesShareOneDump) {
  char dir[] = "/tmp/sockstate-collector-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string fifo = std::string(dir) + "/dump.ssdiag";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);

  CollectorOptions opts;
  opts.procfs = Fixture("proc");
  opts.replay_dump = fifo;
  Collector collector(opts, std::make_shared<Config>(DefaultConfig()));

  constexpr int kScrapers = 20;
  std::vector<std::string> bodies(kScrapers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kScrapers; ++i) {
    threads.emplace_back(
        [&, i] { bodies[i] = prometheus::TextSerializer().Serialize(collector.Collect()); });
  }
  // Wait (bounded) until every scraper is inside Collect(): one is blocked opening the FIFO,
  // the others wait for its result.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (collector.scrapes_total() < kScrapers && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(collector.scrapes_total(), uint64_t(kScrapers));
  {
    std::ifstream in(Fixture("dumps/mixed.ssdiag"), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    std::ofstream out(fifo, std::ios::binary);  // releases the blocked dump
    out << bytes.str();
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(collector.dumps_total(), 1u) << "concurrent scrapes ran their own dumps";
  for (int i = 0; i < kScrapers; ++i) {
    EXPECT_NE(bodies[i].find("sockstate_netlink_dump_sockets 118"), std::string::npos) << i;
    EXPECT_EQ(bodies[i], bodies[0]) << "scraper " << i << " saw another result";
  }

  // A later scrape runs a new dump (results are shared only while one is in flight).
  std::thread writer([&] {
    std::ifstream in(Fixture("dumps/mixed.ssdiag"), std::ios::binary);
    std::ofstream out(fifo, std::ios::binary);
    out << in.rdbuf();
  });
  collector.Collect();
  writer.join();
  EXPECT_EQ(collector.dumps_total(), 2u);
  unlink(fifo.c_str());
  rmdir(dir);
}

TEST(Collector, FreshFamiliesEveryScrapeNoStaleSeries) {
  CollectorOptions opts;
  opts.procfs = Fixture("proc");
  opts.replay_dump = Fixture("dumps/mixed.ssdiag");
  Config with_group = DefaultConfig();
  DestinationGroup g;
  g.name = "loopback-two";
  g.cidrs.push_back(*ParseCidr("127.0.0.2/32"));
  with_group.destinations.groups.push_back(g);
  Collector collector(opts, std::make_shared<Config>(with_group));
  std::string first = prometheus::TextSerializer().Serialize(collector.Collect());
  EXPECT_NE(first.find("destination=\"loopback-two\""), std::string::npos);
  collector.SetConfig(std::make_shared<Config>(DefaultConfig()));
  std::string second = prometheus::TextSerializer().Serialize(collector.Collect());
  EXPECT_EQ(second.find("destination=\"loopback-two\""), std::string::npos)
      << "a series of the old config survived the reload";
}

// ---- The source contract, with fake sources -------------------------------------------------

/// What the fake sources saw, shared by every instance of a test.
struct Journal {
  int reads = 0;
  int finishes = 0;
  size_t finish_size = 0;
  std::vector<std::string> earlier_seen;  // names in ctx.earlier at each read of "late"
  std::vector<NamespaceInfo> host_saw;
};

class FakeSource : public NetnsSource {
 public:
  FakeSource(std::string name, bool fails, bool enabled, Journal* j)
      : name_(std::move(name)), fails_(fails), enabled_(enabled), j_(j) {}
  std::string_view name() const override { return name_; }
  bool Enabled(const Config&) const override { return enabled_; }
  Status Read(const NetnsReadContext& ctx) override {
    ++j_->reads;
    if (name_ == "late") {
      for (const NetnsSource* s : ctx.earlier) j_->earlier_seen.emplace_back(s->name());
    }
    if (fails_) return Status::Error(name_ + ": no such thing");
    value_ = 7;
    return Status::Ok();
  }
  void FinishAcrossNamespaces(const std::vector<NetnsSource*>& all, const Config&) override {
    ++j_->finishes;
    j_->finish_size = all.size();
  }
  void AddFamilies(FamilySet& fs, const Labels& base, const ExportContext&) const override {
    const std::string family = "fake_" + name_ + "_value";
    fs.Add(MetricDef{family.c_str(), "A fake source's value.", MetricType::kGauge}, base, value_);
  }

 private:
  std::string name_;
  bool fails_, enabled_;
  Journal* j_;
  double value_ = 0;
};

class FakeHost : public HostSource {
 public:
  explicit FakeHost(Journal* j) : j_(j) {}
  std::string_view name() const override { return "host"; }
  Status Read(const HostReadContext& ctx) override {
    j_->host_saw = ctx.namespaces;
    return Status::Error("host: not available");
  }
  void AddFamilies(FamilySet& fs, const ExportContext&) const override {
    static constexpr MetricDef kAvailable{"fake_host_available",
                                          "Whether the fake host source works.",
                                          MetricType::kGauge};
    fs.Add(kAvailable, {}, 0);
  }

 private:
  Journal* j_;
};

testing::Series Scrape(const Collector& c) {
  return testing::ParseExposition(prometheus::TextSerializer().Serialize(c.Collect()));
}

TEST(Pipeline, FailingSourceIsReportedAndTheOthersGoOn) {
  Journal j;
  CollectorOptions opts;
  opts.make_netns_sources = [&j] {
    std::vector<std::unique_ptr<NetnsSource>> s;
    s.push_back(std::make_unique<FakeSource>("first", false, true, &j));
    s.push_back(std::make_unique<FakeSource>("broken", true, true, &j));
    s.push_back(std::make_unique<FakeSource>("late", false, true, &j));
    return s;
  };
  Collector c(opts, std::make_shared<Config>(DefaultConfig()));
  const testing::Series got = Scrape(c);
  EXPECT_EQ(j.reads, 3);
  EXPECT_EQ(got.at("sockstate_scrape_source_success{source=\"first\"}"), 1);
  EXPECT_EQ(got.at("sockstate_scrape_source_success{source=\"broken\"}"), 0);
  EXPECT_EQ(got.at("sockstate_scrape_source_success{source=\"late\"}"), 1);
  for (const char* s : {"first", "broken", "late"}) {
    const double d =
        got.at("sockstate_scrape_source_duration_seconds{source=\"" + std::string(s) + "\"}");
    EXPECT_GE(d, 0) << s;
    EXPECT_LT(d, 5) << s;
  }
  EXPECT_EQ(got.at("fake_first_value"), 7);
  EXPECT_EQ(got.at("fake_late_value"), 7);
  EXPECT_FALSE(testing::HasMetric(got, "fake_broken_value"));
  // Later sources see the earlier ones that succeeded, not the failed one.
  EXPECT_EQ(j.earlier_seen, std::vector<std::string>{"first"});
  // Mode own: no netns label, no per-namespace series.
  EXPECT_FALSE(testing::HasMetric(got, "sockstate_netns_scrape_success"));
  EXPECT_EQ(got.at("sockstate_scrapes_total"), 1);
  EXPECT_EQ(got.at("sockstate_netlink_dumps_total"), 0);  // no fake source dumps
}

TEST(Pipeline, DisabledSourceIsNotReadAndExportsNothing) {
  Journal j;
  CollectorOptions opts;
  opts.make_netns_sources = [&j] {
    std::vector<std::unique_ptr<NetnsSource>> s;
    s.push_back(std::make_unique<FakeSource>("off", false, false, &j));
    s.push_back(std::make_unique<FakeSource>("on", false, true, &j));
    return s;
  };
  Collector c(opts, std::make_shared<Config>(DefaultConfig()));
  const testing::Series got = Scrape(c);
  EXPECT_EQ(j.reads, 1);
  for (const auto& [series, value] : got) {
    EXPECT_EQ(series.find("off"), std::string::npos) << series;
  }
  EXPECT_EQ(got.at("fake_on_value"), 7);
  EXPECT_EQ(got.at("sockstate_scrape_source_success{source=\"on\"}"), 1);
  EXPECT_EQ(j.finishes, 1);  // once per scrape, for the enabled source only
}

TEST(Pipeline, FinishOncePerSourceAndHostSourcesSeeTheNamespaces) {
  Journal j;
  CollectorOptions opts;
  opts.make_netns_sources = [&j] {
    std::vector<std::unique_ptr<NetnsSource>> s;
    s.push_back(std::make_unique<FakeSource>("a", false, true, &j));
    s.push_back(std::make_unique<FakeSource>("b", true, true, &j));
    return s;
  };
  std::vector<std::unique_ptr<HostSource>> hosts;
  hosts.push_back(std::make_unique<FakeHost>(&j));
  Collector c(opts, std::make_shared<Config>(DefaultConfig()), std::move(hosts));
  const testing::Series got = Scrape(c);
  EXPECT_EQ(j.finishes, 1);  // "a" only: "b" failed everywhere
  EXPECT_EQ(j.finish_size, 1u);
  // A failing host source: success 0 and still its own series.
  EXPECT_EQ(got.at("sockstate_scrape_source_success{source=\"host\"}"), 0);
  EXPECT_EQ(got.at("fake_host_available"), 0);
  ASSERT_EQ(j.host_saw.size(), 1u);
  EXPECT_TRUE(j.host_saw[0].own);
  EXPECT_EQ(j.host_saw[0].label, "");
  struct stat st;
  ASSERT_EQ(stat("/proc/self/ns/net", &st), 0);
  EXPECT_EQ(j.host_saw[0].inode, uint64_t(st.st_ino));
}

/// Two sources that must read at the same time: each says it started, then waits (at most
/// 5 s) for the other one. Read one after the other, the first waits in vain and fails.
struct Rendezvous {
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  std::vector<std::vector<std::string>> earlier;  // per read: the names in ctx.earlier
};

class MeetingSource : public NetnsSource {
 public:
  MeetingSource(std::string name, bool alongside, Rendezvous* r)
      : name_(std::move(name)), alongside_(alongside), r_(r) {}
  std::string_view name() const override { return name_; }
  bool ReadsAlongsidePrevious() const override { return alongside_; }
  Status Read(const NetnsReadContext& ctx) override {
    std::unique_lock<std::mutex> lock(r_->mu);
    std::vector<std::string> names;
    for (const NetnsSource* s : ctx.earlier) names.emplace_back(s->name());
    r_->earlier.push_back(std::move(names));
    ++r_->started;
    r_->cv.notify_all();
    if (!r_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return r_->started >= 2; })) {
      return Status::Error(name_ + ": read alone");
    }
    return Status::Ok();
  }
  void AddFamilies(FamilySet&, const Labels&, const ExportContext&) const override {}

 private:
  std::string name_;
  bool alongside_;
  Rendezvous* r_;
};

// In the own namespace a source that reads alongside the previous one runs at the same time as
// it (the UDP dump next to the TCP dump); both see the same earlier sources, and a later one
// sees both, in registration order.
TEST(Pipeline, ASourceThatReadsAlongsideThePreviousRunsAtTheSameTime) {
  Journal j;
  Rendezvous r;
  CollectorOptions opts;
  opts.make_netns_sources = [&] {
    std::vector<std::unique_ptr<NetnsSource>> s;
    s.push_back(std::make_unique<FakeSource>("first", false, true, &j));
    s.push_back(std::make_unique<MeetingSource>("tcp", false, &r));
    s.push_back(std::make_unique<MeetingSource>("udp", true, &r));
    s.push_back(std::make_unique<FakeSource>("late", false, true, &j));
    return s;
  };
  Collector c(opts, std::make_shared<Config>(DefaultConfig()));
  const testing::Series got = Scrape(c);
  EXPECT_EQ(got.at("sockstate_scrape_source_success{source=\"tcp\"}"), 1);
  EXPECT_EQ(got.at("sockstate_scrape_source_success{source=\"udp\"}"), 1);
  ASSERT_EQ(r.earlier.size(), 2u);
  EXPECT_EQ(r.earlier[0], std::vector<std::string>{"first"});
  EXPECT_EQ(r.earlier[1], std::vector<std::string>{"first"});
  EXPECT_EQ(j.earlier_seen, (std::vector<std::string>{"first", "tcp", "udp"}));
}

class ThrowingSource : public NetnsSource {
 public:
  std::string_view name() const override { return "throws"; }
  bool ReadsAlongsidePrevious() const override { return true; }
  Status Read(const NetnsReadContext&) override { throw std::runtime_error("out of luck"); }
  void AddFamilies(FamilySet&, const Labels&, const ExportContext&) const override {}
};

// A source read alongside that throws fails the scrape as a read on the scrape's thread would
// (Collect() logs it and returns nothing), and the exporter lives on: the next scrape runs.
TEST(Pipeline, ASourceReadAlongsideThatThrowsFailsTheScrapeOnly) {
  Journal j;
  CollectorOptions opts;
  opts.make_netns_sources = [&] {
    std::vector<std::unique_ptr<NetnsSource>> s;
    s.push_back(std::make_unique<FakeSource>("tcp", false, true, &j));
    s.push_back(std::make_unique<ThrowingSource>());
    return s;
  };
  Collector c(opts, std::make_shared<Config>(DefaultConfig()));
  EXPECT_TRUE(c.Collect().empty());
  EXPECT_TRUE(c.Collect().empty());
  EXPECT_EQ(j.reads, 2);  // the source beside it read both times
}

}  // namespace
}  // namespace sockstate
