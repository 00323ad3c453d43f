#pragma once
// Readers for the /proc files the exporter uses. Three layers per file (as prometheus/procfs):
// a path from the root, one read of the file, and a pure parser of its text. A missing file is
// "no data" (kNotFound), told apart from a real failure. All functions are thread-safe.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "util/port_list.h"
#include "util/port_range.h"
#include "util/status.h"

namespace sockstate {

/// Where to read. `root` is --path.procfs (default "/proc"). `net_dir` is where the per-netns
/// files live: root + "/net" for the exporter's own namespace, root + "/thread-self/net" for a
/// thread that entered another namespace with setns. sysctls are always root + "/sys/...".
struct ProcPaths {
  std::string root = "/proc";
  std::string net_dir = "/proc/net";
  /// The exporter's own namespace: net_dir = root/net. Trailing '/' of root are dropped.
  static ProcPaths ForRoot(const std::string& root);
  /// A thread that entered another namespace: net_dir = root/thread-self/net.
  static ProcPaths ForThreadNetns(const std::string& root);
};

enum class ReadOutcome { kOk, kNotFound, kError };

/// Reads a whole small file (<= 1 MiB). kNotFound for ENOENT/ENOTDIR; kError otherwise with
/// `error` naming the path and errno text.
struct FileRead {
  ReadOutcome outcome = ReadOutcome::kError;
  std::string text;
  std::string error;
};
FileRead ReadProcFile(const std::string& path);

// ---- Pure parsers -------------------------------------------------------------------------

/// "lo hi" (tabs or spaces, trailing newline). lo <= hi, both 1..65535.
Result<PortRange> ParsePortRange(std::string_view text);

/// A single non-negative integer sysctl ("2\n"). Surrounding whitespace is allowed. Rejects
/// empty text, trailing garbage, negative values and overflow.
Result<int64_t> ParseSysctlInt(std::string_view text);

/// /proc/net/sockstat (and sockstat6): every "PROTO: key value key value ..." line.
/// Result: proto -> (key -> value), e.g. ["TCP"]["tw"] = 12, ["TCP6"]["inuse"] = 3.
/// Unknown protos and keys are kept. Errors (with line number): empty file, a last line without
/// '\n' (truncated read), a line without "Prefix:", a key without value, a value that is not a
/// plain decimal uint64 (negative, garbage, > 2^64-1), duplicate lines or keys.
using SockstatTable = std::map<std::string, std::map<std::string, uint64_t>, std::less<>>;
Result<SockstatTable> ParseSockstat(std::string_view text);

/// /proc/net/netstat and /proc/net/snmp: pairs of lines "Prefix: Name1 Name2 ..." then
/// "Prefix: v1 v2 ...", parsed by name. Result: prefix -> (name -> value), e.g.
/// ["TcpExt"]["TCPTimeWaitOverflow"], ["Tcp"]["CurrEstab"]. Values may be negative in snmp
/// (Tcp MaxConn -1), so they are int64. Mismatched header/value counts are an error naming
/// the prefix. Other errors (naming prefix, line and field): empty file, a last line without
/// '\n', a header without its value line, a value that is not a decimal int64 (a value above
/// INT64_MAX is an error, never wrapped or clamped), duplicate blocks or fields. Blank lines are
/// skipped; unknown blocks and fields are kept.
using NetstatTable = std::map<std::string, std::map<std::string, int64_t>, std::less<>>;
Result<NetstatTable> ParseNetstat(std::string_view text);

/// /proc/net/snmp6: one "Name value" line per counter ("Udp6NoPorts      \t4"). Result: name
/// -> value, e.g. ["Udp6InDatagrams"]. Errors (with line number): empty file, a last line
/// without '\n', a line that is not exactly a name and a decimal value (a value above
/// INT64_MAX is an error), duplicate names. Blank lines are skipped; unknown names are kept.
using Snmp6Table = std::map<std::string, int64_t, std::less<>>;
Result<Snmp6Table> ParseSnmp6(std::string_view text);

// ---- Readers (path + read + parse) -----------------------------------------------------------

/// The kernel settings of one network namespace. A field is nullopt when its file is missing
/// (older kernel: tcp_tw_reuse_delay exists from 6.14).
struct NetSysctls {
  std::optional<PortRange> port_range;
  std::optional<PortSet> reserved_ports;
  std::optional<int64_t> tcp_tw_reuse;
  std::optional<int64_t> tcp_tw_reuse_delay_ms;
  std::optional<int64_t> tcp_max_tw_buckets;
  std::optional<int64_t> tcp_fin_timeout_s;
  std::optional<int64_t> tcp_timestamps;
};
/// Reads root/sys/net/ipv4/{ip_local_port_range, ip_local_reserved_ports, tcp_tw_reuse,
/// tcp_tw_reuse_delay, tcp_max_tw_buckets, tcp_fin_timeout, tcp_timestamps}. Missing files
/// leave fields empty; an unreadable or unparsable file is an error naming the file.
/// port_range missing is an error (every Linux kernel has it).
Result<NetSysctls> ReadNetSysctls(const ProcPaths& paths);

/// Reads and parses net_dir/<name>. Outcome kNotFound -> nullopt with ok status.
Result<std::optional<SockstatTable>> ReadSockstat(const ProcPaths& paths, const char* name);
Result<std::optional<NetstatTable>> ReadNetstat(const ProcPaths& paths, const char* name);
Result<std::optional<Snmp6Table>> ReadSnmp6(const ProcPaths& paths, const char* name);

}  // namespace sockstate
