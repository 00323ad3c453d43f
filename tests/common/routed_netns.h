#pragma once
// RoutedNetns: three throwaway namespaces joined by veth pairs, for tests that need a router
// between a client and a server (NAT, ICMP errors, dropped packets):
//
//   client  c0 198.18.1.2/24  --veth--  r0 198.18.1.1/24  router  r1 198.18.2.1/24  --veth--
//   s0 198.18.2.2/24  server
//
// The client and the server route everything through the router, which forwards. Addresses
// are in 198.18.0.0/15 (benchmarking range), so nothing leaves the namespaces. Each namespace
// is a TestNetns (netns_fixture.h): deleted with the object, veths included.

#include <string>
#include <vector>

#include "netns_fixture.h"

namespace sockstate::testing {

/// Runs argv and throws std::runtime_error (with the command and its output) unless it exits 0.
void MustRun(const std::vector<std::string>& argv);

class RoutedNetns {
 public:
  static constexpr const char* kClient = "198.18.1.2";
  static constexpr const char* kServer = "198.18.2.2";

  /// Names the namespaces <prefix>-c, <prefix>-r, <prefix>-s (plus TestNetns' pid/counter).
  explicit RoutedNetns(const std::string& prefix);

  TestNetns& client() { return client_; }
  TestNetns& router() { return router_; }
  TestNetns& server() { return server_; }

  /// `ip -n <ns> args...`; throws on failure.
  static void Ip(TestNetns& ns, const std::vector<std::string>& args);
  /// Loads an nft ruleset (text of `nft -f`) inside `ns`; throws on failure.
  static void Nft(TestNetns& ns, const std::string& ruleset);

 private:
  TestNetns client_, router_, server_;
};

}  // namespace sockstate::testing
