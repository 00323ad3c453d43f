#pragma once
// Small file and errno helpers shared by the /proc readers, the config loaders and the netlink
// code.

#include <string>

namespace sockstate {

/// Reads a whole file of at most 1 MiB into `text`. Returns 0, or the errno of the failed
/// open/read (EFBIG when the file is larger than 1 MiB); `read_failed` (optional) tells a
/// failed read from a failed open. Thread-safe.
int ReadSmallFile(const std::string& path, std::string* text, bool* read_failed = nullptr);

/// strerror text of `err` ("No such file or directory"). Thread-safe (GNU strerror_r).
std::string ErrnoText(int err);

}  // namespace sockstate
