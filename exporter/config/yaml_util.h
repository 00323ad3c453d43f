#pragma once
// YAML loading and the one schema walker shared by the exporter config (config/config.cpp) and
// the web config (http/web_config.cpp), so both report errors the same way:
//   "<file>:<line>:<column>: <key path>: <message>"   (1-based; e.g. "a.yml:3:5: destinations.
//   top_k: 99999 out of range 0..10000")

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace sockstate {

/// Parses `text` into `root`. A syntax error is "<source>:<line>:<column>: YAML syntax error:
/// <what>" (1-based). Never throws. Thread-safe.
Status LoadYaml(const std::string& text, const std::string& source_name, YAML::Node* root);

/// Reads a YAML file of at most 1 MiB. Errors: "cannot read <what> \"<path>\": <reason>".
/// Thread-safe.
Result<std::string> ReadYamlFile(const std::string& path, const std::string& what);

/// "a map", "a list", "a scalar", "nothing (null)": for "expected X, got Y" errors.
const char* KindName(const YAML::Node& n);

/// Joins names with ", ".
std::string Join(const std::vector<std::string_view>& items);

/// Thrown by YamlWalker::Fail; ParseYamlDocument turns it into a Status.
struct YamlSchemaError {
  std::string message;
};

/// Typed, located reads of one YAML document: every error throws YamlSchemaError with
/// "<source>:<line>:<column>: <path>: <message>". Schema parsers derive from it. Not
/// thread-safe (one document at a time).
class YamlWalker {
 public:
  explicit YamlWalker(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void Fail(const YAML::Mark& mark, const std::string& path,
                         const std::string& message) const;
  [[noreturn]] void Fail(const YAML::Node& n, const std::string& path,
                         const std::string& message) const {
    Fail(n.Mark(), path, message);
  }

  static std::string Child(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string Index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }
  static bool IsDigits(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  }

  /// Calls fn(key, value, path) for each entry of map `n`, rejecting non-maps and unknown,
  /// duplicate and non-scalar keys (config/schema.h walks a table of keys with it).
  template <typename Fn>
  void ForEachKey(const YAML::Node& n, const std::string& path,
                  const std::vector<std::string_view>& allowed, Fn&& fn) const {
    const std::string where = path.empty() ? "top level" : path;
    if (!n.IsMap()) Fail(n, where, std::string("expected a map, got ") + KindName(n));
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      // it-> yields a temporary pair: copy the (reference-counted) nodes out of it.
      const YAML::Node key_node = it->first;
      const YAML::Node value = it->second;
      const std::string key = Key(key_node, where);
      const std::string key_path = Child(path, key);
      bool known = false;
      for (auto a : allowed) known = known || a == key;
      if (!known) {
        Fail(key_node, key_path, "unknown key " + Quote(key) + " (allowed: " + Join(allowed) + ")");
      }
      if (!seen.insert(key).second) Fail(key_node, key_path, "duplicate key " + Quote(key));
      fn(key, value, key_path);
    }
  }

  /// A map key: a scalar without NUL bytes.
  std::string Key(const YAML::Node& key_node, const std::string& path) const;
  /// A scalar without NUL bytes.
  std::string String(const YAML::Node& n, const std::string& path) const;
  /// An integer in lo..hi.
  uint64_t Integer(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi) const;
  /// A finite number.
  double Number(const YAML::Node& n, const std::string& path) const;
  /// A sequence.
  const YAML::Node& List(const YAML::Node& n, const std::string& path) const;
  /// The entries of sequence `n`, each with its path ("path[i]").
  std::vector<std::pair<YAML::Node, std::string>> Items(const YAML::Node& n,
                                                        const std::string& path) const;

 private:
  static std::string Quote(const std::string& s);
  std::string source_;
};

/// Loads `text` and runs parse(root) (a YamlWalker method, usually); schema errors, syntax
/// errors and yaml-cpp exceptions all come back as a Status starting with `source_name`.
/// Never throws.
template <typename T, typename Fn>
Result<T> ParseYamlDocument(const std::string& text, const std::string& source_name, Fn&& parse) {
  try {
    YAML::Node root;
    if (Status st = LoadYaml(text, source_name, &root); !st.ok()) return st;
    return parse(root);
  } catch (const YamlSchemaError& e) {
    return Status::Error(e.message);
  } catch (const std::exception& e) {
    return Status::Error(source_name + ": " + e.what());
  }
}

}  // namespace sockstate
