#include "config/flags.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sockstate {
namespace {

Result<ExporterFlags> Parse(std::vector<const char*> args) { return ParseFlags(args); }

std::string Error(std::vector<const char*> args) {
  auto r = Parse(args);
  EXPECT_FALSE(r.ok());
  return r.status().message();
}

TEST(FlagsTest, DefaultsWithNoArguments) {
  auto r = Parse({});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->listen_address, ":9798");
  EXPECT_EQ(r->telemetry_path, "/metrics");
  EXPECT_EQ(r->max_requests, 10);
  EXPECT_EQ(r->max_connections, 256);
  EXPECT_EQ(r->request_timeout_ms, 5000);
  EXPECT_EQ(r->web_config_file, "");
  EXPECT_EQ(r->tls_compat_lib, "");
  EXPECT_FALSE(r->enable_lifecycle);
  EXPECT_EQ(r->config_file, "");
  EXPECT_FALSE(r->config_check);
  EXPECT_EQ(r->procfs, "/proc");
  EXPECT_EQ(r->netns_dir, "/var/run/netns");
  EXPECT_EQ(r->log_level, LogLevel::kInfo);
  EXPECT_EQ(r->replay_dump, "");
  EXPECT_EQ(r->record_dump, "");
  EXPECT_EQ(r->connect_failures, "auto");
  EXPECT_FALSE(r->once);
  EXPECT_FALSE(r->version);
  EXPECT_FALSE(r->help);
}

TEST(FlagsTest, ValuesWithEqualsAndAsNextArgument) {
  auto r = Parse({"--web.listen-address=127.0.0.1:0", "--config.file", "/etc/s.yml",
                  "--web.max-requests=0", "--web.max-connections", "3", "--log.level=debug",
                  "--path.procfs=/host/proc", "--web.request-timeout=1m"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->listen_address, "127.0.0.1:0");
  EXPECT_EQ(r->config_file, "/etc/s.yml");
  EXPECT_EQ(r->max_requests, 0);
  EXPECT_EQ(r->max_connections, 3);
  EXPECT_EQ(r->log_level, LogLevel::kDebug);
  EXPECT_EQ(r->procfs, "/host/proc");
  EXPECT_EQ(r->request_timeout_ms, 60000);
}

TEST(FlagsTest, EmptyValueAfterEqualsIsAValue) {
  auto r = Parse({"--web.config.file="});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->web_config_file, "");
}

TEST(FlagsTest, BoolForms) {
  auto bare = Parse({"--once", "--web.enable-lifecycle"});
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->once);
  EXPECT_TRUE(bare->enable_lifecycle);
  auto explicit_true = Parse({"--config.check=true"});
  ASSERT_TRUE(explicit_true.ok());
  EXPECT_TRUE(explicit_true->config_check);
  auto explicit_false = Parse({"--once", "--once=false"});  // the last one wins
  ASSERT_TRUE(explicit_false.ok());
  EXPECT_FALSE(explicit_false->once);
  // A bool never takes the next argument as its value.
  EXPECT_EQ(Error({"--once", "false"}), "unexpected argument \"false\"");
  EXPECT_EQ(Error({"--once=yes"}), "flag --once takes true or false");
  EXPECT_EQ(Error({"--help=1"}), "flag --help takes true or false");
}

TEST(FlagsTest, UnknownFlagAndStrayArgument) {
  EXPECT_EQ(Error({"--web.listen"}), "unknown flag --web.listen");
  EXPECT_EQ(Error({"--nope=1"}), "unknown flag --nope");
  EXPECT_EQ(Error({"-h"}), "unexpected argument \"-h\"");
  EXPECT_EQ(Error({"metrics"}), "unexpected argument \"metrics\"");
}

TEST(FlagsTest, MissingValue) {
  EXPECT_EQ(Error({"--config.file"}), "flag --config.file needs a value");
  EXPECT_EQ(Error({"--once", "--web.listen-address"}), "flag --web.listen-address needs a value");
}

TEST(FlagsTest, BadValuesNameTheFlagAndTheValue) {
  EXPECT_EQ(Error({"--web.max-requests=-1"}),
            "bad --web.max-requests \"-1\" (want a count, 0 = no limit)");
  EXPECT_EQ(Error({"--web.max-requests=10x"}),
            "bad --web.max-requests \"10x\" (want a count, 0 = no limit)");
  EXPECT_EQ(Error({"--web.max-connections=0"}),
            "bad --web.max-connections \"0\" (want a count above 0)");
  EXPECT_EQ(Error({"--web.request-timeout=5h"}),
            "bad --web.request-timeout \"5h\" (want e.g. 5s, up to 10m)");
  EXPECT_EQ(Error({"--web.request-timeout=11m"}),
            "bad --web.request-timeout \"11m\" (want e.g. 5s, up to 10m)");
  EXPECT_EQ(Error({"--log.level=verbose"}),
            "bad --log.level \"verbose\" (want debug, info, warn or error)");
}

TEST(FlagsTest, KernelEventModes) {
  for (const char* mode : {"auto", "on", "off"}) {
    for (const char* flag : {"collector.connect-failures", "collector.time-wait-owners"}) {
      const std::string arg = std::string("--") + flag + "=" + mode;
      auto r = Parse({arg.c_str()});
      ASSERT_TRUE(r.ok()) << arg;
      EXPECT_EQ(std::string(flag) == "collector.connect-failures" ? r->connect_failures
                                                                  : r->time_wait_owners,
                mode);
    }
  }
  EXPECT_EQ(Parse({})->time_wait_owners, "auto");
  EXPECT_EQ(Error({"--collector.connect-failures=yes"}),
            "bad --collector.connect-failures \"yes\" (want auto, on or off)");
  EXPECT_EQ(Error({"--collector.time-wait-owners=1"}),
            "bad --collector.time-wait-owners \"1\" (want auto, on or off)");
  EXPECT_EQ(Parse({})->tracker, "off");  // opt-in: its cost per connection is above target
  for (const char* mode : {"auto", "on", "off"}) {
    const std::string arg = std::string("--collector.tracker=") + mode;
    auto r = Parse({arg.c_str()});
    ASSERT_TRUE(r.ok()) << arg;
    EXPECT_EQ(r->tracker, mode);
  }
  EXPECT_EQ(Error({"--collector.tracker=dump"}),
            "bad --collector.tracker \"dump\" (want auto, on or off)");
  EXPECT_EQ(Parse({})->connect_failures_udp, "auto");
  for (const char* mode : {"auto", "syscalls", "off"}) {
    const std::string arg = std::string("--collector.connect-failures.udp=") + mode;
    auto r = Parse({arg.c_str()});
    ASSERT_TRUE(r.ok()) << mode;
    EXPECT_EQ(r->connect_failures_udp, mode);
  }
  EXPECT_EQ(Error({"--collector.connect-failures.udp=on"}),
            "bad --collector.connect-failures.udp \"on\" (want auto, syscalls or off)");
}

TEST(FlagsTest, Durations) {
  EXPECT_EQ(ParseDurationMs("500ms"), 500);
  EXPECT_EQ(ParseDurationMs("5s"), 5000);
  EXPECT_EQ(ParseDurationMs("7"), 7000);
  EXPECT_EQ(ParseDurationMs("2m"), 120000);
  EXPECT_EQ(ParseDurationMs(""), -1);
  EXPECT_EQ(ParseDurationMs("s"), -1);
  EXPECT_EQ(ParseDurationMs("1.5s"), -1);
  EXPECT_EQ(ParseDurationMs("1234567890s"), -1);
}

TEST(FlagsTest, HelpListsEveryFlagWithItsDefault) {
  const std::string help = HelpText();
  EXPECT_EQ(help.rfind("usage: sockstate_exporter [flags]\n", 0), 0u);
  for (const FlagSpec& f : FlagTable()) {
    EXPECT_NE(help.find(std::string("  --") + f.name + (f.is_bool ? "\n" : "=VALUE\n")),
              std::string::npos)
        << f.name;
  }
  EXPECT_NE(help.find("  --web.listen-address=VALUE\n"
                      "      Address to listen on: host:port, :port or [v6]:port. "
                      "(default \":9798\")\n"),
            std::string::npos);
  EXPECT_NE(help.find("  --once\n      Print the fullest destinations of the configured "
                      "namespaces as a table and exit.\n"),
            std::string::npos);
  // Flags without a default print none; bools never print theirs.
  EXPECT_NE(help.find("Built-in defaults when empty.\n"), std::string::npos);
  EXPECT_EQ(help.find("(default \"false\")"), std::string::npos);
  EXPECT_EQ(FlagTable().size(), 25u);
}

}  // namespace
}  // namespace sockstate
