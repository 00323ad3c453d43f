#include "aggregate/plan.h"

#include <sys/socket.h>

#include <cstring>

#include "aggregate/rank.h"
#include "util/cidr.h"

namespace sockstate {

std::string DestinationLabel(Family family, const uint8_t addr[16], uint16_t port) {
  std::array<uint8_t, 16> a;
  std::memcpy(a.data(), addr, 16);
  const std::string text = FormatAddress(family, a);
  if (family == Family::kIpv6) return "[" + text + "]:" + std::to_string(port);
  return text + ":" + std::to_string(port);
}

bool NormalizeDestination(int af, const uint8_t addr[16], Family* family,
                          std::array<uint8_t, 16>* out) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (af != AF_INET && af != AF_INET6) return false;
  out->fill(0);
  if (af == AF_INET6 && std::memcmp(addr, kMappedPrefix, 12) != 0) {
    *family = Family::kIpv6;
    std::memcpy(out->data(), addr, 16);
    return true;
  }
  *family = Family::kIpv4;
  std::memcpy(out->data(), af == AF_INET ? addr : addr + 12, 4);
  return true;
}

DestinationPlan::DestinationPlan(const DestinationConfig& config)
    : top_k_(IndividualRoom(config.top_k, config.max_series, config.groups.size())),
      max_series_(config.max_series) {
  groups_.reserve(config.groups.size());
  for (const DestinationGroup& g : config.groups) {
    Group& out = groups_.emplace_back();
    out.name = g.name;
    out.any_port = g.any_port;
    out.ports = g.ports;
    for (const Cidr& c : g.cidrs) {
      const unsigned rest = c.prefix_len % 8;
      out.prefixes.push_back(Prefix{c.family, uint8_t(c.prefix_len / 8),
                                    uint8_t(rest == 0 ? 0 : 0xff << (8 - rest)), c.addr});
    }
  }
}

int DestinationPlan::MatchGroup(Family family, const uint8_t addr[16], uint16_t port) const {
  for (size_t g = 0; g < groups_.size(); ++g) {
    const Group& grp = groups_[g];
    if (!grp.any_port && !grp.ports.test(port)) continue;
    if (grp.prefixes.empty()) return int(g);
    for (const Prefix& p : grp.prefixes) {
      if (p.family != family) continue;
      if (std::memcmp(p.addr.data(), addr, p.whole) != 0) continue;
      if (p.mask == 0 || (addr[p.whole] & p.mask) == p.addr[p.whole]) return int(g);
    }
  }
  return -1;
}

InboundPlan::InboundPlan(const InboundConfig& config)
    : top_k_(IndividualRoom(config.top_k, config.max_series, config.groups.size())),
      max_series_(config.max_series) {
  for (const InboundGroup& g : config.groups) {
    names_.push_back(g.name);
    ports_.push_back(g.ports);
  }
}

int InboundPlan::MatchGroup(uint16_t port) const {
  for (size_t g = 0; g < ports_.size(); ++g) {
    if (ports_[g].test(port)) return int(g);
  }
  return -1;
}

AggregationPlan::AggregationPlan() : AggregationPlan(DefaultConfig()) {}

AggregationPlan::AggregationPlan(const Config& config)
    : destinations(config.destinations),
      inbound(config.inbound),
      max_tuples(config.destinations.max_tuples),
      occupancy_bounds(config.histograms.occupancy_ratio) {
  const std::vector<double>& tw = config.histograms.time_wait_remaining_seconds;
  for (size_t i = 0; i < tw.size() && i < kMaxTimeWaitBuckets; ++i) {
    tw_bounds.push_back(tw[i]);
    tw_bounds_ms.push_back(uint32_t(tw[i] * 1000.0));
  }
}

}  // namespace sockstate
