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
  const TimeWaitOwnerStats& s = owners_->stats();
  const double entries = s.remembered > s.ended ? double(s.remembered - s.ended) : 0;
  fs.Add(metric::kTimeWaitOwnerEntries, {}, entries);
  fs.Add(metric::kTimeWaitOwnerEntriesMax, {}, max_sockets_);
  fs.Add(metric::kTimeWaitOwnerMapBytes, {}, double(max_sockets_) * double(kTimeWaitEntryBytes));
  fs.Add(metric::kTimeWaitOwnerMapFullTotal, {}, double(s.sockets_full + s.owners_full));
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
    const bool visible = KernelSymbolVisibleIn("/proc/kallsyms", kTimeWaitTimerSymbol);
    Log(LogLevel::kInfo,
        "TIME_WAIT owners are remembered by the kernel (tp_btf timer_start/timer_cancel, "
        "inet_sock_set_state), up to " +
            std::to_string(max_sockets) + " sockets" +
            (visible ? ""
                     : std::string("; /proc/kallsyms hides ") + kTimeWaitTimerSymbol +
                           " (no CAP_SYSLOG): it is learned from the first TIME_WAIT socket "
                           "born"));
    f.owners = std::make_shared<TimeWaitOwners>(OpenTimeWaitOwnerReader(std::move(object)));
  }
  f.source = std::make_unique<TimeWaitOwnersSource>(f.owners, max_sockets);
  return f;
}

}  // namespace sockstate
