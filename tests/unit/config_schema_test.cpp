// The schema tables (config/schema.h): a key is one row, the walk reads any table the same
// way, and every row of the config file's table is documented in docs/configuration.md with
// the type, default and limits the row states (and every documented key is a row).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/schema.h"

namespace sockstate {
namespace {

// A made-up section, to show that adding a key is one row.
struct Item {
  std::string name;
  uint32_t weight = 1;
};
struct Toy {
  uint32_t count = 3;
  double ratio = 0.5;
  NetnsMode mode = NetnsMode::kOwn;
  bool verbose = false;
  std::string label;
  std::vector<Item> items;
};

Section<Item> ItemSection() {
  Value<Item> name;  // a value of its own: a name unique in its list
  name.read = [](SchemaWalker& w, const YAML::Node& n, const std::string& p, Item& out) {
    out.name = w.String(n, p);
    if (!w.names_in_list().emplace(out.name, p).second) w.Fail(n, p, "used twice");
  };
  name.doc = KeyDoc("string");
  return {{
      {"name", name, Presence::kRequired},
      {"weight", Integer(&Item::weight, 1, 9)},
  }};
}

Section<Toy> ToySection() {
  return {{
      {"count", Integer(&Toy::count, 0, 10)},
      {"ratio", Number(&Toy::ratio, Fraction())},
      {"mode", OneOf(&Toy::mode, Choices<NetnsMode>{"invalid mode",
                                                    {{"own", NetnsMode::kOwn},
                                                     {"all", NetnsMode::kAll},
                                                     {"every", NetnsMode::kAll, false}}})},
      {"verbose", Flag(&Toy::verbose)},
      {"label", Text(&Toy::label)},
      {"items", ListOf(&Toy::items, ItemSection())},
      {"more_items", ListOf(&Toy::items, ItemSection())},
  }};
}

Result<Toy> ParseToy(const std::string& yaml) {
  SchemaWalker w("toy.yml");
  return ParseYamlDocument<Toy>(yaml, "toy.yml", [&](const YAML::Node& root) {
    Toy toy;
    ReadSection(w, root, "", ToySection(), toy);
    return toy;
  });
}

std::string ToyError(const std::string& yaml) {
  Result<Toy> toy = ParseToy(yaml);
  EXPECT_FALSE(toy.ok()) << yaml;
  return toy.ok() ? "" : toy.status().message();
}

TEST(ConfigSchema, ReadsEveryRowIntoItsField) {
  Result<Toy> toy = ParseToy(
      "count: 7\nratio: 1\nmode: every\nverbose: on\nlabel: x\nitems: [{name: a, weight: 2}, "
      "{name: b}]\n"
      "more_items: [{name: a}]\n");
  ASSERT_TRUE(toy.ok()) << toy.status().message();
  EXPECT_EQ(toy->count, 7u);
  EXPECT_EQ(toy->ratio, 1.0);
  EXPECT_EQ(toy->mode, NetnsMode::kAll);
  EXPECT_TRUE(toy->verbose);
  EXPECT_EQ(toy->label, "x");
  ASSERT_EQ(toy->items.size(), 3u);  // names are unique per list: "a" twice is fine
  EXPECT_EQ(toy->items[0].weight, 2u);
  EXPECT_EQ(toy->items[1].weight, 1u);
  EXPECT_EQ(toy->items[2].name, "a");
}

TEST(ConfigSchema, AbsentKeysAndKeysWithoutValueKeepDefaults) {
  Result<Toy> toy = ParseToy("label:\nitems:\n");
  ASSERT_TRUE(toy.ok()) << toy.status().message();
  EXPECT_EQ(toy->count, 3u);
  EXPECT_EQ(toy->ratio, 0.5);
  EXPECT_EQ(toy->label, "");
  EXPECT_TRUE(toy->items.empty());
  EXPECT_EQ(ToyError("count: ~\n"), "toy.yml:1:8: count: expected an integer, got nothing (null)");
}

TEST(ConfigSchema, ErrorsComeFromTheRows) {
  EXPECT_EQ(ToyError("cuont: 1\n"),
            "toy.yml:1:1: cuont: unknown key \"cuont\" (allowed: count, ratio, mode, verbose, "
            "label, items, more_items)");
  EXPECT_EQ(ToyError("count: 11\n"), "toy.yml:1:8: count: 11 out of range 0..10");
  EXPECT_EQ(ToyError("ratio: 2\n"), "toy.yml:1:8: ratio: 2 must be between 0 and 1");
  EXPECT_EQ(ToyError("mode: list\n"),
            "toy.yml:1:7: mode: invalid mode \"list\" (allowed: own, all)");
  EXPECT_EQ(ToyError("verbose: yes\n"),
            "toy.yml:1:10: verbose: invalid value \"yes\" (allowed: true, false)");
  EXPECT_EQ(ToyError("items: [{weight: 2}]\n"),
            "toy.yml:1:9: items[0]: missing required key \"name\"");
  EXPECT_EQ(ToyError("items: [{name: a}, {name: a}]\n"), "toy.yml:1:27: items[1].name: used twice");
}

TEST(ConfigSchema, DescribesEveryRow) {
  std::vector<std::string> rows;
  for (const ConfigKeyDoc& k : DescribeSection(ToySection())) {
    rows.push_back(k.path + " | " + k.type + " | " + k.default_value + " | " + k.limits);
  }
  EXPECT_EQ(rows, (std::vector<std::string>{
                      "count | integer | 3 | 0..10",
                      "ratio | number | 0.5 | 0..1",
                      "mode | string | own | `own`, `all`",
                      "verbose | boolean | false | `true`, `false`",
                      "label | string | \"\" | ",
                      "items | list of maps | [] | ",
                      "items[].name | string | required | ",
                      "items[].weight | integer | 1 | 1..9",
                      "more_items | list of maps | [] | ",
                      "more_items[].name | string | required | ",
                      "more_items[].weight | integer | 1 | 1..9",
                  }));
}

// docs/configuration.md: "| `key` | type | default | limits | meaning |" rows by key, and the
// "### `section`" headings.
struct DocsTable {
  std::map<std::string, std::vector<std::string>> rows;  // key -> its cells
  std::string text;
};

DocsTable ReadConfigurationDocs() {
  DocsTable docs;
  std::ifstream in(std::string(SOCKSTATE_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream ss;
  ss << in.rdbuf();
  docs.text = ss.str();
  std::istringstream lines(docs.text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0 || line.rfind("| `--", 0) == 0) continue;  // not a key row
    std::vector<std::string> cells;  // between the bars, without the spaces around them
    for (size_t start = 1, bar; (bar = line.find('|', start)) != std::string::npos;
         start = bar + 1) {
      cells.emplace_back(TrimSpace(std::string_view(line).substr(start, bar - start)));
    }
    if (cells.size() < 4) continue;
    const std::string key = cells[0].substr(1, cells[0].size() - 2);  // without the backticks
    docs.rows[key] = cells;
  }
  return docs;
}

// The docs' limits cell starts with the schema's (and may go on in words: "1..100000, and
// >= ..."), but "0..100000" does not start with "0..10000".
bool StartsWithLimits(const std::string& cell, const std::string& limits) {
  if (limits.empty()) return true;
  if (cell.rfind(limits, 0) != 0) return false;
  return cell.size() == limits.size() ||
         std::string(",; (").find(cell[limits.size()]) != std::string::npos;
}

TEST(ConfigSchema, EveryKeyIsDocumentedAsTheSchemaSaysIt) {
  const DocsTable docs = ReadConfigurationDocs();
  ASSERT_FALSE(docs.rows.empty()) << "no key rows in docs/configuration.md";
  for (const ConfigKeyDoc& key : DescribeConfig()) {
    if (key.type == "map") {  // a section: its heading
      EXPECT_NE(docs.text.find("\n### `" + key.path + "`"), std::string::npos)
          << "docs/configuration.md has no \"### `" << key.path << "`\" heading";
      continue;
    }
    auto row = docs.rows.find(key.path);
    if (row == docs.rows.end()) {
      ADD_FAILURE() << "docs/configuration.md has no row for `" << key.path << "`";
      continue;
    }
    const std::vector<std::string>& cells = row->second;
    EXPECT_EQ(cells[1], key.type) << key.path << ": type";
    if (key.default_value == "required") {
      EXPECT_EQ(cells[2], "required") << key.path << ": default";
    } else if (!key.default_value.empty()) {
      EXPECT_EQ(cells[2].rfind("`" + key.default_value + "`", 0), 0u)
          << key.path << ": default is `" << key.default_value << "`, docs say " << cells[2];
    }
    EXPECT_TRUE(StartsWithLimits(cells[3], key.limits))
        << key.path << ": limits are " << key.limits << ", docs say " << cells[3];
  }
}

TEST(ConfigSchema, EveryDocumentedKeyIsInTheSchema) {
  std::set<std::string> schema;
  for (const ConfigKeyDoc& key : DescribeConfig()) schema.insert(key.path);
  for (const auto& [key, cells] : ReadConfigurationDocs().rows) {
    EXPECT_TRUE(schema.count(key))
        << "docs/configuration.md documents `" << key << "`, which the config schema does not have";
  }
}

}  // namespace
}  // namespace sockstate
