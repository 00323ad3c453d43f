// The Collector's single-flight contract: scrapes that arrive while a dump is running share it.
// The dump is made to block (a recorded dump replayed from a FIFO that the test fills only
// after every scraper has arrived), so the test is deterministic: if concurrent scrapes each
// ran their own dump, dumps_total would be 20, not 1.

#include "scrape/collector.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

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

}  // namespace
}  // namespace sockstate
