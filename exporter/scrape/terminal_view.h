#pragma once
// The terminal view (`sockstate_exporter --once`): the same answer as the landing page (the
// fullest destinations and the kernel settings behind them) as plain ASCII text for a shell
// on the node during an incident. Rendered from one scrape's metric families through the
// shared extraction in scrape/port_overview.h.

#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

namespace sockstate {

/// The text the terminal view prints for `families`: a table of the fullest destinations, a
/// table of kernel settings with one line each saying what it does, and the sources that
/// failed, if any. ASCII only, columns aligned. Pure; thread-safe.
std::string RenderTerminalView(const std::vector<prometheus::MetricFamily>& families);

/// What `--once` prints about connect() failures with --collector.connect-failures=`mode`
/// (docs/connect-failures.md): --once loads no BPF program, since a count that starts with a
/// one-shot run is always 0, so the text says where the counts are (a running exporter's
/// /metrics); "" for mode off. Pure; thread-safe.
std::string OnceConnectFailuresNote(std::string_view mode);

}  // namespace sockstate
