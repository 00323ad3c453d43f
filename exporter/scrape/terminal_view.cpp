#include "scrape/terminal_view.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "metrics/names.h"
#include "scrape/port_overview.h"

namespace sockstate {
namespace {

constexpr size_t kBarWidth = 20;

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// "[##########----------]": occupancy in kBarWidth steps, rounded down (full only at 100%).
std::string Bar(double ratio) {
  const size_t n = static_cast<size_t>(std::floor(std::clamp(ratio, 0.0, 1.0) * kBarWidth));
  std::string bar = "[";
  bar.append(n, '#').append(kBarWidth - n, '-').push_back(']');
  return bar;
}

// Aligned columns, two spaces apart; columns flagged in `right` are right-aligned. The last
// column is not padded (no trailing spaces).
std::string Table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      const bool last = i + 1 == r.size();
      const size_t pad = width[i] - r[i].size();
      if (i > 0) line += "  ";
      if (i < right.size() && right[i]) {
        line += std::string(pad, ' ') + r[i];
      } else {
        line += r[i];
        if (!last) line += std::string(pad, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string Pairs(const std::vector<std::pair<std::string, double>>& pairs) {
  std::vector<std::string> parts;
  for (const auto& [name, n] : pairs) parts.push_back(name + " " + FormatNumber(n));
  return Join(parts, ", ");
}

// The UDP section: one port budget per namespace (docs/udp.md).
std::string UdpSection(const PortOverview& o) {
  std::string out = "\nUDP ports: " + std::to_string(o.udp.size()) + " of " +
                    std::to_string(o.udp_total) +
                    " namespaces with UDP sockets. Occupancy = ports of the range held by any "
                    "UDP socket / usable ports;\none budget for every destination: at 100% every "
                    "new UDP socket fails (bind(0), connect(), sendto()).\n\n";
  if (o.udp.empty()) return out + "No UDP sockets in this scrape.\n";
  const bool show_netns =
      std::any_of(o.udp.begin(), o.udp.end(), [](const UdpRow& r) { return !r.netns.empty(); });
  const bool show_failures =
      std::any_of(o.udp.begin(), o.udp.end(), [](const UdpRow& r) { return r.failures; });
  std::vector<std::string> head = {"#"};
  std::vector<bool> right = {true};
  if (show_netns) {
    head.push_back("NETNS");
    right.push_back(false);
  }
  for (const char* h : {"OCCUPANCY", "", "PORTS USED", "OF USABLE", "SOCKETS BY STATE",
                        "SHARING A PORT", "CONNECTED TO"}) {
    head.push_back(h);
  }
  for (bool b : {false, true, true, true, false, true, false}) right.push_back(b);
  if (show_failures) {
    head.push_back("NO PORT FAILURES");
    right.push_back(true);
  }
  std::vector<std::vector<std::string>> rows = {head};
  for (size_t i = 0; i < o.udp.size(); ++i) {
    const UdpRow& r = o.udp[i];
    std::vector<std::string> row = {std::to_string(i + 1)};
    if (show_netns) row.push_back(NamespaceName(r.netns));
    row.push_back(r.occupancy ? Bar(*r.occupancy) : "[" + std::string(kBarWidth, '?') + "]");
    row.push_back(r.occupancy ? FormatPercent(*r.occupancy) : "unknown");
    row.push_back(FormatNumber(r.ports_used));
    row.push_back(r.usable ? FormatNumber(*r.usable) : "?");
    row.push_back(r.states.empty() ? "none" : Pairs(r.states));
    row.push_back(FormatNumber(r.sharing_ports));
    row.push_back(r.destinations.empty() ? "-" : Pairs(r.destinations));
    if (show_failures) row.push_back(r.failures ? FormatNumber(*r.failures) : "-");
    rows.push_back(std::move(row));
  }
  return out + Table(rows, right);
}

}  // namespace

std::string RenderTerminalView(const std::vector<prometheus::MetricFamily>& families) {
  const PortOverview o = BuildPortOverview(families);
  const bool show_netns = std::any_of(o.rows.begin(), o.rows.end(),
                                      [](const DestinationRow& r) { return !r.netns.empty(); });
  const bool show_workloads = std::any_of(
      o.rows.begin(), o.rows.end(), [](const DestinationRow& r) { return !r.workloads.empty(); });
  std::string out;
  if (!o.failing.empty()) {
    out += "Could not read: " + Join(o.failing, ", ") +
           " (their numbers are missing below; the log says why)\n\n";
  }
  out += "Fullest destinations: " + std::to_string(o.rows.size()) + " of " +
         std::to_string(o.destinations_total);
  if (o.namespaces > 1) out += " in " + std::to_string(o.namespaces) + " network namespaces";
  out +=
      ". Occupancy = ports used by the fullest (source, destination, port) tuple / usable "
      "ports;\nconnect() slows past 50%, the alert pages at 85%, connect() fails at 100%.\n\n";
  if (o.rows.empty()) {
    out += "No outgoing destinations in this scrape.\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> head = {"#", "DESTINATION"};
    if (show_netns) head.push_back("NETNS");
    for (const char* h : {"OCCUPANCY", "", "PORTS USED", "OF USABLE", "TUPLES", "SOCKETS BY STATE",
                          "TIME_WAIT PORTS BACK WITHIN"}) {
      head.push_back(h);
    }
    if (show_workloads) head.push_back("WHO HOLDS THE PORTS");
    rows.push_back(head);
    std::vector<bool> right = {true, false};
    if (show_netns) right.push_back(false);
    for (bool b : {false, true, true, true, true, false, false, false}) right.push_back(b);
    for (size_t i = 0; i < o.rows.size(); ++i) {
      const DestinationRow& r = o.rows[i];
      std::vector<std::string> row = {std::to_string(i + 1), r.destination};
      if (show_netns) row.push_back(NamespaceName(r.netns));
      row.push_back(r.occupancy ? Bar(*r.occupancy) : "[" + std::string(kBarWidth, '?') + "]");
      row.push_back(r.occupancy ? FormatPercent(*r.occupancy) : "unknown");
      row.push_back(r.ports_used_max ? FormatNumber(*r.ports_used_max) : "?");
      row.push_back(r.usable ? FormatNumber(*r.usable) : "?");
      row.push_back(FormatNumber(r.tuples));
      std::vector<std::string> states;
      for (const auto& [state, n] : r.states) states.push_back(state + " " + FormatNumber(n));
      row.push_back(states.empty() ? "none" : Join(states, ", "));
      std::vector<std::string> tw;
      if (r.time_wait > 0) {
        for (const auto& b : r.time_wait_returns) {
          tw.push_back(FormatNumber(b.sockets) + " in " + FormatNumber(b.seconds) + "s");
        }
      }
      row.push_back(tw.empty() ? "-" : Join(tw, ", "));
      if (show_workloads) row.push_back(WorkloadsSummary(r));
      rows.push_back(std::move(row));
    }
    out += Table(rows, right);
  }
  if (o.udp_read) out += UdpSection(o);
  out += "\nKernel settings (value, then what it does)\n\n";
  if (o.settings.empty()) {
    out += "No kernel settings in this scrape.\n";
    return out;
  }
  // name  value, then what it does on its own indented line (keeps the table narrow).
  size_t name_width = 0;
  for (const SettingRow& s : o.settings) name_width = std::max(name_width, s.name.size());
  for (const SettingRow& s : o.settings) {
    std::vector<std::string> values;
    for (const auto& [value, namespaces] : s.values) {
      std::string v = value;
      if (o.namespaces > 1) v += " [" + NamespaceList(namespaces) + "]";
      values.push_back(v);
    }
    out += s.name + std::string(name_width - s.name.size() + 2, ' ') + Join(values, "; ") + "\n";
    out += "    " + s.meaning + "\n";
  }
  return out;
}

std::string OnceConnectFailuresNote(std::string_view mode) {
  if (mode == "off") return "";
  return "\nconnect() failures (EADDRNOTAVAIL, refused, timed out; UDP sockets without a port): "
         "not counted by --once.\n"
         "    The kernel keeps no count of them; a running exporter counts them from its start,\n"
         "    by destination, protocol and reason: curl -s http://localhost:9798/metrics | grep "
         "'^" +
         std::string(metric::kConnectFailuresTotal.name) + "'\n";
}

}  // namespace sockstate
