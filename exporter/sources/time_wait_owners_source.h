#pragma once
// Source "time_wait_owners" (host-wide, docs/workloads.md): the owners of TIME_WAIT sockets
// the kernel program records. It refreshes the shared TimeWaitOwners once per scrape, before
// the namespaces are read (their netlink sources attribute their dumps with it), and exports
// whether the program runs, its ring and how many sockets it recorded.

#include <memory>
#include <string>
#include <string_view>

#include "kernel/bpf_object.h"
#include "kernel/time_wait_owners.h"
#include "sources/source.h"
#include "util/status.h"

namespace sockstate {

/// Not thread-safe (the pipeline never overlaps its calls).
class TimeWaitOwnersSource : public HostSource {
 public:
  /// `owners` unavailable: exports sockstate_time_wait_owners_available 0 only.
  TimeWaitOwnersSource(std::shared_ptr<TimeWaitOwners> owners, uint32_t max_sockets)
      : owners_(std::move(owners)), max_sockets_(max_sockets) {}
  std::string_view name() const override { return "time_wait_owners"; }
  void BeforeNamespaces() override;
  Status Read(const HostReadContext& ctx) override { return refreshed_; }
  void AddFamilies(FamilySet& fs, const ExportContext& ctx) const override;

 private:
  std::shared_ptr<TimeWaitOwners> owners_;
  uint32_t max_sockets_;
  Status refreshed_;
};

/// The shared TimeWaitOwners and the source for --collector.time-wait-owners=`mode` from the
/// outcome of loading its programs (LoadBpfFeatures()). off: no source, owners unavailable.
/// auto: unavailable when the programs could not load (one log line says why). on: an error
/// naming what is missing. Value type.
struct TimeWaitOwnersFeature {
  std::shared_ptr<TimeWaitOwners> owners;
  std::unique_ptr<HostSource> source;  // null when off
};
Result<TimeWaitOwnersFeature> MakeTimeWaitOwners(std::string_view mode, uint32_t max_sockets,
                                                 const Status& loaded,
                                                 std::shared_ptr<BpfObject> object);

}  // namespace sockstate
