#pragma once
// The terminal view (`sockstate_exporter --once`): the same answer as the landing page (the
// fullest destinations and the kernel settings behind them) as plain ASCII text for a shell
// on the node during an incident. Rendered from one scrape's metric families through the
// shared extraction in scrape/port_overview.h.

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace sockstate {

/// The text the terminal view prints for `families`: a table of the fullest destinations, a
/// table of kernel settings with one line each saying what it does, and the sources that
/// failed, if any. ASCII only, columns aligned. Pure; thread-safe.
std::string RenderTerminalView(const std::vector<prometheus::MetricFamily>& families);

}  // namespace sockstate
