#pragma once
// The record files of --debug.record-dump / --debug.replay-dump (like iproute2's `ss -D`):
// raw netlink reply buffers written as recvmsg returned them and read back through the same
// parser. One layout for every dump, little-endian:
//   8-byte magic ("SSDIAG01" sock_diag, "SSCTRK01" conntrack)
//   repeated, one per recvmsg buffer:
//     u8  tag[tag_size]             the format's per-buffer tag (sock_diag: the family), or none
//     u32 length                    bytes that follow
//     u8  bytes[length]             the buffer exactly as recvmsg returned it

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace sockstate {

/// Appends records to a record file, flushing each. The formats' recorders derive from it.
/// Not thread-safe.
class RecordFileWriter {
 public:
  virtual ~RecordFileWriter();
  RecordFileWriter(const RecordFileWriter&) = delete;
  RecordFileWriter& operator=(const RecordFileWriter&) = delete;

 protected:
  /// Creates (truncates) `path`, writes `magic` and returns a `Recorder` (a subclass that
  /// befriends this class) writing to it. Errors: "<what>: open|write <path>: <strerror>".
  template <typename Recorder>
  static Result<std::unique_ptr<Recorder>> CreateAs(const std::string& path, std::string_view magic,
                                                    const std::string& what) {
    Result<FILE*> f = Create(path, magic, what);
    if (!f.ok()) return f.status();
    return std::unique_ptr<Recorder>(new Recorder(*f, path, what));
  }
  RecordFileWriter(FILE* file, std::string path, std::string what);
  /// Appends one record: `tag_size` tag bytes, the u32 length of `len` (< 4 GiB), the bytes.
  /// Errors: "<what>: <path>: buffer too large", "<what>: write <path>: <strerror>".
  Status WriteRecord(const uint8_t* tag, size_t tag_size, const void* buf, size_t len);

 private:
  static Result<FILE*> Create(const std::string& path, std::string_view magic,
                              const std::string& what);
  FILE* file_;
  std::string path_;
  std::string what_;
};

/// A record file read whole, then walked record by record. Errors come back as Status values
/// reading "replay <path>: <what>". Not thread-safe.
class RecordFileReader {
 public:
  /// Reads `path` and checks its magic. Errors: "replay <path>: open: <strerror>", "replay
  /// <path>: read error", "replay <path>: bad magic at offset 0 (not an <magic> dump)".
  static Result<RecordFileReader> Open(const std::string& path, std::string_view magic,
                                       size_t tag_size);

  /// True once every record was read.
  bool AtEnd() const { return off_ >= data_.size(); }
  /// File offset of the next record (or of the end).
  size_t offset() const { return off_; }

  /// Reads the header of the next record: its tag (first byte, 0 when the format has none) and
  /// length. Error: "truncated record header at offset <n> (<m> bytes left)".
  Status ReadHeader(uint8_t* tag, uint32_t* length);
  /// The payload of the record whose header was just read (*data, at file offset
  /// *payload_offset); moves past it. Error: "truncated record at offset <n>: length <l>, <m>
  /// bytes left".
  Status ReadPayload(const uint8_t** data, size_t* payload_offset);

  /// "replay <path>: <what>" as an error.
  Status Error(const std::string& what) const;

 private:
  RecordFileReader(std::string path, std::vector<uint8_t> data, size_t off, size_t tag_size)
      : path_(std::move(path)), data_(std::move(data)), off_(off), tag_size_(tag_size) {}
  std::string path_;
  std::vector<uint8_t> data_;
  size_t off_;
  size_t tag_size_;
  uint32_t length_ = 0;  // of the record whose header was read last
};

}  // namespace sockstate
