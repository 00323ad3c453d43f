#include "sources/time_wait_owners_source.h"

#include "metrics/names.h"
#include "util/log.h"

namespace sockstate {

void TimeWaitOwnersSource::BeforeNamespaces() {
  refreshed_ = owners_->available() ? owners_->Refresh() : Status::Ok();
}

void TimeWaitOwnersSource::AddFamilies(FamilySet& fs, const ExportContext&) const {
  fs.Add(metric::kTimeWaitOwnersAvailable, {}, owners_->available() ? 1 : 0);
  if (!owners_->available()) return;
  fs.Add(metric::kTimeWaitOwnerEntries, {}, double(owners_->entries()));
  fs.Add(metric::kTimeWaitOwnerEntriesMax, {}, max_sockets_);
  fs.Add(metric::kTimeWaitOwnerMapBytes, {}, double(max_sockets_) * double(kTimeWaitEntryBytes));
  fs.Add(metric::kTimeWaitOwnerRecordedTotal, {}, double(owners_->recorded()));
}

Result<TimeWaitOwnersFeature> MakeTimeWaitOwners(std::string_view mode, uint32_t max_sockets,
                                                 const Status& loaded,
                                                 std::shared_ptr<BpfObject> object) {
  TimeWaitOwnersFeature f;
  if (mode == "off") {
    f.owners = std::make_shared<TimeWaitOwners>(nullptr);
    return f;
  }
  if (mode != "auto" && mode != "on") {
    return Status::Error("--collector.time-wait-owners: want auto, on or off, got \"" +
                         std::string(mode) + "\"");
  }
  if (!loaded.ok() || object == nullptr) {
    const std::string why = loaded.ok() ? "no BPF object" : loaded.message();
    if (mode == "on") return Status::Error("--collector.time-wait-owners=on: " + why);
    Log(LogLevel::kWarn,
        "TIME_WAIT sockets are not attributed to workloads (--collector.time-wait-owners=auto): " +
            why + "; their workload is \"unknown\" (sockstate_time_wait_owners_available 0)");
    f.owners = std::make_shared<TimeWaitOwners>(nullptr);
  } else {
    Log(LogLevel::kInfo,
        "TIME_WAIT owners are recorded by the kernel (tp_btf inet_sock_set_state), the latest " +
            std::to_string(max_sockets) + " sockets");
    f.owners = std::make_shared<TimeWaitOwners>(OpenTimeWaitOwnerReader(std::move(object), max_sockets));
  }
  f.source = std::make_unique<TimeWaitOwnersSource>(f.owners, max_sockets);
  return f;
}

}  // namespace sockstate
