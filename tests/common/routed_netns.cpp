#include "routed_netns.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace sockstate::testing {

void MustRun(const std::vector<std::string>& argv) {
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error("command failed: " + cmd + ": " + r.output);
  }
}

RoutedNetns::RoutedNetns(const std::string& prefix)
    : client_(prefix + "-c"), router_(prefix + "-r"), server_(prefix + "-s") {
  MustRun({"ip", "link", "add", "c0", "netns", client_.name(), "type", "veth", "peer", "name", "r0",
           "netns", router_.name()});
  MustRun({"ip", "link", "add", "r1", "netns", router_.name(), "type", "veth", "peer", "name", "s0",
           "netns", server_.name()});
  Ip(client_, {"addr", "add", "198.18.1.2/24", "dev", "c0"});
  Ip(client_, {"link", "set", "c0", "up"});
  Ip(client_, {"route", "add", "default", "via", "198.18.1.1"});
  Ip(router_, {"addr", "add", "198.18.1.1/24", "dev", "r0"});
  Ip(router_, {"link", "set", "r0", "up"});
  Ip(router_, {"addr", "add", "198.18.2.1/24", "dev", "r1"});
  Ip(router_, {"link", "set", "r1", "up"});
  Ip(server_, {"addr", "add", "198.18.2.2/24", "dev", "s0"});
  Ip(server_, {"link", "set", "s0", "up"});
  Ip(server_, {"route", "add", "default", "via", "198.18.2.1"});
  router_.SetSysctl("net.ipv4.ip_forward", "1");
}

void RoutedNetns::Ip(TestNetns& ns, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip", "-n", ns.name()};
  argv.insert(argv.end(), args.begin(), args.end());
  MustRun(argv);
}

void RoutedNetns::Nft(TestNetns& ns, const std::string& ruleset) {
  const std::string file = "/tmp/sst-" + ns.name() + "-" + std::to_string(getpid()) + ".nft";
  std::ofstream(file) << ruleset;
  CommandResult r = RunCommand({"ip", "netns", "exec", ns.name(), "nft", "-f", file});
  std::remove(file.c_str());
  if (r.exit_code != 0) throw std::runtime_error("nft -f in " + ns.name() + ": " + r.output);
}

}  // namespace sockstate::testing
