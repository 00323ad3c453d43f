// /proc/net/stat/nf_conntrack (per-CPU hex, summed) and the nf_conntrack_* sysctls.

#include "kernel/conntrack_proc.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sockstate {
namespace {

// Two CPUs, as 6.18 prints it (this host, after an 11th connect was dropped at a full NAT).
constexpr const char* kStat618 =
    "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop "
    "early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
    "0000000a  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000004 "
    "00000004 00000000 00000000  00000000 00000000 00000000 00000000\n"
    "0000000a  00000001 00000000 00000000 00000002 00000000 00000000 00000000 00000000 0000000c "
    "0000000c 00000000 00000000  00000000 00000000 00000000 000000ff\n";

TEST(ConntrackStat, SumsCpusAndLeavesEntriesOut) {
  Result<ConntrackStat> s = ParseConntrackStat(kStat618);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->columns.size(), 16u);
  EXPECT_EQ(s->columns[0].first, "clashres");
  EXPECT_EQ(s->Get("insert_failed"), 16u);
  EXPECT_EQ(s->Get("drop"), 16u);
  EXPECT_EQ(s->Get("clashres"), 1u);
  EXPECT_EQ(s->Get("invalid"), 2u);
  EXPECT_EQ(s->Get("search_restart"), 255u);
  EXPECT_EQ(s->Get("entries"), std::nullopt);
  EXPECT_EQ(s->Get("chaintoolong"), std::nullopt);
}

TEST(ConntrackStat, ErrorsSayWhere) {
  EXPECT_EQ(ParseConntrackStat("").status().message(), "empty file");
  EXPECT_EQ(ParseConntrackStat("entries drop\n").status().message(), "no per-CPU value line");
  EXPECT_EQ(ParseConntrackStat("entries drop\n00000001 0000000x\n").status().message(),
            "line 2: column drop: not a hex value: \"0000000x\"");
  EXPECT_EQ(ParseConntrackStat("entries drop\n00000001\n").status().message(),
            "line 2: 1 fields, header has 2");
  EXPECT_EQ(ParseConntrackStat("entries drop\n00000001 00000002").status().message(),
            "last line does not end in a newline (truncated)");
  EXPECT_EQ(ParseConntrackStat("a b\n0 ffffffffffffffff\n0 1\n").status().message(),
            "line 3: column b: sum overflows");
  EXPECT_EQ(ParseConntrackStat("a b\n0 -1\n").status().message(),
            "line 2: column b: not a hex value: \"-1\"");
}

TEST(ConntrackTableRead, FakeProcTreeAndMissingConntrack) {
  char tmpl[] = "/tmp/ssct-proc-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  ProcPaths paths = ProcPaths::ForRoot(root);
  // No conntrack at all: every field empty, no error.
  Result<ConntrackTable> none = ReadConntrackTable(paths);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_FALSE(none->count.has_value());
  EXPECT_FALSE(none->stat.has_value());
  std::filesystem::create_directories(root + "/sys/net/netfilter");
  std::filesystem::create_directories(root + "/net/stat");
  std::ofstream(root + "/sys/net/netfilter/nf_conntrack_count") << "10\n";
  std::ofstream(root + "/sys/net/netfilter/nf_conntrack_max") << "262144\n";
  std::ofstream(root + "/sys/net/netfilter/nf_conntrack_buckets") << "65536\n";
  std::ofstream(root + "/net/stat/nf_conntrack") << kStat618;
  Result<ConntrackTable> t = ReadConntrackTable(paths);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->count, 10);
  EXPECT_EQ(t->max, 262144);
  EXPECT_EQ(t->buckets, 65536);
  ASSERT_TRUE(t->stat.has_value());
  EXPECT_EQ(t->stat->Get("drop"), 16u);
  std::ofstream(root + "/sys/net/netfilter/nf_conntrack_max") << "lots\n";
  Result<ConntrackTable> bad = ReadConntrackTable(paths);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(root + "/sys/net/netfilter/nf_conntrack_max"),
            std::string::npos)
      << bad.status().message();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace sockstate
