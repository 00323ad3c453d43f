#include "sources/udp_source.h"

#include <string>

#include "aggregate/plan.h"
#include "sources/occupancy_bound_source.h"
#include "sources/sysctl_source.h"

namespace sockstate {

Status UdpSource::Read(const NetnsReadContext& ctx) {
  const OccupancyBoundSource* bound = ctx.Earlier<OccupancyBoundSource>();
  dumped_ = bound == nullptr || bound->detailed();
  if (!dumped_) return Status::Ok();
  if (!aggregator_) aggregator_ = std::make_unique<UdpAggregator>();
  const SysctlSource* sysctl = ctx.Earlier<SysctlSource>();
  const NetSysctls* s = sysctl ? &sysctl->sysctls() : nullptr;
  const PortRange* range = s && s->port_range ? &*s->port_range : nullptr;
  const PortSet* reserved = s && s->reserved_ports ? &*s->reserved_ports : nullptr;
  const size_t max_destinations = ctx.config.destinations.max_tuples;
  aggregator_->Reset(range, reserved, max_destinations);
  Status st;
  if (!ctx.env.replay_udp_dump.empty() && ctx.own) {
    st = ReplayUdpDumpFile(ctx.env.replay_udp_dump, *aggregator_);
  } else {
    std::unique_ptr<DumpRecorder> recorder;
    st = PrepareLiveDump(&socket_, ctx.own ? ctx.env.record_udp_dump : "", true, &recorder);
    if (!st.ok()) return st;
    st = socket_->DumpUdp(*aggregator_, recorder.get(), nullptr,
                          [&] { aggregator_->Reset(range, reserved, max_destinations); });
    if (!st.ok()) socket_.reset();  // reopen on the next scrape
  }
  if (!st.ok()) return st;
  const DestinationPlan plan(ctx.config.destinations);
  aggregator_->Finish(plan, ctx.config.udp.local_addresses_top_k, &result_);
  return Status::Ok();
}

void UdpSource::FinishAcrossNamespaces(const std::vector<NetnsSource*>& all, const Config& config) {
  std::vector<DestinationLabels*> lists;
  std::vector<UdpResult*> results;
  for (NetnsSource* s : all) {
    auto* u = dynamic_cast<UdpSource*>(s);
    if (u == nullptr || !u->dumped_) continue;
    lists.push_back(&u->result_.labels);
    results.push_back(&u->result_);
  }
  if (CapAcrossNamespaces(lists, config.destinations.max_series) > 0) {
    for (UdpResult* r : results) r->SumSlots();
  }
}

void UdpSource::AddFamilies(FamilySet& fs, const Labels& base, const ExportContext&) const {
  if (!dumped_) return;
  const UdpResult& r = result_;
  for (int fam = 0; fam < 2; ++fam) {
    for (int c = 0; c < 2; ++c) {
      fs.Add(metric::kUdpSockets,
             With(base,
                  {{"family", fam ? "ipv6" : "ipv4"}, {"state", c ? "connected" : "unconnected"}}),
             double(r.sockets[fam][c]));
    }
  }
  if (r.budget_known) {
    fs.Add(metric::kUdpEphemeralPortsUsed, base, r.ports_used);
    fs.Add(metric::kUdpEphemeralPortUsablePorts, base, r.usable);
    fs.Add(metric::kUdpOccupancyRatio, base,
           r.usable > 0 ? double(r.ports_used) / r.usable : (r.ports_used > 0 ? 1.0 : 0.0));
    fs.Add(metric::kUdpSocketsSharingPorts, base, double(r.sharing_sockets));
    for (const UdpLocalAddress& a : r.local_addresses) {
      const Labels l = With(base, {{"local_address", a.label}});
      fs.Add(metric::kUdpLocalAddressEphemeralPortsUsed, l, a.ports_used);
      fs.Add(metric::kUdpLocalAddressOccupancyRatio, l,
             r.usable > 0 ? double(a.ports_used) / r.usable : (a.ports_used > 0 ? 1.0 : 0.0));
    }
    fs.Add(metric::kUdpLocalAddressesFolded, base, double(r.local_addresses_folded));
    fs.Add(metric::kUdpLocalAddressUntrackedSockets, base, double(r.untracked_address_sockets));
  }
  // Groups with connected sockets (destination groups are usually TCP's: an empty one costs
  // no UDP series), the top K connected destinations, "other" (always).
  for (size_t i = 0; i < r.labels.labels.size(); ++i) {
    if (i < r.labels.groups && r.slot_sockets[i] == 0) continue;
    const Labels l = With(base, {{"destination", r.labels.labels[i]}});
    fs.Add(metric::kUdpDestinationSockets, l, double(r.slot_sockets[i]));
    fs.Add(metric::kUdpDestinationEphemeralPortsUsed, l, double(r.slot_in_range[i]));
  }
  fs.Add(metric::kUdpDestinationsFolded, base, double(r.labels.folded));
  fs.Add(metric::kUdpDestinationUntrackedSockets, base, double(r.untracked_sockets));
}

}  // namespace sockstate
