#pragma once
// The conntrack table's fill and statistics from /proc: nf_conntrack_count (per namespace),
// nf_conntrack_max (global), nf_conntrack_buckets (global), and /proc/net/stat/nf_conntrack
// (per-CPU counters of the namespace, hex). Path, read and pure parser, as kernel/procfs.h.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernel/procfs.h"
#include "util/status.h"

namespace sockstate {

/// /proc/net/stat/nf_conntrack summed over CPUs: (column name, sum) in header order, the
/// "entries" column left out (every row repeats the namespace's entry count). Value type.
struct ConntrackStat {
  std::vector<std::pair<std::string, uint64_t>> columns;
  /// The sum of column `name`, or nullopt when the kernel has no such column.
  std::optional<uint64_t> Get(std::string_view name) const;
};

/// Parses /proc/net/stat/nf_conntrack: a header line of column names, then one line per CPU
/// of 8-digit hex values. Errors (with the line number): empty text, no value line, a line
/// whose field count differs from the header, a value that is not hex or above 64 bits, a
/// last line without '\n' (truncated read), a sum that overflows. Pure; thread-safe.
Result<ConntrackStat> ParseConntrackStat(std::string_view text);

/// The table of one namespace. A field is nullopt when its file is missing (no conntrack in
/// the kernel, or the stat file hidden). Value type.
struct ConntrackTable {
  std::optional<int64_t> count;       // root/sys/net/netfilter/nf_conntrack_count
  std::optional<int64_t> max;         // root/sys/net/netfilter/nf_conntrack_max
  std::optional<int64_t> buckets;     // root/sys/net/netfilter/nf_conntrack_buckets
  std::optional<ConntrackStat> stat;  // net_dir/stat/nf_conntrack
};

/// Reads the four files. Missing files leave fields empty; an unreadable or unparsable file is
/// an error naming it. Thread-safe (reads the calling thread's namespace through `paths`).
Result<ConntrackTable> ReadConntrackTable(const ProcPaths& paths);

}  // namespace sockstate
