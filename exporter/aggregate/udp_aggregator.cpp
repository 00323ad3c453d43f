#include "aggregate/udp_aggregator.h"

#include <algorithm>

#include "util/key36.h"

namespace sockstate {

namespace {

bool IsZero(const std::array<uint8_t, 16>& a) {
  return Load64(a.data()) == 0 && Load64(a.data() + 8) == 0;
}

/// Address text without a port: "127.0.0.1", "fd00::1" (DestinationLabel's form, port cut).
std::string AddressLabel(Family family, const std::array<uint8_t, 16>& addr) {
  std::string s = DestinationLabel(family, addr.data(), 0);
  s.resize(s.rfind(':'));                                      // ":0"
  if (family == Family::kIpv6) s = s.substr(1, s.size() - 2);  // the brackets
  return s;
}

}  // namespace

void UdpResult::SumSlots() {
  slot_sockets.assign(labels.labels.size(), 0);
  slot_in_range.assign(labels.labels.size(), 0);
  for (size_t i = 0; i < destinations.size() && i < labels.slot_of.size(); ++i) {
    slot_sockets[labels.slot_of[i]] += destinations[i].sockets;
    slot_in_range[labels.slot_of[i]] += destinations[i].destination.weight;
  }
  if (!labels.labels.empty()) {  // "other" is the last slot
    slot_sockets.back() += untracked_sockets;
    slot_in_range.back() += untracked_in_range;
  }
}

void UdpAggregator::Reset(const PortRange* range, const PortSet* reserved,
                          size_t max_destinations) {
  range_known_ = range != nullptr;
  eligible_.reset();
  if (range_known_) {
    for (uint32_t p = range->low; p <= range->high; ++p) eligible_.set(p);
    if (reserved != nullptr) eligible_ &= ~*reserved;
  }
  all_.reset();
  wild_v4_.reset();
  wild_v6_.reset();
  wild_both_.reset();
  for (size_t i = 0; i < addresses_.size(); ++i) ports_[i].reset();
  addresses_.Reset(kMaxLocalAddresses);
  untracked_address_sockets_ = 0;
  sockets_ = {};
  in_range_sockets_ = 0;
  destinations_.Reset(max_destinations);
  untracked_sockets_ = untracked_in_range_ = 0;
}

PortSet* UdpAggregator::AddressPorts(Family family, const std::array<uint8_t, 16>& addr) {
  Key k{};
  k.a = addr;
  k.family = uint8_t(family);
  const size_t before = addresses_.size();
  AddressSlot* slot = addresses_.FindOrInsert(k, decltype(addresses_)::Hash(k));
  if (slot == nullptr) return nullptr;
  if (addresses_.size() != before) {  // new: the next port set, allocated once per index
    slot->index = uint8_t(before);
    if (ports_.size() == before) ports_.emplace_back();
  }
  return &ports_[slot->index];
}

void UdpAggregator::OnUdpSocket(const UdpSocketRecord& r) {
  const int fam = r.family == Family::kIpv6 ? 1 : 0;
  ++sockets_[fam][r.connected ? 1 : 0];
  const bool in_range = range_known_ && eligible_[r.src_port];
  if (r.connected) {
    Key k{};
    k.a = r.src_addr;
    k.b = r.dst_addr;
    k.port = r.dst_port;
    k.family = uint8_t(fam);
    if (DestinationCounts* c = destinations_.FindOrInsert(k, decltype(destinations_)::Hash(k))) {
      ++c->sockets;
      c->in_range += in_range;
    } else {
      ++untracked_sockets_;
      untracked_in_range_ += in_range;
    }
  }
  if (!in_range) return;
  ++in_range_sockets_;
  all_.set(r.src_port);
  if (IsZero(r.src_addr)) {
    if (r.family == Family::kIpv4) {
      wild_v4_.set(r.src_port);
    } else if (r.v6only == V6Only::kYes) {
      wild_v6_.set(r.src_port);
    } else {
      wild_both_.set(r.src_port);  // not known: counted as dual-stack, the larger claim
    }
  } else if (PortSet* ports = AddressPorts(r.family, r.src_addr)) {
    ports->set(r.src_port);
  } else {
    ++untracked_address_sockets_;
  }
}

void UdpAggregator::Finish(const DestinationPlan& plan, size_t local_addresses_top_k,
                           UdpResult* out) {
  *out = UdpResult{};
  out->sockets = sockets_;
  for (const auto& f : sockets_) out->dump_sockets += f[0] + f[1];
  out->budget_known = range_known_;
  if (range_known_) {
    out->usable = uint32_t(eligible_.count());
    out->ports_used = uint32_t(all_.count());
    out->sharing_sockets = in_range_sockets_ - out->ports_used;
    // Per address: its own ports and those of the wildcards that cover it. An IPv4 address is
    // covered by 0.0.0.0 and dual-stack ::, an IPv6 one by any :: (a specific IPv6 address is
    // v6-only: IPv4 wildcards do not conflict with it).
    const PortSet cover_v4 = wild_v4_ | wild_both_;
    const PortSet cover_v6 = wild_v6_ | wild_both_;
    std::vector<UdpLocalAddress>& list = out->local_addresses;
    addresses_.ForEach([&](const decltype(addresses_)::Entry& e) {
      const Family family = e.key.family ? Family::kIpv6 : Family::kIpv4;
      const PortSet& cover = family == Family::kIpv4 ? cover_v4 : cover_v6;
      list.push_back(
          {AddressLabel(family, e.key.a), uint32_t((ports_[e.value.index] | cover).count())});
    });
    std::sort(list.begin(), list.end(), [](const UdpLocalAddress& a, const UdpLocalAddress& b) {
      return a.ports_used != b.ports_used ? a.ports_used > b.ports_used : a.label < b.label;
    });
    if (list.size() > local_addresses_top_k) {
      out->local_addresses_folded = list.size() - local_addresses_top_k;
      list.resize(local_addresses_top_k);
    }
    out->untracked_address_sockets = untracked_address_sockets_;
  }
  destinations_.ForEach([&](const decltype(destinations_)::Entry& e) {
    UdpDestination d;
    d.destination.family = e.key.family ? Family::kIpv6 : Family::kIpv4;
    d.destination.addr = e.key.b;
    d.destination.port = e.key.port;
    d.destination.weight = e.value.in_range;
    d.sockets = e.value.sockets;
    out->destinations.push_back(d);
  });
  out->untracked_sockets = untracked_sockets_;
  out->untracked_in_range = untracked_in_range_;
  std::vector<WeightedDestination> weighted;
  weighted.reserve(out->destinations.size());
  for (const UdpDestination& d : out->destinations) weighted.push_back(d.destination);
  out->labels = LabelDestinations(plan, weighted);
  out->SumSlots();
}

size_t UdpAggregator::Bytes() const {
  return addresses_.Bytes() + destinations_.Bytes() + ports_.capacity() * sizeof(PortSet) +
         5 * sizeof(PortSet);
}

}  // namespace sockstate
