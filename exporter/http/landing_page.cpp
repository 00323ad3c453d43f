#include "http/landing_page.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "scrape/port_overview.h"

namespace sockstate {
namespace {

const char kStyle[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:78em}"
    "h1{margin-bottom:.2em}p.sub{color:#555;margin-top:0}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border-bottom:1px solid #ddd;padding:.35em .6em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".bar{display:inline-block;width:8em;height:.8em;background:#e6e6e6;margin-right:.4em;"
    "vertical-align:middle}.fill{display:block;height:100%;background:#4a8f4a}"
    ".warn .fill{background:#e8902a}.crit .fill{background:#d23c3c}"
    "tr.crit td.occ{font-weight:bold;color:#b00}"
    "p.failing{background:#fde8e8;border:1px solid #d23c3c;padding:.5em}"
    "span.ns{color:#666;font-size:.9em}td.meaning{color:#444}td.value{white-space:nowrap}";

// Occupancy class: the alert thresholds (50% warning, 85% page).
const char* Level(std::optional<double> occupancy) {
  double o = occupancy.value_or(0);
  if (o >= 0.85) return "crit";
  if (o >= 0.5) return "warn";
  return "ok";
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string Cell(const char* cls, const std::string& html) {
  return std::string("<td class=\"") + cls + "\">" + html + "</td>";
}

std::string OccupancyCell(std::optional<double> occupancy) {
  if (!occupancy) return Cell("occ", "unknown");
  char width[32];
  std::snprintf(width, sizeof width, "%.1f%%", std::clamp(*occupancy, 0.0, 1.0) * 100.0);
  return Cell("occ", "<span class=\"bar\"><span class=\"fill\" style=\"width:" +
                         std::string(width) + "\"></span></span>" + FormatPercent(*occupancy));
}

std::string Pairs(const std::vector<std::pair<std::string, double>>& pairs) {
  std::vector<std::string> parts;
  for (const auto& [name, n] : pairs) parts.push_back(HtmlEscape(name) + " " + FormatNumber(n));
  return Join(parts, " · ");
}

// The UDP section: one port budget per namespace (docs/udp.md).
std::string UdpHtml(const PortOverview& o) {
  std::string h = "<h2>UDP ports</h2>\n<p>" + std::to_string(o.udp.size()) + " of " +
                  std::to_string(o.udp_total) +
                  " namespaces with UDP sockets, fullest first. UDP has one port budget per "
                  "namespace, shared by every destination and both families: occupancy is the "
                  "ports of the range held by any UDP socket divided by the usable ports, and at "
                  "100% every new UDP socket fails (bind(0) with EADDRINUSE, connect() and "
                  "sendto() with EAGAIN), whatever its destination.</p>\n";
  if (o.udp.empty()) return h + "<p id=\"no-udp\">No UDP sockets in this scrape.</p>\n";
  const bool show_netns =
      std::any_of(o.udp.begin(), o.udp.end(), [](const UdpRow& r) { return !r.netns.empty(); });
  const bool show_failures =
      std::any_of(o.udp.begin(), o.udp.end(), [](const UdpRow& r) { return r.failures; });
  h += "<table id=\"udp\"><thead><tr><th>#</th>";
  if (show_netns) h += "<th>Namespace</th>";
  h += "<th>Occupancy</th><th>Ports used of usable</th><th>Sockets by state</th>"
       "<th>Sockets sharing a port</th><th>Connected to</th>";
  if (show_failures) h += "<th>Failures: no free port</th>";
  h += "</tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < o.udp.size(); ++i) {
    const UdpRow& r = o.udp[i];
    h += "<tr class=\"" + std::string(Level(r.occupancy)) + "\">";
    h += Cell("num rank", std::to_string(i + 1));
    if (show_netns) h += Cell("netns", HtmlEscape(NamespaceName(r.netns)));
    h += OccupancyCell(r.occupancy);
    h += Cell("num ports", FormatNumber(r.ports_used) + " of " +
                               (r.usable ? FormatNumber(*r.usable) : std::string("?")));
    h += Cell("states", r.states.empty() ? "none" : Pairs(r.states));
    h += Cell("num sharing", FormatNumber(r.sharing_ports));
    h += Cell("dests", r.destinations.empty() ? "-" : Pairs(r.destinations));
    if (show_failures) h += Cell("num failures", r.failures ? FormatNumber(*r.failures) : "-");
    h += "</tr>\n";
  }
  return h + "</tbody></table>\n";
}

std::string RowHtml(size_t rank, const DestinationRow& r, bool show_netns, bool show_workloads) {
  std::string h = "<tr class=\"" + std::string(Level(r.occupancy)) + "\">";
  h += Cell("num rank", std::to_string(rank));
  h += Cell("dest", HtmlEscape(r.destination));
  if (show_netns) h += Cell("netns", HtmlEscape(NamespaceName(r.netns)));
  h += OccupancyCell(r.occupancy);
  std::string ports = r.ports_used_max ? FormatNumber(*r.ports_used_max) : "?";
  ports += " of " + (r.usable ? FormatNumber(*r.usable) : std::string("?"));
  h += Cell("num ports", ports);
  h += Cell("num tuples", FormatNumber(r.tuples));
  std::vector<std::string> states;
  for (const auto& [state, n] : r.states)
    states.push_back(HtmlEscape(state) + " " + FormatNumber(n));
  h += Cell("states", states.empty() ? "none" : Join(states, " · "));
  std::vector<std::string> tw;
  if (r.time_wait > 0) {
    for (const auto& b : r.time_wait_returns) {
      tw.push_back(FormatNumber(b.sockets) + " in " + FormatNumber(b.seconds) + " s");
    }
  }
  h += Cell("tw", tw.empty() ? "none in TIME_WAIT" : Join(tw, " · "));
  if (show_workloads) h += Cell("workloads", HtmlEscape(WorkloadsSummary(r)));
  return h + "</tr>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderLandingPage(const std::vector<prometheus::MetricFamily>& families,
                              const LandingPageInfo& info) {
  const PortOverview o = BuildPortOverview(families);
  const bool show_netns = std::any_of(o.rows.begin(), o.rows.end(),
                                      [](const DestinationRow& r) { return !r.netns.empty(); });
  const bool show_workloads = std::any_of(
      o.rows.begin(), o.rows.end(), [](const DestinationRow& r) { return !r.workloads.empty(); });
  const std::string path = HtmlEscape(info.telemetry_path);
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>sockstate_exporter</title><style>";
  h += kStyle;
  h += "</style></head><body>\n<h1>sockstate_exporter</h1>\n<p class=\"sub\">Which destination "
       "is running out of ephemeral ports, and why: taken from a scrape made when this page "
       "was loaded (reload for fresh numbers). Metrics: <a href=\"" +
       path + "\">" + path + "</a>. Version " + HtmlEscape(info.version) + " (" +
       HtmlEscape(info.revision) + ").</p>\n";
  if (!o.failing.empty()) {
    h +=
        "<p class=\"failing\" id=\"failing\">Could not read: " + HtmlEscape(Join(o.failing, ", ")) +
        ". The numbers of these sources are missing below; the exporter's log says why.</p>\n";
  }
  h += "<h2>Fullest destinations</h2>\n<p>" + std::to_string(o.rows.size()) + " of " +
       std::to_string(o.destinations_total) + " destinations";
  if (o.namespaces > 1) h += " in " + std::to_string(o.namespaces) + " network namespaces";
  h += ", fullest first. Occupancy is the ports used by the destination's fullest (source "
       "address, destination address, destination port) tuple divided by the usable ports: "
       "connect() slows down past 50%, the alert pages at 85%, and at 100% connect() fails "
       "with EADDRNOTAVAIL.</p>\n";
  if (o.rows.empty()) {
    h += "<p id=\"no-destinations\">No outgoing destinations in this scrape.</p>\n";
  } else {
    h += "<table id=\"destinations\"><thead><tr><th>#</th><th>Destination</th>";
    if (show_netns) h += "<th>Namespace</th>";
    h += "<th>Occupancy</th><th>Ports used of usable</th><th>Tuples</th><th>Sockets by state</th>"
         "<th>TIME_WAIT ports back within</th>";
    if (show_workloads) h += "<th>Who holds the ports</th>";
    h += "</tr></thead>\n<tbody>\n";
    for (size_t i = 0; i < o.rows.size(); ++i)
      h += RowHtml(i + 1, o.rows[i], show_netns, show_workloads);
    h += "</tbody></table>\n";
  }
  if (o.udp_read) h += UdpHtml(o);
  h += "<h2>Kernel settings</h2>\n";
  if (o.settings.empty()) {
    h += "<p id=\"no-settings\">No kernel settings in this scrape.</p>\n";
  } else {
    h += "<table id=\"settings\"><thead><tr><th>Setting</th><th>Value</th><th>What it does</th>"
         "</tr></thead>\n<tbody>\n";
    for (const SettingRow& s : o.settings) {
      std::vector<std::string> values;
      for (const auto& [value, namespaces] : s.values) {
        std::string v = HtmlEscape(value);
        if (o.namespaces > 1) {
          v += " <span class=\"ns\">(" + HtmlEscape(NamespaceList(namespaces)) + ")</span>";
        }
        values.push_back(v);
      }
      h += "<tr>" + Cell("name", HtmlEscape(s.name)) + Cell("value", Join(values, "<br>")) +
           Cell("meaning", HtmlEscape(s.meaning)) + "</tr>\n";
    }
    h += "</tbody></table>\n";
  }
  h += "<p class=\"sub\">What to do about a full destination: docs/runbook.md in the "
       "sockstate_exporter source. The same table in a shell: <code>sockstate_exporter "
       "--once</code>.</p>\n</body></html>\n";
  return h;
}

}  // namespace sockstate
