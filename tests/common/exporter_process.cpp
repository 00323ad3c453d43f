#include "exporter_process.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace sockstate::testing {

std::string ExporterBinary() {
  if (const char* env = std::getenv("SOCKSTATE_EXPORTER_BIN")) return env;
#ifdef SOCKSTATE_EXPORTER_BIN
  return SOCKSTATE_EXPORTER_BIN;
#else
  throw std::runtime_error("SOCKSTATE_EXPORTER_BIN not set");
#endif
}

ExporterProcess::ExporterProcess(const std::string& config_yaml,
                                 const std::vector<std::string>& extra_args,
                                 const std::vector<std::string>& prefix) {
  char tmpl[] = "/tmp/sockstate-exporter-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  log_path_ = dir_ + "/exporter.log";
  port_ = FreeLoopbackPort();
  if (!prefix.empty()) chmod(dir_.c_str(), 0755);  // another user reads the config
  std::vector<std::string> argv = prefix;
  argv.insert(argv.end(),
              {ExporterBinary(), "--web.listen-address=127.0.0.1:" + std::to_string(port_),
               "--log.level=warn"});
  if (!config_yaml.empty()) {
    config_path_ = dir_ + "/config.yml";
    std::ofstream(config_path_) << config_yaml;
    if (!prefix.empty()) chmod(config_path_.c_str(), 0644);
    argv.push_back("--config.file=" + config_path_);
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  if (!child_.Start(argv, log_path_)) throw std::runtime_error("fork failed");
  if (!WaitForHttp("127.0.0.1", port_, "/", std::chrono::seconds(10))) {
    std::string log = Log();
    child_.Stop();
    throw std::runtime_error("exporter did not start; log:\n" + log);
  }
}

ExporterProcess::~ExporterProcess() {
  child_.Stop();
  if (!config_path_.empty()) unlink(config_path_.c_str());
  unlink(log_path_.c_str());
  rmdir(dir_.c_str());
}

std::string ExporterProcess::ScrapeText() {
  HttpResponse r = HttpGet("127.0.0.1", port_, "/metrics", std::chrono::seconds(30));
  if (r.status != 200) {
    throw std::runtime_error("scrape failed: status " + std::to_string(r.status) + " " + r.error +
                             "\nlog:\n" + Log());
  }
  return r.body;
}

std::string ExporterProcess::Log() const {
  try {
    return ReadFile(log_path_);
  } catch (...) {
    return "";
  }
}

}  // namespace sockstate::testing
