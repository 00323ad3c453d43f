#include "util/record_file.h"

#include <errno.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "util/file_util.h"
#include "util/text_util.h"

namespace sockstate {
namespace {

constexpr size_t kLengthSize = 4;  // u32 little-endian
constexpr size_t kMaxTagSize = 1;

uint32_t ReadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

RecordFileWriter::RecordFileWriter(FILE* file, std::string path, std::string what)
    : file_(file), path_(std::move(path)), what_(std::move(what)) {}

RecordFileWriter::~RecordFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Result<FILE*> RecordFileWriter::Create(const std::string& path, std::string_view magic,
                                       const std::string& what) {
  FILE* f = std::fopen(path.c_str(), "wbe");
  if (f == nullptr) return Status::Error(what + ": open " + path + ": " + ErrnoText(errno));
  if (std::fwrite(magic.data(), 1, magic.size(), f) != magic.size() || std::fflush(f) != 0) {
    Status s = Status::Error(what + ": write " + path + ": " + ErrnoText(errno));
    std::fclose(f);
    return s;
  }
  return f;
}

Status RecordFileWriter::WriteRecord(const uint8_t* tag, size_t tag_size, const void* buf,
                                     size_t len) {
  if (len > UINT32_MAX || tag_size > kMaxTagSize) {
    return Status::Error(what_ + ": " + path_ + ": buffer too large");
  }
  const uint32_t n = static_cast<uint32_t>(len);
  uint8_t header[kMaxTagSize + kLengthSize];
  if (tag_size > 0) std::memcpy(header, tag, tag_size);
  const uint8_t le[kLengthSize] = {uint8_t(n), uint8_t(n >> 8), uint8_t(n >> 16), uint8_t(n >> 24)};
  std::memcpy(header + tag_size, le, kLengthSize);
  const size_t header_size = tag_size + kLengthSize;
  if (std::fwrite(header, 1, header_size, file_) != header_size ||
      (len > 0 && std::fwrite(buf, 1, len, file_) != len) || std::fflush(file_) != 0) {
    return Status::Error(what_ + ": write " + path_ + ": " + ErrnoText(errno));
  }
  return Status::Ok();
}

Result<RecordFileReader> RecordFileReader::Open(const std::string& path, std::string_view magic,
                                                size_t tag_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("replay " + path + ": open: " + ErrnoText(errno));
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::Error("replay " + path + ": read error");
  if (data.size() < magic.size() || std::memcmp(data.data(), magic.data(), magic.size()) != 0) {
    return Status::Error("replay " + path + ": bad magic at offset 0 (not an " +
                         std::string(magic) + " dump)");
  }
  return RecordFileReader(path, std::move(data), magic.size(), std::min(tag_size, kMaxTagSize));
}

Status RecordFileReader::ReadHeader(uint8_t* tag, uint32_t* length) {
  const size_t left = data_.size() - off_;
  const size_t header_size = tag_size_ + kLengthSize;
  if (left < header_size) {
    return Error(StrFormat("truncated record header at offset %zu (%zu bytes left)", off_, left));
  }
  *tag = tag_size_ > 0 ? data_[off_] : 0;
  length_ = ReadLe32(&data_[off_ + tag_size_]);
  *length = length_;
  return Status::Ok();
}

Status RecordFileReader::ReadPayload(const uint8_t** data, size_t* payload_offset) {
  const size_t header_size = tag_size_ + kLengthSize;
  const size_t left = data_.size() - off_ - header_size;
  if (length_ > left) {
    return Error(StrFormat("truncated record at offset %zu: length %u, %zu bytes left", off_,
                           length_, left));
  }
  *payload_offset = off_ + header_size;
  *data = data_.data() + *payload_offset;
  off_ = *payload_offset + length_;
  return Status::Ok();
}

Status RecordFileReader::Error(const std::string& what) const {
  return Status::Error("replay " + path_ + ": " + what);
}

}  // namespace sockstate
