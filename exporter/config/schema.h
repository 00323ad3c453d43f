#pragma once
// A YAML schema written once, as tables: a Section is one row per key of a map, saying the
// key's name, how its value is read (type and limits, Value), and where it goes (a field of
// the section's struct); the default is that field's initializer (config/config.h). One walk,
// ReadSection(), reads any map by its table; DescribeSection() lists the keys for the docs
// check (tests/unit/config_schema_test.cpp). Used by config/ and http/web_config.cpp:
//
//   Section<NamespaceConfig>{{
//       {"max_namespaces", Integer(&NamespaceConfig::max_namespaces, 1, 4096)},
//       {"detail_threshold", Number(&NamespaceConfig::detail_threshold, Fraction())},
//   }};
//
// Errors are YamlWalker's ("<file>:<line>:<column>: <key path>: <message>"). The value
// builders below (Integer() ... Within()) and the limits (InRange() ...) are pure and
// thread-safe; what they build is immutable.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/yaml_util.h"
#include "util/text_util.h"

namespace sockstate {

/// A YamlWalker that also remembers the names used so far in the list of maps being read, for
/// keys that must be unique in it (a group's name). Not thread-safe (one document at a time).
class SchemaWalker : public YamlWalker {
 public:
  using YamlWalker::YamlWalker;

  /// Name -> key path of its first use, within the list being read (ListOf starts it empty).
  std::map<std::string, std::string>& names_in_list() { return names_in_list_; }

 private:
  std::map<std::string, std::string> names_in_list_;
};

/// How one key's value is read into the section struct S, and how the docs describe it.
/// Built by Integer(), Number(), OneOf(), Flag(), Text(), Map(), ListOf() or a section's own
/// builder. Value type; its reader is const and may run on several documents at once.
template <typename S>
struct Value {
  using Reader =
      std::function<void(SchemaWalker& w, const YAML::Node& n, const std::string& path, S& out)>;
  Reader read;                     // throws YamlSchemaError through the walker
  ConfigKeyDoc doc;                // type, default and limits; the path is the row's
  std::vector<ConfigKeyDoc> keys;  // the keys inside it, paths relative (".top_k", "[].name")
  bool null_is_absent = false;     // `key:` without a value keeps the default
};

/// Whether a map must have the key.
enum class Presence { kOptional, kRequired };

/// One row of a Section: a key and its value. Value type.
template <typename S>
struct Field {
  Field(std::string_view key, Value<S> value, Presence presence = Presence::kOptional)
      : key(key), value(std::move(value)), presence(presence) {}
  std::string_view key;
  Value<S> value;
  Presence presence;
};

/// The rows of one map, in the order an unknown key's error lists them, and its cross-key
/// rules (`check`, run after every key was read; may be empty). Value type; immutable once
/// built, so one Section may serve several threads.
template <typename S>
struct Section {
  // Implicit: a section is written as a braced list of rows, `return {{rows...}, check};`.
  Section(std::vector<Field<S>> fields = {}, typename Value<S>::Reader check = nullptr)
      : fields(std::move(fields)), check(std::move(check)) {}
  std::vector<Field<S>> fields;
  typename Value<S>::Reader check;
};

/// The docs' words for a key's value (the path is the row's). Pure; thread-safe.
inline ConfigKeyDoc KeyDoc(std::string type, std::string default_value = "",
                           std::string limits = "") {
  return {"", std::move(type), std::move(default_value), std::move(limits)};
}

/// Reads map `n` into `out` by `section`: unknown, duplicate and missing required keys are
/// errors; absent keys keep out's values. Throws YamlSchemaError (through `w`, whose
/// document it reads: one thread at a time per walker).
template <typename S>
void ReadSection(SchemaWalker& w, const YAML::Node& n, const std::string& path,
                 const Section<S>& section, S& out) {
  std::vector<std::string_view> keys;
  for (const Field<S>& f : section.fields) keys.push_back(f.key);
  std::vector<bool> seen(keys.size());
  w.ForEachKey(n, path, keys,
               [&](const std::string& key, const YAML::Node& v, const std::string& p) {
                 const size_t i = std::find(keys.begin(), keys.end(), key) - keys.begin();
                 seen[i] = true;
                 const Value<S>& value = section.fields[i].value;
                 if (!(v.IsNull() && value.null_is_absent)) value.read(w, v, p, out);
               });
  for (size_t i = 0; i < keys.size(); ++i) {
    if (section.fields[i].presence == Presence::kRequired && !seen[i]) {
      w.Fail(n, path, "missing required key \"" + std::string(keys[i]) + "\"");
    }
  }
  if (section.check) section.check(w, n, path, out);
}

/// The keys of `section` and of the maps inside it, paths relative to the section. Pure;
/// thread-safe.
template <typename S>
std::vector<ConfigKeyDoc> DescribeSection(const Section<S>& section) {
  std::vector<ConfigKeyDoc> out;
  for (const Field<S>& f : section.fields) {
    ConfigKeyDoc doc = f.value.doc;
    doc.path = std::string(f.key);
    if (f.presence == Presence::kRequired) doc.default_value = "required";
    out.push_back(doc);
    for (ConfigKeyDoc inner : f.value.keys) {
      inner.path = doc.path + inner.path;
      out.push_back(std::move(inner));
    }
  }
  return out;
}

/// A number as the docs and errors write it ("0.25", "60"). Pure; thread-safe.
inline std::string FormatNumber(double v) { return StrFormat("%g", v); }

/// An integer in lo..hi ("<v> out of range lo..hi").
template <typename S, typename T>
Value<S> Integer(T S::*field, uint64_t lo, uint64_t hi) {
  Value<S> v;
  v.read = [=](SchemaWalker& w, const YAML::Node& n, const std::string& p, S& out) {
    out.*field = static_cast<T>(w.Integer(n, p, lo, hi));
  };
  v.doc =
      KeyDoc("integer", std::to_string(S{}.*field), std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

/// The allowed values of a Number and how its error and the docs word them.
struct NumberLimits {
  double lo;
  double hi;
  bool lo_excluded;
  std::string error;  // follows the value's text: " out of range 0..86400"
  std::string doc;    // "0..86400"
};
/// lo <= v <= hi: "<v> out of range lo..hi".
inline NumberLimits InRange(double lo, double hi) {
  const std::string range = FormatNumber(lo) + ".." + FormatNumber(hi);
  return {lo, hi, false, " out of range " + range, range};
}
/// v > 0: "<v> must be > 0".
inline NumberLimits Positive() { return {0, HUGE_VAL, true, " must be > 0", "> 0"}; }
/// 0 <= v <= 1: "<v> must be between 0 and 1".
inline NumberLimits Fraction() { return {0, 1, false, " must be between 0 and 1", "0..1"}; }

/// A finite number within `limits`.
template <typename S>
Value<S> Number(double S::*field, NumberLimits limits) {
  Value<S> v;
  v.read = [=](SchemaWalker& w, const YAML::Node& n, const std::string& p, S& out) {
    const double x = w.Number(n, p);
    if (x < limits.lo || (limits.lo_excluded && x == limits.lo) || x > limits.hi) {
      w.Fail(n, p, n.Scalar() + limits.error);
    }
    out.*field = x;
  };
  v.doc = KeyDoc("number", FormatNumber(S{}.*field), limits.doc);
  return v;
}

/// One accepted text of a OneOf key; an alias (`listed` false) is left out of messages.
template <typename E>
struct Choice {
  std::string_view text;
  E value;
  bool listed = true;
};

/// The texts a OneOf key accepts.
template <typename E>
struct Choices {
  std::string what;  // starts the error: "invalid mode" -> invalid mode "x" (allowed: ...)
  std::vector<Choice<E>> list;
  bool null_is_empty = false;  // `key:` without a value is read as "" (the web config's way)
};

/// One of `choices` (a string); anything else is "<what> "<text>" (allowed: <listed>)".
template <typename S, typename E>
Value<S> OneOf(E S::*field, Choices<E> choices) {
  std::string allowed;  // "own, all, list"
  Value<S> v;
  v.doc = KeyDoc("string");
  for (const Choice<E>& c : choices.list) {
    if (!c.listed) continue;
    allowed += std::string(allowed.empty() ? "" : ", ") + std::string(c.text);
    v.doc.limits += std::string(v.doc.limits.empty() ? "`" : ", `") + std::string(c.text) + "`";
    if (v.doc.default_value.empty() && c.value == S{}.*field) v.doc.default_value = c.text;
  }
  v.read = [=](SchemaWalker& w, const YAML::Node& n, const std::string& p, S& out) {
    const std::string s = choices.null_is_empty && n.IsNull() ? std::string() : w.String(n, p);
    for (const Choice<E>& c : choices.list) {
      if (s == c.text) {
        out.*field = c.value;
        return;
      }
    }
    w.Fail(n, p, choices.what + " " + QuoteText(s) + " (allowed: " + allowed + ")");
  };
  return v;
}

/// true or false (on, off also accepted); anything else is "invalid value ...".
template <typename S>
Value<S> Flag(bool S::*field) {
  Value<S> v = OneOf(field, Choices<bool>{"invalid value",
                                          {{"true", true},
                                           {"false", false},
                                           {"on", true, /*listed=*/false},
                                           {"off", false, /*listed=*/false}}});
  v.doc.type = "boolean";
  return v;
}

/// A string; `key:` without a value keeps the default.
template <typename S>
Value<S> Text(std::string S::*field) {
  Value<S> v;
  v.read = [=](SchemaWalker& w, const YAML::Node& n, const std::string& p, S& out) {
    out.*field = w.String(n, p);
  };
  v.doc = KeyDoc("string", QuoteText(S{}.*field));
  v.null_is_absent = true;
  return v;
}

/// A map read by `section` into the field; `key:` without a value keeps its defaults.
template <typename S, typename T>
Value<S> Map(T S::*field, Section<T> section) {
  Value<S> v;
  v.doc = KeyDoc("map");
  v.keys = DescribeSection(section);
  for (ConfigKeyDoc& k : v.keys) k.path = "." + k.path;
  v.null_is_absent = true;
  v.read = [field, section = std::move(section)](SchemaWalker& w, const YAML::Node& n,
                                                 const std::string& p, S& out) {
    ReadSection(w, n, p, section, out.*field);
  };
  return v;
}

/// A list of maps, each read by `section` into a new T appended to the field; `key:` without
/// a value is an empty list. names_in_list() holds the names of this list only.
template <typename S, typename T>
Value<S> ListOf(std::vector<T> S::*field, Section<T> section) {
  Value<S> v;
  v.doc = KeyDoc("list of maps", "[]");
  v.keys = DescribeSection(section);
  for (ConfigKeyDoc& k : v.keys) k.path = "[]." + k.path;
  v.null_is_absent = true;
  v.read = [field, section = std::move(section)](SchemaWalker& w, const YAML::Node& n,
                                                 const std::string& p, S& out) {
    std::map<std::string, std::string> outer = std::exchange(w.names_in_list(), {});
    for (const auto& [item, item_path] : w.Items(n, p)) {
      T t;
      ReadSection(w, item, item_path, section, t);
      (out.*field).push_back(std::move(t));
    }
    w.names_in_list() = std::move(outer);
  };
  return v;
}

/// The rows of `section` (a map read into T) as rows of S, reading into S's member `part`.
template <typename S, typename T>
Section<S> Within(T S::*part, const Section<T>& section) {
  Section<S> out;
  for (const Field<T>& f : section.fields) {
    Value<S> v;
    v.read = [part, read = f.value.read](SchemaWalker& w, const YAML::Node& n, const std::string& p,
                                         S& s) { read(w, n, p, s.*part); };
    v.doc = f.value.doc;
    v.keys = f.value.keys;
    v.null_is_absent = f.value.null_is_absent;
    out.fields.emplace_back(f.key, std::move(v), f.presence);
  }
  if (section.check) {
    out.check = [part, check = section.check](SchemaWalker& w, const YAML::Node& n,
                                              const std::string& p,
                                              S& s) { check(w, n, p, s.*part); };
  }
  return out;
}

}  // namespace sockstate
