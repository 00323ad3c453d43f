#pragma once
// The schema tables (config/schema.h) of the config sections built from named groups, ranked
// by top_k under a max_series cap: `destinations`, `inbound` and `nat` (docs/configuration.md,
// docs/nat.md), with the values they share: port lists, CIDRs, group names, the
// top_k/max_series check. config/config.cpp puts them in the file's table; not used outside
// config/.

#include "config/config.h"
#include "config/schema.h"

namespace sockstate {

/// The `destinations` section's table. Thread-safe.
Section<DestinationConfig> DestinationsSection();

/// The `inbound` section's table. Thread-safe.
Section<InboundConfig> InboundSection();

/// The `nat` section's table. Thread-safe.
Section<NatConfig> NatSection();

}  // namespace sockstate
