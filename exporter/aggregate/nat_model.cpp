#include "aggregate/nat_model.h"

#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <span>


namespace sockstate {
namespace {

inline void SatInc(uint32_t& v) {
  if (v != UINT32_MAX) ++v;
}

}  // namespace

std::string_view NatProtocolName(int protocol_index) {
  return protocol_index == kNatTcp ? "tcp" : "udp";
}

bool KernelHasTimeWaitTakeover(std::string_view release) {
  unsigned major = 0, minor = 0;
  const char* p = release.data();
  const char* end = p + release.size();
  auto [q, ec] = std::from_chars(p, end, major);
  if (ec != std::errc() || q == end || *q != '.') return false;
  auto [r, ec2] = std::from_chars(q + 1, end, minor);
  if (ec2 != std::errc() || r == q + 1) return false;
  return major > 6 || (major == 6 && minor >= 5);
}

bool NatPortReclaimable(const ConntrackRecord& r, bool takeover) {
  constexpr uint32_t kRefuse = kIpsDying | kIpsFixedTimeout | kIpsOffload | kIpsHwOffload;
  return takeover && r.reply.protocol == IPPROTO_TCP && (r.status & kIpsSrcNat) != 0 &&
         (r.status & kRefuse) == 0 && r.has_tcp_state && r.tcp_state >= kCtTcpTimeWait &&
         r.tcp_state <= kCtTcpSynSent2;
}

void NatModel::Reset(const NatConfig& config, bool takeover) {
  config_ = &config;
  takeover_ = takeover;
  table_.Reset(config.max_tuples);
  npending_ = 0;
  entries_.fill(0);
  icmp_entries_ = 0;
  other_entries_ = 0;
  tcp_states_.fill(0);
  untracked_entries_ = 0;
  for (auto& p : untracked_) {
    for (auto& k : p) k.fill(0);
  }
  for (int p = 0; p < kNatProtocols; ++p) {
    weighted_[p].clear();
    index_[p].clear();
    labels_[p] = DestinationLabels();
  }
}

void NatModel::OnEntry(const ConntrackRecord& r) {
  int p;
  switch (r.reply.protocol) {
    case IPPROTO_TCP:
      p = kNatTcp;
      ++tcp_states_[r.has_tcp_state && r.tcp_state < kCtTcpStates ? int{r.tcp_state}
                                                                  : int{kCtTcpStates}];
      break;
    case IPPROTO_UDP:
      p = kNatUdp;
      break;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      ++icmp_entries_;
      return;
    default:
      ++other_entries_;
      return;
  }
  ++entries_[p];
  Pending& q = pending_[npending_];
  Key& key = q.key;
  key.local = r.reply.dst;
  key.remote = r.reply.src;
  key.remote_port = r.reply.src_port;
  key.family = r.family == Family::kIpv6 ? 1 : 0;
  key.protocol = uint8_t(p);
  q.kind = (r.status & kIpsSrcNat) != 0 ? kNatSnat : kNatDirect;
  q.state = NatPortReclaimable(r, takeover_) ? kNatReclaimable : kNatBlocking;
  q.hash = Table::Hash(key);
  table_.Prefetch(q.hash);
  if (++npending_ == kPending) Flush();
}

void NatModel::Flush() {
  for (size_t i = 0; i < npending_; ++i) {
    const Pending& q = pending_[i];
    Ports* e = table_.FindOrInsert(q.key, q.hash);
    if (e == nullptr) {
      ++untracked_[q.key.protocol][q.kind][q.state];
      ++untracked_entries_;
      continue;
    }
    SatInc(e->ports[q.kind][q.state]);
  }
  npending_ = 0;
}

void NatModel::Finish() {
  Flush();
  const NatConfig& cfg = *config_;
  for (int p = 0; p < kNatProtocols; ++p) {
    const uint8_t proto = p == kNatTcp ? IPPROTO_TCP : IPPROTO_UDP;
    DestinationConfig dc;
    dc.top_k = cfg.top_k;
    dc.max_series = cfg.max_series;
    dc.max_tuples = cfg.max_tuples;
    group_usable_[p].clear();
    for (const NatGroup& g : cfg.groups) {
      if (g.protocol != 0 && g.protocol != proto) continue;
      dc.groups.push_back(g.destination);
      group_usable_[p].push_back(g.usable_ports != 0 ? g.usable_ports : cfg.usable_ports);
    }
    plans_[p] = DestinationPlan(dc);
    weighted_[p].clear();
    index_[p].clear();
  }
  table_.ForEach([&](const Table::Entry& e) {
    WeightedDestination w;
    w.family = e.key.family ? Family::kIpv6 : Family::kIpv4;
    w.addr = e.key.remote;
    w.port = e.key.remote_port;
    for (const auto& kind : e.value.ports) {
      for (uint32_t v : kind) w.weight += v;
    }
    weighted_[e.key.protocol].push_back(w);
    index_[e.key.protocol].push_back(table_.SlotOf(e));
  });
  for (int p = 0; p < kNatProtocols; ++p) {
    labels_[p] = LabelDestinations(plans_[p], std::span<const WeightedDestination>(weighted_[p]));
  }
  // An empty table (a namespace without tracked connections: most pods of a node) is not kept
  // until the next scrape, where every such namespace would hold 1024 slots (56 KiB); Reset()
  // allocates it again. A table that held tuples is kept (memory follows tuples).
  table_.ReleaseIfEmpty();
}

std::vector<NatSlotStats> NatModel::Summarize(int p) const {
  const DestinationLabels& l = labels_[p];
  std::vector<NatSlotStats> out(l.labels.size());
  if (out.empty()) return out;
  for (size_t s = 0; s < out.size(); ++s) {
    out[s].label = l.labels[s];
    out[s].is_group = s < l.groups;
    out[s].usable =
        s < l.groups && s < group_usable_[p].size() ? group_usable_[p][s] : config_->usable_ports;
  }
  for (size_t i = 0; i < index_[p].size() && i < l.slot_of.size(); ++i) {
    NatSlotStats& st = out[l.slot_of[i]];
    const Ports& e = table_.slot(index_[p][i]).value;
    for (int k = 0; k < 2; ++k) {
      for (int s = 0; s < 2; ++s) st.ports[k][s] += e.ports[k][s];
    }
    ++st.tuples;
    const uint64_t blocking =
        uint64_t{e.ports[kNatSnat][kNatBlocking]} + e.ports[kNatDirect][kNatBlocking];
    st.fullest_blocking = std::max(st.fullest_blocking, blocking);
  }
  NatSlotStats& other = out.back();
  for (int k = 0; k < 2; ++k) {
    for (int s = 0; s < 2; ++s) other.ports[k][s] += untracked_[p][k][s];
  }
  return out;
}

}  // namespace sockstate
