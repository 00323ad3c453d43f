#pragma once
// Runs the real sockstate_exporter binary on 127.0.0.1:<free port> with a generated config and
// scrapes it, for the kernel and end-to-end test tiers.

#include <string>
#include <vector>

#include "test_util.h"

namespace sockstate::testing {

/// A running exporter. Stopped (SIGTERM) on destruction; Start() throws std::runtime_error with
/// the exporter's log if it does not answer within 10 s.
class ExporterProcess {
 public:
  /// `config_yaml` is written to a temp file passed as --config.file (empty = no config file).
  /// `prefix` (optional) runs the exporter through another program, e.g. {"/usr/bin/setpriv",
  /// "--reuid=65534", ...}; the config file is then readable by everyone.
  explicit ExporterProcess(const std::string& config_yaml,
                           const std::vector<std::string>& extra_args = {},
                           const std::vector<std::string>& prefix = {});
  ~ExporterProcess();
  ExporterProcess(const ExporterProcess&) = delete;
  ExporterProcess& operator=(const ExporterProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return child_.pid(); }
  /// GET /metrics; throws unless 200. Returns the raw text.
  std::string ScrapeText();
  /// GET /metrics parsed.
  Series Scrape() { return ParseExposition(ScrapeText()); }
  /// The exporter's stderr so far.
  std::string Log() const;
  const std::string& config_path() const { return config_path_; }

 private:
  ChildProcess child_;
  int port_ = 0;
  std::string dir_;
  std::string config_path_;
  std::string log_path_;
};

/// Path of the exporter binary under test (SOCKSTATE_EXPORTER_BIN env, else the build's).
std::string ExporterBinary();

}  // namespace sockstate::testing
