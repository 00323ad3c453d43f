// Fuzz target: arbitrary bytes as a config file. ParseConfig must return a value or an error,
// never crash or throw; a parsed config must satisfy the invariants the validator promises.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  sockstate::Result<sockstate::Config> c = sockstate::ParseConfig(text, "fuzz.yml");
  if (!c.ok()) {
    if (c.status().message().rfind("fuzz.yml", 0) != 0) std::abort();  // errors name the file
    return 0;
  }
  const auto& d = c->destinations;
  if (d.max_series < d.groups.size() + d.top_k + 1) std::abort();
  for (const auto& g : d.groups) {
    if (g.name.empty() || g.name == "other") std::abort();
    if (g.ports.test(0) || g.any_port != g.ports.none()) std::abort();
  }
  for (const auto& g : c->inbound.groups) {
    if (g.ports.none() || g.ports.test(0)) std::abort();
  }
  for (const auto* buckets :
       {&c->histograms.time_wait_remaining_seconds, &c->histograms.occupancy_ratio}) {
    if (buckets->empty()) std::abort();
    for (size_t i = 0; i < buckets->size(); ++i) {
      if (!((*buckets)[i] > 0) || (i > 0 && !((*buckets)[i] > (*buckets)[i - 1]))) std::abort();
    }
  }
  return 0;
}
