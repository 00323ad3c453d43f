#pragma once
// The landing page "/": the ten fullest destinations (occupancy bar, ports used of usable,
// sockets by state, TIME_WAIT ports coming back) and the kernel settings behind them, each
// with one line saying what it does. Plain HTML with an inline style sheet: no JavaScript, no
// external resources. Rendered from one scrape's metric families (scrape/port_overview.h), so
// it shows exactly what /metrics shows at that moment.

#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

namespace sockstate {

/// What the page says about the exporter itself. Value type.
struct LandingPageInfo {
  std::string telemetry_path = "/metrics";
  std::string version;
  std::string revision;
};

/// The whole HTML document for `families`. Pure; thread-safe.
std::string RenderLandingPage(const std::vector<prometheus::MetricFamily>& families,
                              const LandingPageInfo& info);

/// `text` with & < > " ' escaped for HTML text and attribute values. Pure; thread-safe.
std::string HtmlEscape(std::string_view text);

}  // namespace sockstate
