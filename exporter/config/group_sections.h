#pragma once
// The config sections built from named groups, ranked by top_k under a max_series cap:
// `destinations`, `inbound` and `nat` (docs/configuration.md, docs/nat.md), with what they
// share: port lists, group names, the top_k/max_series check. config/config.cpp walks the
// document and hands these sections here; not used outside config/.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/yaml_util.h"

namespace sockstate {

/// Parses the group sections of one document; errors throw YamlSchemaError (see YamlWalker).
/// Not thread-safe (one document at a time).
class GroupSectionParser : public YamlWalker {
 public:
  explicit GroupSectionParser(const std::string& source) : YamlWalker(source) {}

  /// The largest `top_k` of any section (docs/configuration.md).
  static constexpr uint64_t kMaxTopK = 10000;

  /// The `destinations` section into `out` (defaults kept for absent keys).
  void ParseDestinations(const YAML::Node& n, const std::string& path, DestinationConfig& out);
  /// The `inbound` section into `out`.
  void ParseInbound(const YAML::Node& n, const std::string& path, InboundConfig& out);
  /// The `nat` section into `out`.
  void ParseNat(const YAML::Node& n, const std::string& path, NatConfig& out);

 private:
  void AddPorts(const YAML::Node& n, const std::string& path, PortSet& set);
  PortSet Ports(const YAML::Node& n, const std::string& path);
  std::string GroupName(const YAML::Node& n, const std::string& path, bool numeric_ok,
                        std::map<std::string, std::string>& names);
  void CheckSeries(const YAML::Mark& mark, const std::string& path, size_t groups, uint32_t top_k,
                   uint32_t max_series);
  template <typename Out, typename GroupsFn, typename OtherFn>
  void ParseRanked(const YAML::Node& n, const std::string& path,
                   std::initializer_list<std::string_view> allowed, Out& out, GroupsFn&& groups,
                   OtherFn&& other);
  template <typename Group, typename KeyFn, typename MissingFn>
  void ParseGroupList(const YAML::Node& n, const std::string& path,
                      std::initializer_list<std::string_view> allowed, std::vector<Group>& out,
                      KeyFn&& key_fn, MissingFn&& missing);
  void DestinationGroupKey(const std::string& key, const YAML::Node& v, const std::string& p,
                           std::map<std::string, std::string>& names, DestinationGroup& group);
  void ParseDestinationGroups(const YAML::Node& n, const std::string& path,
                              std::vector<DestinationGroup>& out);
  void ParseInboundGroups(const YAML::Node& n, const std::string& path,
                          std::vector<InboundGroup>& out);
  NatToggle Toggle(const YAML::Node& v, const std::string& p);
  uint32_t UsablePorts(const YAML::Node& v, const std::string& p);
  void ParseNatGroups(const YAML::Node& n, const std::string& path, std::vector<NatGroup>& out);
};

}  // namespace sockstate
