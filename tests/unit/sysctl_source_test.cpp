// The sysctl source: its series from a snapshot in memory, and a Read of the fixture tree.
#include "sources/sysctl_source.h"

#include <gtest/gtest.h>

#include "source_test_util.h"

namespace sockstate {
namespace {

using testing::ExportSource;
using testing::Series;

NetSysctls Full() {
  NetSysctls s;
  s.port_range = PortRange{32768, 60999};
  s.reserved_ports = PortSet();
  s.reserved_ports->set(8080);
  s.reserved_ports->set(40000);
  s.tcp_tw_reuse = 2;
  s.tcp_tw_reuse_delay_ms = 1500;
  s.tcp_max_tw_buckets = 131072;
  s.tcp_fin_timeout_s = 60;
  s.tcp_timestamps = 1;
  return s;
}

TEST(SysctlSource, ExportsEveryKnownSetting) {
  SysctlSource src;
  src.set_sysctls(Full());
  EXPECT_EQ(src.name(), "sysctl");
  const Series got = ExportSource(src, DefaultConfig(), {{"netns", "blue"}});
  const Series want = {
      {"sockstate_sysctl_ip_local_port_range_low{netns=\"blue\"}", 32768},
      {"sockstate_sysctl_ip_local_port_range_high{netns=\"blue\"}", 60999},
      {"sockstate_sysctl_ip_local_reserved_ports{netns=\"blue\"}", 2},
      {"sockstate_sysctl_tcp_tw_reuse{netns=\"blue\"}", 2},
      {"sockstate_sysctl_tcp_tw_reuse_delay_seconds{netns=\"blue\"}", 1.5},
      {"sockstate_sysctl_tcp_max_tw_buckets{netns=\"blue\"}", 131072},
      {"sockstate_sysctl_tcp_fin_timeout_seconds{netns=\"blue\"}", 60},
      {"sockstate_sysctl_tcp_timestamps{netns=\"blue\"}", 1},
  };
  EXPECT_EQ(got, want);
}

// Read (the bound needs the port range) but not exported for a namespace below
// detail_threshold (namespaces.kernel_counters: detailed).
TEST(SysctlSource, QuietNamespaceExportsNone) {
  SysctlSource src;
  src.set_sysctls(Full());
  EXPECT_EQ(ExportSource(src, DefaultConfig(), {{"netns", "blue"}}, /*kernel_counters=*/false),
            Series{});
}

TEST(SysctlSource, MissingSettingsHaveNoSeries) {
  NetSysctls s;
  s.port_range = PortRange{1024, 1024};
  SysctlSource src;
  src.set_sysctls(s);
  const Series got = ExportSource(src, DefaultConfig());
  const Series want = {
      {"sockstate_sysctl_ip_local_port_range_low", 1024},
      {"sockstate_sysctl_ip_local_port_range_high", 1024},
  };
  EXPECT_EQ(got, want);
}

TEST(SysctlSource, ReadsTheFixtureTreeAndFailsWithTheFileName) {
  const Config config = DefaultConfig();
  SourceEnv env;
  std::vector<const NetnsSource*> earlier;
  const ProcPaths paths = ProcPaths::ForRoot(std::string(SOCKSTATE_TEST_DATA_DIR) + "/proc");
  SysctlSource src;
  ASSERT_TRUE(src.Read({config, env, env, paths, true, "", earlier}).ok());
  EXPECT_EQ(src.sysctls().port_range->low, 32768);
  EXPECT_EQ(src.sysctls().port_range->high, 60999);
  EXPECT_EQ(src.sysctls().reserved_ports->count(), 11u);  // 40000-40009,50000
  EXPECT_EQ(*src.sysctls().tcp_tw_reuse_delay_ms, 1000);

  const ProcPaths broken =
      ProcPaths::ForRoot(std::string(SOCKSTATE_TEST_DATA_DIR) + "/proc-broken");
  const Status st = src.Read({config, env, env, broken, true, "", earlier});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ip_local_port_range"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace sockstate
