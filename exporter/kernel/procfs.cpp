#include "kernel/procfs.h"

#include <errno.h>

#include <charconv>
#include <string>
#include <vector>

#include "util/file_util.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsSpace(char c) { return IsBlank(c) || c == '\n' || c == '\r'; }

// A name (prefix, field or key): printable ASCII without spaces.
bool IsName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

// Parses all of `text` as a decimal integer of type T. Returns "" or an error fragment.
template <typename T>
std::string ParseNumber(std::string_view text, T* value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return "not a number: " + QuoteRaw(text);
  }
  if (ec == std::errc::result_out_of_range) return "number out of range: " + QuoteRaw(text);
  return "";
}

// One "Prefix: tok tok ..." line of sockstat, netstat or snmp.
struct Line {
  size_t number = 0;  // 1-based
  std::string_view prefix;
  std::vector<std::string_view> tokens;
};

std::string LineRef(size_t number) { return "line " + std::to_string(number); }

// Splits `text` into prefixed lines. Blank lines are skipped. Every line must end with '\n'
// (the kernel always writes one); a last line without it is a truncated read.
Result<std::vector<Line>> SplitPrefixedLines(std::string_view text) {
  if (text.empty()) return Status::Error("empty file");
  std::vector<Line> lines;
  size_t number = 0;
  while (!text.empty()) {
    ++number;
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      return Status::Error(LineRef(number) +
                           " truncated (no newline at end of file): " + QuoteRaw(text));
    }
    std::string_view raw = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (TrimSpace(raw).empty()) continue;
    size_t colon = raw.find(':');
    if (colon == std::string_view::npos || !IsName(raw.substr(0, colon))) {
      return Status::Error(LineRef(number) + ": expected 'Prefix: ...', got " + QuoteRaw(raw));
    }
    Line line;
    line.number = number;
    line.prefix = raw.substr(0, colon);
    std::string_view rest = raw.substr(colon + 1);
    while (true) {
      while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
      if (rest.empty()) break;
      size_t end = 0;
      while (end < rest.size() && !IsBlank(rest[end])) ++end;
      line.tokens.push_back(rest.substr(0, end));
      rest.remove_prefix(end);
    }
    lines.push_back(std::move(line));
  }
  if (lines.empty()) return Status::Error("no data lines");
  return lines;
}

std::string Join(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string NormalizeRoot(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

}  // namespace

ProcPaths ProcPaths::ForRoot(const std::string& root) {
  ProcPaths p;
  p.root = NormalizeRoot(root);
  p.net_dir = Join(p.root, "net");
  return p;
}

ProcPaths ProcPaths::ForThreadNetns(const std::string& root) {
  ProcPaths p;
  p.root = NormalizeRoot(root);
  p.net_dir = Join(p.root, "thread-self/net");
  return p;
}

FileRead ReadProcFile(const std::string& path) {
  FileRead r;
  bool read_failed = false;
  const int err = ReadSmallFile(path, &r.text, &read_failed);
  if (err == 0) {
    r.outcome = ReadOutcome::kOk;
  } else {
    r.text.clear();
    r.outcome = (err == ENOENT || err == ENOTDIR) ? ReadOutcome::kNotFound : ReadOutcome::kError;
    r.error = path + ": " +
              (err == EFBIG ? std::string("larger than 1 MiB")
                            : (read_failed ? "read: " : "") + ErrnoText(err));
  }
  return r;
}

Result<PortRange> ParsePortRange(std::string_view text) {
  std::string_view t = TrimSpace(text);
  size_t sep = 0;
  while (sep < t.size() && !IsSpace(t[sep])) ++sep;
  std::string_view lo_text = t.substr(0, sep);
  std::string_view hi_text = TrimSpace(t.substr(sep));
  if (lo_text.empty() || hi_text.empty()) {
    return Status::Error("port range: expected 'low high', got " + QuoteRaw(text));
  }
  uint64_t lo = 0;
  uint64_t hi = 0;
  std::string err = ParseNumber(lo_text, &lo);
  if (err.empty()) err = ParseNumber(hi_text, &hi);
  if (!err.empty()) return Status::Error("port range: " + err);
  if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535) {
    return Status::Error("port range: ports must be 1..65535, got " + QuoteRaw(t));
  }
  if (lo > hi) return Status::Error("port range: low > high in " + QuoteRaw(t));
  PortRange range;
  range.low = static_cast<uint16_t>(lo);
  range.high = static_cast<uint16_t>(hi);
  return range;
}

Result<int64_t> ParseSysctlInt(std::string_view text) {
  std::string_view t = TrimSpace(text);
  if (t.empty()) return Status::Error("sysctl: empty value");
  int64_t value = 0;
  std::string err = ParseNumber(t, &value);
  if (!err.empty()) return Status::Error("sysctl: " + err);
  if (value < 0) return Status::Error("sysctl: negative value " + QuoteRaw(t));
  return value;
}

Result<SockstatTable> ParseSockstat(std::string_view text) {
  Result<std::vector<Line>> lines = SplitPrefixedLines(text);
  if (!lines.ok()) return lines.status();
  SockstatTable table;
  for (const Line& line : *lines) {
    std::string where = std::string(line.prefix) + " (" + LineRef(line.number) + ")";
    if (table.find(line.prefix) != table.end()) {
      return Status::Error(where + ": duplicate line");
    }
    if (line.tokens.size() % 2 != 0) {
      return Status::Error(where + ": key " + QuoteRaw(line.tokens.back()) + " has no value");
    }
    SockstatTable::mapped_type fields;
    for (size_t i = 0; i < line.tokens.size(); i += 2) {
      std::string_view key = line.tokens[i];
      if (!IsName(key)) return Status::Error(where + ": bad key " + QuoteRaw(key));
      uint64_t value = 0;
      std::string err = ParseNumber(line.tokens[i + 1], &value);
      if (!err.empty()) return Status::Error(where + ": " + std::string(key) + ": " + err);
      if (!fields.emplace(std::string(key), value).second) {
        return Status::Error(where + ": duplicate key " + QuoteRaw(key));
      }
    }
    table.emplace(std::string(line.prefix), std::move(fields));
  }
  return table;
}

Result<NetstatTable> ParseNetstat(std::string_view text) {
  Result<std::vector<Line>> lines = SplitPrefixedLines(text);
  if (!lines.ok()) return lines.status();
  NetstatTable table;
  const std::vector<Line>& ls = *lines;
  for (size_t i = 0; i < ls.size(); i += 2) {
    const Line& header = ls[i];
    std::string prefix(header.prefix);
    std::string where = prefix + " (" + LineRef(header.number) + ")";
    if (i + 1 >= ls.size()) return Status::Error(where + ": header without value line");
    const Line& values = ls[i + 1];
    if (values.prefix != header.prefix) {
      return Status::Error(where + ": header followed by " + QuoteRaw(values.prefix) +
                           " line, not its values");
    }
    if (header.tokens.size() != values.tokens.size()) {
      return Status::Error(where + ": " + std::to_string(header.tokens.size()) + " names but " +
                           std::to_string(values.tokens.size()) + " values");
    }
    if (table.find(prefix) != table.end()) return Status::Error(where + ": duplicate block");
    NetstatTable::mapped_type fields;
    for (size_t k = 0; k < header.tokens.size(); ++k) {
      std::string_view name = header.tokens[k];
      if (!IsName(name)) return Status::Error(where + ": bad field name " + QuoteRaw(name));
      int64_t value = 0;
      // Values above INT64_MAX (possible for u64 counters) are an error, never wrapped or
      // clamped: a wrong number is worse than a missing one.
      std::string err = ParseNumber(values.tokens[k], &value);
      if (!err.empty()) return Status::Error(where + ": " + std::string(name) + ": " + err);
      if (!fields.emplace(std::string(name), value).second) {
        return Status::Error(where + ": duplicate field " + QuoteRaw(name));
      }
    }
    table.emplace(std::move(prefix), std::move(fields));
  }
  return table;
}

Result<Snmp6Table> ParseSnmp6(std::string_view text) {
  if (text.empty()) return Status::Error("empty file");
  Snmp6Table table;
  size_t number = 0;
  while (!text.empty()) {
    ++number;
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      return Status::Error(LineRef(number) +
                           " truncated (no newline at end of file): " + QuoteRaw(text));
    }
    std::string_view rest = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    std::string_view tokens[3];
    size_t n = 0;
    while (n < 3) {
      while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
      if (rest.empty()) break;
      size_t end = 0;
      while (end < rest.size() && !IsBlank(rest[end])) ++end;
      tokens[n++] = rest.substr(0, end);
      rest.remove_prefix(end);
    }
    if (n == 0) continue;
    if (n != 2 || !IsName(tokens[0])) {
      return Status::Error(LineRef(number) + ": expected 'Name value'");
    }
    int64_t value = 0;
    std::string err = ParseNumber(tokens[1], &value);
    if (!err.empty())
      return Status::Error(LineRef(number) + ": " + std::string(tokens[0]) + ": " + err);
    if (!table.emplace(std::string(tokens[0]), value).second) {
      return Status::Error(LineRef(number) + ": duplicate name " + QuoteRaw(tokens[0]));
    }
  }
  if (table.empty()) return Status::Error("no data lines");
  return table;
}

namespace {

// Reads and parses one file. nullopt (ok) when the file does not exist.
template <typename T, typename Parser>
Result<std::optional<T>> ReadAndParse(const std::string& path, Parser parse) {
  FileRead r = ReadProcFile(path);
  if (r.outcome == ReadOutcome::kNotFound) return std::optional<T>();
  if (r.outcome != ReadOutcome::kOk) return Status::Error(r.error);
  Result<T> parsed = parse(r.text);
  if (!parsed.ok()) return parsed.status().WithContext(path);
  return std::optional<T>(std::move(*parsed));
}

}  // namespace

Result<NetSysctls> ReadNetSysctls(const ProcPaths& paths) {
  const std::string dir = Join(paths.root, "sys/net/ipv4");
  NetSysctls s;

  std::string range_path = Join(dir, "ip_local_port_range");
  auto range = ReadAndParse<PortRange>(range_path, ParsePortRange);
  if (!range.ok()) return range.status();
  if (!range->has_value()) return Status::Error(range_path + ": not found");
  s.port_range = **range;

  auto reserved = ReadAndParse<PortSet>(Join(dir, "ip_local_reserved_ports"), ParsePortList);
  if (!reserved.ok()) return reserved.status();
  s.reserved_ports = std::move(*reserved);

  struct IntSysctl {
    const char* name;
    std::optional<int64_t>* field;
  };
  const IntSysctl ints[] = {
      {"tcp_tw_reuse", &s.tcp_tw_reuse},
      {"tcp_tw_reuse_delay", &s.tcp_tw_reuse_delay_ms},
      {"tcp_max_tw_buckets", &s.tcp_max_tw_buckets},
      {"tcp_fin_timeout", &s.tcp_fin_timeout_s},
      {"tcp_timestamps", &s.tcp_timestamps},
  };
  for (const IntSysctl& entry : ints) {
    auto value = ReadAndParse<int64_t>(Join(dir, entry.name), ParseSysctlInt);
    if (!value.ok()) return value.status();
    *entry.field = *value;
  }
  return s;
}

Result<std::optional<SockstatTable>> ReadSockstat(const ProcPaths& paths, const char* name) {
  return ReadAndParse<SockstatTable>(Join(paths.net_dir, name), ParseSockstat);
}

Result<std::optional<NetstatTable>> ReadNetstat(const ProcPaths& paths, const char* name) {
  return ReadAndParse<NetstatTable>(Join(paths.net_dir, name), ParseNetstat);
}

Result<std::optional<Snmp6Table>> ReadSnmp6(const ProcPaths& paths, const char* name) {
  return ReadAndParse<Snmp6Table>(Join(paths.net_dir, name), ParseSnmp6);
}

}  // namespace sockstate
