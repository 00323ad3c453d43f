#include "kernel/conntrack_proc.h"

#include <charconv>

namespace sockstate {
namespace {

// Splits `line` on spaces and tabs into `out` (views into `line`).
void SplitFields(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
}

}  // namespace

std::optional<uint64_t> ConntrackStat::Get(std::string_view name) const {
  for (const auto& [n, v] : columns) {
    if (n == name) return v;
  }
  return std::nullopt;
}

Result<ConntrackStat> ParseConntrackStat(std::string_view text) {
  if (text.empty()) return Status::Error("empty file");
  if (text.back() != '\n') return Status::Error("last line does not end in a newline (truncated)");
  std::vector<std::string_view> header, fields;
  std::vector<uint64_t> sums;
  size_t line_no = 0, rows = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line_no == 1) {
      SplitFields(line, header);
      if (header.empty()) return Status::Error("line 1: empty header");
      sums.assign(header.size(), 0);
      continue;
    }
    SplitFields(line, fields);
    if (fields.empty()) continue;  // blank line
    if (fields.size() != header.size()) {
      return Status::Error("line " + std::to_string(line_no) + ": " +
                           std::to_string(fields.size()) + " fields, header has " +
                           std::to_string(header.size()));
    }
    for (size_t i = 0; i < fields.size(); ++i) {
      uint64_t v = 0;
      const std::string_view f = fields[i];
      auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v, 16);
      if (ec != std::errc() || ptr != f.data() + f.size()) {
        return Status::Error("line " + std::to_string(line_no) + ": column " +
                             std::string(header[i]) + ": not a hex value: \"" + std::string(f) +
                             "\"");
      }
      if (sums[i] > UINT64_MAX - v) {
        return Status::Error("line " + std::to_string(line_no) + ": column " +
                             std::string(header[i]) + ": sum overflows");
      }
      sums[i] += v;
    }
    ++rows;
  }
  if (rows == 0) return Status::Error("no per-CPU value line");
  ConntrackStat out;
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "entries") continue;
    out.columns.emplace_back(std::string(header[i]), sums[i]);
  }
  return out;
}

Result<ConntrackTable> ReadConntrackTable(const ProcPaths& paths) {
  ConntrackTable t;
  const std::string sys = paths.root + "/sys/net/netfilter/";
  struct IntFile {
    const char* name;
    std::optional<int64_t>* field;
  };
  for (const IntFile& f :
       {IntFile{"nf_conntrack_count", &t.count}, IntFile{"nf_conntrack_max", &t.max},
        IntFile{"nf_conntrack_buckets", &t.buckets}}) {
    const std::string path = sys + f.name;
    FileRead r = ReadProcFile(path);
    if (r.outcome == ReadOutcome::kNotFound) continue;
    if (r.outcome == ReadOutcome::kError) return Status::Error(r.error);
    Result<int64_t> v = ParseSysctlInt(r.text);
    if (!v.ok()) return v.status().WithContext(path);
    *f.field = *v;
  }
  const std::string stat_path = paths.net_dir + "/stat/nf_conntrack";
  FileRead r = ReadProcFile(stat_path);
  if (r.outcome == ReadOutcome::kError) return Status::Error(r.error);
  if (r.outcome == ReadOutcome::kOk) {
    Result<ConntrackStat> s = ParseConntrackStat(r.text);
    if (!s.ok()) return s.status().WithContext(stat_path);
    t.stat = std::move(*s);
  }
  return t;
}

}  // namespace sockstate
