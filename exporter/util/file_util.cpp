#include "util/file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

namespace sockstate {

namespace {
constexpr size_t kMaxFileBytes = 1 << 20;  // 1 MiB: the largest /proc file we read is ~6 KiB.
}  // namespace

int ReadSmallFile(const std::string& path, std::string* text, bool* read_failed) {
  text->clear();
  if (read_failed) *read_failed = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  // /proc files report size 0: read until EOF, one byte past the cap to detect overflow.
  char buf[16384];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      if (read_failed) *read_failed = true;
      return err;
    }
    if (n == 0) break;
    text->append(buf, static_cast<size_t>(n));
    if (text->size() > kMaxFileBytes) {
      close(fd);
      return EFBIG;
    }
  }
  close(fd);
  return 0;
}

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r (g++ and clang++ define _GNU_SOURCE): returns a pointer, maybe not to buf.
  return std::string(strerror_r(err, buf, sizeof(buf)));
}

}  // namespace sockstate
