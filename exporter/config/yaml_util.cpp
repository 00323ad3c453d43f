#include "config/yaml_util.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "util/file_util.h"
#include "util/text_util.h"

namespace sockstate {

Status LoadYaml(const std::string& text, const std::string& source_name, YAML::Node* root) {
  try {
    *root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = source_name;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return Status::Error(where + ": YAML syntax error: " + e.msg);
  }
  return Status::Ok();
}

Result<std::string> ReadYamlFile(const std::string& path, const std::string& what) {
  std::string text;
  if (const int err = ReadSmallFile(path, &text)) {
    return Status::Error("cannot read " + what + " " + QuoteText(path) + ": " +
                         (err == EFBIG ? "larger than 1 MiB" : std::strerror(err)));
  }
  return text;
}

const char* KindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing (null)";
    default:
      return "an undefined node";
  }
}

std::string Join(const std::vector<std::string_view>& items) {
  std::string out;
  for (auto item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string YamlWalker::Quote(const std::string& s) { return QuoteText(s); }

void YamlWalker::Fail(const YAML::Mark& mark, const std::string& path,
                      const std::string& message) const {
  std::string where = source_;
  if (!mark.is_null()) {
    where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  throw YamlSchemaError{where + ": " + path + ": " + message};
}

std::string YamlWalker::Key(const YAML::Node& key_node, const std::string& path) const {
  if (!key_node.IsScalar()) {
    Fail(key_node, path, std::string("keys must be plain strings, got ") + KindName(key_node));
  }
  if (key_node.Scalar().find('\0') != std::string::npos) {
    Fail(key_node, path, "key contains a NUL byte");
  }
  return key_node.Scalar();
}

std::string YamlWalker::String(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar()) Fail(n, path, std::string("expected a string, got ") + KindName(n));
  if (n.Scalar().find('\0') != std::string::npos) Fail(n, path, "contains a NUL byte");
  return n.Scalar();
}

uint64_t YamlWalker::Integer(const YAML::Node& n, const std::string& path, uint64_t lo,
                             uint64_t hi) const {
  if (!n.IsScalar()) Fail(n, path, std::string("expected an integer, got ") + KindName(n));
  const std::string& s = n.Scalar();
  uint64_t v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  const std::string range = " out of range " + std::to_string(lo) + ".." + std::to_string(hi);
  if (s.empty() || ptr != end || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    if (s.size() > 1 && s[0] == '-' && IsDigits(s.substr(1))) Fail(n, path, s + range);
    Fail(n, path, "expected an integer, got " + QuoteText(s));
  }
  if (ec == std::errc::result_out_of_range || v < lo || v > hi) Fail(n, path, s + range);
  return v;
}

double YamlWalker::Number(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar()) Fail(n, path, std::string("expected a number, got ") + KindName(n));
  const std::string& s = n.Scalar();
  double v = 0;
  const char* begin = s.data();
  const char* end = begin + s.size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, v);
  if (s.empty() || ptr != end || ec != std::errc() || !std::isfinite(v)) {
    Fail(n, path, "expected a number, got " + QuoteText(s));
  }
  return v;
}

const YAML::Node& YamlWalker::List(const YAML::Node& n, const std::string& path) const {
  if (!n.IsSequence()) Fail(n, path, std::string("expected a list, got ") + KindName(n));
  return n;
}

std::vector<std::pair<YAML::Node, std::string>> YamlWalker::Items(const YAML::Node& n,
                                                                  const std::string& path) const {
  const YAML::Node& list = List(n, path);
  std::vector<std::pair<YAML::Node, std::string>> out;
  for (size_t i = 0; i < list.size(); ++i) out.emplace_back(list[i], Index(path, i));
  return out;
}

}  // namespace sockstate
